"""The shared cache failing is not an outage (`usage/ratelimit.py`, `api/metrics.py`,
`config/health.py`): with Redis refusing connections, or accepting them and never answering,
session starts and usage reads are served without rate limits, `/metrics` answers and counts
the failures, and `/healthz` says "degraded" without naming hosts, ports or errors."""

from __future__ import annotations

import socket
import time

import pytest

from accounts.periods import period_of
from tests.accounts.factories import CustomerFactory, plan
from tests.usage.factories import MonthlyUsageFactory

pytestmark = pytest.mark.django_db


def redis_at(settings, port: int) -> None:
    settings.RATE_LIMITS_ENABLED = True
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_timeout": 0.2, "socket_connect_timeout": 0.2},
        }
    }


@pytest.fixture
def cache_refusing(settings):
    redis_at(settings, 9)  # nothing listens there: connections are refused at once


@pytest.fixture
def cache_frozen(settings):
    """A port that accepts connections and never answers (a frozen Redis)."""
    with socket.socket() as frozen:
        frozen.bind(("127.0.0.1", 0))
        frozen.listen(16)
        redis_at(settings, frozen.getsockname()[1])
        yield


def start(api, session_id: str, user_id: str = "alice"):
    return api.post(
        "/api/v1/sessions", {"session_id": session_id, "user_id": user_id}, format="json"
    )


@pytest.mark.parametrize("broken", ["cache_refusing", "cache_frozen"])
def test_starts_and_reads_are_served_without_rate_limits(api, request, broken):
    CustomerFactory(external_id="alice", plan=plan("starter"))  # 10 sessions at once
    request.getfixturevalue(broken)
    started = time.monotonic()
    answers = [start(api, f"s{n}").status_code for n in range(3)]
    took = time.monotonic() - started
    assert answers == [201, 201, 201]
    assert took < 3, f"three starts took {took:.2f} s"  # bounded by the 0.2 s time-out
    read = api.get("/billing/usage", {"user_id": "alice"})
    assert read.status_code == 200 and read.json()["sessionsUsed"] == 3


def test_metrics_answer_and_count_the_failures(api, cache_refusing):
    start(api, "s1")
    text = api.get("/metrics").content.decode()
    assert "aigate_cache_up 0" in text
    assert 'aigate_cache_failures_total{where="rate_limit"}' in text


def test_healthz_says_degraded_and_names_no_host(client, cache_refusing):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}
    assert "127.0.0.1" not in response.content.decode()


def test_a_refused_start_still_answers_when_counting_it_fails(api, cache_refusing):
    customer = CustomerFactory(external_id="bob", plan=plan("free"))
    MonthlyUsageFactory(customer=customer, period=period_of().start, total_sessions=100)
    refused = start(api, "b100", "bob")
    assert refused.status_code == 402
    assert refused.json()["code"] == "quota_exceeded"
