import time

import pytest
import time_machine

from accounts.models import Plan
from usage.ratelimit import WINDOW_SECONDS, _redis_counter, rate_limit_begin, rate_limit_count

URL = "/billing/usage"
REDIS_14 = "redis://127.0.0.1:6379/14"


@pytest.fixture
def tiny_free_plan(db):
    Plan.objects.filter(code="free").update(requests_per_minute=3)


@pytest.mark.django_db
def test_over_plan_requests_per_minute_is_429_with_retry_after(api, tiny_free_plan):
    with time_machine.travel("2026-11-26T10:00:15Z", tick=False):
        for _ in range(3):
            assert api.get(URL, {"user_id": "alice"}).status_code == 200
        response = api.get(URL, {"user_id": "alice"})
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert response["Retry-After"] == "45"
    # Another customer has its own budget; the next minute starts afresh.
    with time_machine.travel("2026-11-26T10:00:20Z", tick=False):
        assert api.get(URL, {"user_id": "bob"}).status_code == 200
    with time_machine.travel("2026-11-26T10:01:00Z", tick=False):
        assert api.get(URL, {"user_id": "alice"}).status_code == 200


@pytest.mark.django_db
def test_session_starts_count_too(api, tiny_free_plan):
    Plan.objects.filter(code="free").update(max_concurrent_sessions=10)
    with time_machine.travel("2026-11-26T10:00:00Z", tick=False):
        codes = [
            api.post(
                "/api/v1/sessions", {"session_id": f"s{n}", "user_id": "alice"}, format="json"
            ).status_code
            for n in range(4)
        ]
    assert codes == [201, 201, 201, 429]


@pytest.mark.django_db
def test_rate_limits_can_be_turned_off(api, tiny_free_plan, settings):
    settings.RATE_LIMITS_ENABLED = False
    for _ in range(6):
        assert api.get(URL, {"user_id": "alice"}).status_code == 200


@pytest.mark.django_db
def test_counts_are_shared_through_redis(api, tiny_free_plan, settings):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/14",
            "KEY_PREFIX": "ratelimit-test",
        }
    }
    caches["default"].clear()
    with time_machine.travel("2026-11-26T10:00:00Z", tick=False):
        statuses = [api.get(URL, {"user_id": "alice"}).status_code for _ in range(4)]
        # A second "worker" sees the same counter.
        import redis as redis_lib

        keys = redis_lib.Redis(host="127.0.0.1", port=6379, db=14).keys("ratelimit-test*:rl:*")
    assert statuses == [200, 200, 200, 429]
    assert len(keys) == 1
    caches["default"].clear()


@pytest.fixture
def redis_cache(settings):
    """The default cache on Redis (database 14), emptied before and after."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=14, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_14,
            "KEY_PREFIX": "ratelimit-test",
        }
    }
    client.flushdb()
    yield client
    client.flushdb()


def test_the_redis_counter_loads_its_script_and_sets_the_expiry(redis_cache):
    redis_cache.script_flush()  # Redis restarted: it knows no script
    assert rate_limit_count(subject="carol", now=600.0) == 1
    assert rate_limit_count(subject="carol", now=601.0) == 2
    (key,) = redis_cache.keys("ratelimit-test*:rl:carol:10")
    assert 0 < redis_cache.ttl(key) <= WINDOW_SECONDS + 10


def test_a_connection_redis_closed_is_replaced_and_the_request_counted(redis_cache):
    assert rate_limit_count(subject="dave", now=600.0) == 1
    counter = _redis_counter(REDIS_14)
    host, port = counter._connection._sock.getsockname()[:2]
    assert redis_cache.client_kill(f"{host}:{port}")  # as Redis's idle time-out would
    assert rate_limit_count(subject="dave", now=601.0) == 2


def test_the_redis_counter_sends_keys_of_any_text_byte_for_byte(redis_cache):
    # The command goes out as packed bytes: a length counted in characters, not bytes, would
    # send Redis a truncated key and a broken command.
    subject = "zoë-東京 \r\n$3\r\n"
    assert rate_limit_count(subject=subject, now=600.0) == 1
    assert rate_limit_count(subject=subject, now=601.0) == 2
    assert rate_limit_count(subject="zoë", now=601.0) == 1
    (key,) = redis_cache.keys("ratelimit-test*:rl:zoë-東京*")
    assert key.decode().endswith(f":rl:{subject}:10")
    assert redis_cache.get(key) == b"2"


@pytest.mark.django_db
def test_a_read_is_counted_while_its_query_runs(api, redis_cache):
    """The read's count goes to Redis before its query goes to PostgreSQL (the worker waits
    once for both): by the time the query runs, Redis has the count."""
    from django.db import connection

    seen_by_the_query = []

    def at_the_query(execute, sql, params, many, context):
        if "monthlyusage" in sql.lower():
            deadline = time.monotonic() + 1
            while not redis_cache.keys("ratelimit-test*:rl:alice:*") and (
                time.monotonic() < deadline
            ):
                time.sleep(0.005)
            seen_by_the_query.append(len(redis_cache.keys("ratelimit-test*:rl:alice:*")))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(at_the_query):
        response = api.get(URL, {"user_id": "alice"})
    assert response.status_code == 200
    assert seen_by_the_query == [1]
    (key,) = redis_cache.keys("ratelimit-test*:rl:alice:*")
    assert redis_cache.get(key) == b"1"  # counted once


def test_a_count_begun_is_never_answered_with_another_counts_reply(redis_cache):
    carol = rate_limit_begin(subject="carol", now=600.0)
    # Another count on the same connection before carol's answer is read: each gets its own.
    assert rate_limit_count(subject="dave", now=600.0) == 1
    assert rate_limit_count(subject="dave", now=601.0) == 2
    assert carol() == 1
    assert carol() == 1  # read once, then kept
    assert rate_limit_count(subject="carol", now=601.0) == 2


def test_a_count_begun_is_answered_once_redis_has_forgotten_its_script(redis_cache):
    redis_cache.script_flush()
    erin = rate_limit_begin(subject="erin", now=600.0)
    assert erin() == 1
    assert rate_limit_begin(subject="erin", now=601.0)() == 2
