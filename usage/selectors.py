"""Reads of usage. Reading usage never scans sessions: it reads one MonthlyUsage row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.db.models import (
    Case,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.estimates import (
    default_minutes_per_session,
    minutes_per_session,
    sessions_from_minutes,
)
from accounts.models import Customer, Plan, PlanChange
from accounts.periods import Period, period_of
from accounts.rawsql import aware, decimal, fetch_one, param_date
from usage.models import MonthlyUsage, Session


@dataclass(frozen=True)
class UsageSummary:
    customer: Customer | None
    plan: Plan
    period: Period
    total_sessions: int
    successful_sessions: int
    failed_sessions: int
    total_minutes: Decimal
    billable_minutes: Decimal
    # The minutes per session in force, when the read fetched it (None: read it when needed).
    minutes_per_session: Decimal | None = None

    @property
    def sessions_used(self) -> int:
        return self.total_sessions - self.failed_sessions

    @property
    def used(self) -> int | Decimal:
        """Use in the plan's own billing unit."""
        return self.billable_minutes if self.plan.bills_minutes else self.sessions_used

    @property
    def sessions_remaining(self) -> int | None:
        if self.plan.bills_minutes:
            return None
        return max(self.plan.included_sessions - self.sessions_used, 0)

    @property
    def minutes_remaining(self) -> Decimal | None:
        if not self.plan.bills_minutes:
            return None
        return max(Decimal(self.plan.included_minutes) - self.billable_minutes, Decimal(0))

    @property
    def percent_used(self) -> int:
        """Whole percent of the quota used, rounded down (80 means 80% reached)."""
        quota = self.plan.quota
        if not quota:
            return 100 if self.used else 0
        return int(self.used * 100 // quota)


# The usage API's read: customer, plan, next plan, this month's counters and the minutes per
# session in force (for the estimate) in one query.
_USAGE_SQL = """
    SELECT c.id, c.external_id, c.status, c.grandfathered_until, c.plan_id,
        c.grandfather_plan_id, gp.code,
        p.code, p.name, p.billing_unit, p.included_sessions, p.included_minutes,
        p.requests_per_minute, p.is_legacy,
        u.total_sessions, u.successful_sessions, u.failed_sessions, u.total_minutes,
        u.billable_minutes,
        (SELECT m.value FROM accounts_minutespersessionchange m ORDER BY m.id DESC LIMIT 1)
    FROM billing_customer c
    JOIN billing_plan p ON p.id = c.plan_id
    LEFT JOIN billing_plan gp ON gp.id = c.grandfather_plan_id
    LEFT JOIN usage_monthlyusage u ON u.customer_id = c.id AND u.period = %s
    WHERE c.external_id = %s
"""
# In the model's field order: Model.from_db() pairs values with fields in that order.
_CUSTOMER_FIELDS = ["id", "external_id", "plan_id", "status", "grandfathered_until"]
_PLAN_FIELDS = [
    "id",
    "code",
    "name",
    "billing_unit",
    "included_sessions",
    "included_minutes",
    "requests_per_minute",
    "is_legacy",
]


def usage_summary(*, external_id: str, now: datetime | date | None = None) -> UsageSummary:
    """This month's usage for a user_id; an unknown user gets the free plan's zero view.

    The models it returns carry only the fields the usage API reads (others load on access).
    """
    period = period_of(now)
    row = fetch_one(_USAGE_SQL, [param_date(period.start), external_id])
    if row is None:
        return _zero_summary(plan=Plan.objects.get(code="free"), period=period)
    (cid, ext, status, until, plan_id, next_plan_id, next_code, *plan_values) = row[:14]
    plan = Plan.from_db("default", _PLAN_FIELDS, [plan_id, *plan_values])
    customer = Customer.from_db(
        "default", _CUSTOMER_FIELDS, [cid, ext, plan_id, status, aware(until)]
    )
    customer.plan = plan
    customer.grandfather_plan = (
        Plan.from_db("default", ["id", "code"], [next_plan_id, next_code]) if next_plan_id else None
    )
    total, successful, failed, minutes, billable, per_session = row[14:]
    return UsageSummary(
        customer=customer,
        plan=plan,
        period=period,
        total_sessions=total or 0,
        successful_sessions=successful or 0,
        failed_sessions=failed or 0,
        total_minutes=decimal(minutes),
        billable_minutes=decimal(billable),
        minutes_per_session=(
            default_minutes_per_session() if per_session is None else decimal(per_session)
        ),
    )


def usage_summary_for(*, customer: Customer, period: Period) -> UsageSummary:
    row = MonthlyUsage.objects.filter(customer=customer, period=period.start).first()
    if row is None:
        return _zero_summary(plan=customer.plan, period=period, customer=customer)
    return UsageSummary(
        customer=customer,
        plan=customer.plan,
        period=period,
        total_sessions=row.total_sessions,
        successful_sessions=row.successful_sessions,
        failed_sessions=row.failed_sessions,
        total_minutes=row.total_minutes,
        billable_minutes=row.billable_minutes,
    )


def _zero_summary(*, plan: Plan, period: Period, customer: Customer | None = None) -> UsageSummary:
    return UsageSummary(
        customer=customer,
        plan=plan,
        period=period,
        total_sessions=0,
        successful_sessions=0,
        failed_sessions=0,
        total_minutes=Decimal(0),
        billable_minutes=Decimal(0),
    )


def sessions_for_customer(*, customer: Customer) -> QuerySet[Session]:
    return Session.objects.filter(customer=customer).select_related("project")


def customers_with_usage(
    queryset: QuerySet[Customer] | None = None, *, period: Period | None = None
) -> QuerySet[Customer]:
    """Customers annotated with the month's `sessions_used`, `billable_minutes`, `quota_used`
    (in the plan's unit) and `percent_used`, in one query (no query per row)."""
    period = period or period_of()
    queryset = queryset if queryset is not None else Customer.objects.all()
    month = MonthlyUsage.objects.filter(customer=OuterRef("pk"), period=period.start)
    queryset = queryset.select_related("plan", "grandfather_plan").annotate(
        sessions_used=Coalesce(
            Subquery(
                month.annotate(used=F("total_sessions") - F("failed_sessions")).values("used")[:1]
            ),
            Value(0),
        ),
        billable_minutes=Coalesce(
            Subquery(month.values("billable_minutes")[:1]),
            Value(0),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        ),
    )
    return queryset.annotate(
        quota_used=Case(
            When(plan__billing_unit="minutes", then=F("billable_minutes")),
            default=F("sessions_used"),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        ),
        plan_quota=Case(
            When(plan__billing_unit="minutes", then=F("plan__included_minutes")),
            default=F("plan__included_sessions"),
            output_field=IntegerField(),
        ),
    )


# --- Where the month is heading, and the months before -----------------------------------------


@dataclass(frozen=True)
class Forecast:
    projected: int  # use by the month's end at this month's pace, in the plan's unit
    exhausts_on: date | None  # the day the quota runs out at that pace; None if it won't


def usage_forecast(summary: UsageSummary, *, now: datetime | None = None) -> Forecast:
    """This month's pace carried to its end. The pace is the use so far over the time elapsed,
    counted as at least one day (on the 1st at 00:05 a few sessions are not a thousand a day).
    No use: nothing projected. Already at the quota: it ran out today at the latest."""
    now = now or timezone.now()
    period = summary.period
    used = Decimal(summary.used)
    quota = Decimal(summary.plan.quota or 0)
    if used <= 0:
        return Forecast(projected=0, exhausts_on=None)
    month_days = Decimal((period.end - period.start).days + 1)
    elapsed_days = max(Decimal((now - period.starts_at).total_seconds()) / 86400, Decimal(1))
    elapsed_days = min(elapsed_days, month_days)
    pace = used / elapsed_days  # per day
    projected = int((pace * month_days).to_integral_value(rounding=ROUND_HALF_UP))
    if quota and used >= quota:
        return Forecast(projected=projected, exhausts_on=now.date())
    if not quota or pace * month_days <= quota:
        return Forecast(projected=projected, exhausts_on=None)
    day = int((quota / pace).to_integral_value(rounding=ROUND_CEILING))  # days from the 1st
    return Forecast(projected=projected, exhausts_on=period.start + timedelta(days=day - 1))


@dataclass(frozen=True)
class UsageMonth:
    month: str  # "2026-11"
    sessions_used: int
    minutes_used: Decimal  # minutes of sessions that did not fail: what a minute quota counts
    included: int  # the quota of the plan in effect at the month's end (its current plan now)
    unit: str  # "sessions" or "minutes"


HISTORY_MONTHS = 12


def usage_history(
    *, external_id: str, now: datetime | None = None, months: int = HISTORY_MONTHS
) -> list[UsageMonth]:
    """The `months` most recent calendar months, newest first, with each month's plan taken
    from the audit trail (the plan in effect at that month's end). Three queries."""
    periods = period_of(now).back(months)
    customer = Customer.objects.select_related("plan").filter(external_id=external_id).first()
    if customer is None:
        free = Plan.objects.get(code="free")
        return [_month(p, None, free) for p in periods]
    return usage_history_for(customer, periods=periods)


def usage_history_for(
    customer: Customer,
    *,
    now: datetime | None = None,
    months: int = HISTORY_MONTHS,
    periods: list[Period] | None = None,
) -> list[UsageMonth]:
    """`usage_history` for a customer already loaded (with its plan): two queries."""
    periods = periods or period_of(now).back(months)
    period = periods[0]
    rows = {
        row.period: row
        for row in MonthlyUsage.objects.filter(
            customer=customer, period__gte=periods[-1].start, period__lte=period.start
        )
    }
    changes = list(
        PlanChange.objects.filter(customer=customer)
        .select_related("from_plan", "to_plan")
        .order_by("created_at", "id")
    )
    return [
        _month(p, rows.get(p.start), _plan_at(p.ends_at, changes, customer.plan)) for p in periods
    ]


def _plan_at(moment: datetime, changes: list, current: Plan) -> Plan:
    before = [change for change in changes if change.created_at < moment]
    if before:
        return before[-1].to_plan
    first = changes[0] if changes else None
    return (first.from_plan or first.to_plan) if first else current


def _month(period: Period, row, plan: Plan) -> UsageMonth:
    return UsageMonth(
        month=period.label,
        sessions_used=(row.total_sessions - row.failed_sessions) if row else 0,
        minutes_used=row.billable_minutes if row else Decimal(0),
        included=plan.quota,
        unit=plan.billing_unit,
    )


# --- A grandfathered customer's own move: its recent use against the new plan -----------------

RECENT_MONTHS = 3


@dataclass(frozen=True)
class MoveOutlook:
    """The last complete months of sessions, oldest first, against the plan a customer moves to;
    `fits` is the cheapest public session plan that would have held the busiest of them."""

    months: list[tuple[date, int]]  # (the month's 1st, sessions that did not fail)
    new_plan: Plan
    fits: Plan
    # Months the old system recorded minutes of but no sessions: minutes ÷ minutes per session.
    estimated: frozenset[date] = frozenset()

    @property
    def busiest(self) -> int:
        return max((sessions for _, sessions in self.months), default=0)

    @property
    def would_exceed(self) -> bool:
        return self.busiest > (self.new_plan.included_sessions or 0)

    @property
    def fits_busiest(self) -> bool:
        """Whether `fits` holds the busiest month: False when no public plan does (`fits` is
        then the largest, and the customer must talk to us rather than "choose it")."""
        return (self.fits.included_sessions or 0) >= self.busiest

    def as_email_context(self) -> dict:
        """Plain values that the e-mail outbox can store and its worker render later."""
        return {
            "months": [[month, sessions] for month, sessions in self.months],
            "busiest": self.busiest,
            "would_exceed": self.would_exceed,
            "fits_busiest": self.fits_busiest,
            "estimated": bool(self.estimated),
            "fits": self.fits,
        }


def move_outlooks(
    *, customer_ids: list[int], new_plans: dict[int, Plan], now: datetime | None = None
) -> dict[int, MoveOutlook]:
    """For each customer (id → the plan it moves to), its last RECENT_MONTHS complete months:
    the sessions recorded, or for a month of minutes only (the old system's), the minutes ÷ the
    measured minutes per session, as the dry runs count them. Two queries whatever the number
    of customers (the figure is cached)."""
    periods = list(reversed(period_of(now).previous().back(RECENT_MONTHS)))  # oldest first
    used: dict[tuple[int, date], int] = {}
    estimated: dict[int, set[date]] = {}
    per_session = None
    for row in MonthlyUsage.objects.filter(
        customer_id__in=customer_ids, period__gte=periods[0].start, period__lte=periods[-1].start
    ).values("customer_id", "period", "total_sessions", "failed_sessions", "billable_minutes"):
        key = (row["customer_id"], row["period"])
        if row["total_sessions"] or not row["billable_minutes"]:
            used[key] = row["total_sessions"] - row["failed_sessions"]
            continue
        per_session = per_session or minutes_per_session()
        used[key] = sessions_from_minutes(row["billable_minutes"], per_session)
        estimated.setdefault(row["customer_id"], set()).add(row["period"])
    ladder = list(
        Plan.objects.filter(
            is_public=True, is_legacy=False, included_sessions__isnull=False
        ).order_by("included_sessions", "price_cents")
    )
    outlooks = {}
    for customer_id in customer_ids:
        months = [(p.start, used.get((customer_id, p.start), 0)) for p in periods]
        busiest = max(sessions for _, sessions in months)
        new_plan = new_plans[customer_id]
        fits = next(
            (plan for plan in ladder if plan.included_sessions >= busiest),
            ladder[-1] if ladder else new_plan,
        )
        if new_plan.included_sessions and new_plan.included_sessions >= busiest:
            fits = new_plan
        outlooks[customer_id] = MoveOutlook(
            months=months,
            new_plan=new_plan,
            fits=fits,
            estimated=frozenset(estimated.get(customer_id, ())),
        )
    return outlooks
