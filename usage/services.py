"""Session metering: start (idempotent, quota-reserving) and end (gives back failed sessions).

Exactness rules: every start locks its customer's row, so the concurrency count and the
project count cannot race; the quota counter moves by one conditional UPDATE, so the quota
holds even without that lock; a `session_id` is unique in the database, so a retry can never
count twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.errors import (
    ConcurrencyLimitReached,
    Conflict,
    NotFound,
    ProjectLimitReached,
    QuotaExceeded,
)
from billing.models import Customer, Plan, Project
from billing.periods import period_of
from usage.alerts import usage_alert_levels, usage_alerts_send
from usage.models import MonthlyUsage, Session, SessionStatus

logger = logging.getLogger(__name__)

DEFAULT_PROJECT_ID = "default"
CONCURRENCY_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True)
class SessionStart:
    session: Session
    created: bool


def _project_for_session(*, customer: Customer, plan: Plan, project_id: str) -> Project:
    project = Project.objects.filter(customer=customer, project_id=project_id).first()
    if project is not None:
        return project
    count = Project.objects.filter(customer=customer).count()
    if count >= plan.max_projects:
        raise ProjectLimitReached(
            f"The {plan.name} plan allows {plan.max_projects} project(s); this customer already "
            f"has {count}. Use an existing project or upgrade the plan.",
            limit=plan.max_projects,
        )
    return Project.objects.create(customer=customer, project_id=project_id)


def _check_concurrency(*, customer: Customer, plan: Plan, now: datetime) -> None:
    stale_before = now - timedelta(seconds=settings.SESSION_STALE_AFTER)
    open_sessions = Session.objects.filter(
        customer=customer, status=SessionStatus.ACTIVE, started_at__gt=stale_before
    ).count()
    if open_sessions >= plan.max_concurrent_sessions:
        raise ConcurrencyLimitReached(
            f"{open_sessions} sessions are open; the {plan.name} plan allows "
            f"{plan.max_concurrent_sessions} at once. End a session or retry later.",
            retry_after=CONCURRENCY_RETRY_AFTER_SECONDS,
            limit=plan.max_concurrent_sessions,
        )


def _reserve_quota(*, customer: Customer, plan: Plan, period, now: datetime) -> bool:
    """Count one session in the month, only if the plan's quota allows it (one UPDATE).

    Returns True when this start may have brought the month's use to a usage-alert level
    (80%, 100%): the first UPDATE excludes exactly those rows, so an ordinary start stays one
    statement and only the start reaching a level runs a second one.
    """
    row = MonthlyUsage.objects.filter(customer=customer, period=period)
    if plan.bills_minutes:
        # Minute plans reach their levels when minutes are recorded, at the session's end.
        admissible = row.filter(billable_minutes__lt=plan.included_minutes)
        levels = {}
    else:
        admissible = row.filter(total_sessions__lt=F("failed_sessions") + plan.included_sessions)
        levels = usage_alert_levels(plan.included_sessions)
    quiet = admissible
    for level in levels:
        quiet = quiet.exclude(total_sessions=F("failed_sessions") + (level - 1))

    def reserve() -> bool | None:
        """True: reserved at an alert level; False: reserved; None: not admissible."""
        counted = {"total_sessions": F("total_sessions") + 1, "updated_at": now}
        if quiet.update(**counted):
            return False
        if levels and admissible.update(**counted):
            return True
        return None

    reserved = reserve()
    if reserved is not None:
        return reserved
    # First session of the month: make the row, then try again.
    MonthlyUsage.objects.bulk_create(
        [MonthlyUsage(customer=customer, period=period)], ignore_conflicts=True
    )
    reserved = reserve()
    if reserved is not None:
        return reserved
    unit = "minutes" if plan.bills_minutes else "sessions"
    raise QuotaExceeded(
        f"The {plan.name} plan's {plan.quota:,} {unit} for {period:%B %Y} are used up. "
        "Upgrade the plan or wait for next month.",
        limit=plan.quota,
        unit=unit,
    )


def _send_usage_alerts(*, customer: Customer, plan: Plan, period) -> None:
    """Read the month's use (only called when a level may just have been reached) and send
    the alert it calls for, once per customer and month."""
    usage = MonthlyUsage.objects.filter(customer=customer, period=period).first()
    if usage is None:
        return
    used = usage.billable_minutes if plan.bills_minutes else usage.sessions_used
    usage_alerts_send(customer=customer, plan=plan, period=period_of(period), used=used)


def session_start(
    *,
    session_id: str,
    customer: Customer,
    project_id: str = DEFAULT_PROJECT_ID,
    now: datetime | None = None,
) -> SessionStart:
    """Admit a session for `customer`, or raise the limit it breaks.

    Idempotent on `session_id`: a retry returns the session already recorded and counts
    nothing. Raises Conflict if the id is already used by another customer.
    """
    now = now or timezone.now()
    existing = _existing_session(session_id=session_id, customer=customer)
    if existing is not None:
        return SessionStart(existing, created=False)
    try:
        with transaction.atomic():
            locked = (
                Customer.objects.select_for_update(of=("self",))
                .select_related("plan")
                .get(pk=customer.pk)
            )
            # Checked again under the lock: a concurrent retry may have committed meanwhile.
            existing = _existing_session(session_id=session_id, customer=locked)
            if existing is not None:
                return SessionStart(existing, created=False)
            plan = locked.plan
            project = _project_for_session(customer=locked, plan=plan, project_id=project_id)
            _check_concurrency(customer=locked, plan=plan, now=now)
            period = period_of(now).start
            at_alert_level = _reserve_quota(customer=locked, plan=plan, period=period, now=now)
            session = Session.objects.create(
                session_id=session_id,
                customer=locked,
                project=project,
                period=period,
                started_at=now,
            )
            if at_alert_level:
                _send_usage_alerts(customer=locked, plan=plan, period=period)
    except IntegrityError:
        # The same session_id was inserted concurrently (under another customer's lock);
        # the whole transaction, reservation included, was rolled back.
        existing = _existing_session(session_id=session_id, customer=customer)
        if existing is None:
            raise
        return SessionStart(existing, created=False)
    logger.info(
        "session started",
        extra={"session_id": session_id, "customer": customer.external_id, "project": project_id},
    )
    return SessionStart(session, created=True)


def _existing_session(*, session_id: str, customer: Customer) -> Session | None:
    session = Session.objects.filter(session_id=session_id).select_related("project").first()
    if session is not None and session.customer_id != customer.pk:
        raise Conflict(
            f"session_id {session_id!r} is already recorded for another customer.",
            field="session_id",
        )
    return session


@dataclass(frozen=True)
class SessionEnd:
    session: Session
    changed: bool


def session_end(
    *, session_id: str, status: str, minutes: Decimal, now: datetime | None = None
) -> SessionEnd:
    """Record a session's end once; a repeat changes nothing. A failed session frees its unit."""
    now = now or timezone.now()
    if status not in (SessionStatus.SUCCEEDED, SessionStatus.FAILED):
        raise ValueError(f"status must be succeeded or failed, not {status!r}")
    with transaction.atomic():
        session = (
            Session.objects.select_for_update(of=("self",))
            .select_related("customer__plan", "project")
            .filter(session_id=session_id)
            .first()
        )
        if session is None:
            raise NotFound(f"No session {session_id!r}.")
        if session.status != SessionStatus.ACTIVE:
            return SessionEnd(session, changed=False)
        succeeded = status == SessionStatus.SUCCEEDED
        session.status = status
        session.minutes = minutes
        session.ended_at = now
        session.save(update_fields=["status", "minutes", "ended_at"])
        month = MonthlyUsage.objects.filter(customer_id=session.customer_id, period=session.period)
        counted = {
            "successful_sessions": F("successful_sessions") + int(succeeded),
            "failed_sessions": F("failed_sessions") + int(not succeeded),
            "total_minutes": F("total_minutes") + minutes,
            "billable_minutes": F("billable_minutes") + (minutes if succeeded else 0),
            "updated_at": now,
        }
        plan = session.customer.plan
        levels = usage_alert_levels(plan.included_minutes) if plan.bills_minutes else {}
        if succeeded and minutes and levels:
            # A minute plan reaches an alert level when billable minutes pass it: the first
            # UPDATE skips exactly that case, so only an end passing a level costs more.
            quiet = month
            for level in levels:
                quiet = quiet.exclude(
                    billable_minutes__lt=level, billable_minutes__gte=level - minutes
                )
            if not quiet.update(**counted) and month.update(**counted):
                _send_usage_alerts(customer=session.customer, plan=plan, period=session.period)
        else:
            month.update(**counted)
    logger.info(
        "session ended",
        extra={"session_id": session_id, "status": status, "minutes": str(minutes)},
    )
    return SessionEnd(session, changed=True)


@transaction.atomic
def usage_recount(*, customer: Customer, period) -> MonthlyUsage:
    """Rebuild one month's counters from the customer's sessions (repair and demo data).

    Locks the customer so that no start or end of this customer interleaves with the count.
    """
    from django.db.models import Count, Q, Sum

    Customer.objects.select_for_update(of=("self",)).filter(pk=customer.pk).first()
    sessions = Session.objects.filter(customer=customer, period=period)
    totals = sessions.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=SessionStatus.SUCCEEDED)),
        failed=Count("id", filter=Q(status=SessionStatus.FAILED)),
        all_minutes=Sum("minutes", default=Decimal(0)),
        billable=Sum("minutes", filter=~Q(status=SessionStatus.FAILED), default=Decimal(0)),
    )
    usage, _ = MonthlyUsage.objects.update_or_create(
        customer=customer,
        period=period,
        defaults={
            "total_sessions": totals["total"],
            "successful_sessions": totals["succeeded"],
            "failed_sessions": totals["failed"],
            "total_minutes": totals["all_minutes"],
            "billable_minutes": totals["billable"],
        },
    )
    return usage
