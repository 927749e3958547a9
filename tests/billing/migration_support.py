"""Helpers shared by the migration tests: legacy customers with usage, and DB state dumps."""

from __future__ import annotations

from decimal import Decimal

from django.core import mail

from accounts.models import Customer, EmailNotification, MigrationBatch, PlanChange
from accounts.periods import Period
from tests.factories import CustomerFactory, plan
from usage.models import MonthlyUsage


def legacy_customer(
    code: str, *, minutes: tuple = (), history: list[Period] | None = None, **fields
):
    """A customer on plan `code` with billable `minutes` in each of the `history` months."""
    customer = CustomerFactory(plan=plan(code), **fields)
    for period, value in zip(history or [], minutes, strict=False):
        MonthlyUsage.objects.create(
            customer=customer,
            period=period.start,
            total_sessions=1,
            successful_sessions=1,
            total_minutes=Decimal(value),
            billable_minutes=Decimal(value),
        )
    return customer


def database_state() -> dict:
    """Everything a migration operation could change, to compare before and after."""
    return {
        "customers": list(
            Customer.objects.order_by("pk").values_list(
                "pk",
                "plan_id",
                "grandfathered_until",
                "grandfather_plan_id",
                "migration_exempt",
                "updated_at",
            )
        ),
        "plan_changes": list(PlanChange.objects.order_by("pk").values_list("pk", flat=True)),
        "batches": list(MigrationBatch.objects.order_by("pk").values_list("pk", "status")),
        "emails": list(EmailNotification.objects.order_by("pk").values_list("pk", flat=True)),
        "outbox": len(mail.outbox),
    }


def migration_fields(customer: Customer) -> tuple:
    customer.refresh_from_db()
    return (
        customer.plan.code,
        customer.grandfathered_until,
        customer.grandfather_plan.code if customer.grandfather_plan else None,
        customer.migration_exempt,
    )
