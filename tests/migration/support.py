"""Helpers shared by the migration tests: the frozen clock's moment, legacy customers with
usage, database state dumps, the customer admin's actions and running the commands."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

from django.core import mail
from django.core.management import call_command

from accounts.models import Customer, EmailNotification, MigrationBatch, PlanChange
from accounts.periods import Period
from migration.batches.impact import history_periods
from tests.accounts.factories import CustomerFactory, plan
from tests.support.workers import worker_runs
from tests.usage.factories import MonthlyUsageFactory

# Where `frozen_clock` (tests/migration/conftest.py) stops the clock: mid-month.
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
# The three full months before NOW's, whose minutes estimate a customer's sessions.
HISTORY = history_periods(NOW)
CHANGELIST = "/admin/accounts/customer/"


def legacy_customer(
    code: str, *, minutes: tuple = (), history: list[Period] | None = None, **fields
):
    """A customer on plan `code` with billable `minutes` in each of the `history` months."""
    customer = CustomerFactory(plan=plan(code), **fields)
    for period, value in zip(history or [], minutes, strict=False):
        MonthlyUsageFactory(
            customer=customer,
            period=period.start,
            total_sessions=0,  # minutes only: the old system recorded no sessions
            successful_sessions=0,
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


def act(client, action, customers, query="", **data):
    """Post a customer admin action on `customers` (the changelist's form). Applying queues a
    background job: a worker runs it once the request commits."""
    payload = {"action": action, "_selected_action": [c.pk for c in customers], **data}
    with worker_runs():
        return client.post(CHANGELIST + query, payload)


def run(*args) -> tuple[str, str]:
    """Run a management command: (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()
