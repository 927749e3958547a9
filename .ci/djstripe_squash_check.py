"""Prove that config/djstripe_migrations (our squash of dj-stripe's migrations) is still right.

Usage, from anywhere, with the project's python:

    .venv/bin/python .ci/djstripe_squash_check.py [UPSTREAM_DATABASE_URL SQUASH_DATABASE_URL]

Without URLs it creates two scratch PostgreSQL databases through the admin database
DJSTRIPE_CHECK_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test) and drops them at
the end (--keep leaves them). Given URLs, both databases must be empty PostgreSQL databases.

What it checks (exit status 1 with a readable report on any failure):
1. The squash's `replaces` lists exactly the migrations shipped by the installed dj-stripe (an
   upgrade that adds one fails here: regenerate the module); it depends only on the historic
   subscriber's app (billing.0001_initial) and imports no project app; the module's second
   migration only points the subscriber at DJSTRIPE_SUBSCRIBER_MODEL, in state.
2. `manage.py migrate` on one empty database with dj-stripe's own graph
   (DJSTRIPE_UPSTREAM_MIGRATIONS=true) and on another with the squash; each is timed.
3. The two schemas, every table of the public schema (dj-stripe's and all others): tables,
   columns (type, NOT NULL, default, identity, collation), indexes (name and definition),
   constraints (name and definition), sequences; and the rows each table holds (counts, apart
   from django_migrations, whose rows are compared by name). Column order is not compared
   (Django always names columns in its SQL, and a regenerated squash may order them unlike
   the upstream adds and drops); tables whose order differs are listed for information
   (none with dj-stripe 2.11.0).
4. The squash-migrated database has nothing to migrate on the upstream graph. (Databases built
   before the squash existed, with dj-stripe's own migrations applied, are proven by
   `.ci/upgrade_check.py`: it migrates a database made by an earlier main.)
"""

import argparse
import ast
import difflib
import importlib
import importlib.metadata
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SQUASH_MODULE = "config.djstripe_migrations"
SQUASH = "0001_squashed_0003_2_11"
FOLLOW = "0002_subscriber_follows_accounts"
HISTORIC_DEPENDENCY = ("billing", "0001_initial")
ADMIN_URL = os.environ.get("DJSTRIPE_CHECK_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/test")
REGENERATE = (
    "Regenerate config/djstripe_migrations as its __init__.py docstring explains, "
    "then run this check again."
)

failures: list[str] = []


def fail(title: str, detail: str = "") -> None:
    failures.append(title)
    print(f"FAIL: {title}")
    if detail:
        print(detail.rstrip())


def ok(message: str) -> None:
    print(f"ok:   {message}")


def migration_names(package) -> list[str]:
    """Migration module names in a package, as Django's MigrationLoader finds them."""
    return sorted(
        name
        for _, name, is_pkg in pkgutil.iter_modules(package.__path__)
        if not is_pkg and name[0] not in "_~"
    )


# --- 1. the squash module itself -----------------------------------------------------------
def check_squash_module() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "djstripe-squash-check-only-0123456789-0123456789-01")
    os.environ["DJSTRIPE_UPSTREAM_MIGRATIONS"] = "false"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import djstripe.migrations
    from django.apps import apps
    from django.conf import settings
    from django.db import migrations

    print(f"dj-stripe {importlib.metadata.version('dj-stripe')}, Django {django.get_version()}")
    if settings.MIGRATION_MODULES.get("djstripe") != SQUASH_MODULE:
        fail(f"settings.MIGRATION_MODULES does not select {SQUASH_MODULE} for djstripe")

    upstream = [("djstripe", name) for name in migration_names(djstripe.migrations)]
    package = importlib.import_module(SQUASH_MODULE)
    ours = migration_names(package)
    if ours != [SQUASH, FOLLOW]:
        fail(f"{SQUASH_MODULE} must hold {SQUASH} and {FOLLOW}, it holds {ours}", REGENERATE)
        return
    module = importlib.import_module(f"{SQUASH_MODULE}.{SQUASH}")
    if not Path(module.__file__).resolve().is_relative_to(ROOT):
        fail(f"imported {module.__file__}, not the squash of this checkout ({ROOT})")
    print(f"squash: {Path(module.__file__).relative_to(ROOT)}")
    migration = module.Migration
    if sorted(migration.replaces) != upstream:
        fail(
            "the squash's `replaces` is not the list of migrations shipped by the installed "
            "dj-stripe",
            f"  installed dj-stripe ships: {upstream}\n"
            f"  {SQUASH} replaces:  {sorted(migration.replaces)}\n"
            f"  missing from replaces: {sorted(set(upstream) - set(migration.replaces))}\n"
            f"  not shipped upstream:  {sorted(set(migration.replaces) - set(upstream))}\n"
            f"  {REGENERATE}",
        )
    else:
        ok(f"{SQUASH} replaces all {len(upstream)} migrations of the installed dj-stripe")

    # The squash describes history: the subscriber was billing.Customer when the upstream
    # migrations ran on our databases. The second migration (state only) points it at the
    # subscriber model of today's settings.
    if list(migration.dependencies) != [HISTORIC_DEPENDENCY]:
        fail(
            "the squash must depend on the historic subscriber's app only",
            f"  expected [{HISTORIC_DEPENDENCY!r}], got {list(migration.dependencies)!r}",
        )
    else:
        ok(f"the squash depends on {HISTORIC_DEPENDENCY!r} only (the historic subscriber)")
    follow = importlib.import_module(f"{SQUASH_MODULE}.{FOLLOW}").Migration
    subscriber_app = settings.DJSTRIPE_SUBSCRIBER_MODEL.split(".", 1)[0]
    [operation] = follow.operations
    state_only = (
        isinstance(operation, migrations.SeparateDatabaseAndState)
        and not operation.database_operations
    )
    targets = [op.field.remote_field.model for op in operation.state_operations]
    if not state_only or targets != [settings.DJSTRIPE_SUBSCRIBER_MODEL]:
        fail(f"{FOLLOW} must only point the subscriber at DJSTRIPE_SUBSCRIBER_MODEL, in state")
    elif (subscriber_app, "0001_initial") not in follow.dependencies:
        fail(f"{FOLLOW} must depend on {subscriber_app}.0001_initial")
    else:
        ok(f"{FOLLOW} points the subscriber at {settings.DJSTRIPE_SUBSCRIBER_MODEL} (state only)")

    # The project's own apps: under this checkout, but not in its virtualenv (.venv/).
    venv = Path(sys.prefix).resolve()
    project_apps = {
        config.label
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(ROOT)
        and not Path(config.path).resolve().is_relative_to(venv)
    }
    tree = ast.parse(Path(module.__file__).read_text() + Path(package.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names} & project_apps
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module.split(".")[0]} & project_apps
    if imported:
        fail(f"the squash imports project apps {sorted(imported)}: it must not")
    else:
        ok("the squash imports no project app")


# --- databases -----------------------------------------------------------------------------
def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def manage(url: str, upstream: bool, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=url,
        DJSTRIPE_UPSTREAM_MIGRATIONS="true" if upstream else "false",
        CONN_MAX_AGE="0",
    )
    return subprocess.run(  # noqa: S603 (our own manage.py, with this python)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def migrate(url: str, upstream: bool, label: str) -> float:
    started = time.perf_counter()
    result = manage(url, upstream, "migrate", "--no-input", "-v", "1")
    elapsed = time.perf_counter() - started
    if result.returncode:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"FAIL: migrate ({label}) exited {result.returncode}")
    print(f"time: migrate, empty PostgreSQL database, {label}: {elapsed:.1f} s")
    return elapsed


SCHEMA_QUERIES = {
    "table": """
        SELECT c.relname, c.relkind::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    """,
    "column": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END,
               'default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-'),
               'identity=' || nullif(a.attidentity::text, ''),
               'generated=' || nullif(a.attgenerated::text, ''),
               'collation=' || co.collname
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "index": "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraint": """
        SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid)
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
    """,
    "sequence": """
        SELECT s.sequencename, s.data_type::text, s.start_value, s.increment_by,
               s.min_value, s.max_value, s.cache_size, s.cycle,
               'owned by ' || coalesce(dc.relname || '.' || a.attname, '-')
        FROM pg_sequences s
        JOIN pg_class sc ON sc.relname = s.sequencename
        JOIN pg_namespace sn ON sn.oid = sc.relnamespace AND sn.nspname = s.schemaname
        LEFT JOIN pg_depend dep ON dep.objid = sc.oid AND dep.classid = 'pg_class'::regclass
             AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
        LEFT JOIN pg_class dc ON dc.oid = dep.refobjid
        LEFT JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
        WHERE s.schemaname = 'public'
    """,
    "trigger": """
        SELECT c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal
    """,
}


PLURAL = {
    "table": "tables",
    "column": "columns",
    "index": "indexes",
    "constraint": "constraints",
    "sequence": "sequences",
    "trigger": "triggers",
    "rows": "row counts",
}


def snapshot(url: str) -> dict:
    """The schema of the public schema, as sorted text lines per kind of object."""
    with psycopg.connect(url, autocommit=True) as connection:
        schema = {}
        for kind, query in SCHEMA_QUERIES.items():
            rows = connection.execute(query).fetchall()
            schema[kind] = sorted(
                " | ".join(str(value) for value in row if value is not None) for row in rows
            )
        tables = sorted(
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        )
        counts = {
            table: connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in tables
        }
        schema["rows"] = [
            f"{table} | {count} rows"
            for table, count in counts.items()
            if table != "django_migrations"
        ]
        schema["column order"] = {
            table: [
                row[0]
                for row in connection.execute(
                    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass "
                    "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    (f'"{table}"',),
                )
            ]
            for table in tables
        }
        schema["migrations"] = sorted(
            f"{app}.{name}"
            for app, name in connection.execute("SELECT app, name FROM django_migrations")
        )
    return schema


def compare(upstream: dict, squash: dict, upstream_name: str, squash_name: str) -> bool:
    same = True
    for kind in [*SCHEMA_QUERIES, "rows"]:
        if upstream[kind] == squash[kind]:
            ok(f"{PLURAL[kind]}: {len(upstream[kind])} identical")
            continue
        same = False
        diff = difflib.unified_diff(
            upstream[kind], squash[kind], upstream_name, squash_name, lineterm="", n=0
        )
        fail(
            f"{PLURAL[kind]} differ", "\n".join(line for line in diff if not line.startswith("@@"))
        )
    return same


def check_migration_rows(upstream: dict, squash: dict, squash_name: str) -> None:
    upstream_rows = set(upstream["migrations"])
    squash_rows = set(squash["migrations"])
    ours = {f"djstripe.{squash_name}", f"djstripe.{FOLLOW}"}
    if squash_rows - upstream_rows != ours or upstream_rows - squash_rows:
        fail(
            "django_migrations: the squash database should hold the upstream rows plus our "
            "two djstripe migrations",
            f"  only upstream: {sorted(upstream_rows - squash_rows)}\n"
            f"  only squash:   {sorted(squash_rows - upstream_rows)}",
        )
    else:
        ok(
            f"django_migrations: same {len(upstream_rows)} rows (the upstream djstripe "
            f"migrations recorded in both) plus {', '.join(sorted(ours))} in the squash database"
        )


def check_reverse(url: str) -> None:
    """A database migrated with the squash can go back to (and on with) dj-stripe's graph."""
    result = manage(url, True, "migrate", "--check", "--no-input")
    if result.returncode:
        fail(
            "squash-migrated database: `migrate --check` on the upstream graph wants to migrate",
            result.stderr + manage(url, True, "migrate", "--plan").stdout,
        )
    else:
        ok("squash-migrated database, upstream graph: `migrate --check` has nothing to do")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "urls",
        nargs="*",
        metavar="DATABASE_URL",
        help="upstream then squash database (empty PostgreSQL databases)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()
    if len(args.urls) not in (0, 2):
        parser.error("give two DATABASE_URLs (upstream, squash) or none")

    print("== 1. the squash module")
    check_squash_module()
    if failures:
        return 1
    squash_name = SQUASH

    created = []
    if args.urls:
        upstream_url, squash_url = args.urls
    else:
        suffix = f"{os.getpid()}"
        names = [f"djstripe_check_upstream_{suffix}", f"djstripe_check_squash_{suffix}"]
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for name in names:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(name)
        upstream_url, squash_url = (with_database(ADMIN_URL, name) for name in names)
    try:
        for url in (upstream_url, squash_url):
            with psycopg.connect(url) as connection:
                count = connection.execute(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public'"
                ).fetchone()[0]
            if count:
                raise SystemExit(f"FAIL: {urlsplit(url).path[1:]} is not empty ({count} relations)")

        print("== 2. migrate two empty databases")
        upstream_time = migrate(upstream_url, True, "upstream dj-stripe graph")
        squash_time = migrate(squash_url, False, f"squash {SQUASH_MODULE}")
        print(f"time: the squash saves {upstream_time - squash_time:.1f} s")

        print("== 3. compare the schemas (all tables of the public schema)")
        upstream = snapshot(upstream_url)
        squash = snapshot(squash_url)
        if not any(line.startswith("djstripe_") for line in squash["table"]):
            fail("no djstripe table in the squash database")
        compare(upstream, squash, "upstream", "squash")
        check_migration_rows(upstream, squash, squash_name)
        reordered = sorted(
            table
            for table in upstream["column order"]
            if upstream["column order"][table] != squash["column order"].get(table)
            and sorted(upstream["column order"][table])
            == sorted(squash["column order"].get(table, []))
        )
        print(
            f"info: column order differs (not compared) in {len(reordered)} tables: "
            f"{', '.join(reordered) or '-'}"
        )

        print("== 4. a squash-migrated database is consistent with dj-stripe's own graph")
        # Databases built before the squash existed (dj-stripe's own migrations applied) are
        # proven by .ci/upgrade_check.py, which migrates one made by an earlier main.
        check_reverse(squash_url)
    finally:
        if created and not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                for name in created:
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        elif created:
            print(f"kept databases: {', '.join(created)}")

    if failures:
        print(f"\n{len(failures)} check(s) failed:\n  " + "\n  ".join(failures))
        return 1
    print("\nAll checks passed: the squash builds the upstream schema.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
