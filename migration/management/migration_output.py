"""What the migration commands print: a progress bar for large runs, reports and summaries."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from accounts.formatting import money
from migration.services.migration import MigrationPlan, RollbackPlan

PROGRESS_MIN_TOTAL = 1000  # smaller runs finish before a bar would be any use
BAR_WIDTH = 30


def dollars(cents: int) -> str:
    return money(cents)


class ProgressBar:
    """A `Progress` callback drawing one bar per phase on a terminal stream (stderr)."""

    def __init__(self, stream, *, min_total: int | None = None, interval: float = 0.1):
        self.stream = stream
        self.min_total = PROGRESS_MIN_TOTAL if min_total is None else min_total
        self.interval = interval
        self._phase = ""
        self._drawn_at = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total < self.min_total:
            return
        if phase != self._phase:
            self.close()
            self._phase = phase
        now = time.monotonic()
        if done < total and now - self._drawn_at < self.interval:
            return
        self._drawn_at = now
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r{phase:<24} [{bar}] {done:,}/{total:,}", ending="")
        self.stream.flush()

    def close(self) -> None:
        if self._phase:
            self.stream.write("")
            self._phase = ""


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
            f"{dollars(change.from_plan.price_cents)} → {dollars(destination.price_cents)}/mo  "
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
        f"Monthly revenue of these customers: {dollars(before)} → {dollars(after)} "
        f"({'+' if after >= before else ''}{dollars(after - before)})"
    )
    if totals["stripe_subscriptions"]:
        yield f"Stripe subscriptions to move to the new price: {totals['stripe_subscriptions']:,}"


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
    if plan.left_alone:
        yield (
            f"Left alone, changed since by something else: {len(plan.left_alone):,} "
            "(rerun with --force to restore them anyway)"
        )
    if plan.force and summary["forced"]:
        yield f"Restored although changed since (--force): {summary['forced']:,}"
    if plan.ended_grandfathering:
        yield (
            f"Warning: {len(plan.ended_grandfathering):,} customer(s) go back to a grandfathering "
            "that has already ended; the next apply_grandfathering moves them again unless you "
            "extend or exempt them."
        )


def write_lines(stream, lines: Iterable[str], chunk: int = 5000) -> None:
    """Write many lines quickly (one write per chunk rather than per line)."""
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= chunk:
            stream.write("\n".join(buffer))
            buffer = []
    if buffer:
        stream.write("\n".join(buffer))
