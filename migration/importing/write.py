"""Writing a decided import: customers, their audited plan changes and monthly usage, in
bulk statements inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError

from accounts import bulk
from accounts.models import ChangeSource, Customer
from accounts.progress import Progress
from accounts.services.plan_change import Transition, plan_changes_record
from migration.importing.checks import UsageRow
from migration.importing.decide import ImportWork
from migration.importing.report import ImportIssue, ImportRejected
from migration.importing.stored import USAGE_FIELDS, CustomerRecord
from usage.models import MonthlyUsage

# The columns an import updates on an existing customer (with `updated_at`).
UPDATED_CUSTOMER_COLUMNS = (
    "email",
    "plan_id",
    "stripe_customer_id",
    "stripe_subscription_id",
    "created_at",
    "grandfathered_until",
    "grandfather_plan_id",
)
IMPORT = ChangeSource.IMPORT.value


def import_write(work: ImportWork, *, now: datetime, progress: Progress) -> None:
    total = sum(
        map(
            len,
            (
                work.to_create,
                work.to_update,
                work.plan_changes,
                work.usage_to_create,
                work.usage_to_update,
            ),
        )
    )
    done = 0

    def counter(phase: str) -> Callable[[int], None]:
        def step(count: int) -> None:
            nonlocal done
            done += count
            progress(phase, done, total)

        return step

    names, customer_row = bulk.row_factory(Customer)
    try:
        bulk.insert(
            Customer,
            names,
            [customer_row(customer.values()) for customer in work.to_create],
            on_batch=counter("writing customers"),
        )
    except IntegrityError:
        raise ImportRejected(
            [
                ImportIssue(
                    work.customers_file,
                    None,
                    "a customer of this file was created here while the import ran "
                    "(the proxy provisions unknown users): run the import again",
                )
            ]
        ) from None
    bulk.insert(
        Customer,
        names,
        [customer_row(customer.values()) for customer in work.to_update],
        conflict=["external_id"],
        update=[*UPDATED_CUSTOMER_COLUMNS, "updated_at"],
        on_batch=counter("writing customers"),
    )
    created_ids = dict(
        bulk.select_in(
            Customer,
            ["external_id", "id"],
            key="external_id",
            values=[customer.external_id for customer in work.to_create],
        )
    )
    for customer in work.to_create:
        customer.id = created_ids[customer.external_id]

    step = counter("recording plan changes")
    recorded = 0

    def recording(phase: str, done: int, total: int) -> None:
        nonlocal recorded
        step(done - recorded)
        recorded = done

    plan_changes_record(
        [
            Transition(
                customer_id=customer.id,
                stripe_subscription_id=customer.stripe_subscription_id or "",
                **fields,
            )
            for customer, fields in work.plan_changes
        ],
        source=IMPORT,
        actor=work.actor,
        reason=work.reason,
        progress=recording,
    )

    names, usage_row = bulk.row_factory(MonthlyUsage)

    def usage_rows(pairs: list[tuple[CustomerRecord, UsageRow]]) -> list[tuple]:
        return [
            usage_row(
                {
                    "customer_id": customer.id,
                    "period": row.period,
                    "updated_at": now,
                    "total_sessions": row.total_sessions,
                    "successful_sessions": row.successful_sessions,
                    "failed_sessions": row.failed_sessions,
                    "total_minutes": row.total_minutes,
                    "billable_minutes": row.billable_minutes,
                }
            )
            for customer, row in pairs
        ]

    # A month not stored yet cannot appear meanwhile: its customer is new or locked (a
    # session start locks the customer first), so these are plain inserts.
    bulk.insert(
        MonthlyUsage,
        names,
        usage_rows(work.usage_to_create),
        on_batch=counter("writing monthly usage"),
    )
    bulk.insert(
        MonthlyUsage,
        names,
        usage_rows(work.usage_to_update),
        conflict=["customer", "period"],
        update=[*USAGE_FIELDS, "updated_at"],
        on_batch=counter("writing monthly usage"),
    )
