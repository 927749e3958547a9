"""The end of grandfathering: moving every customer whose grandfathering has ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.errors import InvalidInput
from accounts.models import BatchKind, MigrationBatch
from accounts.progress import Progress, no_progress
from migration.batches.apply import plan_apply
from migration.batches.planning import MigrationPlan, migration_plan


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
        plan_apply(plan, batch, progress=progress or no_progress)
    return GrandfatheringRun(plan=plan, batch=batch)
