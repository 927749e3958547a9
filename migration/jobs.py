"""What the admin's background jobs do: apply a batch, roll one back (run by a worker)."""

from __future__ import annotations

from accounts.jobs import job_runner
from accounts.models import BackgroundJob
from accounts.progress import Progress
from migration.batches.apply import migration_batch_apply
from migration.batches.rollback import migration_batch_rollback

BATCH_APPLY = "batch_apply"
BATCH_ROLLBACK = "batch_rollback"


@job_runner(BATCH_APPLY)
def batch_apply_job(job: BackgroundJob, progress: Progress) -> dict:
    batch = migration_batch_apply(batch=job.batch, actor=job.actor, progress=progress)
    return {"customers": batch.customer_count, "changed": batch.changed_count}


@job_runner(BATCH_ROLLBACK)
def batch_rollback_job(job: BackgroundJob, progress: Progress) -> dict:
    plan = migration_batch_rollback(
        batch=job.batch,
        actor=job.actor,
        force=bool(job.options.get("force")),
        reason=job.options.get("reason", ""),
        progress=progress,
    )
    return plan.summary()
