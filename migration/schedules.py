"""The move to session plans' scheduled jobs (registered when the app is ready)."""

from datetime import time

from django_tasks import task

from accounts.schedule import scheduled
from migration.batches.grandfathering import grandfathering_apply


@task()
def apply_grandfathering_ends() -> dict:
    """Move every customer whose grandfathering has ended (idempotent; a batch when any)."""
    run = grandfathering_apply(actor="schedule")
    return {"batch": run.batch.pk if run.batch else None, "moved": len(run.plan.changes)}


scheduled("grandfathering-ends", apply_grandfathering_ends, at=time(2, 0))
