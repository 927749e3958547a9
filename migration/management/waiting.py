"""`--wait`: the commands do their database work and hand e-mails and Stripe calls to the
queue; with --wait they also follow those until workers have delivered them, with progress."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.core.management.base import CommandError
from django.db.models import Count, Q

from accounts.models import EmailNotification, EmailStatus
from billing.models import PriceMoveStatus, StripePriceMove

# With no progress for this long, say that no worker seems to run.
QUIET_HINT_SECONDS = 30


def add_wait_arguments(parser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="Also wait until the workers (db_worker) have sent the e-mails and made the Stripe "
        "calls this run queued, showing progress.",
    )
    parser.add_argument(
        "--wait-timeout",
        type=int,
        default=3600,
        help="With --wait, give up after this many seconds (default 3600; the work goes on).",
    )


@dataclass(frozen=True)
class Outstanding:
    emails_total: int
    emails_open: int  # pending or being sent
    emails_failed: int
    moves_total: int
    moves_open: int
    moves_failed: int

    @property
    def done(self) -> bool:
        return not self.emails_open and not self.moves_open

    def line(self) -> str:
        return (
            f"e-mails {self.emails_total - self.emails_open:,} of {self.emails_total:,} done"
            + (f" ({self.emails_failed:,} failed)" if self.emails_failed else "")
            + f" · Stripe moves {self.moves_total - self.moves_open:,} of {self.moves_total:,}"
            + (f" ({self.moves_failed:,} failed)" if self.moves_failed else "")
        )


def outstanding(*, since: datetime, batch_id: int | None) -> Outstanding:
    """What the run queued: e-mails recorded since it started, the batch's Stripe moves."""
    emails = EmailNotification.objects.filter(created_at__gte=since).aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status__in=[EmailStatus.PENDING, EmailStatus.SENDING])),
        failed=Count("id", filter=Q(status=EmailStatus.FAILED)),
    )
    moves = (
        StripePriceMove.objects.filter(batch_id=batch_id).aggregate(
            total=Count("id"),
            open=Count("id", filter=Q(status=PriceMoveStatus.PENDING)),
            failed=Count("id", filter=Q(status=PriceMoveStatus.FAILED)),
        )
        if batch_id is not None
        else {"total": 0, "open": 0, "failed": 0}
    )
    return Outstanding(
        emails["total"],
        emails["open"],
        emails["failed"],
        moves["total"],
        moves["open"],
        moves["failed"],
    )


def wait_for_outboxes(
    command, *, since: datetime, batch_id: int | None, timeout: int, interval: float = 1.0
) -> Outstanding:
    """Print progress on stderr until nothing the run queued is left open."""
    started = time.monotonic()
    last, last_change = None, started
    while True:
        state = outstanding(since=since, batch_id=batch_id)
        if state != last:
            command.stderr.write(f"waiting: {state.line()}")
            last, last_change = state, time.monotonic()
        if state.done:
            command.stdout.write(f"Delivered: {state.line()}.")
            return state
        waited = time.monotonic() - started
        if waited > timeout:
            raise CommandError(
                f"Still waiting after {timeout} s: {state.line()}. The work goes on in the "
                "background; check the e-mail outbox and the Stripe price moves in the admin."
            )
        if time.monotonic() - last_change > QUIET_HINT_SECONDS:
            command.stderr.write(
                "No progress for 30 s: is a worker running? Start one with "
                "`python manage.py db_worker`."
            )
            last_change = time.monotonic()
        time.sleep(interval)
