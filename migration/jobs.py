"""What the admin's background jobs do: apply a batch, roll one back, import the old
system's file (run by a worker)."""

from __future__ import annotations

from accounts.jobs import job_runner
from accounts.models import BackgroundJob
from accounts.progress import Progress
from migration.batches.apply import migration_batch_apply
from migration.batches.rollback import migration_batch_rollback
from migration.importing.report import ImportRejected
from migration.importing.run import CsvUpload, legacy_customers_import

BATCH_APPLY = "batch_apply"
BATCH_ROLLBACK = "batch_rollback"
LEGACY_IMPORT = "legacy_import"


@job_runner(BATCH_APPLY, doing="Applying", done="applied")
def batch_apply_job(job: BackgroundJob, progress: Progress) -> dict:
    batch = migration_batch_apply(batch=job.batch, actor=job.actor, progress=progress)
    return {"customers": batch.customer_count, "changed": batch.changed_count}


@job_runner(BATCH_ROLLBACK, doing="Rolling back", done="rolled back")
def batch_rollback_job(job: BackgroundJob, progress: Progress) -> dict:
    plan = migration_batch_rollback(
        batch=job.batch,
        actor=job.actor,
        force=bool(job.options.get("force")),
        reason=job.options.get("reason", ""),
        progress=progress,
    )
    return plan.summary()


@job_runner(LEGACY_IMPORT, doing="Importing", done="imported")
def legacy_import_job(job: BackgroundJob, progress: Progress) -> dict:
    """The upload confirmed in the admin (kept in the job's payload): checked again, then
    imported in one transaction, all or nothing."""
    upload = CsvUpload(name=job.options["name"], data=bytes(job.payload))
    is_customers = job.options["file_kind"] == "customers"
    try:
        report = legacy_customers_import(
            customers=upload if is_customers else None,
            usage=None if is_customers else upload,
            apply=True,
            actor=job.actor,
            progress=progress,
        )
    except ImportRejected as exc:
        shown = "; ".join(str(issue) for issue in exc.issues[:20])
        more = f" (and {len(exc.issues) - 20} more)" if len(exc.issues) > 20 else ""
        exc.detail = f"{exc.detail} {shown}{more}"  # what the job page shows
        raise
    return {
        "file": upload.name,
        "customers": str(report.customers),
        "monthly usage": str(report.usage),
        "plan changes": report.plan_changes,
    }
