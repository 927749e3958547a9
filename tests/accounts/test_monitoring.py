"""`GET /metrics` (service key): the figures each layer registers (`accounts/monitoring.py`,
`billing/monitoring.py`): the task queue, the e-mail outbox, the Stripe price moves and the
staff's background jobs."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.models import BackgroundJob, EmailStatus, JobState
from accounts.services.notifications import deliver_emails, recover_email_outbox
from billing.models import PriceMoveStatus
from tests.accounts.factories import EmailNotificationFactory, MigrationBatchFactory
from tests.billing.factories import StripePriceMoveFactory

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def metrics(api) -> list[str]:
    response = api.get("/metrics")
    assert response.status_code == 200
    return response.content.decode().splitlines()


def test_an_idle_system_shows_every_figure_at_zero(api):
    lines = metrics(api)
    for line in (
        'aigate_task_queue{state="waiting"} 0',
        'aigate_task_queue{state="running"} 0',
        'aigate_task_queue{state="failed"} 0',
        "aigate_task_queue_oldest_waiting_seconds 0",
        'aigate_emails{status="pending"} 0',
        'aigate_emails{status="sending"} 0',
        'aigate_emails{status="failed"} 0',
        "aigate_emails_failed 0",
        'aigate_stripe_price_moves{status="pending"} 0',
        'aigate_stripe_price_moves{status="failed"} 0',
        'aigate_background_jobs{state="queued"} 0',
        'aigate_background_jobs{state="running"} 0',
    ):
        assert line in lines
    for name in (
        "aigate_task_queue",
        "aigate_task_queue_oldest_waiting_seconds",
        "aigate_emails",
        "aigate_stripe_price_moves",
        "aigate_background_jobs",
    ):
        assert lines.count(f"# TYPE {name} gauge") == 1


@pytest.mark.usefixtures("database_queue")
def test_the_task_queue_by_state_and_the_age_of_the_oldest_waiting_task(api):
    def queued(status, count: int) -> None:
        for _ in range(count):
            result = recover_email_outbox.enqueue()
            DBTaskResult.objects.filter(pk=result.id).update(status=status)

    with time_machine.travel(NOW - timedelta(minutes=10), tick=False):
        # Older, but no longer waiting: they do not make the queue look stuck.
        queued(TaskResultStatus.RUNNING, 3)
        queued(TaskResultStatus.FAILED, 1)
        queued(TaskResultStatus.SUCCESSFUL, 4)
    with time_machine.travel(NOW, tick=False):
        deliver_emails.enqueue([1])  # the oldest waiting
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        deliver_emails.enqueue([2])

    with time_machine.travel(NOW + timedelta(seconds=42, milliseconds=340), tick=False):
        lines = metrics(api)

    assert 'aigate_task_queue{state="waiting"} 2' in lines
    assert 'aigate_task_queue{state="running"} 3' in lines
    assert 'aigate_task_queue{state="failed"} 1' in lines
    assert "aigate_task_queue_oldest_waiting_seconds 42.3" in lines


def test_the_email_outbox_by_status(api):
    for status, count in (
        (EmailStatus.PENDING, 3),
        (EmailStatus.SENDING, 1),
        (EmailStatus.FAILED, 2),
        (EmailStatus.SENT, 4),
    ):
        EmailNotificationFactory.create_batch(count, status=status)
    lines = metrics(api)
    assert 'aigate_emails{status="pending"} 3' in lines
    assert 'aigate_emails{status="sending"} 1' in lines
    assert 'aigate_emails{status="failed"} 2' in lines
    assert "aigate_emails_failed 2" in lines
    assert not [line for line in lines if 'status="sent"' in line]


def test_the_stripe_price_moves_waiting_or_failed(api):
    for status, count in (
        (PriceMoveStatus.PENDING, 1),
        (PriceMoveStatus.FAILED, 2),
        (PriceMoveStatus.DONE, 3),
        (PriceMoveStatus.SKIPPED, 1),
    ):
        StripePriceMoveFactory.create_batch(count, status=status)
    lines = metrics(api)
    assert 'aigate_stripe_price_moves{status="pending"} 1' in lines
    assert 'aigate_stripe_price_moves{status="failed"} 2' in lines
    assert not [line for line in lines if line.startswith('aigate_stripe_price_moves{status="done')]


def test_the_background_jobs_queued_or_running(api):
    for state in (JobState.QUEUED, JobState.RUNNING, JobState.RUNNING, JobState.DONE):
        BackgroundJob.objects.create(
            kind="migration_apply", batch=MigrationBatchFactory(), state=state, actor="tests"
        )
    BackgroundJob.objects.create(kind="migration_apply", state=JobState.FAILED, actor="tests")
    lines = metrics(api)
    assert 'aigate_background_jobs{state="queued"} 1' in lines
    assert 'aigate_background_jobs{state="running"} 2' in lines
