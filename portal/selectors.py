"""Reads for the customers' pages. The page may aggregate this month's sessions (one query);
the usage API never does: it reads MonthlyUsage only."""

from __future__ import annotations

import math
from datetime import UTC, date

from django.db.models import (
    Count,
    DecimalField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate

from accounts.models import Customer, Project
from accounts.periods import Period
from usage.models import Session, SessionStatus

# A failed session gives its unit of quota back, so it is not drawn as used.
_COUNTED = ~Q(status=SessionStatus.FAILED)


def customer_for_user(user) -> Customer | None:
    """The customer a login belongs to, with its plans, or None (staff, unlinked logins)."""
    if not user.is_authenticated:
        return None
    return Customer.objects.select_related("plan", "grandfather_plan").filter(user=user).first()


def sessions_per_day(*, customer: Customer, period: Period) -> dict[date, int]:
    """Counted (not failed) sessions of the period per UTC day, in one grouped query."""
    rows = (
        Session.objects.filter(_COUNTED, customer=customer, period=period.start)
        .annotate(day=TruncDate("started_at", tzinfo=UTC))
        .values("day")
        .annotate(sessions=Count("id"))
        .order_by("day")
    )
    return {row["day"]: row["sessions"] for row in rows}


def minutes_per_day(*, customer: Customer, period: Period) -> dict[date, int]:
    """Minutes of counted sessions of the period per UTC day (what a minute quota counts), in
    whole minutes that add up to the month's whole minutes (each day floored, then the minutes
    the floors lost given to the days with the largest fractions), in one grouped query. A
    running session has no minutes yet."""
    rows = (
        Session.objects.filter(_COUNTED, customer=customer, period=period.start)
        .annotate(day=TruncDate("started_at", tzinfo=UTC))
        .values("day")
        .annotate(minutes=Sum("minutes"))
        .order_by("day")
    )
    exact = {row["day"]: row["minutes"] or 0 for row in rows}
    whole = {day: math.floor(minutes) for day, minutes in exact.items()}
    lost = math.floor(sum(exact.values())) - sum(whole.values())
    by_fraction = sorted(exact, key=lambda day: (exact[day] - whole[day], day), reverse=True)
    for day in by_fraction[:lost]:
        whole[day] += 1
    return whole


def projects_with_sessions(*, customer: Customer, period: Period) -> QuerySet[Project]:
    """The customer's projects, each annotated with `period_sessions` (counted sessions) and
    `period_minutes` (their minutes: what a minute plan counts)."""
    counted = (
        Session.objects.filter(_COUNTED, customer=customer, period=period.start)
        .filter(project=OuterRef("pk"))
        .values("project")
    )
    return (
        Project.objects.filter(customer=customer)
        .annotate(
            period_sessions=Coalesce(
                Subquery(counted.annotate(sessions=Count("id")).values("sessions")[:1]),
                Value(0),
                output_field=IntegerField(),
            ),
            period_minutes=Coalesce(
                Subquery(counted.annotate(minutes=Sum("minutes")).values("minutes")[:1]),
                Value(0),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
        )
        .order_by("created_at", "id")
    )
