# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# Local development: SQLite file and DEBUG unless the environment (or .env) says otherwise.
RUN_ENV := DEBUG=$${DEBUG:-true}
TEST_ARGS ?=

.PHONY: run run-with-stripe-standin serve test install lint format migrate clean bench

$(STAMP): pyproject.toml
	@echo "Installing the dependencies into $(VENV)/ (first run only; about 30 s with a warm pip cache)…"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	@echo "Migrating the database (a few seconds the first time)…"
	$(RUN_ENV) $(BIN)/python manage.py migrate

# Exits non-zero, saying what to do, when something already listens on 127.0.0.1:$(1).
port_free = python3 -c "import socket, sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $(1))) == 0 and 'Port $(1) is already in use: stop what listens there, or choose other ports (make run PORT=8001 STANDIN_PORT=12112).')"

run: migrate
	@$(call port_free,$(PORT))
	@echo "Demo data: customers on every plan, three months of sessions, logins (about 10 s the first time)…"
	$(RUN_ENV) LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(BIN)/python manage.py seed_demo
	$(RUN_ENV) $(BIN)/python manage.py demo_admin
	@if [ -z "$$STRIPE_SECRET_KEY" ] && ! grep -qs '^STRIPE_SECRET_KEY=..*' .env; then \
	  $(MAKE) --no-print-directory run-with-stripe-standin; \
	else \
	  $(MAKE) --no-print-directory serve; \
	fi

# The server, with one background worker (e-mails, Stripe calls, bulk jobs) and the scheduler
# beside it; Ctrl+C stops all three.
serve:
	@echo "Starting a background worker (db_worker) and the scheduler (run_schedule --loop)…"
	@$(RUN_ENV) $(BIN)/python manage.py db_worker --no-reload --interval 0.5 & WORKER=$$!; \
	  $(RUN_ENV) $(BIN)/python manage.py run_schedule --loop & SCHEDULER=$$!; \
	  trap 'kill $$WORKER $$SCHEDULER 2>/dev/null' EXIT INT TERM; \
	  echo "Serving http://127.0.0.1:$(PORT)/  (admin at /admin/, API docs at /api/docs/)"; \
	  $(RUN_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# No Stripe key configured: the local Stripe stand-in plays Stripe (test mode), in the
# background, its objects kept in $(STANDIN_STATE) across runs; Checkout pages and signed
# webhooks work without a Stripe account.
STANDIN_PORT ?= 12111
STANDIN_STATE := stripe-standin.state.json
STANDIN_ENV := STRIPE_SECRET_KEY=sk_test_LocalStandin000000000000 \
	STRIPE_WEBHOOK_SECRET=whsec_local_standin STRIPE_API_BASE=http://127.0.0.1:$(STANDIN_PORT) \
	STRIPE_PRICE_STARTER= STRIPE_PRICE_GROWTH= SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)}

run-with-stripe-standin:
	@$(call port_free,$(STANDIN_PORT))
	@echo "No STRIPE_SECRET_KEY: serving the local Stripe stand-in at http://127.0.0.1:$(STANDIN_PORT)"
	@$(RUN_ENV) $(STANDIN_ENV) $(BIN)/python manage.py stripe_standin --port $(STANDIN_PORT) \
	    --webhook-url http://127.0.0.1:$(PORT)/webhooks/stripe --webhook-secret whsec_local_standin \
	    --state-file $(STANDIN_STATE) & STANDIN=$$!; \
	  trap 'kill $$STANDIN 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/python devtools/wait_for.py $(STANDIN_PORT); \
	  kill -0 $$STANDIN 2>/dev/null || { echo "The Stripe stand-in did not start (see above)."; exit 1; }; \
	  $(RUN_ENV) $(STANDIN_ENV) $(BIN)/python manage.py stripe_setup_products --output stripe-ids-sessions.standin.json && \
	  $(RUN_ENV) $(STANDIN_ENV) $(BIN)/python manage.py sync_stripe_webhook_endpoint && \
	  $(STANDIN_ENV) $(MAKE) --no-print-directory serve

test: install
	$(BIN)/pytest -n 2 $(TEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache $(STANDIN_STATE)
