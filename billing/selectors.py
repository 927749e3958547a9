"""Reads of customers and plans for the admin, pages and commands."""

from __future__ import annotations

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

from billing.models import Customer, Plan
from billing.periods import Period, period_of


def customers_with_usage(
    queryset: QuerySet[Customer] | None = None, *, period: Period | None = None
) -> QuerySet[Customer]:
    """Customers annotated with the month's `sessions_used`, `billable_minutes`, `quota_used`
    (in the plan's unit) and `percent_used`, in one query (no query per row)."""
    from usage.models import MonthlyUsage

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


def public_plans() -> QuerySet[Plan]:
    return Plan.objects.filter(is_public=True).order_by("sort_order", "price_cents")
