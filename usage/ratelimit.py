"""Requests per minute per customer, counted in the shared cache (Redis when configured).

A fixed one-minute window: `INCR` of a key named after the customer and the minute.
"""

from __future__ import annotations

import functools
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from accounts.errors import RateLimited

WINDOW_SECONDS = 60


def _incr(key: str) -> int:
    """Atomically add one to the window's counter and return it."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        redis_key = cache.make_and_validate_key(key)
        location = settings.CACHES["default"]["LOCATION"]
        location = location[0] if isinstance(location, list | tuple) else location
        return int(_redis_incr(location)(keys=[redis_key], args=[WINDOW_SECONDS + 10]))
    return _incr_generic(cache, key)


_INCR_WITH_EXPIRY = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@functools.cache
def _redis_incr(location: str):
    """INCR with expiry in one round trip, atomic in Redis, on a client kept per process.

    Django's cache builds a new Redis client object on every call, which costs more than the
    round trip itself; this path runs on every API request.
    """
    return redis.Redis.from_url(location).register_script(_INCR_WITH_EXPIRY)


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
