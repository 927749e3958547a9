"""Applying batches: save a planned batch, apply it, or plan and apply in one go.

The plan is computed again under row locks, then one PlanChange per changed customer (bulk
INSERT, with `state_before` / `state_after` snapshots) and the customers' new state in a few
grouped UPDATEs, all in one transaction, with the Stripe price moves it calls for (an outbox,
same transaction). E-mails are sent and the price moves made after commit.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import command_actor
from accounts.errors import Conflict, InvalidInput
from accounts.models import BatchKind, BatchStatus, ChangeSource, MigrationBatch
from accounts.progress import Progress, no_progress
from accounts.services.plan_change import Transition as ChangeTransition
from accounts.services.plan_change import customer_states_write, plan_changes_record
from billing.models import StripePriceMove
from migration.batches.notices import batch_emails_send
from migration.batches.operations import NOTICE, TRANSITIONS
from migration.batches.planning import MigrationPlan, migration_plan, validate_months
from migration.batches.selection import CustomerSelection

logger = logging.getLogger(__name__)


SOURCE_OF_KIND = {BatchKind.AUTO_MIGRATE: ChangeSource.GRANDFATHERING}


def _check_batch_kind(kind: str) -> None:
    if kind == NOTICE or kind not in TRANSITIONS:
        raise InvalidInput(f"{kind!r} is not a batch operation.", field="kind")


def migration_batch_create(
    *,
    kind: str,
    selection: CustomerSelection | None = None,
    grandfather_months: int | None = None,
    notify: bool = False,
    reason: str = "",
    actor: str = "",
    created_by=None,
    now: datetime | None = None,
) -> MigrationBatch:
    """Save a planned batch with its dry-run report, to be reviewed and applied later."""
    _check_batch_kind(kind)
    plan = migration_plan(
        kind=kind, selection=selection, grandfather_months=grandfather_months, now=now
    )
    return MigrationBatch.objects.create(
        kind=kind,
        status=BatchStatus.PLANNED,
        selection=plan.selection.as_json(),
        mapping=plan.mapping(),
        grandfather_months=plan.grandfather_months,
        notify=notify,
        reason=reason,
        actor=actor or command_actor(),
        created_by=created_by,
        customer_count=len(plan.rows),
        changed_count=len(plan.changes),
        report=plan.report(),
    )


def migration_batch_queue(
    *,
    kind: str,
    selection: CustomerSelection,
    grandfather_months: int | None = None,
    notify: bool = False,
    reason: str = "",
    actor: str = "",
    created_by=None,
) -> MigrationBatch:
    """A planned batch saved without its dry run (the admin's confirm button, which has just
    shown it): checked, then applied by a background job, which plans it again under row
    locks. Takes milliseconds whatever the number of customers."""
    _check_batch_kind(kind)
    if kind == BatchKind.GRANDFATHER and grandfather_months is None:
        grandfather_months = settings.GRANDFATHER_MONTHS
    validate_months(kind, grandfather_months)
    return MigrationBatch.objects.create(
        kind=kind,
        status=BatchStatus.PLANNED,
        selection=selection.as_json(),
        grandfather_months=grandfather_months,
        notify=notify,
        reason=reason,
        actor=actor or command_actor(),
        created_by=created_by,
        customer_count=len(selection.customer_ids or ()),
    )


def migration_batch_apply(
    *,
    batch: MigrationBatch,
    actor: str = "",
    now: datetime | None = None,
    progress: Progress | None = None,
) -> MigrationBatch:
    """Apply a planned batch: re-plans under row locks (the data may have moved since the dry
    run), records every change and writes the new states, all in one transaction."""
    with transaction.atomic():
        locked = MigrationBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != BatchStatus.PLANNED:
            raise Conflict(f"Batch {locked.pk} is {locked.get_status_display().lower()} already.")
        plan = migration_plan(
            kind=locked.kind,
            selection=CustomerSelection.from_json(locked.selection),
            grandfather_months=locked.grandfather_months,
            now=now,
            lock=True,
            progress=progress,
        )
        if actor:
            locked.actor = actor
        plan_apply(plan, locked, progress=progress or no_progress)
    batch.refresh_from_db()
    return batch


def migration_run(
    *,
    kind: str,
    selection: CustomerSelection | None = None,
    grandfather_months: int | None = None,
    notify: bool = False,
    reason: str = "",
    actor: str = "",
    created_by=None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> MigrationBatch:
    """Plan and apply in one go (the commands' --apply and the admin's confirm button)."""
    _check_batch_kind(kind)
    selection = selection or CustomerSelection()
    with transaction.atomic():
        plan = migration_plan(
            kind=kind,
            selection=selection,
            grandfather_months=grandfather_months,
            now=now,
            lock=True,
            progress=progress,
        )
        batch = MigrationBatch.objects.create(
            kind=kind,
            status=BatchStatus.PLANNED,
            selection=selection.as_json(),
            grandfather_months=plan.grandfather_months,
            notify=notify,
            reason=reason,
            actor=actor or command_actor(),
            created_by=created_by,
        )
        plan_apply(plan, batch, progress=progress or no_progress)
    return batch


def plan_apply(plan: MigrationPlan, batch: MigrationBatch, *, progress: Progress) -> None:
    """Record and write every change of `plan` as `batch`. Runs inside the caller's transaction."""
    source = SOURCE_OF_KIND.get(plan.kind, ChangeSource.MIGRATION)
    now = timezone.now()
    reason = batch.reason or BatchKind(plan.kind).label
    customer_states_write(
        {change.row.customer_id: change.after for change in plan.changes}, now, progress
    )
    plan_changes_record(
        [
            ChangeTransition.of_states(change.row, change.row.state, change.after, plan.plans)
            for change in plan.changes
        ],
        batch=batch,
        source=source,
        actor=batch.actor,
        reason=reason,
        progress=progress,
    )
    batch.status = BatchStatus.APPLIED
    batch.applied_at = now
    batch.mapping = plan.mapping()
    batch.customer_count = len(plan.rows)
    batch.changed_count = len(plan.changes)
    batch.report = plan.report()
    if batch.notify or plan.kind == BatchKind.AUTO_MIGRATE:
        batch.report["emails_recorded"] = batch_emails_send(plan, batch, progress)
    # The billing app recorded them from `plan_changed`, in this transaction.
    batch.report["stripe_price_moves"] = StripePriceMove.objects.filter(batch=batch).count()
    batch.save()
    logger.info(
        "migration batch applied",
        extra={
            "batch": batch.pk,
            "kind": plan.kind,
            "changed": batch.changed_count,
            "actor": batch.actor,
        },
    )
