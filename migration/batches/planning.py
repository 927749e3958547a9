"""The dry run: what an operation would do to each selected customer, and the totals.

`migration_plan(...)` reads the selected customers and works out, per customer, what the
operation would do, with the last three months as sessions (recorded, or estimated from
minutes) against the new quota. It only reads; applying a batch plans again under row locks
and writes that plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from django.conf import settings
from django.utils import timezone

from accounts.errors import InvalidInput
from accounts.estimates import (
    default_minutes_per_session,
    minutes_per_session,
    sessions_from_minutes,
)
from accounts.models import BatchKind, EmailKind, EmailNotification, Plan
from accounts.periods import Period, add_months
from accounts.progress import Progress, no_progress
from accounts.services.plan_change import CustomerRow, PlanState
from migration.batches.impact import history_periods, usage_history
from migration.batches.operations import (
    MAX_GRANDFATHER_MONTHS,
    NOTICE,
    TRANSITIONS,
    OperationContext,
    notice_dedupe_key,
)
from migration.batches.selection import (
    CustomerSelection,
    chunks,
    plans_by_id,
    selected_customer_rows,
)


@dataclass(slots=True)
class PlannedChange:
    row: CustomerRow
    after: PlanState | None  # None: skipped
    skip_reason: str
    from_plan: Plan
    destination: Plan  # the plan the customer is on once the operation has fully played out
    move_at: datetime | None  # when the plan changes; None: it does not change
    minutes: tuple[Decimal, ...]
    estimated_sessions: tuple[int, ...]

    @property
    def changes(self) -> bool:
        return self.after is not None

    @property
    def plan_changes_now(self) -> bool:
        return self.after is not None and self.after.plan_id != self.row.state.plan_id

    @property
    def pays_more(self) -> bool:
        return self.destination.price_cents > self.from_plan.price_cents

    @property
    def would_exceed(self) -> bool:
        if self.destination.bills_minutes:
            return any(m > self.destination.included_minutes for m in self.minutes)
        return any(s > self.destination.included_sessions for s in self.estimated_sessions)

    @property
    def next_plan(self) -> Plan | None:
        return self.destination if self.destination.pk != self.from_plan.pk else None

    @property
    def scheduled_move_follows(self) -> bool:
        """A plan change scheduled before this batch (at the end of the paid period) still
        takes the customer elsewhere afterwards: the batch does not cancel it."""
        pending = self.row.pending_plan_id
        return self.after is not None and pending is not None and pending != self.destination.pk

    def describe(self, plans: dict[int, Plan]) -> str:
        text = self._describe(plans)
        if self.scheduled_move_follows:
            at = self.row.pending_plan_at
            # A plan change ends grandfathering (`customer_change_plan`): one due before the
            # grandfathered move replaces it.
            first = self.after.grandfathered_until is not None and at < self.move_at
            text += (
                f"; a move to {plans[self.row.pending_plan_id].name} on {at:%Y-%m-%d}, "
                "scheduled before this batch, "
                + ("comes first and ends the grandfathering" if first else "still follows")
            )
        return text

    def _describe(self, plans: dict[int, Plan]) -> str:
        if self.after is None:
            return f"skipped: {self.skip_reason}"
        before, after = self.row.state, self.after
        parts = []
        if after.plan_id != before.plan_id:
            parts.append(f"moves now to {self.destination.name}")
        if after.grandfathered_until != before.grandfathered_until:
            if after.grandfathered_until is None and after.plan_id == before.plan_id:
                parts.append("grandfathering cancelled")
            elif after.grandfathered_until is not None and before.grandfathered_until:
                parts.append(
                    f"grandfathered until {before.grandfathered_until:%Y-%m-%d} → "
                    f"{after.grandfathered_until:%Y-%m-%d}, then {self.destination.name}"
                )
            elif after.grandfathered_until is not None:
                parts.append(
                    f"keeps {self.from_plan.name} until {after.grandfathered_until:%Y-%m-%d}, "
                    f"then {self.destination.name}"
                )
        if after.migration_exempt != before.migration_exempt:
            parts.append(
                f"exempt: stays on {self.from_plan.name}"
                if after.migration_exempt
                else "no longer exempt"
            )
        if not parts and after.grandfathered_until:
            parts.append(
                f"moves to {self.destination.name} on {after.grandfathered_until:%Y-%m-%d}"
            )
        return "; ".join(parts)


REPORT_COLUMNS = [
    "customer",
    "from_plan",
    "to_plan",
    "from_price_cents",
    "to_price_cents",
    "estimated_sessions",
    "new_quota",
    "pays_more",
    "would_exceed",
    "what",
    "customer_id",
]


@dataclass
class MigrationPlan:
    """What an operation would do to each selected customer, and the totals: the dry run."""

    kind: str
    selection: CustomerSelection
    plans: dict[int, Plan]
    now: datetime
    history: list[Period]
    rows: list[PlannedChange]
    grandfather_months: int | None = None
    grandfathered_until: datetime | None = None
    # What months of minutes were divided by (the planner always says).
    minutes_per_session: Decimal = field(default_factory=default_minutes_per_session)

    @cached_property
    def changes(self) -> list[PlannedChange]:
        return [row for row in self.rows if row.changes]

    @cached_property
    def skipped(self) -> list[PlannedChange]:
        return [row for row in self.rows if not row.changes]

    @property
    def history_labels(self) -> list[str]:
        return [period.label for period in self.history]

    def mapping(self) -> dict[str, str]:
        """legacy plan code → the session plan code its customers go to, in this plan."""
        mapping: dict[str, str] = {}
        for change in self.changes:
            if change.next_plan is not None:
                mapping.setdefault(change.from_plan.code, change.destination.code)
        return dict(sorted(mapping.items()))

    @cached_property
    def totals(self) -> dict:
        changes = self.changes
        moves = Counter(
            f"{c.from_plan.code} → {c.destination.code}" for c in changes if c.next_plan
        )
        return {
            "selected": len(self.rows),
            "changing": len(changes),
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(Counter(row.skip_reason for row in self.skipped)),
            "moves": dict(sorted(moves.items())),
            "moving_now": sum(1 for c in changes if c.plan_changes_now),
            "pays_more": sum(1 for c in changes if c.pays_more),
            "would_exceed": sum(1 for c in changes if c.would_exceed),
            "monthly_revenue_before_cents": sum(c.from_plan.price_cents for c in changes),
            "monthly_revenue_after_cents": sum(c.destination.price_cents for c in changes),
            # As applying queues them: none for an ended subscription.
            "stripe_subscriptions": sum(
                1 for c in changes if c.next_plan and c.row.movable_subscription_id
            ),
            "scheduled_moves_follow": sum(1 for c in changes if c.scheduled_move_follows),
        }

    def report_rows(self) -> Iterator[list]:
        for change in self.rows:
            destination = change.destination
            yield [
                change.row.external_id,
                change.from_plan.code,
                destination.code,
                change.from_plan.price_cents,
                destination.price_cents,
                list(change.estimated_sessions),
                destination.quota,
                change.pays_more,
                change.would_exceed,
                change.describe(self.plans),
                change.row.customer_id,
            ]

    def report(self) -> dict:
        """The report as stored on the batch (compact: one list per customer)."""
        return {
            "kind": self.kind,
            "generated_at": self.now.isoformat(),
            "selection": self.selection.describe(),
            "grandfathered_until": self.grandfathered_until.isoformat()
            if self.grandfathered_until
            else None,
            "history_months": self.history_labels,
            "minutes_per_session": float(self.minutes_per_session),
            "totals": self.totals,
            "columns": REPORT_COLUMNS,
            "rows": list(self.report_rows()),
        }


def validate_months(kind: str, months: int | None) -> None:
    if kind in (BatchKind.GRANDFATHER, BatchKind.EXTEND) and (
        months is None or not 1 <= months <= MAX_GRANDFATHER_MONTHS
    ):
        raise InvalidInput(
            f"Months must be a whole number from 1 to {MAX_GRANDFATHER_MONTHS}.", field="months"
        )


def migration_plan(
    *,
    kind: str,
    selection: CustomerSelection | None = None,
    grandfather_months: int | None = None,
    now: datetime | None = None,
    lock: bool = False,
    progress: Progress | None = None,
) -> MigrationPlan:
    """Work out what `kind` would do to each selected customer. Reads only (the dry run).

    `now` is when it happens (for `auto_migrate`: whose grandfathering has ended by then).
    `lock` takes row locks on the customers (inside the applying transaction).
    """
    if kind not in TRANSITIONS:
        raise InvalidInput(f"Unknown operation {kind!r}.", field="kind")
    selection = selection or CustomerSelection()
    if kind == BatchKind.GRANDFATHER and grandfather_months is None:
        grandfather_months = settings.GRANDFATHER_MONTHS
    validate_months(kind, grandfather_months)
    progress = progress or no_progress
    now = now or timezone.now()
    plans = plans_by_id()
    rows, off_plan, criteria = selected_customer_rows(
        selection, kind=kind, plans=plans, now=now, lock=lock, progress=progress
    )
    history = history_periods(now)
    usage = usage_history(rows, history, criteria)
    progress("reading usage history", len(rows), len(rows))
    until = add_months(now, grandfather_months) if kind == BatchKind.GRANDFATHER else None
    ctx = OperationContext(
        plans=plans, now=now, grandfathered_until=until, months=grandfather_months
    )
    transition = TRANSITIONS[kind]
    zero = tuple(Decimal(0) for _ in history)
    unrecorded = tuple(None for _ in history)
    per_session = minutes_per_session()  # once: the same figure for every customer
    sessions_cache: dict[Decimal, int] = {}
    planned: list[PlannedChange] = []
    for row in rows:
        outcome = (
            "not on the selected plans" if row.customer_id in off_plan else transition(row, ctx)
        )
        after = outcome if isinstance(outcome, PlanState) else None
        from_plan = plans[row.state.plan_id]
        final = after or row.state
        if final.grandfather_plan_id:
            destination = plans[final.grandfather_plan_id]
            move_at = final.grandfathered_until
        else:
            destination = plans[final.plan_id]
            move_at = now if final.plan_id != row.state.plan_id else None
        minutes = usage.minutes.get(row.customer_id, zero)
        recorded = usage.sessions.get(row.customer_id, unrecorded)
        sessions = []
        for value, counted in zip(minutes, recorded, strict=True):
            if counted is not None:  # the sessions themselves, where they were recorded
                sessions.append(counted)
                continue
            if value not in sessions_cache:
                sessions_cache[value] = sessions_from_minutes(value, per_session)
            sessions.append(sessions_cache[value])
        planned.append(
            PlannedChange(
                row=row,
                after=after,
                skip_reason="" if after else outcome,
                from_plan=from_plan,
                destination=destination,
                move_at=move_at,
                minutes=minutes,
                estimated_sessions=tuple(sessions),
            )
        )
    if kind == NOTICE:
        _skip_notices_already_sent(planned)
    return MigrationPlan(
        kind=kind,
        selection=selection,
        plans=plans,
        now=now,
        history=history,
        rows=planned,
        grandfather_months=grandfather_months,
        grandfathered_until=until,
        minutes_per_session=per_session,
    )


def _skip_notices_already_sent(planned: list[PlannedChange]) -> None:
    """A notice plan skips customers already told about the same move date."""
    candidates = [change for change in planned if change.after is not None]
    already: set[tuple[int, str]] = set()
    for chunk in chunks(candidates):
        already.update(
            EmailNotification.objects.filter(
                kind=EmailKind.MIGRATION_NOTICE,
                customer_id__in=[change.row.customer_id for change in chunk],
            ).values_list("customer_id", "dedupe_key")
        )
    for change in candidates:
        if (change.row.customer_id, notice_dedupe_key(change.move_at)) in already:
            change.after = None
            change.skip_reason = "already notified of this date"
