"""Prove that a database built by an earlier main, with data in it, migrates to this code with
every row kept.

Usage, with the project's python:

    .venv/bin/python .ci/upgrade_check.py [DUMP.sql.gz]

The dump (default: the newest tests/upgrade/main-*.sql.gz) was made with `pg_dump` from a
PostgreSQL database that the earlier main built: `migrate` (dj-stripe's own migrations), then
`seed_demo`, two migration batches, a service key, a staff group and user with permissions on
the models that later moved from `billing` to `accounts` and `api`, and an admin log entry.

It restores the dump into a scratch database (through UPGRADE_CHECK_ADMIN_URL, default
postgres://postgres@127.0.0.1:5432/test), runs this code's `migrate`, and checks:
1. every table holds the same rows as before, to the byte (an md5 of each row over the columns
   the table had: later migrations may add columns and tables, never change a row), apart from
   Django's own bookkeeping (`django_migrations` and `auth_permission` only grow: new models
   add theirs; the moved models' `django_content_type` rows are renamed in place);
2. the moved models read their old rows through the ORM (`accounts.Customer`, …);
3. staff permissions and admin history follow the moved models (content types renamed);
4. the service key made by the earlier main still authenticates;
5. nothing is left to migrate and the models match the migrations (`migrate --check`,
   `makemigrations --check`); a second `migrate` applies nothing.
Exit status 1 with a readable report on any failure.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("UPGRADE_CHECK_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/test")
SCRATCH = "billing_upgrade_check"
# The key `create_service_key proxy` printed when the dump was made (a test-only database).
OLD_SERVICE_KEY = "aig_dUNPcP6on-W2p6FrszeWzZG6wJWWoTb-o43MSZ9NsE4"
# Django's own bookkeeping: migrations are only added; content types are renamed (checked by
# id) and new models add theirs, with their permissions.
BOOKKEEPING = {"django_migrations", "django_content_type", "auth_permission"}
BOOKKEEPING_KEPT = ("django_migrations", "auth_permission")
MOVED = {
    "accounts": [
        "plan",
        "customer",
        "project",
        "migrationbatch",
        "planchange",
        "emailnotification",
    ],
    "api": ["servicekey"],
}

failures: list[str] = []


def fail(title: str, detail: str = "") -> None:
    failures.append(title)
    print(f"FAIL: {title}")
    if detail:
        print(detail.rstrip())


def ok(message: str) -> None:
    print(f"ok:   {message}")


def database_url(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def table_columns(url: str) -> dict[str, list[str]]:
    """The columns of every table of the public schema, in their order."""
    with psycopg.connect(url, autocommit=True) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ):
            columns.setdefault(table, []).append(column)
    return columns


def rows_fingerprint(url: str, columns: dict[str, list[str]]) -> dict[str, set[str]]:
    """Per table: the md5 of each row, over the given columns only (so that columns a later
    migration adds do not count as a change of the rows that were there)."""
    found = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table, names in columns.items():
            query = sql.SQL("SELECT md5(ROW({})::text) FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table)
            )
            found[table] = {digest for (digest,) in conn.execute(query)}
    return found


def content_types_renamed(url: str) -> str:
    """'' when every moved model's content type kept its id under its new app label."""
    with psycopg.connect(url, autocommit=True) as conn:
        labels = {
            (app, model): pk
            for pk, app, model in conn.execute(
                "SELECT id, app_label, model FROM django_content_type"
            )
        }
    problems = []
    for app, models in MOVED.items():
        for model in models:
            if ("billing", model) in labels:
                problems.append(f"  billing.{model} is still there")
            if (app, model) not in labels:
                problems.append(f"  {app}.{model} is missing")
    return "\n".join(problems)


def manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "upgrade-check-only-0123456789-0123456789-0123456789-01",
        "DEBUG": "false",
        "DJSTRIPE_UPSTREAM_MIGRATIONS": "false",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def orm_checks(url: str) -> None:
    """Run inside a child process: the ORM against the upgraded database."""
    code = f"""
import json
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import RequestFactory
from accounts.models import Customer, MigrationBatch, Plan, PlanChange, EmailNotification
from api.models import ServiceKey
from api.auth import ServiceKeyAuthentication
from billing.models import StripePriceMove
from usage.models import MonthlyUsage, Session
sam = User.objects.get(username="sam")
request = RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer {OLD_SERVICE_KEY}")
user, _ = ServiceKeyAuthentication().authenticate(request)
entry = LogEntry.objects.get(change_message="fixture")
print(json.dumps({{
    "customers": Customer.objects.count(),
    "plans": Plan.objects.count(),
    "plan_changes": PlanChange.objects.count(),
    "batches": MigrationBatch.objects.count(),
    "emails": EmailNotification.objects.count(),
    "service_keys": ServiceKey.objects.count(),
    "price_moves": StripePriceMove.objects.count(),
    "sessions": Session.objects.count(),
    "monthly_usage": MonthlyUsage.objects.count(),
    "joins": Session.objects.filter(customer__plan__code__isnull=False).count(),
    "batch_changes": PlanChange.objects.filter(batch__isnull=False).count(),
    "perms": sorted(p for p in sam.get_all_permissions() if not p.startswith("djstripe.")),
    "key_name": user.key.name,
    "log_entry_model": entry.content_type.app_label + "." + entry.content_type.model,
    "log_entry_object": str(entry.get_edited_object()),
}}))
"""
    result = manage(url, "shell", "-c", code)
    if result.returncode != 0:
        fail("the ORM cannot read the upgraded database", result.stdout + result.stderr)
        return
    import json

    found = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def main() -> int:
    dumps = sorted((ROOT / "tests" / "upgrade").glob("main-*.sql.gz"))
    dump = Path(sys.argv[1]) if len(sys.argv) > 1 else dumps[-1]
    print(f"== upgrade check: {dump.relative_to(ROOT)} → this code")
    url = database_url(SCRATCH)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(SCRATCH)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SCRATCH)))
    try:
        restore = subprocess.run(  # noqa: S603
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", url],  # noqa: S607
            input=gzip.decompress(dump.read_bytes()).decode(),
            capture_output=True,
            text=True,
            check=False,
        )
        if restore.returncode != 0:
            fail("the dump did not restore", restore.stderr[-2000:])
            return report()
        columns = table_columns(url)
        before = rows_fingerprint(url, columns)
        ok(f"restored {len(before)} tables, {sum(len(r) for r in before.values()):,} rows")

        started = time.monotonic()
        migrated = manage(url, "migrate", "--no-input")
        if migrated.returncode != 0:
            fail("migrate failed on the earlier main's database", migrated.stdout + migrated.stderr)
            return report()
        applied = [line.strip() for line in migrated.stdout.splitlines() if "Applying" in line]
        ok(f"migrate applied {len(applied)} migrations in {time.monotonic() - started:.1f} s:")
        for line in applied:
            print(f"        {line}")

        after = rows_fingerprint(url, columns)
        changed = [
            f"  {table}: {len(before[table] - after[table]):,} of {len(before[table]):,} rows "
            f"changed or gone, {len(after[table] - before[table]):,} new"
            for table in sorted(before)
            if table not in BOOKKEEPING and before[table] != after[table]
        ]
        if changed:
            fail("rows changed in the upgrade", "\n".join(changed))
        else:
            ok(
                f"every table kept its rows to the byte ({len(before) - len(BOOKKEEPING)} tables, "
                "compared over the columns they had)"
            )
        lost = {table: before[table] - after[table] for table in BOOKKEEPING_KEPT}
        if any(lost.values()):
            fail(
                "migrations, permissions or content types were lost",
                "\n".join(f"  {table}: {len(rows)} rows" for table, rows in lost.items() if rows),
            )
        else:
            ok("every recorded migration and permission is kept (new models only add theirs)")
        renamed = content_types_renamed(url)
        if renamed:
            fail("content types were not renamed in place", renamed)
        else:
            ok("content types renamed in place (permissions and admin history keep their ids)")

        found = orm_checks(url)
        if found is not None:
            expected_counts = {
                "customers": len(before["billing_customer"]),
                "plans": len(before["billing_plan"]),
                "plan_changes": len(before["billing_planchange"]),
                "batches": len(before["billing_migrationbatch"]),
                "emails": len(before["billing_emailnotification"]),
                "service_keys": len(before["billing_servicekey"]),
                "price_moves": len(before["billing_stripepricemove"]),
                "sessions": len(before["usage_session"]),
                "monthly_usage": len(before["usage_monthlyusage"]),
                "joins": len(before["usage_session"]),
            }
            wrong = {k: (v, found[k]) for k, v in expected_counts.items() if found[k] != v}
            if wrong or found["batch_changes"] == 0:
                fail("the ORM reads other counts than the tables held", repr(wrong))
            else:
                ok(
                    "the ORM reads every moved model's rows: "
                    + ", ".join(f"{k} {v:,}" for k, v in expected_counts.items())
                )
            wanted = {
                "accounts.change_customer",
                "accounts.view_customer",
                "accounts.view_plan",
                "accounts.change_migrationbatch",
                "api.view_servicekey",
            }
            if set(found["perms"]) != wanted:
                fail("staff permissions did not follow the models", repr(found["perms"]))
            else:
                ok(f"staff permissions follow the models: {', '.join(sorted(wanted))}")
            if found["key_name"] != "proxy":
                fail("the earlier main's service key does not authenticate")
            else:
                ok("the earlier main's service key still authenticates")
            if found["log_entry_model"] != "accounts.customer" or not found["log_entry_object"]:
                fail("admin history did not follow the models", repr(found))
            else:
                ok(f"admin history follows: log entry on {found['log_entry_model']}")

        for args, what in (
            (("migrate", "--check"), "nothing left to migrate"),
            (("makemigrations", "--check", "--dry-run"), "models match the migrations"),
        ):
            result = manage(url, *args)
            if result.returncode != 0:
                fail(f"not {what}", result.stdout + result.stderr)
            else:
                ok(what)
    finally:
        if "--keep" not in sys.argv:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(SCRATCH)))
    return report()


def report() -> int:
    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for title in failures:
            print(f"  {title}")
        return 1
    print("All checks passed: the earlier main's database upgrades with every row kept.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
