"""What the migration commands print: dry-run reports, totals and rollback summaries.

(The progress bar and `write_lines` are `accounts.progress`'s, shared by every command.)"""

from __future__ import annotations

from collections.abc import Iterator

from accounts.formatting import money
from migration.batches.planning import MigrationPlan
from migration.batches.rollback import RollbackPlan


def plan_lines(plan: MigrationPlan) -> Iterator[str]:
    """One line per selected customer: plans, prices, estimated sessions, flags, what happens."""
    months = plan.history_labels
    for change in plan.rows:
        destination = change.destination
        sessions = " · ".join(
            f"{label} {count:,}"
            for label, count in zip(months, change.estimated_sessions, strict=True)
        )
        flags = [
            flag
            for flag, on in (("PAYS MORE", change.pays_more), ("WOULD EXCEED", change.would_exceed))
            if on
        ]
        quota = (
            f"{destination.included_minutes:,} min"
            if destination.bills_minutes
            else f"{destination.included_sessions:,} sessions"
        )
        yield (
            f"{change.row.external_id}  {change.from_plan.code} → {destination.code}  "
            f"{money(change.from_plan.price_cents)} → {money(destination.price_cents)}/mo  "
            f"est. sessions {sessions} vs {quota}"
            + (f"  [{', '.join(flags)}]" if flags else "")
            + f"  — {change.describe(plan.plans)}"
        )


def totals_lines(totals: dict, *, verb: str) -> Iterator[str]:
    yield (
        f"Customers selected: {totals['selected']:,}; {verb}: {totals['changing']:,}; "
        f"skipped: {totals['skipped']:,}"
    )
    for reason, count in sorted(totals["skipped_by_reason"].items()):
        yield f"  skipped, {reason}: {count:,}"
    for move, count in totals["moves"].items():
        yield f"  {move}: {count:,}"
    if totals["moving_now"]:
        yield f"Moving to a new plan now: {totals['moving_now']:,}"
    yield (
        f"Pays more: {totals['pays_more']:,}; "
        f"would exceed the new quota: {totals['would_exceed']:,}"
    )
    before, after = totals["monthly_revenue_before_cents"], totals["monthly_revenue_after_cents"]
    yield (
        f"Monthly revenue of these customers: {money(before)} → {money(after)} "
        f"({'+' if after >= before else ''}{money(after - before)})"
    )
    if totals["stripe_subscriptions"]:
        yield f"Stripe subscriptions to move to the new price: {totals['stripe_subscriptions']:,}"
    if totals.get("scheduled_moves_follow"):  # absent from reports stored before it was added
        yield (
            "Then moved by a plan change scheduled before this batch (not cancelled by it): "
            f"{totals['scheduled_moves_follow']:,}"
        )


def rollback_lines(plan: RollbackPlan, *, only_conflicts: bool = False) -> Iterator[str]:
    for item in plan.rows:
        if only_conflicts and not item.conflict:
            continue
        current, restore = item.current, item.restore
        what = f"{current['plan']} → {restore['plan']}"
        if current.get("grandfathered_until") != restore.get("grandfathered_until"):
            what += (
                f"; grandfathered until {restore['grandfathered_until'][:10]}"
                if restore.get("grandfathered_until")
                else "; not grandfathered"
            )
        if current.get("migration_exempt") != restore.get("migration_exempt"):
            what += "; exempt" if restore.get("migration_exempt") else "; not exempt"
        if item.conflict:
            state = "FORCED" if plan.force else "LEFT ALONE"
            yield f"{item.row.external_id}  {state}: {item.conflict}  (would restore {what})"
        else:
            yield f"{item.row.external_id}  restore {what}"


def rollback_summary_lines(plan: RollbackPlan, *, dry_run: bool) -> Iterator[str]:
    summary = plan.summary()
    verb = "would restore" if dry_run else "restored"
    yield (
        f"Batch {summary['batch']}: {verb} {summary['restored']:,} of {summary['customers']:,} "
        f"customer(s)"
        + (
            f" ({summary['already_rolled_back']:,} rolled back before)"
            if summary["already_rolled_back"]
            else ""
        )
    )
    if summary["already_as_before"]:
        yield (
            f"Already as the batch found them (put back since), nothing to restore: "
            f"{summary['already_as_before']:,}"
        )
    if plan.left_alone:
        yield (
            f"Left alone, changed since by something else: {len(plan.left_alone):,} "
            "(rerun with --force to restore them anyway)"
        )
    if plan.force and summary["forced"]:
        yield f"Restored although changed since (--force): {summary['forced']:,}"
    if summary["emailed"]:
        yield (
            f"Warning: {summary['emailed']:,} of them were e-mailed about their move since this "
            'batch (a migration notice, or "moved"); rolling back sends them nothing: tell them.'
        )
    if plan.ended_grandfathering:
        yield (
            f"Warning: {len(plan.ended_grandfathering):,} customer(s) go back to a grandfathering "
            "that has already ended; the next apply_grandfathering moves them again unless you "
            "extend or exempt them."
        )
