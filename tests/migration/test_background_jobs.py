"""Bulk operations from the admin run as background jobs (`accounts/jobs.py`,
`migration/jobs.py`): the request only queues; the batch page follows the job; the same job
never starts twice; a job whose worker died is found and marked failed."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.jobs import (
    ADVISORY_NAMESPACE,
    DIED,
    jobs_recover,
    run_background_job,
    tasks_recover,
)
from accounts.models import BackgroundJob, BatchKind, BatchStatus, JobState, MigrationBatch
from migration.batches.apply import migration_run
from migration.jobs import BATCH_APPLY
from tests.migration.support import legacy_customer, migration_fields

CHANGELIST = "/admin/accounts/customer/"


def confirm_grandfather(client, customers):
    """The admin's confirm button, with no worker to run what it queues."""
    return client.post(
        CHANGELIST,
        {
            "action": "migration_grandfather",
            "_selected_action": [c.pk for c in customers],
            "apply": "1",
            "months": "3",
            "reason": "the move",
        },
    )


def batch_page(client, batch) -> str:
    url = reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
    return client.get(url).content.decode()


@pytest.mark.django_db
class TestAdminQueuesAndFollows:
    def test_confirm_only_queues_then_the_worker_applies_and_the_page_follows(self, admin_client):
        customers = [legacy_customer("legacy_build") for _ in range(3)]

        response = confirm_grandfather(admin_client, customers)

        batch = MigrationBatch.objects.get()
        job = BackgroundJob.objects.get()
        assert response.status_code == 302
        assert response.url == reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        assert (batch.status, batch.kind, batch.customer_count) == (
            BatchStatus.PLANNED,
            BatchKind.GRANDFATHER,
            3,
        )
        assert (job.kind, job.state, job.batch_id) == (BATCH_APPLY, JobState.QUEUED, batch.pk)
        assert all(migration_fields(c)[1] is None for c in customers)  # nothing applied yet
        page = batch_page(admin_client, batch)
        assert "Queued" in page and 'http-equiv="refresh"' in page
        assert "Apply this batch now" not in page  # a job is under way

        run_background_job.call(job.pk)  # what the worker does

        job.refresh_from_db()
        batch.refresh_from_db()
        assert job.state == JobState.DONE and job.result == {"customers": 3, "changed": 3}
        assert batch.status == BatchStatus.APPLIED
        assert all(migration_fields(c)[2] == "starter" for c in customers)
        page = batch_page(admin_client, batch)
        assert "Done" in page and "applied by admin:" in page
        assert 'http-equiv="refresh"' not in page and "Roll back…" in page

    def test_a_running_job_shows_how_far_it_is(self, admin_client):
        batch = MigrationBatch.objects.create(kind=BatchKind.REMAP, actor="t")
        job = BackgroundJob.objects.create(
            kind=BATCH_APPLY, batch=batch, actor="t", state=JobState.RUNNING
        )
        job.started_at = timezone.now()
        job.save()
        cache.set(f"job-progress:{job.pk}", {"phase": "updating customers", "done": 41000,
                                             "total": 100000})  # fmt: skip
        page = batch_page(admin_client, batch)
        assert "updating customers 41,000 of 100,000" in page
        assert '<progress max="100000" value="41000">' in page

    def test_the_same_job_cannot_be_started_twice(self, admin_client):
        legacy_customer("legacy_build")
        batch = MigrationBatch.objects.create(
            kind=BatchKind.REMAP, actor="t", selection={"customer_ids": []}
        )
        url = reverse("admin:accounts_migrationbatch_apply", args=[batch.pk])

        admin_client.post(url)
        second = admin_client.post(url, follow=True)

        assert BackgroundJob.objects.filter(batch=batch).count() == 1
        assert "already has a job queued" in second.content.decode()

    def test_a_job_that_cannot_work_fails_with_the_reason_and_can_be_started_again(
        self, admin_client
    ):
        legacy_customer("legacy_build")
        batch = migration_run(kind=BatchKind.REMAP, actor="t")  # applied already
        job = BackgroundJob.objects.create(kind=BATCH_APPLY, batch=batch, actor="t")

        run_background_job.call(job.pk)

        job.refresh_from_db()
        assert job.state == JobState.FAILED
        assert f"Batch {batch.pk} is applied already." in job.error
        assert "Failed</strong> at" in batch_page(admin_client, batch)
        assert run_background_job.call(job.pk) == {"skipped": "not queued"}  # never twice


@pytest.mark.django_db
class TestRecovery:
    def _running(self, started_ago: timedelta) -> BackgroundJob:
        batch = MigrationBatch.objects.create(kind=BatchKind.REMAP, actor="t")
        return BackgroundJob.objects.create(
            kind=BATCH_APPLY,
            batch=batch,
            actor="t",
            state=JobState.RUNNING,
            started_at=timezone.now() - started_ago,
        )

    @pytest.mark.skipif(
        connection.vendor == "postgresql", reason="SQLite has no advisory locks: by age"
    )
    def test_without_advisory_locks_an_old_running_job_is_taken_for_dead(self, settings):
        settings.JOB_STALE_SECONDS = 600
        old = self._running(timedelta(minutes=11))
        recent = self._running(timedelta(minutes=1))

        assert jobs_recover() == 1

        old.refresh_from_db()
        recent.refresh_from_db()
        assert (old.state, old.error) == (JobState.FAILED, DIED)
        assert recent.state == JobState.RUNNING

    @pytest.mark.postgres
    def test_a_running_job_whose_lock_nobody_holds_lost_its_worker(self):
        alive = self._running(timedelta(hours=5))  # long, but its worker holds the lock
        dead = self._running(timedelta(seconds=5))  # recent, but nobody holds its lock
        settings_dict = connection.settings_dict
        worker = psycopg.connect(
            dbname=settings_dict["NAME"],
            user=settings_dict["USER"],
            host=settings_dict["HOST"],
            port=settings_dict["PORT"] or 5432,
            autocommit=True,
        )
        try:
            worker.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, alive.pk])

            assert jobs_recover() == 1

            alive.refresh_from_db()
            dead.refresh_from_db()
            assert alive.state == JobState.RUNNING
            assert (dead.state, dead.error) == (JobState.FAILED, DIED)
        finally:
            worker.close()

    def test_a_queued_job_whose_task_ended_without_starting_it_is_failed_and_can_restart(
        self, settings
    ):
        """The worker took the job's task and died (or lost its database) before claiming the
        job: the task is marked failed, and the job, still queued, would block its batch."""
        from django.test import override_settings

        from accounts.jobs import NEVER_RAN, job_start

        legacy_customer("legacy_build")
        batch = MigrationBatch.objects.create(kind=BatchKind.GRANDFATHER, actor="t")
        queued = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
        with override_settings(TASKS=queued):
            job = job_start(kind=BATCH_APPLY, batch=batch, actor="t")
            DBTaskResult.objects.filter(pk=job.task_id).update(status=TaskResultStatus.FAILED)
            assert jobs_recover() == 1

            job.refresh_from_db()
            assert (job.state, job.error) == (JobState.FAILED, NEVER_RAN)
            again = job_start(kind=BATCH_APPLY, batch=batch, actor="t")  # not blocked
        assert again.state == JobState.QUEUED

    def test_a_queued_job_whose_task_waits_is_left_alone(self):
        from django.test import override_settings

        from accounts.jobs import job_start

        batch = MigrationBatch.objects.create(kind=BatchKind.GRANDFATHER, actor="t")
        with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
            job = job_start(kind=BATCH_APPLY, batch=batch, actor="t")
        assert jobs_recover() == 0
        job.refresh_from_db()
        assert job.state == JobState.QUEUED

    def test_queue_rows_a_dead_worker_left_running_are_marked_failed(self, settings):
        settings.TASK_STALE_SECONDS = 3600
        now = timezone.now()

        def row(started_ago: timedelta) -> DBTaskResult:
            return DBTaskResult.objects.create(
                status=TaskResultStatus.RUNNING,
                args_kwargs={"args": [1], "kwargs": {}},
                task_path="accounts.jobs.run_background_job",
                backend_name="default",
                run_after=now,
                started_at=now - started_ago,
            )

        stale, fresh = row(timedelta(hours=2)), row(timedelta(minutes=5))

        assert tasks_recover() == 1

        stale.refresh_from_db()
        fresh.refresh_from_db()
        assert stale.status == TaskResultStatus.FAILED
        assert fresh.status == TaskResultStatus.RUNNING
