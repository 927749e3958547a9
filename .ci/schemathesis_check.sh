#!/usr/bin/env bash
# Property-based tests of the live API from its own OpenAPI schema (schemathesis): no answer
# is a 5xx, and every answer matches the schema (status, headers, body).
#
# Serves the app with production-like settings (DEBUG off, gunicorn, PostgreSQL) against the
# local Stripe stand-in, with a service key, on a scratch database; stops everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PORT="${SCHEMA_CHECK_PORT:-18321}"
STANDIN_PORT="${SCHEMA_CHECK_STANDIN_PORT:-18322}"
DB=billing_ci_schemathesis
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export SECRET_KEY=ci-schemathesis-only-secret-key-0123456789-0123456789-0123456789
export DEBUG=false SECURE_SSL_REDIRECT=false ALLOWED_HOSTS=127.0.0.1 LOG_LEVEL=ERROR
export STRIPE_SECRET_KEY=sk_test_SchemathesisStandin0000000 STRIPE_WEBHOOK_SECRET=whsec_schemathesis
export STRIPE_API_BASE="http://127.0.0.1:$STANDIN_PORT" SITE_URL="http://127.0.0.1:$PORT"
export CACHE_URL=rediscache://127.0.0.1:6379/5 DEVTOOLS=true

psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB"
psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE $DB"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

$PY manage.py migrate --no-input -v 0
# As a deployment does: the pages (the 404 page too) use the hashed static files manifest.
$PY manage.py collectstatic --no-input -v 0
$PY manage.py stripe_standin --port "$STANDIN_PORT" >/dev/null 2>&1 & pids+=($!)
$PY -c "import socket,time; [time.sleep(0.2) for _ in range(100) if socket.socket().connect_ex(('127.0.0.1', $STANDIN_PORT))]"
$PY manage.py stripe_setup_products >/dev/null
KEY=$($PY manage.py create_service_key schemathesis | tail -1)
GUNICORN_LOG=$(mktemp)
.venv/bin/gunicorn config.wsgi --bind "127.0.0.1:$PORT" --workers 2 --log-level warning \
  2> >(tee "$GUNICORN_LOG" >&2) & pids+=($!)
$PY -c "import socket,time; [time.sleep(0.2) for _ in range(100) if socket.socket().connect_ex(('127.0.0.1', $PORT))]"

.venv/bin/schemathesis run "http://127.0.0.1:$PORT/api/schema/" \
  --header "Authorization: Bearer $KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMA_CHECK_EXAMPLES:-40}" \
  --suppress-health-check all \
  --seed "${SCHEMA_CHECK_SEED:-20261129}"

# Schemathesis does not count its own probes (odd paths, odd headers): no 500 for them either.
if grep -q '"status_code": 5[0-9][0-9]' "$GUNICORN_LOG"; then
  echo "FAIL: the server answered 5xx (above):" >&2
  grep '"status_code": 5[0-9][0-9]' "$GUNICORN_LOG" >&2
  exit 1
fi
echo "ok:   no 5xx in the server's log"
