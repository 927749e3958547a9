"""Reads of usage. Reading usage never scans sessions: it reads one MonthlyUsage row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import QuerySet

from billing.models import Customer, Plan
from billing.periods import Period, period_of
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


def usage_summary(*, external_id: str, now: datetime | date | None = None) -> UsageSummary:
    """This month's usage for a user_id; an unknown user gets the free plan's zero view."""
    period = period_of(now)
    customer = (
        Customer.objects.select_related("plan", "grandfather_plan")
        .filter(external_id=external_id)
        .first()
    )
    if customer is None:
        return _zero_summary(plan=Plan.objects.get(code="free"), period=period)
    return usage_summary_for(customer=customer, period=period)


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


def usage_history(*, customer: Customer, months: int = 3, before: Period | None = None):
    """The customer's MonthlyUsage rows for the `months` months before `before` (or now)."""
    end = (before or period_of()).start
    start = end
    for _ in range(months):
        start = Period(start).previous().start
    return MonthlyUsage.objects.filter(customer=customer, period__gte=start, period__lt=end)


def sessions_for_customer(*, customer: Customer) -> QuerySet[Session]:
    return Session.objects.filter(customer=customer).select_related("project")
