"""Queue the scheduled jobs whose time has come: once from cron every minute, or `--loop`."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.schedule import JOBS, schedule_run


class Command(BaseCommand):
    help = (
        "Queue the scheduled background jobs whose slot has come (each slot once, whatever "
        "the number of schedulers). Run it every minute from cron, or with --loop."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="Keep running, once a minute (a service)."
        )
        parser.add_argument("--list", action="store_true", help="List the jobs and exit.")

    def handle(self, *args, loop: bool, list: bool, verbosity: int, **options):
        if list:
            for job in JOBS.values():
                self.stdout.write(f"{job.name}: {job.describe()} → {job.task.module_path}")
            return
        while True:
            run = schedule_run()
            if verbosity >= 1 and run.queued:
                self.stdout.write(f"{timezone.now():%H:%M:%S} queued: {', '.join(run.queued)}")
            if not loop:
                return
            time.sleep(60 - time.time() % 60 + 0.5)
