"""Figures that `/metrics` shows, contributed by every layer: each registers a function that
returns (name, type, labels, value) rows. This layer's own: the task queue and the e-mail
outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db.models import Count, Min
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.models import BackgroundJob, EmailNotification, EmailStatus, JobState

Row = tuple[str, str, dict, float]
GAUGES: list[Callable[[datetime], Iterable[Row]]] = []


def gauges(function: Callable[[datetime], Iterable[Row]]):
    """Register a function of `now` returning metric rows."""
    GAUGES.append(function)
    return function


@gauges
def queue_gauges(now: datetime) -> Iterable[Row]:
    counts = dict(DBTaskResult.objects.values_list("status").annotate(n=Count("id")).order_by())
    for status, label in (
        (TaskResultStatus.READY, "waiting"),
        (TaskResultStatus.RUNNING, "running"),
        (TaskResultStatus.FAILED, "failed"),
    ):
        yield ("aigate_task_queue", "gauge", {"state": label}, counts.get(status, 0))
    oldest = DBTaskResult.objects.filter(status=TaskResultStatus.READY).aggregate(
        at=Min("enqueued_at")
    )["at"]
    age = (now - oldest).total_seconds() if oldest else 0
    yield ("aigate_task_queue_oldest_waiting_seconds", "gauge", {}, round(age, 1))
    jobs = dict(
        BackgroundJob.objects.filter(state__in=[JobState.QUEUED, JobState.RUNNING])
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for state in (JobState.QUEUED, JobState.RUNNING):
        yield ("aigate_background_jobs", "gauge", {"state": state}, jobs.get(state, 0))


@gauges
def email_gauges(now: datetime) -> Iterable[Row]:
    counts = dict(
        EmailNotification.objects.exclude(status=EmailStatus.SENT)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for status in (EmailStatus.PENDING, EmailStatus.SENDING, EmailStatus.FAILED):
        yield ("aigate_emails", "gauge", {"status": status}, counts.get(status, 0))
    # Kept for dashboards made before the outbox had states: e-mails failed for good.
    yield ("aigate_emails_failed", "gauge", {}, counts.get(EmailStatus.FAILED, 0))
