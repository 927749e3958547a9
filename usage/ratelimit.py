"""Requests per minute per customer, counted in the shared cache (Redis when configured).

A fixed one-minute window: `INCR` of a key named after the customer and the minute. The count
is taken with a short time-out (`CACHE_TIMEOUT_SECONDS`) and before any row lock. When the
cache cannot be reached, rate limiting fails open: the request goes on, the failure is logged
and counted (`/metrics`). Refusing a paying customer's sessions because a counter store is down
would be worse than a minute without rate limits.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from accounts.errors import RateLimited
from api.metrics import cache_failure

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def _begin(key: str):
    """Send the window's count for `key` and return what reads its answer (an int)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        location = settings.CACHES["default"]["LOCATION"]
        location = location[0] if isinstance(location, list | tuple) else location
        return _redis_counter(location).begin(cache.make_key(key), WINDOW_SECONDS + 10)
    count = _incr_generic(cache, key)
    return lambda: count


_INCR_WITH_EXPIRY = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_INCR_WITH_EXPIRY_SHA = hashlib.sha1(_INCR_WITH_EXPIRY.encode()).hexdigest()  # noqa: S324


class _RedisCounter:
    """INCR with expiry in one round trip, atomic in Redis, on a connection of its own.

    This runs on every API request. Django's cache builds a new Redis client on each call, and
    redis-py's client adds a connection pool and a retry layer around each command; together
    they cost more CPU than the round trip itself. One redis-py connection per process and
    thread, sent the script's digest (and the script itself once, when Redis does not know it
    yet), packed and its reply read by hiredis (redis-py's C serializer and parser), costs
    about 60 µs of CPU a count instead of about 100 (a timing loop on the 2-core bench
    machine, 2026-11-29). A failed command drops the connection: the next one reconnects.
    `begin` sends a count without waiting for its answer, for a caller with a query to run
    meanwhile.
    """

    def __init__(self, location: str):
        timeout = settings.CACHE_TIMEOUT_SECONDS
        client = redis.Redis.from_url(
            location, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._connection = client.connection_pool.make_connection()
        self._awaited: _Answer | None = None

    def begin(self, key: str, expiry: int):
        """Send the count now; the function returned reads Redis's answer, so that the caller
        can do other work (a query) while Redis answers. Until it is called, this
        connection's next command reads that answer first: no answer is ever taken for
        another's."""
        self._settle()
        try:
            self._send(key, expiry)
        except RedisConnectionError:
            # A connection Redis closed while it sat idle (a restart, the server's idle
            # time-out) fails on its next use: once more on a new one, as redis-py's client
            # retries. A time-out is not retried: a frozen Redis must not hold the request.
            self._send(key, expiry)
        answer = _Answer(self, key, expiry)
        self._awaited = answer
        return answer

    def _settle(self) -> None:
        if self._awaited is not None:
            self._awaited.read()

    def _send(self, key: str, expiry: int) -> None:
        connection = self._connection  # connects when it has no socket
        try:
            packed = connection.pack_command("EVALSHA", _INCR_WITH_EXPIRY_SHA, 1, key, expiry)
            connection.send_packed_command(packed, check_health=False)  # hiredis packs it
        except BaseException:
            connection.disconnect()
            raise

    def _receive(self, key: str, expiry: int, *, retry: bool = True) -> int:
        connection = self._connection
        self._awaited = None
        try:
            try:
                return int(connection.read_response())
            except NoScriptError:  # Redis restarted and forgot the script: send it once
                packed = connection.pack_command("EVAL", _INCR_WITH_EXPIRY, 1, key, expiry)
                connection.send_packed_command(packed, check_health=False)
                return int(connection.read_response())
        except RedisConnectionError:
            connection.disconnect()
            if not retry:
                raise
            # Closed before it answered (see `begin`): sent once more, on a new connection.
            self._send(key, expiry)
            return self._receive(key, expiry, retry=False)
        except BaseException:
            connection.disconnect()
            raise


class _Answer:
    """Redis's answer to one count, read once (`read`, or calling it) and then kept."""

    __slots__ = ("_count", "_counter", "_error", "_expiry", "_key")

    def __init__(self, counter: _RedisCounter, key: str, expiry: int):
        self._counter, self._key, self._expiry = counter, key, expiry
        self._count: int | None = None
        self._error: BaseException | None = None

    def read(self) -> None:
        if self._count is None and self._error is None:
            try:
                self._count = self._counter._receive(self._key, self._expiry)
            except Exception as error:
                self._error = error

    def __call__(self) -> int:
        self.read()
        if self._error is not None:
            raise self._error
        return self._count


_counters = threading.local()


def _redis_counter(location: str) -> _RedisCounter:
    """This process's and thread's counter for `location` (a forked worker makes its own)."""
    key = (os.getpid(), location)
    counter = getattr(_counters, "by_key", {}).get(key)
    if counter is None:
        counter = _RedisCounter(location)
        _counters.by_key = {key: counter}
    return counter


def _incr_generic(cache, key: str) -> int:
    cache.add(key, 0, timeout=WINDOW_SECONDS + 10)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=WINDOW_SECONDS + 10)
        return 1


def rate_limit_count(*, subject: str, now: float | None = None) -> int | None:
    """Count one request for `subject` in this minute's window and return the count; None when
    rate limits are off or the cache cannot be reached (fail open, logged and counted)."""
    return rate_limit_begin(subject=subject, now=now)()


def rate_limit_begin(*, subject: str, now: float | None = None):
    """`rate_limit_count`, in two halves: the count is sent now, and the function returned
    reads it (an int, or None as `rate_limit_count`). A usage read runs its query in between:
    the worker waits once for PostgreSQL and Redis together, not once for each. Each count
    gets its own answer: one begun on this thread before the last answer was read reads that
    answer first."""
    if not settings.RATE_LIMITS_ENABLED:
        return _nothing
    now = time.time() if now is None else now
    try:
        answer = _begin(f"rl:{subject}:{int(now // WINDOW_SECONDS)}")
    except Exception:  # a cache down or frozen must not stop the request
        _failed()
        return _nothing

    def count() -> int | None:
        try:
            return answer()
        except Exception:
            _failed()
            return None

    return count


def _nothing() -> None:
    return None


def _failed() -> None:
    cache_failure("rate_limit")
    logger.warning("rate limit skipped: the cache cannot be reached", exc_info=True)


def rate_limit_enforce(*, count: int | None, limit: int, now: float | None = None) -> None:
    """Raise RateLimited when `count` (from `rate_limit_count`) is past `limit`."""
    if count is None or count <= limit:
        return
    now = time.time() if now is None else now
    if count > limit:
        retry_after = max(1, int(WINDOW_SECONDS - now % WINDOW_SECONDS + 0.999))
        raise RateLimited(
            f"More than {limit} requests this minute for this customer's plan. "
            f"Retry after {retry_after} s.",
            retry_after=retry_after,
            limit=limit,
        )


def rate_limit_check(*, subject: str, limit: int, now: float | None = None) -> None:
    """Count one request for `subject`; raise RateLimited past `limit` in this minute."""
    rate_limit_enforce(count=rate_limit_count(subject=subject, now=now), limit=limit, now=now)
