"""Counters of refused API requests, by error code, in the shared cache.

Counted by the exception handler on the refusal path only; `GET /metrics` (usage) reads them.
"""

from __future__ import annotations

from django.core.cache import cache

REFUSAL_CODES = ("quota_exceeded", "concurrency_limit", "rate_limited", "project_limit")


def refusal_count(code: str) -> None:
    """Count one refused request by its error code (on the refusal path only)."""
    key = f"metrics:refusals:{code}"
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)


def counter_increment(key: str) -> None:
    """Add one to a counter kept in the shared cache; a cache that cannot be reached loses
    the count, never the request."""
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
    except Exception:
        return
