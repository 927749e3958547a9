"""Benchmark of background work on PostgreSQL: what queueing costs a request, and how fast one
`db_worker` gets through the work, with slow neighbours (Stripe stand-in at 300 ms a call, an
SMTP server taking 3 s a message).

    .venv/bin/python bench/background_bench.py [--customers 100000] [--starts 200]
        [--subscribers 40] [--keep]

Builds its own database `billing_bench_background` from the models (dropped and re-created:
never point this at a database you care about), starts the Stripe stand-in and an SMTP server
(`tests/support/smtp.py`) in this process and one worker as a subprocess, all with the
production settings (`bench/settings.py`: the database queue, e-mails over SMTP), then measures
each figure against a floor measured in the same run:

1. `POST /api/v1/sessions` (Django's test client, in this process) for starts that reach 80 %
   of the quota and so record and queue a usage e-mail, against starts that queue nothing,
   interleaved; the worker meanwhile sends the e-mails at 3 s each.
2. The admin's "Grandfather" action applied to every legacy customer (`--customers`): the POST
   returns once the job is queued; then the time until one worker has done the job. Floor:
   the same for one customer.
3. Stripe price moves (a remap of `--subscribers` / 2 paying customers) sent by one worker
   with the stand-in at 300 ms and STRIPE_CALLS_PER_SECOND=20. Floor: the other half with the
   stand-in answering at once.

It stops by itself: every wait has a time limit; the worker is killed, the servers stopped and
the database dropped on the way out (also on Ctrl-C), unless `--keep`.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = "postgresql://postgres@127.0.0.1:5432"
DB = "billing_bench_background"
STANDIN_LATENCY_MS = 300
SMTP_DELAY_SECONDS = 3.0
CALLS_PER_SECOND = 20
CHANGELIST = "/admin/accounts/customer/"


def log(message: str) -> None:
    print(f"[background-bench] {message}", flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def environment(*, standin_url: str, email_url: str) -> dict:
    """For this process and the worker: production settings, pointed at the bench's servers."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"{SERVER.replace('postgresql', 'postgres')}/{DB}",
        "SECRET_KEY": "bench-only-secret-key-0123456789-0123456789-0123456789",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "ERROR",
        # The admin's pages without `collectstatic` (production serves the hashed manifest).
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "STRIPE_SECRET_KEY": "sk_test_" + "B" * 24,
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "STRIPE_API_BASE": standin_url,
        "STRIPE_CALLS_PER_SECOND": str(CALLS_PER_SECOND),
        "EMAIL_URL": email_url,
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')


def drop_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


class Worker:
    """One `db_worker` subprocess (its own process group), output to a log file."""

    def __init__(self, env: dict, interval: float, logs: Path):
        self.env, self.interval, self.logs = env, interval, logs
        self.process: subprocess.Popen | None = None
        self.started = 0

    def start(self) -> None:
        self.started += 1
        with open(self.logs / f"worker-{self.started}.log", "wb") as out:
            command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval",
                       str(self.interval), "--no-startup-delay"]  # fmt: skip
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        """SIGTERM (the task under way finishes), SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            tail = sorted(self.logs.glob("worker-*.log"))[-1].read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the worker is not running:\n{tail}")


def wait_until(predicate, *, timeout: float, what: str, worker: Worker, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        worker.alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(interval)


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --- 1. session starts -------------------------------------------------------------------


def insert_customers(prefix: str, count: int, plan_code: str, used: int) -> None:
    """`count` customers on `plan_code`, with the default project and `used` sessions counted
    this month (in bulk SQL)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.periods import period_of

    period = period_of(timezone.now()).start
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO billing_customer (external_id, email, plan_id, status,
                stripe_customer_id, stripe_subscription_id, migration_exempt,
                created_at, updated_at)
            SELECT %(prefix)s || '-' || lpad(g::text, 6, '0'),
                   %(prefix)s || '-' || g || '@example.com',
                   (SELECT id FROM billing_plan WHERE code = %(plan)s), 'active', '', '', false,
                   now(), now()
            FROM generate_series(1, %(count)s) g
            """,
            {"prefix": prefix, "plan": plan_code, "count": count},
        )
        cursor.execute(
            """
            INSERT INTO billing_project (customer_id, project_id, created_at)
            SELECT id, 'default', now() FROM billing_customer WHERE external_id LIKE %s
            """,
            [f"{prefix}-%"],
        )
        cursor.execute(
            """
            INSERT INTO usage_monthlyusage (customer_id, period, total_sessions,
                successful_sessions, failed_sessions, total_minutes, billable_minutes, updated_at)
            SELECT id, %s, %s, %s, 0, 0, 0, now() FROM billing_customer WHERE external_id LIKE %s
            """,
            [period, used, used, f"{prefix}-%"],
        )


def session_starts(count: int, worker: Worker) -> dict:
    from django.test import Client

    from accounts.models import EmailNotification, EmailStatus
    from api.service_keys import service_key_create

    _, key = service_key_create(name="bench")
    client = Client(headers={"authorization": f"Bearer {key}"})
    warm = 30
    insert_customers("warm", warm, "free", 10)
    insert_customers("plain", count, "free", 10)  # 11 of 100 after the start: no e-mail
    insert_customers("cross", count, "free", 79)  # 80 of 100: the usage e-mail
    worker.start()

    def start(prefix: str, n: int) -> float:
        body = {"session_id": f"{prefix}-s{n}", "user_id": f"{prefix}-{n:06d}"}
        started = time.perf_counter()
        response = client.post("/api/v1/sessions", body, content_type="application/json")
        elapsed = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"session start answered {response.status_code}: {response.content}")
        return elapsed

    for n in range(1, warm + 1):  # imports, prepared statements, the caches
        start("warm", n)
    plain, crossing = [], []
    began = time.monotonic()
    for n in range(1, count + 1):
        # Interleaved, each kind first every other time: drift hits both alike.
        order = [("plain", plain), ("cross", crossing)]
        for prefix, samples in order if n % 2 else reversed(order):
            samples.append(start(prefix, n))
    duration = time.monotonic() - began
    emails = EmailNotification.objects.filter(kind="usage_80")
    recorded = emails.count()
    sent = emails.filter(status=EmailStatus.SENT).count()
    if recorded != count:
        raise RuntimeError(f"{count} starts crossed 80 % but {recorded} e-mails were recorded")
    return {"plain": plain, "crossing": crossing, "duration": duration, "sent": sent}


def clear_email_backlog(worker: Worker) -> int:
    """Stop the worker and drop the usage e-mails' tasks still queued (one worker would take
    3 s each), so that the next phases measure their own work."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    worker.stop()
    deleted, _ = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY,
        task_path="accounts.services.notifications.deliver_emails",
    ).delete()
    return deleted


# --- 2. the admin's grandfather action -------------------------------------------------------


def insert_legacy_customers(count: int) -> None:
    """Customers over the legacy plans with three months of usage (as migration_bench.py)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Plan
    from migration.batches.impact import history_periods

    legacy = list(Plan.objects.filter(is_legacy=True).order_by("pk").values_list("pk", flat=True))
    months = [period.start for period in history_periods(timezone.now())]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO billing_customer (external_id, email, plan_id, status,
                stripe_customer_id, stripe_subscription_id, migration_exempt,
                created_at, updated_at)
            SELECT 'legacy-' || lpad(g::text, 7, '0'), 'legacy-' || g || '@example.com',
                   (%s::bigint[])[1 + g %% %s], 'active', '', '', g %% 50 = 0, now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [legacy, len(legacy), count],
        )
        cursor.execute(
            """
            INSERT INTO usage_monthlyusage (customer_id, period, total_sessions,
                successful_sessions, failed_sessions, total_minutes, billable_minutes,
                updated_at)
            SELECT c.id, p.period, u.minutes / 2, u.minutes / 2, 0, u.minutes, u.minutes, now()
            FROM billing_customer c
            CROSS JOIN unnest(%s::date[]) AS p(period)
            CROSS JOIN LATERAL (
                SELECT ((c.id * 7919 + extract(month FROM p.period)::int * 104729) %% 12000)
                       AS minutes
            ) u
            WHERE c.external_id LIKE 'legacy-%%'
            """,
            [months],
        )
        cursor.execute("ANALYZE")


def grandfather(client, worker: Worker, *, selected: list[int], across: bool, timeout: float):
    """POST the admin's Grandfather action (confirmed); → (POST seconds, seconds until the job
    is done, the job, the batch)."""
    from accounts.models import BackgroundJob, JobState, MigrationBatch

    before = MigrationBatch.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    data = {
        "action": "migration_grandfather",
        "_selected_action": selected,
        "select_across": "1" if across else "0",
        "apply": "1",
        "months": "3",
        "reason": "bench",
    }
    started = time.perf_counter()
    response = client.post(CHANGELIST + "?legacy=yes", data)
    answered = time.perf_counter() - started
    if response.status_code != 302:
        raise RuntimeError(f"the admin answered {response.status_code}")
    batch = MigrationBatch.objects.get(pk__gt=before)
    job = BackgroundJob.objects.get(batch=batch)
    wait_until(
        lambda: BackgroundJob.objects.filter(
            pk=job.pk, state__in=[JobState.DONE, JobState.FAILED]
        ).exists(),
        timeout=timeout,
        what="the grandfather job",
        worker=worker,
    )
    done = time.perf_counter() - started
    job.refresh_from_db()
    batch.refresh_from_db()
    if job.state != JobState.DONE:
        raise RuntimeError(f"the job failed: {job.error}")
    return answered, done, job, batch


def grandfather_apply(count: int, worker: Worker, timeout: float) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.models import Customer

    insert_legacy_customers(count)
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    worker.start()
    client.get(CHANGELIST)  # warm-up: the admin's imports and templates
    first_page = list(
        Customer.objects.filter(plan__is_legacy=True, migration_exempt=False)
        .order_by("external_id")
        .values_list("pk", flat=True)[:100]
    )
    floor = grandfather(client, worker, selected=first_page[:1], across=False, timeout=120)
    full = grandfather(client, worker, selected=first_page, across=True, timeout=timeout)
    return {"floor": floor, "full": full}


# --- 3. Stripe price moves ----------------------------------------------------------------


def subscribers(count: int, standin) -> list[int]:
    """`count` customers on legacy_build paying through a Stripe subscription (made in the
    stand-in through Checkout, synced into dj-stripe as the webhooks would have)."""
    import requests
    import stripe
    from django.conf import settings
    from django.core.management import call_command
    from djstripe.models import Subscription

    from accounts.models import Customer, Plan
    from billing import stripe_gateway

    options = {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": settings.STRIPE_API_VERSION}
    with tempfile.NamedTemporaryFile(suffix=".json") as ids:
        call_command("stripe_setup_products", "--output", ids.name, stdout=open(os.devnull, "w"))  # noqa: SIM115
    starter = Plan.objects.get(code="starter")
    product = stripe.Price.retrieve(starter.stripe_price_id, **options)["product"]
    legacy = Plan.objects.get(code="legacy_build")
    price = stripe.Price.create(
        product=product, unit_amount=4900, currency="usd", recurring={"interval": "month"},
        **options,
    )  # fmt: skip
    legacy.stripe_price_id = price.id
    legacy.save(update_fields=["stripe_price_id"])
    made = []
    for n in range(1, count + 1):
        customer = Customer.objects.create(
            external_id=f"payer-{n:04d}", email=f"payer-{n}@example.com", plan=legacy
        )
        customer.stripe_customer_id = stripe_gateway.customer_create(customer=customer)
        session = stripe.checkout.Session.create(
            mode="subscription",
            customer=customer.stripe_customer_id,
            line_items=[{"price": price.id, "quantity": 1}],
            success_url="http://127.0.0.1/ok",
            cancel_url="http://127.0.0.1/cancel",
            **options,
        )
        completed = requests.post(
            f"{standin.url}/_standin/checkout/sessions/{session.id}/complete", timeout=30
        )
        completed.raise_for_status()
        customer.stripe_subscription_id = completed.json()["subscription"]
        customer.save(update_fields=["stripe_customer_id", "stripe_subscription_id"])
        Subscription.sync_from_stripe_data(
            stripe.Subscription.retrieve(customer.stripe_subscription_id, **options),
            api_key=settings.STRIPE_SECRET_KEY,
        )
        made.append(customer.pk)
    return made


def price_moves(customer_ids: list[int], standin, worker: Worker, latency_ms: int) -> dict:
    """Remap these customers (in this process) and time the worker's `send_price_moves`."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from accounts.models import BatchKind
    from billing.models import PriceMoveStatus, StripePriceMove
    from migration.batches.apply import migration_run
    from migration.batches.selection import CustomerSelection

    standin.latency_ms = latency_ms
    calls_before = standin_calls(standin)
    batch = migration_run(
        kind=BatchKind.REMAP,
        selection=CustomerSelection(customer_ids=tuple(customer_ids)),
        actor="bench",
        reason="bench",
    )
    moves = StripePriceMove.objects.filter(batch=batch)
    if moves.count() != len(customer_ids):
        raise RuntimeError(f"{moves.count()} price moves recorded for {len(customer_ids)}")
    task = DBTaskResult.objects.filter(
        task_path="billing.services.stripe_price_moves.send_price_moves",
        args_kwargs__args=[batch.pk],
    )
    wait_until(
        lambda: task.filter(status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED])
        .exists(),
        timeout=600,
        what="the price moves",
        worker=worker,
        interval=0.2,
    )  # fmt: skip
    result = task.get()
    done = moves.filter(status=PriceMoveStatus.DONE).count()
    if result.status != TaskResultStatus.SUCCESSFUL or done != len(customer_ids):
        raise RuntimeError(f"price moves: task {result.status}, {done} done: {result.traceback}")
    seconds = (result.finished_at - result.started_at).total_seconds()
    return {
        "moves": done,
        "seconds": seconds,
        "per_second": done / seconds,
        "calls_per_move": (standin_calls(standin) - calls_before) / done,
    }


def standin_calls(standin) -> int:
    """API calls the stand-in answered (its request log, test helpers left out)."""
    return sum(1 for r in list(standin.requests) if r["path"].startswith("/v1/"))


# --- the run -------------------------------------------------------------------------------


def row(label: str, figure: str, floor: str, ratio: float) -> str:
    return f"{label:<52} {figure:>18} {floor:>18} {ratio:>8.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="legacy customers (2)")
    parser.add_argument("--starts", type=int, default=200, help="starts of each kind (1)")
    parser.add_argument("--subscribers", type=int, default=40, help="paying customers (3)")
    parser.add_argument("--worker-interval", type=float, default=1.0, help="db_worker --interval")
    parser.add_argument("--job-timeout", type=float, default=1800, help="seconds for job (2)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.starts < 10 or args.subscribers < 4:
        parser.error("--starts must be at least 10 and --subscribers at least 4")

    from devtools.stripe_standin import StripeStandin
    from tests.support.smtp import SmtpServer

    warnings.filterwarnings("ignore", message="No directory at")  # no collectstatic here
    # SIGTERM ends the run like Ctrl-C: through the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logs = Path(tempfile.mkdtemp(prefix="background-bench-"))
    standin = StripeStandin().start()
    smtp = SmtpServer(delay=SMTP_DELAY_SECONDS).start()
    worker: Worker | None = None
    database_made = False
    try:
        env = environment(standin_url=standin.url, email_url=smtp.email_url)
        os.environ.update(env)
        fresh_database()
        database_made = True
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        started = time.perf_counter()
        call_command("migrate", run_syncdb=True, verbosity=0)
        log(f"database {DB} built from the models in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            postgres = cursor.fetchone()[0]
        worker = Worker(env, args.worker_interval, logs)

        log(f"1. {args.starts} starts crossing 80 % and {args.starts} crossing nothing")
        starts = session_starts(args.starts, worker)
        backlog = clear_email_backlog(worker)

        log(f"2. grandfather {args.customers:,} legacy customers from the admin")
        applied = grandfather_apply(args.customers, worker, args.job_timeout)
        worker.stop()

        log(f"3. Stripe price moves of {args.subscribers} subscriptions (half as the floor)")
        payers = subscribers(args.subscribers, standin)
        worker.start()
        half = len(payers) // 2
        floor_moves = price_moves(payers[:half], standin, worker, latency_ms=0)
        slow_moves = price_moves(payers[half:], standin, worker, latency_ms=STANDIN_LATENCY_MS)
        worker.stop()
    finally:
        if worker is not None:
            worker.stop()
        smtp.stop()
        standin.stop()
        if database_made and not args.keep:
            if "django" in sys.modules and django_ready():
                from django.db import connections

                connections.close_all()
            drop_database()
            log(f"database {DB} dropped")

    plain, crossing = starts["plain"], starts["crossing"]
    (floor_post, floor_done, floor_job, _) = applied["floor"]
    (full_post, full_done, full_job, full_batch) = applied["full"]
    full_run = (full_job.finished_at - full_job.started_at).total_seconds()
    floor_run = (floor_job.finished_at - floor_job.started_at).total_seconds()
    ms = 1000
    print(
        f"\nBackground work, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n{machine()}\n"
        f"PostgreSQL {postgres}; one db_worker (--interval {args.worker_interval:g}); Stripe "
        f"stand-in {STANDIN_LATENCY_MS} ms a call, STRIPE_CALLS_PER_SECOND={CALLS_PER_SECOND}; "
        f"SMTP {SMTP_DELAY_SECONDS:g} s a message\n"
    )
    print(f"{'':<52} {'figure':>18} {'floor':>18} {'ratio':>9}")
    print(
        row(
            f"1. session start queueing a usage e-mail, p50 (n={len(crossing)})",
            f"{statistics.median(crossing) * ms:.1f} ms",
            f"{statistics.median(plain) * ms:.1f} ms",
            statistics.median(crossing) / statistics.median(plain),
        )
    )
    print(
        row(
            "   same, p99 (floor: starts queueing nothing)",
            f"{percentile(crossing, 99) * ms:.1f} ms",
            f"{percentile(plain, 99) * ms:.1f} ms",
            percentile(crossing, 99) / percentile(plain, 99),
        )
    )
    print(
        row(
            f"2. admin Grandfather POST, {full_batch.customer_count:,} customers",
            f"{full_post * ms:.0f} ms",
            f"{floor_post * ms:.0f} ms",
            full_post / floor_post,
        )
    )
    print(
        row(
            "   POST until the job is done (floor: 1 customer)",
            f"{full_done:.1f} s",
            f"{floor_done:.2f} s",
            full_done / floor_done,
        )
    )
    print(
        row(
            "   the job's own run (started → finished)",
            f"{full_run:.1f} s",
            f"{floor_run:.2f} s",
            full_run / floor_run,
        )
    )
    print(
        row(
            f"3. Stripe price moves/s, stand-in {STANDIN_LATENCY_MS} ms (floor: 0 ms)",
            f"{slow_moves['per_second']:.2f}/s",
            f"{floor_moves['per_second']:.2f}/s",
            slow_moves["per_second"] / floor_moves["per_second"],
        )
    )
    calls = slow_moves["calls_per_move"]
    print(
        f"\n1. {len(crossing)} + {len(plain)} starts in {starts['duration']:.1f} s; the worker "
        f"sent {starts['sent']} of the {len(crossing)} usage e-mails meanwhile (3 s each); "
        f"{backlog} were still queued and were dropped before phase 2."
        f"\n2. {full_batch.changed_count:,} of {full_batch.customer_count:,} customers "
        f"grandfathered ({full_batch.changed_count / full_run:,.0f}/s in the job); queued "
        f"{(full_job.started_at - full_job.created_at).total_seconds():.2f} s before a worker "
        f"took it. E-mails not asked for (notify off)."
        f"\n3. {slow_moves['moves']} moves in {slow_moves['seconds']:.1f} s; {calls:.1f} "
        f"Stripe calls a move; bound by latency alone: "
        f"{1 / (calls * STANDIN_LATENCY_MS / 1000):.2f}/s, by the pacing alone: "
        f"{CALLS_PER_SECOND / calls:.1f}/s; floor {floor_moves['moves']} moves in "
        f"{floor_moves['seconds']:.2f} s."
    )
    return 0


def django_ready() -> bool:
    from django.apps import apps

    return apps.ready


if __name__ == "__main__":
    sys.exit(main())
