"""Service keys for machine callers (the proxy, the dashboard). Only digests are stored."""

from __future__ import annotations

import hashlib
import secrets
import time

from django.conf import settings
from django.utils import timezone

from accounts.errors import InvalidInput
from accounts.rawsql import aware, fetch_one
from api.models import ServiceKey

KEY_PREFIX = "aig_"


def service_key_digest(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 digest cannot be brute-forced and
    # keeps each request's lookup to one indexed query (a password hash would cost ~100 ms).
    return hashlib.sha256(raw_key.encode()).hexdigest()


def service_key_create(*, name: str) -> tuple[ServiceKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    name = name.strip()
    if not name:
        raise InvalidInput("A service key needs a name, e.g. 'proxy-production'.", field="name")
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ServiceKey.objects.create(
        name=name, prefix=raw_key[:12], key_hash=service_key_digest(raw_key)
    )
    return key, raw_key


def service_key_revoke(*, key: ServiceKey) -> None:
    """Revoke now. Other worker processes stop accepting it within SERVICE_KEY_CACHE_SECONDS."""
    ServiceKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    _recently_seen.clear()


# digest -> (key, time it was read); per process, for SERVICE_KEY_CACHE_SECONDS.
_recently_seen: dict[str, tuple[ServiceKey, float]] = {}


_ACTIVE_KEY_SQL = """
    SELECT id, name, prefix, last_used_at FROM billing_servicekey
    WHERE key_hash = %s AND revoked_at IS NULL
"""


def service_key_authenticate(raw_key: str) -> ServiceKey | None:
    """The active key for `raw_key`, or None.

    Called on every API request: a key read from the database is trusted for
    SERVICE_KEY_CACHE_SECONDS in this process (a revocation elsewhere takes that long to
    reach it); unknown keys are never cached.
    """
    if not raw_key.startswith(KEY_PREFIX):
        return None
    digest = service_key_digest(raw_key)
    ttl = settings.SERVICE_KEY_CACHE_SECONDS
    seen = _recently_seen.get(digest)
    if seen is not None and time.monotonic() - seen[1] < ttl:
        return seen[0]
    row = fetch_one(_ACTIVE_KEY_SQL, [digest])
    if row is None:
        _recently_seen.pop(digest, None)
        return None
    key = ServiceKey(pk=row[0], name=row[1], prefix=row[2], last_used_at=aware(row[3]))
    if ttl > 0:
        if len(_recently_seen) > 1000:
            _recently_seen.clear()
        _recently_seen[digest] = (key, time.monotonic())
    now = timezone.now()
    # Record use at most once a minute: one extra write per minute, not per request.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ServiceKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
