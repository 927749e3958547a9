"""The usage side of a dry run: each customer's billable minutes over the last full months,
and the sessions they would have been, to compare with the quota of the plan it moves to."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from accounts.models import Customer
from accounts.periods import Period, period_of
from accounts.services.plan_change import CustomerRow
from migration.batches.selection import chunks
from usage.models import MonthlyUsage

HISTORY_MONTHS = 3


def history_periods(now: datetime, months: int = HISTORY_MONTHS) -> list[Period]:
    """The `months` full calendar months before `now`'s month, oldest first."""
    periods = [period_of(now).previous()]
    while len(periods) < months:
        periods.append(periods[-1].previous())
    return list(reversed(periods))


def minutes_history(
    rows: list[CustomerRow], periods: list[Period], criteria: QuerySet[Customer] | None
) -> dict[int, tuple[Decimal, ...]]:
    """Billable minutes per customer for each period: one aggregate query (per id chunk when
    customers were picked by id)."""
    per_month = {
        f"m{index}": Sum("billable_minutes", filter=Q(period=period.start))
        for index, period in enumerate(periods)
    }
    months = MonthlyUsage.objects.filter(period__in=[p.start for p in periods])
    if criteria is not None:
        queries = [months.filter(customer_id__in=criteria.values("pk"))]
    else:
        ids = [row.customer_id for row in rows]
        queries = [months.filter(customer_id__in=chunk) for chunk in chunks(ids)]
    history: dict[int, tuple[Decimal, ...]] = {}
    zero = Decimal(0)
    keys = [f"m{index}" for index in range(len(periods))]
    for query in queries:
        for item in query.values("customer_id").annotate(**per_month).order_by():
            history[item["customer_id"]] = tuple(item[key] or zero for key in keys)
    return history


def estimated_sessions(minutes: Decimal) -> int:
    """Minutes turned into sessions at MINUTES_PER_SESSION, rounded up."""
    return math.ceil(Decimal(minutes) / Decimal(str(settings.MINUTES_PER_SESSION)))
