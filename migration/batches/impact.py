"""The usage side of a dry run: each customer's last full months, as sessions to compare with
the quota of the plan it moves to. A month whose sessions were recorded (by the metering, or
by the old system through the import) counts those that did not fail; a month with minutes
only is estimated at the measured minutes per session (`accounts.estimates`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum

from accounts.models import Customer
from accounts.periods import Period, period_of
from accounts.services.plan_change import CustomerRow
from migration.batches.selection import chunks
from usage.models import MonthlyUsage

HISTORY_MONTHS = 3


def history_periods(now: datetime, months: int = HISTORY_MONTHS) -> list[Period]:
    """The `months` full calendar months before `now`'s month, oldest first."""
    return list(reversed(period_of(now).previous().back(months)))


@dataclass(frozen=True)
class UsageHistory:
    minutes: dict[int, tuple[Decimal, ...]]  # billable minutes per customer and month
    sessions: dict[int, tuple[int | None, ...]]  # sessions that did not fail; None: unrecorded


def usage_history(
    rows: list[CustomerRow], periods: list[Period], criteria: QuerySet[Customer] | None
) -> UsageHistory:
    """Billable minutes and recorded sessions per customer for each period: one aggregate
    query (per id chunk when customers were picked by id)."""
    per_month = {}
    for index, period in enumerate(periods):
        in_month = Q(period=period.start)
        per_month[f"m{index}"] = Sum("billable_minutes", filter=in_month)
        per_month[f"t{index}"] = Sum("total_sessions", filter=in_month)
        per_month[f"s{index}"] = Sum(F("total_sessions") - F("failed_sessions"), filter=in_month)
    months = MonthlyUsage.objects.filter(period__in=[p.start for p in periods])
    if criteria is not None:
        queries = [months.filter(customer_id__in=criteria.values("pk"))]
    else:
        ids = [row.customer_id for row in rows]
        queries = [months.filter(customer_id__in=chunk) for chunk in chunks(ids)]
    minutes: dict[int, tuple[Decimal, ...]] = {}
    sessions: dict[int, tuple[int | None, ...]] = {}
    zero = Decimal(0)
    indexes = range(len(periods))
    for query in queries:
        for item in query.values("customer_id").annotate(**per_month).order_by():
            customer_id = item["customer_id"]
            minutes[customer_id] = tuple(item[f"m{i}"] or zero for i in indexes)
            sessions[customer_id] = tuple(item[f"s{i}"] if item[f"t{i}"] else None for i in indexes)
    return UsageHistory(minutes=minutes, sessions=sessions)
