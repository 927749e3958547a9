"""Bulk operations staff start from the admin, run by a worker: queued → running → done or
failed, with progress ("running 41,000 of 100,000") and no second start of the same job.

The upper layers register what each kind of job does (`job_runner("batch_apply")`); the admin
creates the job with `job_start`, which queues `run_background_job` in the same transaction.
The worker runs it under a PostgreSQL advisory lock held for as long as the job runs, so a
job whose worker died is found by `jobs_recover` (scheduled every minute): the lock is free
while the job still says running. Its work was one transaction, rolled back with the dead
connection, so the job is marked failed with that explanation and can be started again. (On
SQLite, which has no advisory locks, a job running for longer than `JOB_STALE_SECONDS` is
taken for dead.) Progress lives in the shared cache: written at most twice a second, read by
the page that refreshes itself; the outcome lives in the row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from accounts.errors import BillingError, Conflict
from accounts.models import BackgroundJob, JobState, MigrationBatch
from accounts.progress import Progress

logger = logging.getLogger(__name__)

Runner = Callable[[BackgroundJob, Progress], dict]
RUNNERS: dict[str, Runner] = {}
LABELS: dict[str, tuple[str, str]] = {}  # kind → (what it is doing, what it did)
ADVISORY_NAMESPACE = 0x4A0B  # our jobs' key space among PostgreSQL advisory locks


def job_runner(kind: str, *, doing: str, done: str):
    """Register the function that runs jobs of `kind`: (job, progress) → result dict, with the
    words pages use for it ("Applying", "applied")."""

    def register(function: Runner) -> Runner:
        RUNNERS[kind] = function
        LABELS[kind] = (doing, done)
        return function

    return register


def job_context(job: BackgroundJob | None) -> dict:
    """What the job panel of a page shows (`admin/accounts/job_panel.html`)."""
    active = job is not None and job.is_active
    doing, done = LABELS.get(job.kind, ("Working on", "done")) if job else ("", "")
    return {
        "job": job,
        "job_active": active,
        "job_progress": job_progress(job) if active else None,
        "job_label": doing,
        "job_done": done,
    }


def job_start(
    *,
    kind: str,
    batch: MigrationBatch | None,
    actor: str,
    created_by=None,
    options: dict | None = None,
    payload: bytes = b"",
) -> BackgroundJob:
    """Queue a job (in the caller's transaction). A job already queued or running for the same
    batch (or, without a batch, of the same kind) is a Conflict: it never starts twice."""
    if kind not in RUNNERS:
        raise ValueError(f"No runner for {kind!r} jobs.")
    try:
        with transaction.atomic():
            job = BackgroundJob.objects.create(
                kind=kind,
                batch=batch,
                actor=actor,
                created_by=created_by,
                options=options or {},
                payload=payload,
            )
            result = run_background_job.enqueue(job.pk)
            job.task_id = str(result.id)
            job.save(update_fields=["task_id"])
    except IntegrityError:
        active = BackgroundJob.objects.filter(state__in=[JobState.QUEUED, JobState.RUNNING])
        running = (
            active.filter(batch=batch) if batch else active.filter(kind=kind, batch=None)
        ).first()
        state = running.get_state_display().lower() if running else "under way"
        reference = f" (job {running.pk})" if running else ""
        what = (
            f"Batch {batch.pk} already has a job {state}"
            if batch
            else f"A {kind.replace('_', ' ')} job is already {state}"
        )
        raise Conflict(
            f"{what}{reference}: wait for it to finish (its page refreshes by itself)."
        ) from None
    logger.info("job queued", extra={"job": job.pk, "kind": kind, "actor": actor})
    return job


def _progress_key(job_id: int) -> str:
    return f"job-progress:{job_id}"


def job_progress(job: BackgroundJob) -> dict | None:
    """The last progress a running job reported: {"phase", "done", "total"}, or None."""
    try:
        return cache.get(_progress_key(job.pk))
    except Exception:  # the shared cache is down: the page shows the state without figures
        return None


def _progress_writer(job_id: int) -> Progress:
    last = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.5:
            return
        last[0] = now
        try:
            cache.set(_progress_key(job_id), {"phase": phase, "done": done, "total": total}, 3600)
        except Exception:
            logger.warning("job progress not stored: the cache cannot be reached")

    return progress


@contextmanager
def _held_while_running(job_id: int):
    """A PostgreSQL session advisory lock held while the job runs (nothing on SQLite)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, job_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_NAMESPACE, job_id])


@task()
def run_background_job(job_id: int) -> dict:
    """Run one job (a task): claim it, run its kind's runner, record the outcome. The lock is
    taken before the claim, so a job seen running always has its lock held while it lives."""
    with _held_while_running(job_id):
        claimed = BackgroundJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(
            state=JobState.RUNNING, started_at=timezone.now()
        )
        if not claimed:
            return {"skipped": "not queued"}
        job = BackgroundJob.objects.select_related("batch").get(pk=job_id)
        try:
            result = RUNNERS[job.kind](job, _progress_writer(job.pk))
        except BillingError as exc:
            return _finish(job, JobState.FAILED, error=exc.detail)
        except Exception as exc:
            logger.exception("job failed", extra={"job": job.pk, "kind": job.kind})
            return _finish(job, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
        return _finish(job, JobState.DONE, result=result)


def _finish(job: BackgroundJob, state: str, *, result=None, error: str = "") -> dict:
    BackgroundJob.objects.filter(pk=job.pk).update(
        state=state, result=result or {}, error=error[:4000], finished_at=timezone.now()
    )
    try:
        cache.delete(_progress_key(job.pk))
    except Exception:
        logger.warning("job progress not cleared: the cache cannot be reached")
    logger.info("job finished", extra={"job": job.pk, "kind": job.kind, "state": state})
    return {"state": state, **(result or {}), **({"error": error} if error else {})}


DIED = (
    "The worker running this job stopped before it finished. Its changes were one "
    "transaction, rolled back with it: nothing was changed. Start it again."
)


def _is_alive(job: BackgroundJob, now) -> bool:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, job.pk])
            got = cursor.fetchone()[0]
            if got:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_NAMESPACE, job.pk])
        return not got
    stale = timedelta(seconds=settings.JOB_STALE_SECONDS)
    return job.started_at is not None and job.started_at > now - stale


NEVER_RAN = (
    "The worker that took this job's task stopped before it started the job: nothing was "
    "changed. Start it again."
)


def jobs_recover(*, now=None) -> int:
    """Mark failed every running job whose worker died (see the module's docstring), and every
    queued job whose task has ended without starting it (its worker died between taking the
    task and claiming the job): either would otherwise block its batch for good."""
    now = now or timezone.now()
    failed = 0
    for job in BackgroundJob.objects.filter(state=JobState.RUNNING):
        if _is_alive(job, now):
            continue
        failed += BackgroundJob.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
            state=JobState.FAILED, error=DIED, finished_at=now
        )
        logger.error("job lost with its worker", extra={"job": job.pk, "kind": job.kind})
    queued = dict(
        BackgroundJob.objects.filter(state=JobState.QUEUED)
        .exclude(task_id="")
        .values_list("task_id", "pk")
    )
    ended = DBTaskResult.objects.filter(
        pk__in=list(queued),
        status__in=[TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL],
    ).values_list("pk", flat=True)
    for task_id in ended:
        job_id = queued[str(task_id)]
        failed += BackgroundJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(
            state=JobState.FAILED, error=NEVER_RAN, finished_at=now
        )
        logger.error("job never started: its task ended", extra={"job": job_id})
    return failed


def tasks_recover(*, now=None) -> int:
    """Queue rows that a dead worker left RUNNING (django-tasks-db gives none back) are marked
    failed after `TASK_STALE_SECONDS`, longer than any of our tasks runs, so the queue's
    figures stay true. What those tasks were doing is recovered by its own outbox or job."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.TASK_STALE_SECONDS)
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=stale
    ).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path="accounts.jobs.WorkerLost",
        traceback="The worker running this task stopped before it finished.",
    )


@task()
def recover_background_jobs() -> dict:
    """Scheduled every minute: `jobs_recover` and `tasks_recover` in a worker."""
    tasks_failed = tasks_recover()  # first: a job whose task it fails is then seen at once
    return {"jobs_failed": jobs_recover(), "tasks_failed": tasks_failed}
