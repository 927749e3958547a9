"""The one plan-change service: every change of a customer's plan, status or migration state,
from any source (admin, API, Stripe webhooks, commands, the import, migration batches), goes
through here.

The steps are always the same:

1. the caller holds the customer's row lock (`customer_lock`, or the bulk selection's
   `SELECT … FOR UPDATE`), taken once;
2. the state before is snapshotted by the one snapshot builder (`state_snapshot`), which is
   what a rollback restores;
3. the new state is saved (`customer_states_write` in bulk, `Customer.save` for one);
4. one append-only `PlanChange` row per changed customer records who, when, from, to, why and
   which batch (`plan_changes_record`, bulk INSERT or COPY);
5. the follow-up effects are handed on: `plan_changed` is sent in the same transaction with
   the recorded changes. Upper layers listen (the billing app records the Stripe price moves
   a change calls for in its outbox); this layer never imports them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from accounts.bulk import insert_returning_ids, update_by_id
from accounts.errors import InvalidInput
from accounts.models import (
    ChangeSource,
    Customer,
    CustomerStatus,
    MigrationBatch,
    Plan,
    PlanChange,
)
from accounts.progress import Progress, no_progress
from accounts.services.notifications import Recipient

logger = logging.getLogger(__name__)

plan_changed = Signal()
"""Sent inside the transaction of a recorded change, with `records` (list[RecordedChange]),
`plans` (id → Plan), `batch` (MigrationBatch or None), `source`, `to_prices` (customer id →
Stripe price id a rollback restores, else empty) and `proration_behavior` (how Stripe bills a
price move: "none", the default, or "create_prorations")."""

PRORATION_NONE = "none"
PRORATION_PRORATED = "create_prorations"
PRORATION_BEHAVIORS = (PRORATION_NONE, PRORATION_PRORATED)

# Sources whose changes come from Stripe's own state (or the old system's): nothing to tell
# Stripe about them.
SOURCES_FOLLOWING_STRIPE = frozenset(
    {
        ChangeSource.WEBHOOK.value,
        ChangeSource.IMPORT.value,
        ChangeSource.API.value,
        ChangeSource.RECONCILE.value,
    }
)

CHUNK = 5000
# Groups of customers that get the very same new state are written with one UPDATE each;
# smaller groups (e.g. each extended customer has its own end date) go through bulk_update.
GROUP_UPDATE_MIN = 20


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- One customer's state ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanState:
    """The fields a plan change or migration operation changes (and a rollback restores)."""

    plan_id: int
    grandfathered_until: datetime | None
    grandfather_plan_id: int | None
    migration_exempt: bool

    @property
    def is_grandfathered(self) -> bool:
        return self.grandfathered_until is not None

    def replace(self, **changes) -> PlanState:
        values = {
            "plan_id": self.plan_id,
            "grandfathered_until": self.grandfathered_until,
            "grandfather_plan_id": self.grandfather_plan_id,
            "migration_exempt": self.migration_exempt,
        }
        values.update(changes)
        if values["grandfathered_until"] is None:
            values["grandfather_plan_id"] = None
        return PlanState(**values)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A customer as read for a change (plain values, no model instance needed)."""

    customer_id: int
    external_id: str
    email: str
    status: str
    stripe_subscription_id: str
    state: PlanState
    # A move scheduled for the end of the paid period (`scheduled_plan.py`), if any.
    pending_plan_id: int | None = None
    pending_plan_at: datetime | None = None

    @property
    def movable_subscription_id(self) -> str:
        """The subscription whose price a plan change moves: none for an ended one (its id
        stays in the snapshots)."""
        return self.stripe_subscription_id if self.status != CustomerStatus.CANCELED else ""

    ROW_FIELDS = (
        "pk",
        "external_id",
        "email",
        "status",
        "stripe_subscription_id",
        "plan_id",
        "grandfathered_until",
        "grandfather_plan_id",
        "migration_exempt",
        "pending_plan_id",
        "pending_plan_at",
    )

    @classmethod
    def from_values(cls, values: tuple) -> CustomerRow:
        (
            pk,
            external_id,
            email,
            status,
            subscription,
            plan_id,
            until,
            next_plan,
            exempt,
            *pending,
        ) = values
        return cls(
            pk,
            external_id,
            email,
            status,
            subscription,
            PlanState(plan_id, until, next_plan, exempt),
            *pending,
        )

    def as_recipient(self) -> Recipient:
        return Recipient(pk=self.customer_id, external_id=self.external_id, email=self.email)

    @classmethod
    def of(cls, customer: Customer) -> CustomerRow:
        names = ("id" if name == "pk" else name for name in cls.ROW_FIELDS)
        return cls.from_values(tuple(getattr(customer, name) for name in names))


def state_snapshot(row: CustomerRow, state: PlanState, plans: dict[int, Plan]) -> dict:
    """The one snapshot of a customer's state kept in `PlanChange.state_before/after`."""
    plan = plans[state.plan_id]
    return {
        "plan": plan.code,
        "price_cents": plan.price_cents,
        "status": row.status,
        "grandfathered_until": state.grandfathered_until.isoformat()
        if state.grandfathered_until
        else None,
        "grandfather_plan": plans[state.grandfather_plan_id].code
        if state.grandfather_plan_id
        else None,
        "migration_exempt": state.migration_exempt,
        "stripe_subscription_id": row.stripe_subscription_id,
        # The price the subscription is billed at on this plan: what a rollback moves it back to.
        "stripe_price_id": plan.stripe_price_id,
    }


def _plans_of(customer: Customer) -> dict[int, Plan]:
    plans = {customer.plan_id: customer.plan}
    if customer.grandfather_plan_id:
        plans[customer.grandfather_plan_id] = customer.grandfather_plan
    return plans


def customer_state(customer: Customer) -> dict:
    """The snapshot of a loaded customer (same builder as the bulk paths)."""
    row = CustomerRow.of(customer)
    return state_snapshot(row, row.state, _plans_of(customer))


# --- Recording changes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedChange:
    plan_change_id: int
    customer_id: int
    stripe_subscription_id: str
    from_plan_id: int | None
    to_plan_id: int
    instance: PlanChange | None = None  # kept when a single change is written


@dataclass(frozen=True, slots=True)
class Transition:
    """One customer's change, as snapshots: what `plan_changes_record` writes."""

    customer_id: int
    stripe_subscription_id: str
    from_plan: Plan | None
    to_plan: Plan
    before: dict
    after: dict

    @classmethod
    def of_states(
        cls, row: CustomerRow, before: PlanState, after: PlanState, plans: dict[int, Plan]
    ) -> Transition:
        return cls(
            customer_id=row.customer_id,
            stripe_subscription_id=row.movable_subscription_id,
            from_plan=plans[before.plan_id],
            to_plan=plans[after.plan_id],
            before=state_snapshot(row, before, plans),
            after=state_snapshot(row, after, plans),
        )


_PLAN_CHANGE_COLUMNS = (
    "customer_id",
    "from_plan_id",
    "to_plan_id",
    "from_price_cents",
    "to_price_cents",
    "source",
    "actor",
    "reason",
    "batch_id",
    "state_before",
    "state_after",
    "stripe_event_id",
    "created_at",
)


def plan_changes_record(
    transitions: Sequence[Transition],
    *,
    source: str,
    actor: str,
    reason: str = "",
    batch: MigrationBatch | None = None,
    stripe_event_id: str = "",
    to_prices: dict[int, str] | None = None,
    progress: Progress = no_progress,
    proration_behavior: str = PRORATION_NONE,
) -> list[RecordedChange]:
    """Write one audit row per transition (bulk; COPY on PostgreSQL for large batches) and send
    `plan_changed` with them. Runs in the caller's transaction, under its row locks."""
    records: list[RecordedChange] = []
    total = len(transitions)
    now = timezone.now()
    actor, reason = actor[:150], reason[:500]
    plans: dict[int, Plan] = {}
    for chunk in _chunks(transitions, 20000):
        rows = []
        for t in chunk:
            plans[t.to_plan.pk] = t.to_plan
            if t.from_plan is not None:
                plans[t.from_plan.pk] = t.from_plan
            rows.append(
                (
                    t.customer_id,
                    t.from_plan.pk if t.from_plan else None,
                    t.to_plan.pk,
                    t.from_plan.price_cents if t.from_plan else None,
                    t.to_plan.price_cents,
                    source,
                    actor,
                    reason,
                    batch.pk if batch else None,
                    t.before,
                    t.after,
                    stripe_event_id,
                    now,
                )
            )
        if len(rows) > 1:
            ids = insert_returning_ids(PlanChange, _PLAN_CHANGE_COLUMNS, rows)
            instances = [None] * len(ids)
        else:
            instances = [
                PlanChange.objects.create(
                    **dict(zip(_PLAN_CHANGE_COLUMNS[:-1], values, strict=False))
                )
                for values in rows
            ]
            ids = [instance.pk for instance in instances]
        records.extend(
            RecordedChange(
                pk,
                t.customer_id,
                t.stripe_subscription_id,
                t.from_plan.pk if t.from_plan else None,
                t.to_plan.pk,
                instance,
            )
            for pk, t, instance in zip(ids, chunk, instances, strict=True)
        )
        progress("recording plan changes", len(records), total)
    if records:
        plan_changed.send(
            sender=PlanChange,
            records=records,
            plans=plans,
            batch=batch,
            source=source,
            to_prices=to_prices or {},
            proration_behavior=proration_behavior,
        )
    return records


_STATE_COLUMNS = (
    "plan_id",
    "grandfathered_until",
    "grandfather_plan_id",
    "migration_exempt",
    "updated_at",
)


def customer_states_write(
    states: dict[int, PlanState], now: datetime, progress: Progress = no_progress
) -> None:
    """Write each customer's new state. PostgreSQL, many customers: one COPY and one
    `UPDATE … FROM`; otherwise one UPDATE per group sharing a state, bulk_update for the rest."""
    if connection.vendor == "postgresql" and len(states) > 1:
        rows = [
            (
                customer_id,
                state.plan_id,
                state.grandfathered_until,
                state.grandfather_plan_id,
                state.migration_exempt,
                now,
            )
            for customer_id, state in sorted(states.items())
        ]
        update_by_id(Customer, _STATE_COLUMNS, rows)
        progress("updating customers", len(rows), len(rows))
        return
    groups: dict[PlanState, list[int]] = defaultdict(list)
    for customer_id, state in states.items():
        groups[state].append(customer_id)
    singles: list[Customer] = []
    done, total = 0, len(states)
    for state, ids in groups.items():
        if len(ids) < GROUP_UPDATE_MIN:
            singles.extend(
                Customer(
                    pk=customer_id,
                    plan_id=state.plan_id,
                    grandfathered_until=state.grandfathered_until,
                    grandfather_plan_id=state.grandfather_plan_id,
                    migration_exempt=state.migration_exempt,
                    updated_at=now,
                )
                for customer_id in ids
            )
            continue
        for chunk in _chunks(sorted(ids)):
            Customer.objects.filter(pk__in=chunk).update(
                plan_id=state.plan_id,
                grandfathered_until=state.grandfathered_until,
                grandfather_plan_id=state.grandfather_plan_id,
                migration_exempt=state.migration_exempt,
                updated_at=now,
            )
            done += len(chunk)
            progress("updating customers", done, total)
    for chunk in _chunks(sorted(singles, key=lambda c: c.pk), 1000):
        Customer.objects.bulk_update(chunk, _STATE_COLUMNS)
        done += len(chunk)
        progress("updating customers", done, total)


# --- One customer ----------------------------------------------------------------------------


def customer_lock(customer: Customer) -> Customer:
    """Take the customer's row lock (once per change) and return it freshly read."""
    return (
        Customer.objects.select_for_update(of=("self",))
        .select_related("plan", "grandfather_plan", "pending_plan")
        .get(pk=customer.pk)
    )


# --- A change pending at the period's end (scheduled in accounts/services/scheduled_plan.py) ---

plan_change_scheduled = Signal()
"""Sent inside the transaction that schedules (`plan` is the pending plan) or undoes (`plan` is
None) a change at the period's end, with `previous` (the plan pending before, or None),
`customer` (the locked row, already saved) and `change` (its PlanChange)."""


def pending_snapshot(customer: Customer) -> dict:
    """The customer's state with what is pending, for the audit row of a (un)scheduling."""
    state = customer_state(customer)
    state["pending_plan"] = customer.pending_plan.code if customer.pending_plan_id else None
    state["pending_plan_at"] = (
        customer.pending_plan_at.isoformat() if customer.pending_plan_at else None
    )
    return state


def pending_plan_set(
    *,
    customer: Customer,
    locked: Customer,
    plan: Plan | None,
    at: datetime | None,
    source: str,
    actor: str,
    reason: str,
) -> PlanChange:
    """Schedule `plan` at `at` for the locked customer, or undo what is pending (`plan` None):
    saved, audited (the plan stays; `state_after` says what is pending) and
    `plan_change_scheduled` sent (the billing app sets the subscription to cancel or renew)."""
    previous = locked.pending_plan
    before = pending_snapshot(locked)
    locked.pending_plan, locked.pending_plan_at = plan, at
    locked.save(update_fields=["pending_plan", "pending_plan_at", "updated_at"])
    change = same_plan_change_record(
        locked=locked,
        before=before,
        after=pending_snapshot(locked),
        source=source,
        actor=actor,
        reason=reason,
    )
    plan_change_scheduled.send(
        sender=Customer, customer=locked, plan=plan, previous=previous, change=change
    )
    customer.pending_plan, customer.pending_plan_at = plan, at
    return change


def pending_plan_drop(
    *, customer: Customer, locked: Customer, source: str, actor: str, reason: str
) -> PlanChange:
    """Undo the change pending for the locked customer (`pending_plan_set` with no plan)."""
    return pending_plan_set(
        customer=customer,
        locked=locked,
        plan=None,
        at=None,
        source=source,
        actor=actor,
        reason=reason,
    )


def _change_one(
    *,
    customer: Customer,
    locked: Customer,
    after: PlanState,
    plans: dict[int, Plan],
    source: str,
    actor: str,
    reason: str,
    batch: MigrationBatch | None,
    stripe_event_id: str,
    proration_behavior: str = PRORATION_NONE,
) -> PlanChange | None:
    row = CustomerRow.of(locked)
    if after == row.state:
        return None
    plans = {**_plans_of(locked), **plans}
    transition = Transition.of_states(row, row.state, after, plans)
    if transition.before == transition.after:
        return None
    customer_states_write({locked.pk: after}, timezone.now())
    [record] = plan_changes_record(
        [transition],
        source=source,
        actor=actor,
        reason=reason,
        batch=batch,
        stripe_event_id=stripe_event_id,
        proration_behavior=proration_behavior,
    )
    # Keep the caller's instances in step with the database.
    for instance in {id(customer): customer, id(locked): locked}.values():
        instance.plan = plans[after.plan_id]
        instance.grandfathered_until = after.grandfathered_until
        instance.grandfather_plan = plans.get(after.grandfather_plan_id)
        instance.migration_exempt = after.migration_exempt
    logger.info(
        "plan changed",
        extra={
            "customer": locked.external_id,
            "from_plan": transition.before["plan"],
            "to_plan": transition.after["plan"],
            "source": source,
            "actor": actor,
        },
    )
    return record.instance


def manual_change_reason(reason: str | None, source: str) -> str:
    """`reason` without surrounding blanks; a change staff make (admin, command) needs one."""
    reason = (reason or "").strip()
    if not reason and source in (ChangeSource.ADMIN, ChangeSource.COMMAND):
        raise InvalidInput("A reason is required for a manual plan change.", field="reason")
    return reason


@transaction.atomic
def customer_change_plan(
    *,
    customer: Customer,
    plan: Plan,
    source: str,
    actor: str,
    reason: str = "",
    batch: MigrationBatch | None = None,
    stripe_event_id: str = "",
    end_grandfathering: bool = True,
    locked: Customer | None = None,
    proration_behavior: str = PRORATION_NONE,
) -> PlanChange | None:
    """Move a customer to `plan` and record it. Returns None when nothing changed.

    Moving a grandfathered customer to another plan ends its grandfathering unless
    `end_grandfathering` is False. `locked`: the caller's already-locked instance (one lock).
    `proration_behavior`: how Stripe bills the subscription's price move, if there is one.

    A real plan change replaces any change pending at the period's end. Staff (admin or
    command) moving a customer who pays through no live subscription to a paid plan give it
    for free: the customer and the audit row are marked complimentary; a subscription, or a
    move to a free plan, ends that.
    """
    reason = manual_change_reason(reason, source)
    if proration_behavior not in PRORATION_BEHAVIORS:
        raise InvalidInput(
            f"Proration must be one of {', '.join(PRORATION_BEHAVIORS)}.", field="proration"
        )
    locked = locked if locked is not None else customer_lock(customer)
    current = CustomerRow.of(locked).state
    if locked.pending_plan_id not in (None, plan.pk) and plan.pk != current.plan_id:
        # Another move replaces the pending one, at Stripe too (a cancellation it set undone).
        pending_plan_drop(
            customer=customer,
            locked=locked,
            source=source,
            actor=actor,
            reason=f"replaced by the move to {plan.code}" + (f": {reason}" if reason else ""),
        )
    after = current.replace(plan_id=plan.pk)
    if end_grandfathering and plan.pk != current.plan_id:
        after = after.replace(grandfathered_until=None)
    change = _change_one(
        customer=customer,
        locked=locked,
        after=after,
        plans={plan.pk: plan},
        source=source,
        actor=actor,
        reason=reason,
        batch=batch,
        stripe_event_id=stripe_event_id,
        proration_behavior=proration_behavior,
    )
    if change is not None and after.plan_id != current.plan_id:
        _plan_moved(
            customer=customer,
            locked=locked,
            plan=plan,
            change=change,
            by_staff=source in (ChangeSource.ADMIN, ChangeSource.COMMAND),
        )
    return change


def complimentary_for(*, customer: Customer, plan: Plan, by_staff: bool) -> bool:
    """Whether a move to `plan` leaves the customer on a plan it does not pay for."""
    if plan.price_cents == 0 or customer.has_live_subscription:
        return False
    return by_staff or customer.complimentary


def _plan_moved(
    *, customer: Customer, locked: Customer, plan: Plan, change: PlanChange, by_staff: bool
) -> None:
    complimentary = complimentary_for(customer=locked, plan=plan, by_staff=by_staff)
    if locked.pending_plan_id is not None or locked.complimentary != complimentary:
        # The pending move, if any, is the one just made (another was dropped before it).
        Customer.objects.filter(pk=locked.pk).update(
            pending_plan=None, pending_plan_at=None, complimentary=complimentary
        )
    if complimentary and by_staff:
        PlanChange.objects.filter(pk=change.pk).update(complimentary=True)
        change.complimentary = True
    for instance in {id(customer): customer, id(locked): locked}.values():
        instance.pending_plan, instance.pending_plan_at = None, None
        instance.complimentary = complimentary


@transaction.atomic
def customer_set_migration_state(
    *,
    customer: Customer,
    source: str,
    actor: str,
    reason: str = "",
    batch: MigrationBatch | None = None,
    grandfathered_until=None,
    grandfather_plan: Plan | None = None,
    migration_exempt: bool | None = None,
) -> PlanChange | None:
    """Set a customer's grandfathering (until + next plan) and exemption, audited.

    Passing `grandfathered_until=None` ends grandfathering. Returns None when nothing changed.
    """
    if grandfathered_until is not None and grandfather_plan is None:
        raise InvalidInput("Grandfathering needs the plan the customer moves to at its end.")
    locked = customer_lock(customer)
    current = CustomerRow.of(locked).state
    after = current.replace(
        grandfathered_until=grandfathered_until,
        grandfather_plan_id=grandfather_plan.pk if grandfather_plan else None,
        migration_exempt=current.migration_exempt if migration_exempt is None else migration_exempt,
    )
    return _change_one(
        customer=customer,
        locked=locked,
        after=after,
        plans={grandfather_plan.pk: grandfather_plan} if grandfather_plan else {},
        source=source,
        actor=actor,
        reason=reason,
        batch=batch,
        stripe_event_id="",
    )


def customer_status_record(
    *,
    locked: Customer,
    before: dict,
    source: str,
    actor: str,
    reason: str,
    stripe_event_id: str = "",
) -> PlanChange | None:
    """Record a change of status already saved on the locked customer, its plan unchanged;
    `before` is `customer_state()` taken before it. None when the status did not change."""
    after = customer_state(locked)
    if before["status"] == after["status"]:
        return None
    return same_plan_change_record(
        locked=locked,
        before=before,
        after=after,
        source=source,
        actor=actor,
        reason=reason,
        stripe_event_id=stripe_event_id,
    )


def same_plan_change_record(
    *,
    locked: Customer,
    before: dict,
    after: dict,
    source: str,
    actor: str,
    reason: str,
    stripe_event_id: str = "",
) -> PlanChange:
    """The audit row of a change to the locked customer that leaves its plan as it is (a
    status, what is pending): `before` and `after` are its state snapshots."""
    [record] = plan_changes_record(
        [
            Transition(
                customer_id=locked.pk,
                stripe_subscription_id=locked.stripe_subscription_id,
                from_plan=locked.plan,
                to_plan=locked.plan,
                before=before,
                after=after,
            )
        ],
        source=source,
        actor=actor,
        reason=reason,
        stripe_event_id=stripe_event_id,
    )
    return record.instance
