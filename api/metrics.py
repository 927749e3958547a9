"""Counters of refused API requests, by error code, in the shared cache.

Counted by the exception handler on the refusal path only; `GET /metrics` (usage) reads them.
"""

from __future__ import annotations

from django.core.cache import cache

REFUSAL_CODES = ("quota_exceeded", "concurrency_limit", "rate_limited", "project_limit")


def refusal_count(code: str) -> None:
    """Count one refused request by its error code (on the refusal path only)."""
    counter_increment(f"metrics:refusals:{code}")


def counter_increment(key: str) -> None:
    """Add one to a counter kept in the shared cache; a cache that cannot be reached loses
    the count, never the request."""
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
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
