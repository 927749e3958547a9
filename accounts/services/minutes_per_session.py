"""Setting the minutes of an average session (the figure every estimate uses), audited."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import connection, transaction

from accounts.errors import InvalidInput
from accounts.estimates import (
    CENTS,
    default_minutes_per_session,
    minutes_per_session_forget,
    minutes_per_session_stored,
)
from accounts.models import MinutesPerSessionChange

# A WebRTC session of under 6 seconds or over 10 hours on average is a measurement gone wrong.
MIN_MINUTES_PER_SESSION = Decimal("0.10")
MAX_MINUTES_PER_SESSION = Decimal("600.00")
# A PostgreSQL advisory lock key (namespace, key) of its own: not the jobs' (accounts.jobs).
CHANGE_LOCK = (0x4D50, 1)


def _wait_for_other_changes() -> None:
    """Two staff setting the figure at once: the second waits for the first to commit and
    records the first's figure as its "old" one, even for the very first change (no row to
    lock yet). SQLite's writers already take turns (transactions begin IMMEDIATE)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(CHANGE_LOCK))


def minutes_per_session_set(
    *, value: Decimal | str, actor: str, reason: str = "", sample: dict | None = None
) -> MinutesPerSessionChange:
    """Make `value` the minutes of an average session, recording who, old → new, why, and the
    sample it was measured on. The cached figure is dropped once the change is committed."""
    try:
        value = Decimal(str(value)).quantize(CENTS)
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{value!r} is not a number of minutes.", field="value") from None
    if not value.is_finite() or not MIN_MINUTES_PER_SESSION <= value <= MAX_MINUTES_PER_SESSION:
        raise InvalidInput(
            f"Minutes per session must be from {MIN_MINUTES_PER_SESSION} to "
            f"{MAX_MINUTES_PER_SESSION}.",
            field="value",
        )
    with transaction.atomic():
        _wait_for_other_changes()
        current = minutes_per_session_stored()
        previous = current.value if current is not None else default_minutes_per_session()
        change = MinutesPerSessionChange.objects.create(
            value=value,
            previous_value=previous,
            actor=actor,
            reason=reason[:255],
            sample=sample or {},
        )
        minutes_per_session_forget()  # for this transaction's own reads
        # Others read the old figure until the commit (and may cache it meanwhile): drop it then.
        transaction.on_commit(minutes_per_session_forget)
    return change
