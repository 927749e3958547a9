"""The e-mail outbox with real `db_worker` processes, the database queue and an SMTP server.

The rest of the suite runs tasks in-process (`devtools.tasks.ImmediateOnCommitBackend`); here
the test enqueues to the database queue (`settings.TASKS` switched, which resets django-tasks'
backends through `setting_changed`) and workers are subprocesses started with
`tests/support/worker_settings.py` (the same queue, e-mails over SMTP to `tests/support/smtp.py`)
on this test's database. Workers are stopped before the database is flushed.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import factory
import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from accounts.models import Customer, EmailKind, EmailNotification, EmailStatus
from accounts.services.notifications import (
    DELIVERY_CHUNK,
    email_send_once,
    email_send_once_bulk,
    emails_queue,
    emails_recover,
)
from tests.accounts.factories import CustomerFactory, ProjectFactory, plan
from tests.support.smtp import SmtpServer
from tests.usage.factories import MonthlyUsageFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(django_settings.BASE_DIR)
WORKER = [
    sys.executable,
    "manage.py",
    "db_worker",
    "--no-reload",
    "--interval",
    "0.2",
    "--no-startup-delay",
]
DB_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
LEASE_SECONDS = 3
DELIVER_TASK = "accounts.services.notifications.deliver_emails"
NOTICE = EmailKind.MIGRATION_NOTICE
NOTICE_KEY = "move-2027-02-15"


# --- Fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def db_queue(settings):
    """This process enqueues to the database queue, as production does; leases are short."""
    settings.TASKS = DB_QUEUE
    settings.OUTBOX_LEASE_SECONDS = LEASE_SECONDS
    assert isinstance(task_backends["default"], DatabaseBackend)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


class Workers:
    """`db_worker` subprocesses on the test database; each one's output goes to a file."""

    def __init__(self, environment: dict, logs: Path):
        self.environment = environment
        self.logs = logs
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = open(self.logs / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            WORKER,
            cwd=ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()  # the child has its own descriptor
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("worker-*.log"))
        )


def worker_environment(smtp: SmtpServer) -> dict:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    url = f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.worker_settings",
        "DATABASE_URL": url,
        "EMAIL_URL": smtp.email_url,
        "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    return environment


@pytest.fixture
def workers(transactional_db, db_queue, smtp, tmp_path):
    """Starts workers on demand; kills them all before the test's database is flushed."""
    pool = Workers(worker_environment(smtp), tmp_path)
    yield pool
    pool.stop_all()


def wait_until(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def statuses() -> Counter:
    return Counter(EmailNotification.objects.values_list("status", flat=True))


def all_sent() -> bool:
    return not EmailNotification.objects.exclude(status=EmailStatus.SENT).exists()


def notice_context() -> dict:
    from datetime import UTC, datetime

    from migration.batches.notices import migration_email_context

    return migration_email_context(
        plan("legacy_build"), plan("starter"), datetime(2027, 2, 15, tzinfo=UTC)
    )


def make_customers(count: int, prefix: str) -> list[Customer]:
    Customer.objects.bulk_create(
        CustomerFactory.build_batch(
            count,
            plan=plan("free"),
            external_id=factory.Iterator([f"{prefix}-{n:04d}" for n in range(count)]),
        )
    )
    return list(Customer.objects.filter(external_id__startswith=f"{prefix}-").order_by("pk"))


def record_notices(customers: list[Customer]) -> list[int]:
    """The migration notice for each customer: outbox rows and their delivery tasks."""
    context = notice_context()
    recorded = email_send_once_bulk(
        kind=NOTICE, messages=[(customer, NOTICE_KEY, context) for customer in customers]
    )
    assert recorded == len(customers)
    return list(EmailNotification.objects.order_by("pk").values_list("pk", flat=True))


# --- (a) a worker killed midway -------------------------------------------------------------


def test_a_worker_killed_midway_every_notice_arrives_and_at_most_the_one_in_flight_twice(
    smtp, workers
):
    smtp.delay = 0.03  # a slow relay: 300 messages take 9 s and more
    customers = make_customers(300, "killed")
    record_notices(customers)
    assert DBTaskResult.objects.filter(task_path=DELIVER_TASK).count() == 3  # chunks of 100

    first = workers.start()
    assert wait_until(lambda: smtp.count() >= 130, timeout=60), workers.output()
    workers.kill(first)
    received_at_kill = smtp.count()
    at_kill = statuses()
    assert 0 < received_at_kill < 300

    restarted = time.monotonic()
    workers.start()

    def recovered() -> bool:
        emails_recover()  # what the scheduler runs every minute (with a 3 s lease here)
        return all_sent()

    assert wait_until(recovered, timeout=120, interval=0.5), (statuses(), workers.output())
    completed_in = time.monotonic() - restarted
    time.sleep(0.2)  # a message the dead worker left in the server's hands is recorded by now

    counts = smtp.counts()
    assert set(counts) == {customer.email for customer in customers}
    twice = sorted(recipient for recipient, n in counts.items() if n > 1)
    running_left = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).count()
    print(
        f"\n(a) killed after {received_at_kill} of 300 received; rows then {dict(at_kill)}; "
        f"after the restart every row sent in {completed_in:.1f} s "
        f"(lease {LEASE_SECONDS} s, recovery every 0.5 s); received twice: {len(twice)} "
        f"{twice}; queue rows left running by the dead worker: {running_left}; "
        f"SMTP connections: {smtp.connections} for {sum(counts.values())} messages"
    )
    assert len(twice) <= 2 and max(counts.values()) <= 2
    assert statuses() == {EmailStatus.SENT: 300}


# --- (b) two workers at once ----------------------------------------------------------------


def test_b_two_workers_deliver_overlapping_tasks_each_notice_exactly_once(smtp, workers):
    smtp.delay = 0.01
    customers = make_customers(300, "pair")
    ids = record_notices(customers)
    # Every row is covered by a second task too, in another order (as a recovery run that
    # overlaps the first queueing would do): the two workers race for the same rows.
    shuffled = list(ids)
    random.Random(7).shuffle(shuffled)
    emails_queue(shuffled)
    assert DBTaskResult.objects.filter(task_path=DELIVER_TASK).count() == 6

    started = time.monotonic()
    workers.start()
    workers.start()
    assert wait_until(all_sent, timeout=60), (statuses(), workers.output())
    took = time.monotonic() - started
    assert wait_until(
        lambda: not DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists(),
        timeout=20,
    ), workers.output()

    counts = smtp.counts()
    assert set(counts) == {customer.email for customer in customers}
    assert set(counts.values()) == {1}, [r for r, n in counts.items() if n > 1]
    sent_by_worker: Counter = Counter()
    for worker_ids, returned in DBTaskResult.objects.values_list("worker_ids", "return_value"):
        sent_by_worker[worker_ids[-1][:6]] += returned["sent"]
    print(
        f"\n(b) 300 notices, 6 overlapping tasks, 2 workers: every one once in {took:.1f} s; "
        f"sent per worker {dict(sent_by_worker)}"
    )
    assert len(sent_by_worker) == 2 and sum(sent_by_worker.values()) == 300


# --- (c) queued in the transaction of the cause -----------------------------------------------


class Rollback(Exception):
    pass


def test_c_queue_row_and_outbox_row_commit_or_roll_back_together(db_queue):
    one, *many = make_customers(4, "txn")
    context = notice_context()

    def record() -> None:
        email_send_once(customer=one, kind=NOTICE, dedupe_key=NOTICE_KEY, context=context)
        email_send_once_bulk(kind=NOTICE, messages=[(c, NOTICE_KEY, context) for c in many])

    with pytest.raises(Rollback), transaction.atomic():
        record()
        assert DBTaskResult.objects.count() == 2 and EmailNotification.objects.count() == 4
        raise Rollback
    assert not DBTaskResult.objects.exists()
    assert not EmailNotification.objects.exists()

    with transaction.atomic():
        record()
    queued = sorted(
        sorted(args["args"][0])
        for args in DBTaskResult.objects.values_list("args_kwargs", flat=True)
    )
    rows = EmailNotification.objects.order_by("pk")
    assert [row.status for row in rows] == [EmailStatus.PENDING] * 4
    assert queued == [[rows[0].pk], sorted(row.pk for row in rows[1:])]
    assert set(DBTaskResult.objects.values_list("task_path", "status")) == {
        (DELIVER_TASK, TaskResultStatus.READY)
    }


# --- (d) a slow SMTP server does not hold a request -----------------------------------------


def test_d_a_start_crossing_80_percent_answers_at_once_and_a_worker_sends_the_email(
    smtp, workers, api, no_rate_limits
):
    smtp.delay = 3.0

    def customer_at(used: int, external_id: str) -> Customer:
        customer = CustomerFactory(plan=plan("free"), external_id=external_id)
        ProjectFactory(customer=customer, project_id="default")
        MonthlyUsageFactory(customer=customer, total_sessions=used)
        return customer

    def timed_start(customer: Customer, session_id: str) -> float:
        started = time.perf_counter()
        response = api.post(
            "/api/v1/sessions",
            {"session_id": session_id, "user_id": customer.external_id},
            format="json",
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.content
        return elapsed

    for n in range(3):  # warm-up: first requests pay for imports and prepared statements
        timed_start(customer_at(10, f"warm-{n}"), f"warm-{n}")
    plain, crossing = [], []
    crossers = [customer_at(79, f"crosser-{n}") for n in range(3)]
    for n, crosser in enumerate(crossers):
        plain.append(timed_start(customer_at(10, f"plain-{n}"), f"plain-{n}"))
        crossing.append(timed_start(crosser, f"cross-{n}"))
    print(
        f"\n(d) POST /api/v1/sessions with SMTP at 3 s a message: crossing 80 % "
        f"median {statistics.median(crossing) * 1000:.1f} ms (max {max(crossing) * 1000:.1f}), "
        f"crossing nothing median {statistics.median(plain) * 1000:.1f} ms "
        f"(max {max(plain) * 1000:.1f})"
    )
    assert max(crossing) < 0.5

    alerts = EmailNotification.objects.filter(kind=EmailKind.USAGE_80)
    assert sorted(alerts.values_list("customer__external_id", "status")) == [
        (crosser.external_id, EmailStatus.PENDING) for crosser in crossers
    ]
    assert EmailNotification.objects.count() == 3
    assert (
        DBTaskResult.objects.filter(task_path=DELIVER_TASK, status=TaskResultStatus.READY).count()
        == 3
    )

    started = time.monotonic()
    workers.start()
    assert wait_until(all_sent, timeout=40), (statuses(), workers.output())
    print(f"    then one worker sent the 3 usage e-mails in {time.monotonic() - started:.1f} s")
    assert smtp.counts() == Counter({crosser.email: 1 for crosser in crossers})
    [subject] = {m.subject for m in smtp.received}
    assert subject.startswith("You've used 80% of your AI-Gate sessions for")
    assert set(alerts.values_list("subject", flat=True)) == {subject}


# --- (e) refusals: for good (5xx) and for now (4xx) -----------------------------------------


def test_e_a_550_fails_that_row_for_good_and_a_451_is_retried_after_its_backoff(smtp, workers):
    customers = make_customers(4, "refusal")
    refused = customers[1]
    smtp.refuse(refused.email, 550)
    record_notices(customers)
    workers.start()
    assert wait_until(
        lambda: (
            not EmailNotification.objects.filter(
                status__in=[EmailStatus.PENDING, EmailStatus.SENDING]
            ).exists()
        ),
        timeout=30,
    ), (statuses(), workers.output())
    rows = {row.customer_id: row for row in EmailNotification.objects.all()}
    failed = rows.pop(refused.pk)
    assert (failed.status, failed.attempts, failed.sent_at) == (EmailStatus.FAILED, 1, None)
    assert failed.error.startswith("SMTPRecipientsRefused") and "550" in failed.error
    assert {row.status for row in rows.values()} == {EmailStatus.SENT}
    assert smtp.counts() == Counter({c.email: 1 for c in customers if c != refused})

    # The next message is answered 451: back to pending, for later.
    smtp.fail_next(1, 451)
    late = CustomerFactory(plan=plan("free"), external_id="refusal-late")
    before = timezone.now()
    row = email_send_once(
        customer=late, kind=NOTICE, dedupe_key=NOTICE_KEY, context=notice_context()
    )
    assert wait_until(lambda: EmailNotification.objects.get(pk=row.pk).attempts == 1, timeout=20)
    assert wait_until(
        lambda: EmailNotification.objects.get(pk=row.pk).status == EmailStatus.PENDING,
        timeout=5,
    )
    row.refresh_from_db()
    assert row.next_attempt_at >= before + timedelta(seconds=30)
    assert row.error.startswith("SMTPDataError") and "451" in row.error
    assert (row.claimed_at, row.queued_at, row.sent_at) == (None, None, None)
    assert smtp.counts()[late.email] == 0
    print(
        f"\n(e) 550: {failed.error!r}; 451: pending, next attempt in "
        f"{(row.next_attempt_at - before).total_seconds():.0f} s, error {row.error!r}"
    )

    # Its backoff has passed (the row's time is moved back, not the clock): the scheduled
    # recovery queues it and a worker sends it.
    EmailNotification.objects.filter(pk=row.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert emails_recover().queued == 1
    assert wait_until(
        lambda: EmailNotification.objects.get(pk=row.pk).status == EmailStatus.SENT, timeout=20
    ), workers.output()
    row.refresh_from_db()
    assert (row.attempts, row.error) == (2, "")
    assert smtp.counts()[late.email] == 1
    assert EmailNotification.objects.get(pk=failed.pk).status == EmailStatus.FAILED


# --- A lease shorter than a chunk's sending -------------------------------------------------


def test_a_live_worker_slower_than_its_lease_is_not_sent_twice(smtp, workers):
    # 100 messages at 50 ms+ take 5 s+, longer than the 3 s lease (in production: 60 s lease,
    # 100 messages, a relay taking 0.6 s or more each).
    smtp.delay = 0.05
    customers = make_customers(2 * DELIVERY_CHUNK, "lease")
    record_notices(customers)
    for _ in range(3):  # two busy with a chunk each, one idle
        workers.start()

    def recovered() -> bool:
        emails_recover()
        return all_sent()

    assert wait_until(recovered, timeout=60, interval=0.5), (statuses(), workers.output())
    time.sleep(0.5)
    counts = smtp.counts()
    twice = sum(1 for n in counts.values() if n > 1)
    print(f"\n(lease) {len(counts)} recipients, {twice} received twice or more")
    assert twice == 0


# --- What the docstrings promise --------------------------------------------------------------


def test_a_delivery_task_sends_its_chunk_over_one_smtp_connection(smtp, workers):
    record_notices(make_customers(20, "connection"))  # one task
    workers.start()
    assert wait_until(all_sent, timeout=30), (statuses(), workers.output())
    print(f"\n(connections) 20 messages of one task: {smtp.connections} SMTP connections")
    assert smtp.connections == 1


def test_the_usage_email_commits_with_the_start_that_reached_80_percent(
    db_queue, api, no_rate_limits, monkeypatch
):
    customer = CustomerFactory(plan=plan("free"), external_id="crash")
    ProjectFactory(customer=customer, project_id="default")
    MonthlyUsageFactory(customer=customer, total_sessions=79)
    body = {"session_id": "crash-1", "user_id": customer.external_id}

    def dies(**kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr("usage.services.usage_alert_for", dies)
    api.raise_request_exception = False
    assert api.post("/api/v1/sessions", body, format="json").status_code == 500
    monkeypatch.undo()
    assert api.post("/api/v1/sessions", body, format="json").status_code in (200, 201)
    # Either both the start and its e-mail were rolled back (the retry records both), or both
    # were committed.
    assert EmailNotification.objects.filter(customer=customer, kind=EmailKind.USAGE_80).exists()
