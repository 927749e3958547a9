"""Moving customers to session plans in bulk: plan (dry run), apply, roll back, grandfathering.

One path for every bulk change of plan or migration state, used by the commands
(`migrate_to_sessions`, `apply_grandfathering`, `rollback_batch`) and the admin actions:

1. `migration_plan(...)` reads the selected customers and works out, per customer, what the
   operation would do, with the last three months of minutes as estimated sessions against
   the new quota. It only reads: this is the dry run.
2. `migration_run(...)` / `migration_batch_apply(...)` do it: the same plan computed under row
   locks, then one PlanChange per changed customer (bulk INSERT, with `state_before` /
   `state_after` snapshots) and the customers' new state in a few grouped UPDATEs, all in one
   transaction, with the Stripe price moves it calls for (an outbox, same transaction).
   E-mails are sent and the price moves made after commit.
3. `migration_batch_rollback(...)` restores every customer of a batch exactly from the
   `state_before` snapshots; a customer changed since by something else is left alone and
   reported, unless forced.

Work grows with the number of customers only in Python and in the size of a few bulk
statements, never in the number of statements per customer.
"""

from __future__ import annotations

import getpass
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput
from accounts.models import (
    BatchKind,
    BatchStatus,
    ChangeSource,
    Customer,
    EmailKind,
    EmailNotification,
    MigrationBatch,
    Plan,
    PlanChange,
)
from accounts.periods import Period, add_months, period_of
from accounts.progress import Progress, no_progress
from accounts.services.notifications import Recipient, email_send_once_bulk
from accounts.services.plan_change import (
    CustomerRow,
    PlanState,
    customer_states_write,
    plan_changes_record,
    state_snapshot,
)
from accounts.services.plan_change import Transition as ChangeTransition
from billing.models import StripePriceMove

logger = logging.getLogger(__name__)

# Not a batch kind: "Send migration notice" plans like a batch but changes no state.
NOTICE = "notice"
HISTORY_MONTHS = 3
MAX_GRANDFATHER_MONTHS = 36
CHUNK = 5000


def _actor_default() -> str:
    return f"command:{getpass.getuser()}"


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- What is selected --------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerSelection:
    """Which customers an operation is about. Nothing given: every customer on a legacy plan.

    Several criteria narrow each other down (plans AND ids).
    """

    plan_codes: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()
    customer_ids: tuple[int, ...] = ()

    @property
    def is_all_legacy(self) -> bool:
        return not (self.plan_codes or self.external_ids or self.customer_ids)

    def as_json(self) -> dict:
        data: dict = {}
        if self.is_all_legacy:
            data["all_legacy"] = True
        if self.plan_codes:
            data["plans"] = list(self.plan_codes)
        if self.external_ids:
            data["customers"] = list(self.external_ids)
        if self.customer_ids:
            data["customer_ids"] = list(self.customer_ids)
        return data

    @classmethod
    def from_json(cls, data: dict) -> CustomerSelection:
        return cls(
            plan_codes=tuple(data.get("plans", ())),
            external_ids=tuple(data.get("customers", ())),
            customer_ids=tuple(int(pk) for pk in data.get("customer_ids", ())),
        )

    def describe(self) -> str:
        parts = []
        if self.plan_codes:
            parts.append("plans " + ", ".join(self.plan_codes))
        if self.external_ids:
            parts.append(f"{len(self.external_ids):,} customer(s) by user_id")
        if self.customer_ids:
            parts.append(f"{len(self.customer_ids):,} selected customer(s)")
        return "; ".join(parts) or "all customers on a legacy plan"


# --- One customer's migration state -----------------------------------------------------------


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


# --- What an operation does to one customer ---------------------------------------------------


@dataclass(frozen=True)
class _Context:
    plans: dict[int, Plan]
    now: datetime
    grandfathered_until: datetime | None  # grandfather: the common end date
    months: int | None  # extend: months added


Operation = Callable[[CustomerRow, _Context], "PlanState | str"]


def _target_of(row: CustomerRow, ctx: _Context) -> Plan | None:
    """The session plan a legacy customer moves to: its announced next plan, else the mapping."""
    if row.state.grandfather_plan_id:
        return ctx.plans[row.state.grandfather_plan_id]
    return ctx.plans[row.state.plan_id].migrates_to


def _remap(row: CustomerRow, ctx: _Context) -> PlanState | str:
    plan = ctx.plans[row.state.plan_id]
    if not plan.is_legacy:
        return "already on a session plan"
    if row.state.migration_exempt:
        return "exempt from migration"
    target = _target_of(row, ctx)
    if target is None:
        return "legacy plan has no session plan to move to (set 'migrates to')"
    return row.state.replace(plan_id=target.pk, grandfathered_until=None)


def _grandfather(row: CustomerRow, ctx: _Context) -> PlanState | str:
    plan = ctx.plans[row.state.plan_id]
    if not plan.is_legacy:
        return "already on a session plan"
    if row.state.migration_exempt:
        return "exempt from migration"
    if row.state.is_grandfathered:
        return "already grandfathered (use Extend)"
    target = plan.migrates_to
    if target is None:
        return "legacy plan has no session plan to move to (set 'migrates to')"
    return row.state.replace(
        grandfathered_until=ctx.grandfathered_until, grandfather_plan_id=target.pk
    )


def _extend(row: CustomerRow, ctx: _Context) -> PlanState | str:
    if not row.state.is_grandfathered:
        return "not grandfathered"
    return row.state.replace(
        grandfathered_until=add_months(row.state.grandfathered_until, ctx.months)
    )


def _end_grandfathering(row: CustomerRow, ctx: _Context) -> PlanState | str:
    if not row.state.is_grandfathered:
        return "not grandfathered"
    return row.state.replace(plan_id=row.state.grandfather_plan_id, grandfathered_until=None)


def _exempt(row: CustomerRow, ctx: _Context) -> PlanState | str:
    if row.state.migration_exempt:
        return "already exempt"
    if not ctx.plans[row.state.plan_id].is_legacy:
        return "on a session plan: nothing to be exempt from"
    # Exempt customers are never moved, so a pending grandfathering end is cancelled.
    return row.state.replace(migration_exempt=True, grandfathered_until=None)


def _remove_exemption(row: CustomerRow, ctx: _Context) -> PlanState | str:
    if not row.state.migration_exempt:
        return "not exempt"
    return row.state.replace(migration_exempt=False)


def _auto_migrate(row: CustomerRow, ctx: _Context) -> PlanState | str:
    if not row.state.is_grandfathered or row.state.grandfathered_until > ctx.now:
        return "grandfathering has not ended"
    if row.state.migration_exempt:
        return "exempt from migration"
    return row.state.replace(plan_id=row.state.grandfather_plan_id, grandfathered_until=None)


def _notice(row: CustomerRow, ctx: _Context) -> PlanState | str:
    if not row.state.is_grandfathered:
        return "not grandfathered: no date to announce"
    if row.state.migration_exempt:
        return "exempt from migration"
    if not row.email:
        return "no e-mail address"
    return row.state


TRANSITIONS: dict[str, Operation] = {
    BatchKind.REMAP: _remap,
    BatchKind.GRANDFATHER: _grandfather,
    BatchKind.EXTEND: _extend,
    BatchKind.END_GRANDFATHERING: _end_grandfathering,
    BatchKind.EXEMPT: _exempt,
    BatchKind.REMOVE_EXEMPTION: _remove_exemption,
    BatchKind.AUTO_MIGRATE: _auto_migrate,
    NOTICE: _notice,
}


# --- The plan (dry-run report) ----------------------------------------------------------------


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

    def describe(self, plans: dict[int, Plan]) -> str:
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
            "stripe_subscriptions": sum(
                1 for c in changes if c.next_plan and c.row.stripe_subscription_id
            ),
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
            "minutes_per_session": settings.MINUTES_PER_SESSION,
            "totals": self.totals,
            "columns": REPORT_COLUMNS,
            "rows": list(self.report_rows()),
        }


def _plans_by_id() -> dict[int, Plan]:
    plans = {plan.pk: plan for plan in Plan.objects.all()}
    for plan in plans.values():  # resolve migrates_to without a query per plan
        plan.migrates_to = plans.get(plan.migrates_to_id)
    return plans


def _resolve_plan_codes(codes: Iterable[str], plans: dict[int, Plan]) -> list[int]:
    by_code = {plan.code: plan for plan in plans.values()}
    unknown = [code for code in codes if code not in by_code]
    if unknown:
        known = ", ".join(sorted(code for code, plan in by_code.items() if plan.is_legacy))
        raise InvalidInput(
            f"Unknown plan(s): {', '.join(unknown)}. Legacy plans: {known}.", field="plans"
        )
    not_legacy = [code for code in codes if not by_code[code].is_legacy]
    if not_legacy:
        raise InvalidInput(
            f"Not a legacy plan: {', '.join(not_legacy)}. Only customers on legacy minute plans "
            "move to session plans.",
            field="plans",
        )
    return [by_code[code].pk for code in codes]


def _fetch_rows(
    selection: CustomerSelection,
    *,
    kind: str,
    plans: dict[int, Plan],
    now: datetime,
    lock: bool,
    progress: Progress,
) -> tuple[list[CustomerRow], set[int], QuerySet[Customer] | None]:
    """The selected customers ordered by id (the lock order), locked when `lock`; the ids of
    those picked by id who are not on the selected plans (reported as skipped); and, for a
    selection by criteria, the criteria as a queryset (for the usage history query)."""
    criteria = Customer.objects.all()
    if kind == BatchKind.AUTO_MIGRATE:
        criteria = criteria.filter(grandfathered_until__lte=now, migration_exempt=False)
    plan_ids = (
        set(_resolve_plan_codes(selection.plan_codes, plans)) if selection.plan_codes else None
    )
    by_id = bool(selection.external_ids or selection.customer_ids)
    if not by_id and plan_ids:
        criteria = criteria.filter(plan_id__in=plan_ids)
    elif not by_id and kind != BatchKind.AUTO_MIGRATE:
        criteria = criteria.filter(plan_id__in=[pk for pk, p in plans.items() if p.is_legacy])
    queryset = criteria.order_by("pk")
    if lock:
        queryset = queryset.select_for_update()
    if not by_id:
        rows = [CustomerRow.from_values(v) for v in queryset.values_list(*CustomerRow.ROW_FIELDS)]
        progress("reading customers", len(rows), len(rows))
        return rows, set(), criteria

    # Picked by id: read in chunks (keeps each IN list within every database's limits).
    key, wanted = (
        ("pk", sorted(set(selection.customer_ids)))
        if selection.customer_ids
        else ("external_id", sorted(set(selection.external_ids)))
    )
    rows: list[CustomerRow] = []
    for chunk in _chunks(wanted):
        values = list(queryset.filter(**{f"{key}__in": chunk}).values_list(*CustomerRow.ROW_FIELDS))
        rows.extend(CustomerRow.from_values(v) for v in values)
        progress("reading customers", len(rows), len(wanted))
    found = {row.customer_id if key == "pk" else row.external_id for row in rows}
    missing = [value for value in wanted if value not in found]
    if missing:
        shown = ", ".join(str(value) for value in missing[:10])
        more = f" and {len(missing) - 10:,} more" if len(missing) > 10 else ""
        raise InvalidInput(f"No customer with id {shown}{more}.", field="customers")
    if selection.customer_ids and selection.external_ids:
        allowed = set(selection.external_ids)
        rows = [row for row in rows if row.external_id in allowed]
    rows.sort(key=lambda row: row.customer_id)
    off_plan = (
        {row.customer_id for row in rows if row.state.plan_id not in plan_ids}
        if plan_ids
        else set()
    )
    return rows, off_plan, None


def history_periods(now: datetime, months: int = HISTORY_MONTHS) -> list[Period]:
    """The `months` full calendar months before `now`'s month, oldest first."""
    periods = [period_of(now).previous()]
    while len(periods) < months:
        periods.append(periods[-1].previous())
    return list(reversed(periods))


def _minutes_history(
    rows: list[CustomerRow], periods: list[Period], criteria: QuerySet[Customer] | None
) -> dict[int, tuple[Decimal, ...]]:
    """Billable minutes per customer for each period: one aggregate query (per id chunk when
    customers were picked by id)."""
    from usage.models import MonthlyUsage

    per_month = {
        f"m{index}": Sum("billable_minutes", filter=Q(period=period.start))
        for index, period in enumerate(periods)
    }
    months = MonthlyUsage.objects.filter(period__in=[p.start for p in periods])
    if criteria is not None:
        queries = [months.filter(customer_id__in=criteria.values("pk"))]
    else:
        ids = [row.customer_id for row in rows]
        queries = [months.filter(customer_id__in=chunk) for chunk in _chunks(ids)]
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


def _validate_months(kind: str, months: int | None) -> None:
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
    _validate_months(kind, grandfather_months)
    progress = progress or no_progress
    now = now or timezone.now()
    plans = _plans_by_id()
    rows, off_plan, criteria = _fetch_rows(
        selection, kind=kind, plans=plans, now=now, lock=lock, progress=progress
    )
    history = history_periods(now)
    minutes_by_customer = _minutes_history(rows, history, criteria)
    progress("reading usage history", len(rows), len(rows))
    until = add_months(now, grandfather_months) if kind == BatchKind.GRANDFATHER else None
    ctx = _Context(plans=plans, now=now, grandfathered_until=until, months=grandfather_months)
    transition = TRANSITIONS[kind]
    zero = tuple(Decimal(0) for _ in history)
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
        minutes = minutes_by_customer.get(row.customer_id, zero)
        sessions = []
        for value in minutes:
            if value not in sessions_cache:
                sessions_cache[value] = estimated_sessions(value)
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
    )


# --- Applying ---------------------------------------------------------------------------------


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
        actor=actor or _actor_default(),
        created_by=created_by,
        customer_count=len(plan.rows),
        changed_count=len(plan.changes),
        report=plan.report(),
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
        _apply_plan(plan, locked, progress=progress or no_progress)
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
            actor=actor or _actor_default(),
            created_by=created_by,
        )
        _apply_plan(plan, batch, progress=progress or no_progress)
    return batch


def _apply_plan(plan: MigrationPlan, batch: MigrationBatch, *, progress: Progress) -> None:
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
        batch.report["emails_recorded"] = _send_batch_emails(plan, batch, progress)
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


# --- E-mails ----------------------------------------------------------------------------------


def notice_dedupe_key(move_at: datetime) -> str:
    """One migration notice per announced move date: an extension may announce a new date."""
    return f"move-{move_at:%Y-%m-%d}"


def migration_email_context(old_plan: Plan, new_plan: Plan, when: datetime) -> dict:
    """What the migration e-mails show, formatted once (shared by every customer of a group)."""
    from accounts.templatetags.plan_terms import dollars, quota

    return {
        "old_plan": old_plan,
        "new_plan": new_plan,
        "when": when,
        "when_text": f"{when:%B} {when.day}, {when.year}",
        "old_quota": quota(old_plan),
        "old_price": dollars(old_plan.price_cents),
        "new_quota": quota(new_plan),
        "new_price": dollars(new_plan.price_cents),
        "new_estimate": "" if new_plan.bills_minutes else f"{new_plan.included_minutes:,} minutes",
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


def _notice_messages(changes: Iterable[PlannedChange]) -> list[tuple[Recipient, str, dict]]:
    context_for = _grouped_contexts()
    return [
        (
            change.row.as_recipient(),
            notice_dedupe_key(change.move_at),
            context_for(change.from_plan, change.destination, change.move_at),
        )
        for change in changes
        if change.move_at is not None and change.next_plan is not None
    ]


def _send_batch_emails(plan: MigrationPlan, batch: MigrationBatch, progress: Progress) -> int:
    """Batch e-mails: a notice for a move announced for later, "moved" for a move done now."""
    announced = [c for c in plan.changes if not c.plan_changes_now and c.after.is_grandfathered]
    moved = [c for c in plan.changes if c.plan_changes_now]
    sent = email_send_once_bulk(
        kind=EmailKind.MIGRATION_NOTICE, messages=_notice_messages(announced)
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


def _skip_notices_already_sent(planned: list[PlannedChange]) -> None:
    """A notice plan skips customers already told about the same move date."""
    candidates = [change for change in planned if change.after is not None]
    already: set[tuple[int, str]] = set()
    for chunk in _chunks(candidates):
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


def migration_notices_send(
    *, selection: CustomerSelection, now: datetime | None = None
) -> MigrationPlan:
    """E-mail each selected grandfathered customer its new plan, quota, price and move date.

    Once per customer and move date: a rerun sends nothing twice."""
    with transaction.atomic():
        plan = migration_plan(kind=NOTICE, selection=selection, now=now)
        email_send_once_bulk(
            kind=EmailKind.MIGRATION_NOTICE, messages=_notice_messages(plan.changes)
        )
    return plan


# --- Stripe -----------------------------------------------------------------------------------


# --- Grandfathering ends ----------------------------------------------------------------------


@dataclass
class GrandfatheringRun:
    plan: MigrationPlan
    batch: MigrationBatch | None  # None for a dry run, or when nobody was due


def grandfathering_apply(
    *,
    as_of: datetime | None = None,
    dry_run: bool = False,
    actor: str = "apply_grandfathering",
    progress: Progress | None = None,
) -> GrandfatheringRun:
    """Move every non-exempt customer whose grandfathering ended by `as_of` (now) to its next
    plan, e-mail them, and queue their Stripe price moves. Idempotent: a moved customer is no
    longer grandfathered, so a rerun (or a concurrent run, which waits on the row locks and
    then finds nothing due) moves nobody twice. Creates no batch when nobody is due.
    """
    current = timezone.now()
    as_of = as_of or current
    if as_of > current and not dry_run:
        raise InvalidInput(
            "--as-of is in the future: those customers were promised their plan until then. "
            "Use --dry-run to preview.",
            field="as_of",
        )
    if dry_run:
        plan = migration_plan(kind=BatchKind.AUTO_MIGRATE, now=as_of, progress=progress)
        return GrandfatheringRun(plan=plan, batch=None)
    with transaction.atomic():
        plan = migration_plan(kind=BatchKind.AUTO_MIGRATE, now=as_of, lock=True, progress=progress)
        if not plan.changes:
            return GrandfatheringRun(plan=plan, batch=None)
        batch = MigrationBatch.objects.create(
            kind=BatchKind.AUTO_MIGRATE,
            selection={"grandfathered_until_lte": as_of.isoformat()},
            notify=True,
            reason="Grandfathering ended",
            actor=actor,
        )
        _apply_plan(plan, batch, progress=progress or no_progress)
    return GrandfatheringRun(plan=plan, batch=batch)


# --- Rolling back -----------------------------------------------------------------------------


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
    plans = _plans_by_id()
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
    pending = [change for change in changes if change[1] not in done]
    if not pending:
        raise Conflict(
            f"Batch {batch.pk} is already rolled back"
            if changes
            else f"Batch {batch.pk} changed no customer: there is nothing to roll back."
        )
    later = _later_changes(batch)
    queryset = Customer.objects.order_by("pk")
    if lock:
        queryset = queryset.select_for_update()
    ids = [customer_id for _, customer_id, _, _ in pending]
    current: dict[int, CustomerRow] = {}
    for chunk in _chunks(ids):
        for values in queryset.filter(pk__in=chunk).values_list(*CustomerRow.ROW_FIELDS):
            row = CustomerRow.from_values(values)
            current[row.customer_id] = row
        progress("reading customers", len(current), len(ids))
    rows = []
    for change_id, customer_id, before, after in pending:
        row = current[customer_id]
        now_snapshot = state_snapshot(row, row.state, plans)
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
    return RollbackPlan(
        batch=batch,
        force=force,
        rows=rows,
        now=timezone.now(),
        already_rolled_back=len(done),
        plans=plans,
    )


def _recorded_prices(rows: list[RollbackRow]) -> dict[int, str]:
    """Per customer, the Stripe price a rollback restores: the one its subscription was moved
    from by the batch (as recorded with that move), else the one its `state_before`
    snapshot names. Customers with neither get their restored plan's price."""
    move_from: dict[int, str] = {}
    change_ids = [row.change_id for row in rows if row.row.stripe_subscription_id]
    for chunk in _chunks(change_ids):
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
    actor = actor or _actor_default()
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
        locked.rolled_back_count += len(plan.to_restore)
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
