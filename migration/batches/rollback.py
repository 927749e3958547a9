"""Rolling a batch back exactly, from the plan history's `state_before` snapshots.

Every customer of the batch is restored to the state the batch found it in; a customer
changed since by something else is left alone and reported, unless forced.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.actors import command_actor
from accounts.errors import Conflict
from accounts.models import (
    BatchStatus,
    ChangeSource,
    Customer,
    EmailKind,
    EmailNotification,
    MigrationBatch,
    Plan,
    PlanChange,
)
from accounts.progress import Progress, no_progress
from accounts.services.plan_change import (
    CustomerRow,
    PlanState,
    customer_states_write,
    plan_changes_record,
    state_snapshot,
)
from accounts.services.plan_change import Transition as ChangeTransition
from billing.models import StripePriceMove
from migration.batches.selection import chunks, plans_by_id

logger = logging.getLogger(__name__)


# The snapshot keys a migration operation owns; the rest (status, Stripe ids, prices) may
# change for other reasons without making a batch's rollback unsafe.
_MIGRATION_KEYS = ("plan", "grandfathered_until", "grandfather_plan", "migration_exempt")


def _migration_part(snapshot: dict) -> tuple:
    return tuple(snapshot.get(key) for key in _MIGRATION_KEYS)


def _state_from_snapshot(snapshot: dict, plans_by_code: dict[str, Plan]) -> PlanState:
    until = snapshot.get("grandfathered_until")
    next_code = snapshot.get("grandfather_plan")
    missing = [c for c in (snapshot["plan"], next_code) if c and c not in plans_by_code]
    if missing:
        raise Conflict(
            f"The plan history names plan(s) {', '.join(missing)} that no longer exist "
            "(renamed?): restore the plan code before rolling back."
        )
    return PlanState(
        plan_id=plans_by_code[snapshot["plan"]].pk,
        grandfathered_until=datetime.fromisoformat(until) if until else None,
        grandfather_plan_id=plans_by_code[next_code].pk if until and next_code else None,
        migration_exempt=bool(snapshot.get("migration_exempt")),
    )


@dataclass(slots=True)
class RollbackRow:
    row: CustomerRow
    change_id: int
    current: dict  # snapshot now
    restore: dict  # the batch's state_before
    conflict: str  # why it is not safe to restore ("" when it is)

    @property
    def restores_plan(self) -> bool:
        return self.current.get("plan") != self.restore.get("plan")


@dataclass
class RollbackPlan:
    batch: MigrationBatch
    force: bool
    rows: list[RollbackRow]
    now: datetime
    already_rolled_back: int = 0
    # Customers already in the state the batch found them in (put back by hand): nothing to
    # restore, and rolled back as far as the batch is concerned.
    already_as_before: int = 0
    # Of the customers to restore, those e-mailed about their move since the batch (a notice of
    # it, or "moved"): a roll-back sends no correction.
    emailed: int = 0
    plans: dict[int, Plan] = field(default_factory=dict)

    @cached_property
    def to_restore(self) -> list[RollbackRow]:
        return [row for row in self.rows if self.force or not row.conflict]

    @cached_property
    def left_alone(self) -> list[RollbackRow]:
        return [] if self.force else [row for row in self.rows if row.conflict]

    @cached_property
    def conflicts(self) -> list[RollbackRow]:
        return [row for row in self.rows if row.conflict]

    @cached_property
    def ended_grandfathering(self) -> list[RollbackRow]:
        """Restored to a grandfathering that has already ended: the next apply_grandfathering
        run moves them again unless staff extend or exempt them."""
        return [
            row
            for row in self.to_restore
            if row.restore.get("grandfathered_until")
            and not row.restore.get("migration_exempt")
            and datetime.fromisoformat(row.restore["grandfathered_until"]) <= self.now
        ]

    def summary(self) -> dict:
        return {
            "batch": self.batch.pk,
            "customers": len(self.rows),
            "restored": len(self.to_restore),
            "left_alone": len(self.left_alone),
            "forced": len(self.conflicts) if self.force else 0,
            "already_rolled_back": self.already_rolled_back,
            "already_as_before": self.already_as_before,
            "emailed": self.emailed,
            "grandfathering_already_ended": len(self.ended_grandfathering),
        }


def _later_changes(batch: MigrationBatch) -> dict[int, tuple]:
    """Per customer of the batch, the latest change made after it by anything else.

    Only rows that changed what a rollback restores count (plan, grandfathering, exemption):
    a subscription status change recorded by a webhook does not. A later batch that changed
    the customer and was rolled back for it since nets out: its change and its rollback row
    are both ignored. (The caller also compares the current state with the batch's result.)
    """
    batch_change_before = PlanChange.objects.filter(
        batch=batch, customer_id=OuterRef("customer_id"), id__lt=OuterRef("id")
    ).exclude(source=ChangeSource.ROLLBACK)
    later = (
        PlanChange.objects.filter(
            customer_id__in=PlanChange.objects.filter(batch=batch).values("customer_id")
        )
        .filter(Exists(batch_change_before))
        .exclude(batch=batch)
        .order_by("customer_id", "id")
        .values_list(
            "customer_id",
            "id",
            "batch_id",
            "source",
            "actor",
            "created_at",
            "state_before",
            "state_after",
        )
    )
    by_customer: dict[int, list[tuple]] = defaultdict(list)
    for customer_id, pk, batch_id, source, actor, at, before, after in later:
        if before and _migration_part(before) == _migration_part(after):
            continue
        by_customer[customer_id].append((pk, batch_id, source, actor, at))
    result: dict[int, tuple] = {}
    for customer_id, items in by_customer.items():
        applied = {b for _, b, source, _, _ in items if b and source != ChangeSource.ROLLBACK}
        undone = {b for _, b, source, _, _ in items if b and source == ChangeSource.ROLLBACK}
        netted = applied & undone
        remaining = [item for item in items if item[1] not in netted]
        if remaining:
            pk, _, source, actor, at = remaining[-1]
            result[customer_id] = (pk, source, actor, at)
    return result


def migration_batch_rollback_plan(
    *,
    batch: MigrationBatch,
    force: bool = False,
    lock: bool = False,
    progress: Progress | None = None,
) -> RollbackPlan:
    """What rolling back `batch` would do to each of its customers (reads only)."""
    progress = progress or no_progress
    if batch.status == BatchStatus.PLANNED:
        raise Conflict(f"Batch {batch.pk} was never applied: there is nothing to roll back.")
    plans = plans_by_id()
    changes = list(
        PlanChange.objects.filter(batch=batch)
        .exclude(source=ChangeSource.ROLLBACK)
        .order_by("customer_id")
        .values_list("id", "customer_id", "state_before", "state_after")
    )
    done = set(
        PlanChange.objects.filter(batch=batch, source=ChangeSource.ROLLBACK).values_list(
            "customer_id", flat=True
        )
    )
    if not changes:
        raise Conflict(f"Batch {batch.pk} changed no customer: there is nothing to roll back.")
    pending = [change for change in changes if change[1] not in done]
    later = _later_changes(batch)
    queryset = Customer.objects.order_by("pk")
    if lock:
        queryset = queryset.select_for_update()
    ids = [customer_id for _, customer_id, _, _ in pending]
    current: dict[int, CustomerRow] = {}
    for chunk in chunks(ids):
        for values in queryset.filter(pk__in=chunk).values_list(*CustomerRow.ROW_FIELDS):
            row = CustomerRow.from_values(values)
            current[row.customer_id] = row
        progress("reading customers", len(current), len(ids))
    rows = []
    as_before = 0
    for change_id, customer_id, before, after in pending:
        row = current[customer_id]
        now_snapshot = state_snapshot(row, row.state, plans)
        if _migration_part(now_snapshot) == _migration_part(before):
            as_before += 1
            continue
        conflict = ""
        if customer_id in later:
            pk, source, actor, at = later[customer_id]
            conflict = f"changed since by change {pk} ({source}, {actor}, {at:%Y-%m-%d %H:%M})"
        elif _migration_part(now_snapshot) != _migration_part(after):
            conflict = "changed since outside the plan history"
        rows.append(
            RollbackRow(
                row=row,
                change_id=change_id,
                current=now_snapshot,
                restore=before,
                conflict=conflict,
            )
        )
    if not rows and (batch.status == BatchStatus.ROLLED_BACK or not as_before):
        # Nothing left to restore, and nothing left to record: a batch whose customers were
        # all put back by hand is still marked rolled back once.
        raise Conflict(f"Batch {batch.pk} is already rolled back")
    return RollbackPlan(
        batch=batch,
        force=force,
        rows=rows,
        now=timezone.now(),
        already_rolled_back=len(done),
        already_as_before=as_before,
        emailed=len(_emailed_about_the_move(batch, [item.row.customer_id for item in rows])),
        plans=plans,
    )


def _emailed_about_the_move(batch: MigrationBatch, customer_ids: list[int]) -> set[int]:
    """Of `customer_ids`, those told of their move since `batch` was applied: its "moved"
    e-mail, or a migration notice (the batch's own, or a notice run's since)."""
    told: set[int] = set()
    if batch.applied_at is None:
        return told
    about_it = Q(kind=EmailKind.MIGRATED, dedupe_key=f"batch-{batch.pk}") | Q(
        kind=EmailKind.MIGRATION_NOTICE, created_at__gte=batch.applied_at
    )
    for chunk in chunks(customer_ids):
        told.update(
            EmailNotification.objects.filter(about_it, customer_id__in=chunk).values_list(
                "customer_id", flat=True
            )
        )
    return told


def _recorded_prices(rows: list[RollbackRow]) -> dict[int, str]:
    """Per customer, the Stripe price a rollback restores: the one its subscription was moved
    from by the batch (as recorded with that move), else the one its `state_before`
    snapshot names. Customers with neither get their restored plan's price."""
    move_from: dict[int, str] = {}
    change_ids = [row.change_id for row in rows if row.row.stripe_subscription_id]
    for chunk in chunks(change_ids):
        move_from.update(
            StripePriceMove.objects.filter(plan_change_id__in=chunk)
            .exclude(from_price_id="")
            .values_list("plan_change_id", "from_price_id")
        )
    prices = {}
    for row in rows:
        price = move_from.get(row.change_id) or row.restore.get("stripe_price_id") or ""
        if price:
            prices[row.row.customer_id] = price
    return prices


def migration_batch_rollback(
    *,
    batch: MigrationBatch,
    actor: str = "",
    force: bool = False,
    reason: str = "",
    progress: Progress | None = None,
) -> RollbackPlan:
    """Restore every customer of `batch` to its `state_before` snapshot, exactly.

    Customers changed since by something else are reported and left alone unless `force`.
    Resumable: customers already restored are skipped, so it can run again (with `force`)
    for those left alone.
    """
    progress = progress or no_progress
    actor = actor or command_actor()
    with transaction.atomic():
        locked = MigrationBatch.objects.select_for_update().get(pk=batch.pk)
        plan = migration_batch_rollback_plan(
            batch=locked, force=force, lock=True, progress=progress
        )
        plans_by_code = {p.code: p for p in plan.plans.values()}
        transitions = []
        for item in plan.to_restore:
            target = _state_from_snapshot(item.restore, plans_by_code)
            if target != item.row.state:
                transitions.append((item.row, item.row.state, target))
        now = timezone.now()
        customer_states_write(
            {row.customer_id: after for row, _, after in transitions}, now, progress
        )
        plan_changes_record(
            [
                ChangeTransition.of_states(row, before, after, plan.plans)
                for row, before, after in transitions
            ],
            batch=locked,
            source=ChangeSource.ROLLBACK,
            actor=actor,
            reason=f"Roll back batch {locked.pk}" + (f": {reason}" if reason else ""),
            # The Stripe price each subscription goes back to: the one recorded by the batch.
            to_prices=_recorded_prices(plan.to_restore),
            progress=progress,
        )
        locked.status = BatchStatus.ROLLED_BACK
        locked.rolled_back_at = now
        # Recounted, not added to: a customer already as before counts once, however many
        # times the batch is rolled back.
        locked.rolled_back_count = (
            plan.already_rolled_back + len(plan.to_restore) + plan.already_as_before
        )
        summary = plan.summary() | {
            "at": now.isoformat(),
            "actor": actor,
            "left_alone_customers": [row.row.external_id for row in plan.left_alone][:1000],
        }
        locked.report = {
            **locked.report,
            "rollbacks": [*locked.report.get("rollbacks", []), summary],
        }
        locked.save(update_fields=["status", "rolled_back_at", "rolled_back_count", "report"])
    logger.info("migration batch rolled back", extra=plan.summary() | {"actor": actor})
    batch.refresh_from_db()
    return plan
