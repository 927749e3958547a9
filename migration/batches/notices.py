"""The migration e-mails: the notice of a move announced for later, and "moved" once done.

Each is recorded once per customer and key (the move date, or the batch) and sent after
commit; what they show is formatted once per group of customers with the same move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import transaction

from accounts.estimates import estimated_minutes
from accounts.models import EmailKind, MigrationBatch, Plan
from accounts.progress import Progress
from accounts.services.notifications import Recipient, email_send_once_bulk
from accounts.templatetags.plan_terms import monthly_price, quota
from migration.batches.operations import NOTICE, notice_dedupe_key
from migration.batches.planning import MigrationPlan, PlannedChange, migration_plan
from migration.batches.selection import CustomerSelection
from usage.selectors import move_outlooks


def migration_email_context(old_plan: Plan, new_plan: Plan, when: datetime) -> dict:
    """What the migration e-mails show, formatted once (shared by every customer of a group)."""
    estimate = "" if new_plan.bills_minutes else f"{estimated_minutes(new_plan):,} minutes"
    return {
        "old_plan": old_plan,
        "new_plan": new_plan,
        "when": when,
        "when_text": f"{when:%B} {when.day}, {when.year}",
        "old_quota": quota(old_plan),
        "old_price": monthly_price(old_plan),
        "new_quota": quota(new_plan),
        "new_price": monthly_price(new_plan),
        "new_estimate": estimate,
        "price_changes": old_plan.price_cents != new_plan.price_cents,
    }


def _grouped_contexts() -> Callable[[Plan, Plan, datetime], dict]:
    cache: dict[tuple, dict] = {}

    def context_for(old_plan: Plan, new_plan: Plan, when: datetime) -> dict:
        key = (old_plan.pk, new_plan.pk, when.date())
        if key not in cache:
            cache[key] = migration_email_context(old_plan, new_plan, when)
        return cache[key]

    return context_for


def _notice_messages(
    changes: Iterable[PlannedChange], now: datetime
) -> list[tuple[Recipient, str, dict]]:
    """Each notice: its group's terms, and the customer's own last three months against the
    new plan (with the plan that fits if they would not), read in one query for all."""
    context_for = _grouped_contexts()
    notices = [
        (change.row.as_recipient(), change)
        for change in changes
        if change.move_at is not None and change.next_plan is not None
    ]
    outlooks = move_outlooks(
        customer_ids=[recipient.pk for recipient, _ in notices],
        new_plans={recipient.pk: change.destination for recipient, change in notices},
        now=now,
    )
    return [
        (
            recipient,
            notice_dedupe_key(change.move_at),
            {
                **context_for(change.from_plan, change.destination, change.move_at),
                "outlook": outlooks[recipient.pk].as_email_context(),
            },
        )
        for recipient, change in notices
    ]


def batch_emails_send(plan: MigrationPlan, batch: MigrationBatch, progress: Progress) -> int:
    """Batch e-mails: a notice for a move announced for later, "moved" for a move done now."""
    announced = [c for c in plan.changes if not c.plan_changes_now and c.after.is_grandfathered]
    moved = [c for c in plan.changes if c.plan_changes_now]
    sent = email_send_once_bulk(
        kind=EmailKind.MIGRATION_NOTICE, messages=_notice_messages(announced, plan.now)
    )
    context_for = _grouped_contexts()
    sent += email_send_once_bulk(
        kind=EmailKind.MIGRATED,
        messages=[
            (
                change.row.as_recipient(),
                f"batch-{batch.pk}",
                context_for(change.from_plan, change.destination, plan.now),
            )
            for change in moved
        ],
    )
    progress("recording e-mails", sent, sent)
    return sent


def migration_notices_send(
    *, selection: CustomerSelection, now: datetime | None = None
) -> MigrationPlan:
    """E-mail each selected grandfathered customer its new plan, quota, price and move date.

    Once per customer and move date: a rerun sends nothing twice."""
    with transaction.atomic():
        plan = migration_plan(kind=NOTICE, selection=selection, now=now)
        email_send_once_bulk(
            kind=EmailKind.MIGRATION_NOTICE, messages=_notice_messages(plan.changes, plan.now)
        )
    return plan
