"""The schedule of background work, defined in code, driven by one scheduler.

Each app registers its periodic jobs (`scheduled(...)` in its `schedules.py`); `manage.py
run_schedule` (every minute from cron, or `--loop` as a service) queues each job whose slot
has come. A `ScheduledRun` row per (job, slot), unique, is written in the same transaction as
the queued task: two schedulers, two hosts or an overlapping run never queue a slot twice. A
slot missed while no scheduler ran is not made up: the next slot runs (every job here is
idempotent and catches up by itself).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.models import ScheduledRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    task: object  # a django_tasks Task, enqueued with no arguments
    every: timedelta
    at: time | None = None  # daily jobs: the time of day (UTC) the slot starts

    def slot(self, now: datetime) -> datetime:
        """The start of the slot `now` falls in."""
        if self.at is not None:
            start = now.replace(hour=self.at.hour, minute=self.at.minute, second=0, microsecond=0)
            return start if start <= now else start - timedelta(days=1)
        epoch = datetime(2000, 1, 1, tzinfo=now.tzinfo)
        seconds = int(self.every.total_seconds())
        return epoch + timedelta(seconds=(int((now - epoch).total_seconds()) // seconds) * seconds)

    def describe(self) -> str:
        if self.at is not None:
            return f"daily at {self.at:%H:%M} UTC"
        minutes = int(self.every.total_seconds() // 60)
        return "every minute" if minutes == 1 else f"every {minutes} minutes"


JOBS: dict[str, Job] = {}


def scheduled(name: str, task, *, every: timedelta = timedelta(days=1), at: time | None = None):
    """Register `task` (a django_tasks Task taking no arguments) to run every `every`, or
    daily at `at`."""
    if name in JOBS:
        raise ValueError(f"Two scheduled jobs are named {name!r}.")
    JOBS[name] = Job(name=name, task=task, every=every, at=at)


@dataclass(frozen=True)
class ScheduleRun:
    queued: list[str]
    already: list[str]  # this slot was queued by another scheduler (or an earlier run)
    busy: list[str] = field(default_factory=list)  # its last run still waits or runs


def _last_live_run(job: Job, now: datetime) -> ScheduledRun | None:
    """The job's last queued run if it still waits for a worker or runs (one started within
    TASK_STALE_SECONDS: a longer one's worker is taken for dead, as `tasks_recover` does)."""
    last = ScheduledRun.objects.filter(name=job.name).exclude(task_id="").order_by("-slot").first()
    if last is None:
        return None
    stale = now - timedelta(seconds=settings.TASK_STALE_SECONDS)
    live = (
        DBTaskResult.objects.filter(pk=last.task_id)
        .filter(
            Q(status=TaskResultStatus.READY)
            | Q(status=TaskResultStatus.RUNNING, started_at__gte=stale)
        )
        .exists()
    )
    return last if live else None


def schedule_run(*, now: datetime | None = None) -> ScheduleRun:
    """Queue every job whose current slot has not been queued yet, unless its last run still
    waits for a worker or runs (a backlog of price moves may outlast a 5-minute slot): one run
    of a job at a time, and workers that fall behind do not pile up runs."""
    now = now or timezone.now()
    queued, already, busy = [], [], []
    for job in JOBS.values():
        slot = job.slot(now)
        live = _last_live_run(job, now)
        if live is not None:
            (already if live.slot == slot else busy).append(job.name)
            continue
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(name=job.name, slot=slot)
                result = job.task.enqueue()
                run.task_id = str(result.id)
                run.save(update_fields=["task_id"])
        except IntegrityError:
            already.append(job.name)
            continue
        queued.append(job.name)
        logger.info("scheduled job queued", extra={"job": job.name, "slot": slot.isoformat()})
    return ScheduleRun(queued=queued, already=already, busy=busy)
