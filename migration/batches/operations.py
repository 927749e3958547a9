"""What each operation does to one customer: its new migration state, or why it is skipped.

Pure functions of the customer's current state (no query): every kind of batch, plus the
migration notice, which plans like a batch but changes no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from accounts.models import BatchKind, Plan
from accounts.periods import add_months
from accounts.services.plan_change import CustomerRow, PlanState

# Not a batch kind: "Send migration notice" plans like a batch but changes no state.
NOTICE = "notice"
MAX_GRANDFATHER_MONTHS = 36


@dataclass(frozen=True)
class OperationContext:
    plans: dict[int, Plan]
    now: datetime
    grandfathered_until: datetime | None  # grandfather: the common end date
    months: int | None  # extend: months added


Operation = Callable[[CustomerRow, OperationContext], "PlanState | str"]


def _target_of(row: CustomerRow, ctx: OperationContext) -> Plan | None:
    """The session plan a legacy customer moves to: its announced next plan, else the mapping."""
    if row.state.grandfather_plan_id:
        return ctx.plans[row.state.grandfather_plan_id]
    return ctx.plans[row.state.plan_id].migrates_to


def _remap(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
    plan = ctx.plans[row.state.plan_id]
    if not plan.is_legacy:
        return "already on a session plan"
    if row.state.migration_exempt:
        return "exempt from migration"
    target = _target_of(row, ctx)
    if target is None:
        return "legacy plan has no session plan to move to (set 'migrates to')"
    return row.state.replace(plan_id=target.pk, grandfathered_until=None)


def _grandfather(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
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


def _extend(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
    if not row.state.is_grandfathered:
        return "not grandfathered"
    return row.state.replace(
        grandfathered_until=add_months(row.state.grandfathered_until, ctx.months)
    )


def _end_grandfathering(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
    if not row.state.is_grandfathered:
        return "not grandfathered"
    return row.state.replace(plan_id=row.state.grandfather_plan_id, grandfathered_until=None)


def _exempt(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
    if row.state.migration_exempt:
        return "already exempt"
    if not ctx.plans[row.state.plan_id].is_legacy:
        return "on a session plan: nothing to be exempt from"
    # Exempt customers are never moved, so a pending grandfathering end is cancelled.
    return row.state.replace(migration_exempt=True, grandfathered_until=None)


def _remove_exemption(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
    if not row.state.migration_exempt:
        return "not exempt"
    return row.state.replace(migration_exempt=False)


def _auto_migrate(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
    if not row.state.is_grandfathered or row.state.grandfathered_until > ctx.now:
        return "grandfathering has not ended"
    if row.state.migration_exempt:
        return "exempt from migration"
    return row.state.replace(plan_id=row.state.grandfather_plan_id, grandfathered_until=None)


def _notice(row: CustomerRow, ctx: OperationContext) -> PlanState | str:
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


def notice_dedupe_key(move_at: datetime) -> str:
    """One migration notice per announced move date: an extension may announce a new date."""
    return f"move-{move_at:%Y-%m-%d}"
