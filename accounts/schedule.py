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
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

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


def schedule_run(*, now: datetime | None = None) -> ScheduleRun:
    """Queue every job whose current slot has not been queued yet."""
    now = now or timezone.now()
    queued, already = [], []
    for job in JOBS.values():
        slot = job.slot(now)
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
    return ScheduleRun(queued=queued, already=already)
