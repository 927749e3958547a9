"""The schedule of background jobs (`accounts/schedule.py`, each app's `schedules.py`) and
`run_schedule`: each job's slot is queued once, whatever the number of schedulers.

Queued tasks stay in the database queue here (no worker runs them), so that they can be
counted: `django_tasks_db`'s DBTaskResult rows.
"""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.models import ScheduledRun
from accounts.schedule import JOBS, schedule_run
from tests.support.races import race

NOW = datetime(2026, 11, 15, 12, 0, 10, tzinfo=UTC)
MINUTE = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
# The jobs these tests know (other apps may register more: every job is checked the same way).
KNOWN = {
    "email-outbox-recovery": "accounts.services.notifications.recover_email_outbox",
    "background-job-recovery": "accounts.jobs.recover_background_jobs",
    "stripe-price-moves": "billing.services.stripe_price_moves.send_price_moves",
    "grandfathering-ends": "migration.schedules.apply_grandfathering_ends",
}


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def runs() -> set[tuple[str, datetime]]:
    return set(ScheduledRun.objects.values_list("name", "slot"))


def queued_tasks() -> list[str]:
    return sorted(DBTaskResult.objects.values_list("task_path", flat=True))


def workers_done() -> None:
    """The queued runs have run (a slot's job is not queued again while its last run is live)."""
    DBTaskResult.objects.update(status=TaskResultStatus.SUCCESSFUL)


def every_job() -> list[str]:
    return sorted(JOBS)


def every_task() -> list[str]:
    return sorted(job.task.module_path for job in JOBS.values())


def test_every_app_registers_its_jobs():
    assert {name: JOBS[name].task.module_path for name in KNOWN if name in JOBS} == KNOWN
    assert [JOBS[name].describe() for name in KNOWN] == [
        "every minute",
        "every minute",
        "every 5 minutes",
        "daily at 02:00 UTC",
    ]


@pytest.mark.django_db
@pytest.mark.usefixtures("database_queue")
class TestScheduleRun:
    def test_each_job_is_queued_once_per_slot(self):
        with at(NOW):
            first = schedule_run()
        with at(NOW + timedelta(seconds=45)):  # the same minute: another scheduler, or cron
            second = schedule_run()
        assert (sorted(first.queued), first.already) == (every_job(), [])
        assert (second.queued, sorted(second.already)) == ([], every_job())
        assert runs() == {(name, job.slot(NOW)) for name, job in JOBS.items()}
        assert {
            ("email-outbox-recovery", MINUTE),
            ("background-job-recovery", MINUTE),
            ("stripe-price-moves", MINUTE),
            ("grandfathering-ends", datetime(2026, 11, 15, 2, 0, tzinfo=UTC)),
        } <= runs()
        assert queued_tasks() == every_task()
        assert set(ScheduledRun.objects.values_list("task_id", flat=True)) == {
            str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)
        }

    def test_a_later_slot_queues_again(self):
        with at(NOW):
            schedule_run()
        workers_done()
        with at(datetime(2026, 11, 15, 12, 1, tzinfo=UTC)):
            next_minute = schedule_run()
        workers_done()
        with at(datetime(2026, 11, 15, 12, 5, 30, tzinfo=UTC)):
            five_minutes = schedule_run()
        for run in (next_minute, five_minutes):
            assert sorted(run.queued + run.already) == every_job()
        assert {"email-outbox-recovery", "background-job-recovery"} <= set(next_minute.queued)
        assert {"stripe-price-moves", "grandfathering-ends"} <= set(next_minute.already)
        assert "stripe-price-moves" in five_minutes.queued
        assert "grandfathering-ends" in five_minutes.already
        assert ScheduledRun.objects.filter(name="email-outbox-recovery").count() == 3
        assert ScheduledRun.objects.filter(name="stripe-price-moves").count() == 2
        assert ScheduledRun.objects.filter(name="grandfathering-ends").count() == 1
        assert len(queued_tasks()) == ScheduledRun.objects.count()
        assert ScheduledRun.objects.count() == len(JOBS) + len(next_minute.queued) + len(
            five_minutes.queued
        )

    def test_the_daily_job_slot_starts_at_two_utc(self):
        with at(datetime(2026, 11, 15, 1, 59, 59, tzinfo=UTC)):
            before = schedule_run()
        workers_done()
        with at(datetime(2026, 11, 15, 2, 0, tzinfo=UTC)):
            at_two = schedule_run()
        workers_done()
        with at(datetime(2026, 11, 15, 23, 59, tzinfo=UTC)):
            late = schedule_run()
        with at(datetime(2026, 11, 16, 1, 59, 59, tzinfo=UTC)):
            next_night = schedule_run()
        assert "grandfathering-ends" in before.queued
        assert "grandfathering-ends" in at_two.queued
        assert "grandfathering-ends" in late.already
        assert "grandfathering-ends" in next_night.already
        assert sorted(
            ScheduledRun.objects.filter(name="grandfathering-ends").values_list("slot", flat=True)
        ) == [
            datetime(2026, 11, 14, 2, 0, tzinfo=UTC),
            datetime(2026, 11, 15, 2, 0, tzinfo=UTC),
        ]
        assert DBTaskResult.objects.filter(task_path=KNOWN["grandfathering-ends"]).count() == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("database_queue")
def test_a_job_is_not_queued_again_while_its_last_run_waits_or_runs(settings):
    settings.TASK_STALE_SECONDS = 3600
    with at(NOW):
        schedule_run()
    moves = KNOWN["stripe-price-moves"]
    workers_done()
    DBTaskResult.objects.filter(task_path=moves).update(
        status=TaskResultStatus.RUNNING, started_at=NOW
    )  # a backlog of price moves, longer than the 5-minute slot
    with at(NOW + timedelta(minutes=5)):
        later = schedule_run()
    assert "stripe-price-moves" in later.busy
    assert "email-outbox-recovery" in later.queued
    assert DBTaskResult.objects.filter(task_path=moves).count() == 1
    # A run "running" past TASK_STALE_SECONDS lost its worker: the next slot queues again.
    with at(NOW + timedelta(hours=1, minutes=5)):
        after = schedule_run()
    assert "stripe-price-moves" in after.queued


@pytest.mark.django_db
@pytest.mark.usefixtures("database_queue")
class TestRunScheduleCommand:
    def run(self, *args) -> str:
        out = StringIO()
        call_command("run_schedule", *args, stdout=out)
        return out.getvalue()

    def test_list_prints_every_job_and_queues_nothing(self):
        lines = self.run("--list").splitlines()
        assert len(lines) == len(JOBS)
        assert {
            f"email-outbox-recovery: every minute → {KNOWN['email-outbox-recovery']}",
            f"background-job-recovery: every minute → {KNOWN['background-job-recovery']}",
            f"stripe-price-moves: every 5 minutes → {KNOWN['stripe-price-moves']}",
            f"grandfathering-ends: daily at 02:00 UTC → {KNOWN['grandfathering-ends']}",
        } <= set(lines)
        assert {line.split(":", 1)[0] for line in lines} == set(JOBS)
        assert not ScheduledRun.objects.exists() and not DBTaskResult.objects.exists()

    def test_a_run_queues_what_is_due_and_says_so(self):
        with at(NOW):
            first = self.run()
            again = self.run()
        assert first.startswith("12:00:10 queued: ")
        assert sorted(first.removeprefix("12:00:10 queued: ").strip().split(", ")) == every_job()
        assert again == ""
        assert queued_tasks() == every_task()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("database_queue")
def test_schedulers_racing_in_one_slot_queue_each_job_once():
    results = race(6, lambda i: schedule_run(now=NOW + timedelta(seconds=i)))
    assert not [r for r in results if isinstance(r, Exception)], results
    queued = [name for result in results for name in result.queued]
    assert sorted(queued) == every_job()  # each job by exactly one scheduler
    for result in results:
        assert sorted(result.queued + result.already) == every_job()
    assert ScheduledRun.objects.count() == len(JOBS)
    assert queued_tasks() == every_task()
    assert set(ScheduledRun.objects.values_list("task_id", flat=True)) == {
        str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)
    }
