import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.db import DatabaseError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_healthz_503_when_database_is_down(client):
    with mock.patch("config.health.connection.cursor", side_effect=DatabaseError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable", "cache": "ok"}


def manage(*args, **env):
    # Only what a production shell would have: no test-suite defaults leak in.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_production_refuses_to_start_without_secret_key():
    result = manage("check", DEBUG="false", DATABASE_URL="sqlite:////tmp/unused.sqlite3")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [
        "django-insecure-local-development-only-never-in-production",  # the default
        "x",
        "0123456789" * 4,
        "ab" * 30,
    ],
)
def test_production_refuses_to_start_with_a_default_or_weak_secret_key(secret_key):
    result = manage(
        "check", DEBUG="false", SECRET_KEY=secret_key, DATABASE_URL="sqlite:////tmp/unused.sqlite3"
    )
    assert result.returncode != 0
    assert "SECRET_KEY is too weak for production" in result.stderr


def test_debug_is_refused_with_a_live_stripe_key():
    result = manage(
        "check",
        DEBUG="true",
        STRIPE_SECRET_KEY="sk_live_" + "a1B2c3D4" * 4,
        DATABASE_URL="sqlite:////tmp/unused.sqlite3",
    )
    assert result.returncode != 0
    assert "DEBUG is on with a live Stripe key" in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="a-production-grade-secret-key-with-enough-length-and-variety-8f3K2pQ9zX",
        ALLOWED_HOSTS="billing.ai-gate.dev",
        DATABASE_URL="sqlite:////tmp/unused.sqlite3",
        CACHE_URL="rediscache://127.0.0.1:6379/1",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_with_debug_on():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="true",
        SECRET_KEY="a-production-grade-secret-key-with-enough-length-and-variety-8f3K2pQ9zX",
        DATABASE_URL="sqlite:////tmp/unused.sqlite3",
        CACHE_URL="rediscache://127.0.0.1:6379/1",
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "(security.W018) You should not have DEBUG set to True in deployment." in output


def test_check_deploy_warns_about_a_per_process_cache():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="a-production-grade-secret-key-with-enough-length-and-variety-8f3K2pQ9zX",
        ALLOWED_HOSTS="billing.ai-gate.dev",
        DATABASE_URL="sqlite:////tmp/unused.sqlite3",
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "(accounts.W002) The cache is each process's own memory" in output
    assert "security.W018" not in output


def test_stand_in_base_is_refused_with_a_live_key():
    result = manage(
        "check",
        DEBUG="false",
        SECRET_KEY="a-production-grade-secret-key-with-enough-length-and-variety-8f3K2pQ9zX",
        STRIPE_SECRET_KEY="sk_live_" + "x" * 24,
        STRIPE_API_BASE="http://127.0.0.1:12111",
        DATABASE_URL="sqlite:////tmp/unused.sqlite3",
    )
    assert result.returncode != 0
    assert "refused with a live key" in result.stderr


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-grade-secret-key-with-enough-length-and-variety-8f3K2pQ9zX",
    "ALLOWED_HOSTS": "billing.ai-gate.dev",
    "DATABASE_URL": "sqlite:////tmp/unused.sqlite3",
}


def test_production_never_loads_the_development_tools():
    """The Stripe stand-in and the demo data live in `devtools`, installed only with DEBUG or
    DEVTOOLS=true: production has neither the app nor its commands."""
    result = manage("help", "--commands", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split()
    assert "stripe_standin" not in commands and "seed_demo" not in commands
    assert "demo_admin" not in commands
    assert "db_worker" in commands and "run_schedule" in commands  # what production runs
    development = manage("help", "--commands", **{**PRODUCTION, "DEBUG": "true"})
    assert "stripe_standin" in development.stdout.split()


@pytest.mark.parametrize("key", ["sk_test_anything", "sk_test_" + "x" * 23, "pk_test_" + "x" * 24])
def test_a_stripe_key_dj_stripe_would_refuse_is_refused_at_start_up(key):
    result = manage("check", **{**PRODUCTION, "STRIPE_SECRET_KEY": key})
    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY is not a Stripe secret key" in result.stderr
    assert key not in result.stderr  # a key is never printed


@pytest.mark.parametrize("key", ["sk_test_" + "x" * 24, "rk_live_" + "x" * 30])
def test_stripe_secret_and_restricted_keys_are_accepted(key):
    result = manage("check", **{**PRODUCTION, "STRIPE_SECRET_KEY": key})
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_healthz_answers_head_and_refuses_other_methods_in_json(client):
    assert client.head("/healthz").status_code == 200  # a load balancer's probe
    response = client.post("/healthz")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response.json() == {"code": "method_not_allowed", "detail": 'Method "POST" not allowed.'}


def test_the_webhook_endpoint_refuses_other_methods_in_json(client):
    response = client.get("/webhooks/stripe")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"
