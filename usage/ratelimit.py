"""Requests per minute per customer, counted in the shared cache (Redis when configured).

A fixed one-minute window: `INCR` of a key named after the customer and the minute.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from billing.errors import RateLimited

WINDOW_SECONDS = 60


def _incr(key: str) -> int:
    """Atomically add one to the window's counter and return it."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # One round trip: INCR and EXPIRE in a pipeline (Django's own incr() takes three).
        redis_key = cache.make_and_validate_key(key)
        client = cache._cache.get_client(redis_key, write=True)
        pipe = client.pipeline()
        pipe.incr(redis_key)
        pipe.expire(redis_key, WINDOW_SECONDS + 10)
        count, _ = pipe.execute()
        return int(count)
    return _incr_generic(cache, key)


def _incr_generic(cache, key: str) -> int:
    cache.add(key, 0, timeout=WINDOW_SECONDS + 10)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=WINDOW_SECONDS + 10)
        return 1


def rate_limit_check(*, subject: str, limit: int, now: float | None = None) -> None:
    """Count one request for `subject`; raise RateLimited past `limit` in this minute."""
    if not settings.RATE_LIMITS_ENABLED:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    count = _incr(f"rl:{subject}:{window}")
    if count > limit:
        retry_after = max(1, int(WINDOW_SECONDS - now % WINDOW_SECONDS + 0.999))
        raise RateLimited(
            f"More than {limit} requests this minute for this customer's plan. "
            f"Retry after {retry_after} s.",
            retry_after=retry_after,
            limit=limit,
        )
