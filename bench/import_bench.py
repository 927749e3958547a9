"""Benchmark of `import_legacy_customers` on PostgreSQL: 100,000 customers, 300,000 usage rows.

Builds a fresh database `billing_import_bench` (tables straight from the models, as
`bench/settings.py` does), writes realistic files of the old system's shape, then times the
command itself (in-process, progress bar included) for:

1. a dry run on the empty database,
2. the first import (everything created),
3. the same files again (everything unchanged),
4. files where 10% of customers changed plan or e-mail and 10% of usage rows changed.

Run: `.venv/bin/python bench/import_bench.py [--customers N] [--months M]`. Needs PostgreSQL at
127.0.0.1:5432 (user postgres, trust auth), or `--database-url` for another server.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB = "billing_import_bench"
SERVER = "postgresql://postgres@127.0.0.1:5432"
TARGET_SECONDS = 60

# Old plans with their share of customers and their price in cents.
PLANS = [("free", 0.40, 0), ("starter", 0.20, 900), ("build", 0.15, 1900), ("pro", 0.15, 3900),
         ("agency", 0.10, 9900)]  # fmt: skip
MINUTES = {"free": 200, "starter": 1500, "build": 3000, "pro": 8000, "agency": 25000}


def log(message: str) -> None:
    print(f"[import-bench] {message}", flush=True)


def fresh_database(server: str) -> str:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DB}"')
        connection.execute(f'CREATE DATABASE "{DB}"')
    return f"{server}/{DB}"


def setup_django(database_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=database_url,
        SECRET_KEY="bench-only-secret-key-0123456789-0123456789-0123456789",  # noqa: S106
        DEBUG="false",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def write_files(directory: Path, *, customers: int, months: int, seed: int, change: float):
    """Customers and usage files; `change` is the share of rows that differ from seed 0's."""
    rng = random.Random(0)
    changer = random.Random(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    month_labels = []
    first = today.replace(day=1)
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        month_labels.insert(0, first.strftime("%Y-%m"))
    names, weights = [p[0] for p in PLANS], [p[1] for p in PLANS]
    prices = {name: price for name, _, price in PLANS}
    customers_path, usage_path = directory / "customers.csv", directory / "usage.csv"
    with (
        open(customers_path, "w", newline="") as customers_file,
        open(usage_path, "w", newline="") as usage_file,
    ):
        people, usage = csv.writer(customers_file), csv.writer(usage_file)
        people.writerow(["user_id", "email", "plan", "price_cents", "stripe_customer_id",
                         "stripe_subscription_id", "created_at"])  # fmt: skip
        usage.writerow(["user_id", "month", "total_minutes_used", "total_sessions",
                        "successful_sessions"])  # fmt: skip
        for n in range(customers):
            plan = rng.choices(names, weights)[0]
            email = f"user{n}@example{n % 97}.com"
            if changer.random() < change:
                if changer.random() < 0.5:
                    plan = changer.choice(names)
                else:
                    email = f"new.user{n}@example.org"
            paid = plan != "free"
            created = today - timedelta(days=rng.randint(40, 900), seconds=rng.randint(0, 86399))
            people.writerow(
                [
                    f"u{n:07d}",
                    email,
                    plan,
                    prices[plan],
                    f"cus_B{n:09d}" if paid else "",
                    f"sub_B{n:09d}" if paid else "",
                    created.strftime("%Y-%m-%d %H:%M:%S"),
                ]
            )
            for label in month_labels:
                minutes = round(MINUTES[plan] * rng.uniform(0.05, 0.95), 1)
                total = int(minutes / rng.uniform(1.6, 2.6))
                successful = total - int(total * rng.uniform(0, 0.08))
                if changer.random() < change:
                    total += 1
                usage.writerow([f"u{n:07d}", label, minutes, total, successful])
    return customers_path, usage_path


def timed_import(customers_path: Path, usage_path: Path, mode: str) -> tuple[float, str]:
    from django.core.management import call_command

    out = StringIO()
    started = time.perf_counter()
    call_command(
        "import_legacy_customers",
        str(customers_path),
        "--usage",
        str(usage_path),
        mode,
        "--actor",
        "bench",
        stdout=out,
        stderr=sys.stderr,
    )
    return time.perf_counter() - started, out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=3, help="usage rows per customer")
    parser.add_argument("--database-url", default=None, help=f"default: {SERVER}/{DB} (fresh)")
    args = parser.parse_args()

    database_url = args.database_url or fresh_database(SERVER)
    log(f"database {database_url.rsplit('/', 1)[-1]}: building tables from the models")
    setup_django(database_url)
    from django.db import connection

    from accounts.models import Customer, PlanChange
    from usage.models import MonthlyUsage

    with tempfile.TemporaryDirectory() as tmp:
        base, changed = Path(tmp) / "base", Path(tmp) / "changed"
        base.mkdir()
        changed.mkdir()
        started = time.perf_counter()
        files = write_files(base, customers=args.customers, months=args.months, seed=0, change=0)
        changed_files = write_files(
            changed, customers=args.customers, months=args.months, seed=1, change=0.10
        )
        sizes = sum(path.stat().st_size for path in files) / 1e6
        log(
            f"files: {args.customers:,} customers, {args.customers * args.months:,} usage rows "
            f"({sizes:.1f} MB), written in {time.perf_counter() - started:.1f} s"
        )
        runs = [
            ("dry run, empty database", files, "--dry-run"),
            ("first import", files, "--apply"),
            ("same files again", files, "--apply"),
            ("10% of rows changed", changed_files, "--apply"),
        ]
        results = []
        for label, (customers_path, usage_path), mode in runs:
            log(f"{label} ({mode})")
            seconds, summary = timed_import(customers_path, usage_path, mode)
            results.append((label, seconds, summary))
            for line in summary.splitlines():
                log(f"    {line}")
            log(f"    {seconds:.1f} s")

    rows = args.customers * (1 + args.months)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print()
    print(f"PostgreSQL {version}, {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}")
    print(f"{args.customers:,} customers + {args.customers * args.months:,} usage rows")
    print(f"{'run':<26} {'seconds':>8} {'rows/s':>10}")
    for label, seconds, _ in results:
        print(f"{label:<26} {seconds:>8.1f} {rows / seconds:>10,.0f}")
    print(
        f"database now: {Customer.objects.count():,} customers, "
        f"{MonthlyUsage.objects.count():,} usage rows, {PlanChange.objects.count():,} plan changes"
    )
    first = results[1][1]
    verdict = "OK" if first < TARGET_SECONDS else "TOO SLOW"
    print(f"first import {first:.1f} s (target < {TARGET_SECONDS} s): {verdict}")
    if first >= TARGET_SECONDS:
        sys.exit(1)


if __name__ == "__main__":
    main()
