# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# Local development: SQLite file and DEBUG unless the environment (or .env) says otherwise.
RUN_ENV := DEBUG=$${DEBUG:-true}
TEST_ARGS ?=

.PHONY: run test install lint format migrate clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	@echo "Migrating the database (the first time takes a minute or two: dj-stripe has ~500 migration steps)…"
	$(RUN_ENV) $(BIN)/python manage.py migrate

run: migrate
	$(RUN_ENV) LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(BIN)/python manage.py seed_demo
	$(RUN_ENV) $(BIN)/python manage.py demo_admin
	@echo "Serving http://127.0.0.1:$(PORT)/  (admin at /admin/, API docs at /api/docs/)"
	$(RUN_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install
	$(BIN)/pytest -n 2 $(TEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
