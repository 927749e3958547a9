"""Minutes and sessions, one in terms of the other, at the one measured figure: the minutes of an
average session. A session plan shows its quota as estimated minutes (pricing page, usage page,
e-mails, the usage API) and a month known only by its minutes counts as minutes ÷ the figure
(the dry runs, a grandfathered customer's outlook).

The figure in force is the newest `MinutesPerSessionChange` (staff set it from the calibration
report); before any, the MINUTES_PER_SESSION setting. It is read on hot paths (every usage read
shows an estimate), so it is kept in the shared cache: one cache read, no query, and every
worker sees a change as soon as it is committed (the change deletes the cached copy when it
is made and again once it is committed).
"""

from __future__ import annotations

import contextlib
import math
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import cache

from accounts.models import MinutesPerSessionChange, Plan

CACHE_KEY = "accounts:minutes-per-session"
CACHE_SECONDS = 3600  # a change deletes the copy at once; this only bounds a lost delete
CENTS = Decimal("0.01")


def default_minutes_per_session() -> Decimal:
    """The MINUTES_PER_SESSION setting: the figure until staff set one."""
    return Decimal(str(settings.MINUTES_PER_SESSION)).quantize(CENTS)


def minutes_per_session_stored() -> MinutesPerSessionChange | None:
    """The change in force (the newest), or None while the setting stands."""
    return MinutesPerSessionChange.objects.order_by("-id").first()


def minutes_per_session() -> Decimal:
    """The minutes of an average session, as estimates use it."""
    try:
        cached = cache.get(CACHE_KEY)
    except Exception:  # a cache down or frozen must not stop a usage read: read the database
        cached = None
    if cached is not None:
        return Decimal(cached)
    change = minutes_per_session_stored()
    value = change.value if change is not None else default_minutes_per_session()
    with contextlib.suppress(Exception):  # the figure was read; caching it only saves time
        cache.set(CACHE_KEY, str(value), CACHE_SECONDS)
    return value


def minutes_per_session_forget() -> None:
    """Drop the cached figure (after a change is committed)."""
    with contextlib.suppress(Exception):  # a cache that is down holds no copy to drop
        cache.delete(CACHE_KEY)


def estimated_minutes(plan: Plan, per_session: Decimal | None = None) -> int:
    """A plan's monthly quota in minutes: a minute plan's own quota, a session plan's sessions
    times the minutes of an average session (rounded to the nearest minute)."""
    if plan.bills_minutes or plan.included_sessions is None:
        return plan.included_minutes
    per_session = minutes_per_session() if per_session is None else per_session
    return int((plan.included_sessions * per_session).to_integral_value(rounding=ROUND_HALF_UP))


def sessions_from_minutes(minutes: Decimal, per_session: Decimal | None = None) -> int:
    """How many sessions `minutes` make at the minutes of an average session, rounded up."""
    per_session = minutes_per_session() if per_session is None else per_session
    return math.ceil(Decimal(minutes) / per_session)
