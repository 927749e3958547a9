"""Counters of refused API requests, by error code, in the shared cache.

Counted by the exception handler on the refusal path only; `GET /metrics` (usage) reads the
totals, the admin's dashboard the last 24 hours (one counter per code and hour, kept a day).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

REFUSAL_CODES = ("quota_exceeded", "concurrency_limit", "rate_limited", "project_limit")
HOURS_KEPT = 24


def refusal_count(code: str, *, now: datetime | None = None) -> None:
    """Count one refused request by its error code (on the refusal path only)."""
    counter_increment(f"metrics:refusals:{code}")
    counter_increment(
        _hour_key(code, now or timezone.now()),
        timeout=int(timedelta(hours=HOURS_KEPT + 1).total_seconds()),
    )


def refusals_last_24h(*, now: datetime | None = None) -> dict[str, int]:
    """Refusals by code in this hour and the 23 before it (one cache round trip)."""
    now = now or timezone.now()
    hours = [now - timedelta(hours=back) for back in range(HOURS_KEPT)]
    keys = {code: [_hour_key(code, hour) for hour in hours] for code in REFUSAL_CODES}
    try:
        found = cache.get_many([key for code_keys in keys.values() for key in code_keys])
    except Exception:
        cache_failure("metrics")
        found = {}
    return {code: sum(found.get(key, 0) for key in code_keys) for code, code_keys in keys.items()}


def _hour_key(code: str, moment: datetime) -> str:
    return f"metrics:refusals:{code}:{moment.astimezone(UTC):%Y%m%d%H}"


def counter_increment(key: str, *, timeout: int | None = None) -> None:
    """Add one to a counter kept in the shared cache (for `timeout` seconds; None: for good);
    a cache that cannot be reached loses the count, never the request."""
    try:
        cache.add(key, 0, timeout=timeout)
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=timeout)
    except Exception:
        cache_failure("counters")


# Failures to reach the shared cache, by where they happened, in this process (the cache
# itself cannot count them while it is down).
CACHE_FAILURES: dict[str, int] = {}


def cache_failure(where: str) -> None:
    CACHE_FAILURES[where] = CACHE_FAILURES.get(where, 0) + 1


def cache_get(key: str, default=0):
    """A counter read from the shared cache, or `default` when it cannot be reached."""
    try:
        return cache.get(key, default)
    except Exception:
        cache_failure("metrics")
        return default


def cache_up() -> bool:
    """Whether the shared cache answers (a write and a read, with the short time-out)."""
    try:
        cache.set("health:probe", 1, timeout=10)
        return cache.get("health:probe") == 1
    except Exception:
        cache_failure("probe")
        return False
