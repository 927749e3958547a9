"""Benchmark of the usage API's hot paths under gunicorn on PostgreSQL, against a floor.

Builds a fresh database `billing_bench` with 1,000 customers and 1,000,000 sessions of
history, and copies of those tables for the floor (`bench/floor/`: a bare DRF app doing the
same SQL work with no middleware, authentication or checks). Starts both under the same
gunicorn settings, drives them in alternation with the same wrk scripts, and prints each hot
path's rate as a ratio to the floor's (median of the rounds), with p50/p99, then p99 at half
the peak rate. A third server, the floor with the app's own rate-limit count, shows what the
limit alone costs (a measure, not a target). Absolute rates move with the machine; the ratios
measured in one run hold.
Production settings, rate limits on (Redis). Needs PostgreSQL at 127.0.0.1:5432, Redis at
127.0.0.1:6379 and `wrk` (Debian package). Run: `make bench` or `.venv/bin/python
bench/run.py --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432"
DB = "billing_bench"


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def environment(port: int) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=f"{PG}/{DB}",
        CACHE_URL="rediscache://127.0.0.1:6379/3",
        SECRET_KEY="bench-only-secret-key-0123456789-0123456789-0123456789",  # noqa: S106
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        CONN_MAX_AGE="600",
        PYTHONPATH=str(ROOT),
    )
    return env


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def build_database(env: dict, customers: int, sessions: int) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    started = time.perf_counter()
    manage(env, "migrate", "--run-syncdb", "-v", "0")
    log(f"schema built from the models in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    half, starter_end, free_end = customers // 2, customers * 3 // 4, customers * 17 // 20
    with psycopg.connect(f"{PG}/{DB}", autocommit=True) as conn:
        plan = dict(conn.execute("SELECT code, id FROM billing_plan").fetchall())
        conn.execute(
            """
            INSERT INTO billing_customer (external_id, email, plan_id, status,
                stripe_customer_id, stripe_subscription_id, migration_exempt,
                created_at, updated_at)
            SELECT format('bench-%%s', lpad(g::text, 5, '0')), format('b%%s@example.com', g),
                CASE WHEN g <= %(half)s THEN %(growth)s
                     WHEN g <= %(starter_end)s THEN %(starter)s
                     WHEN g <= %(free_end)s THEN %(free)s
                     ELSE (ARRAY[%(l1)s, %(l2)s, %(l3)s, %(l4)s, %(l5)s])[1 + g %% 5] END,
                'active', '', '', false, now(), now()
            FROM generate_series(1, %(n)s) g
            """,
            {
                "half": half,
                "starter_end": starter_end,
                "free_end": free_end,
                "n": customers,
                "growth": plan["growth"],
                "starter": plan["starter"],
                "free": plan["free"],
                "l1": plan["legacy_free"],
                "l2": plan["legacy_starter"],
                "l3": plan["legacy_build"],
                "l4": plan["legacy_pro"],
                "l5": plan["legacy_agency"],
            },
        )
        conn.execute(
            "INSERT INTO billing_project (customer_id, project_id, created_at) "
            "SELECT id, 'default', now() FROM billing_customer"
        )
        # History: the three months before this one, spread evenly over customers.
        conn.execute(
            """
            INSERT INTO usage_session (session_id, customer_id, project_id, period, status,
                started_at, ended_at, minutes)
            SELECT 'hist-' || g, c.id, p.id, date_trunc('month', t)::date,
                CASE WHEN g %% 17 = 0 THEN 'failed' ELSE 'succeeded' END,
                t, t + interval '2 minutes', round((1 + (g %% 7) * 0.5)::numeric, 2)
            FROM generate_series(1, %(sessions)s) g
            JOIN billing_customer c ON c.id = (SELECT min(id) FROM billing_customer)
                + (g %% %(customers)s)
            JOIN billing_project p ON p.customer_id = c.id
            CROSS JOIN LATERAL (SELECT date_trunc('month', now()) - interval '3 months'
                + (g::float / %(sessions)s) * interval '89 days' AS t) ts
            """,
            {"sessions": sessions, "customers": customers},
        )
        conn.execute(
            """
            INSERT INTO usage_monthlyusage (customer_id, period, total_sessions,
                successful_sessions, failed_sessions, total_minutes, billable_minutes,
                updated_at)
            SELECT customer_id, period, count(*),
                count(*) FILTER (WHERE status = 'succeeded'),
                count(*) FILTER (WHERE status = 'failed'),
                sum(minutes), coalesce(sum(minutes) FILTER (WHERE status <> 'failed'), 0), now()
            FROM usage_session GROUP BY customer_id, period
            """
        )
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")  # the load's writes are flushed before measuring
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM billing_customer), (SELECT count(*) FROM usage_session)"
        ).fetchone()
    log(
        f"loaded {counts[0]:,} customers and {counts[1]:,} sessions "
        f"in {time.perf_counter() - started:.1f} s"
    )


def build_floor_tables() -> None:
    """The floor's own tables: copies of the bench's, with their indexes and foreign keys, and
    this month's counter row for every customer in both (the hot paths' common case)."""
    started = time.perf_counter()
    with psycopg.connect(f"{PG}/{DB}", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO usage_monthlyusage (customer_id, period, total_sessions, "
            "successful_sessions, failed_sessions, total_minutes, billable_minutes, updated_at) "
            "SELECT id, date_trunc('month', now())::date, 0, 0, 0, 0, 0, now() "
            "FROM billing_customer ON CONFLICT (customer_id, period) DO NOTHING"
        )
        conn.execute(
            "DROP TABLE IF EXISTS floor_session, floor_monthlyusage, floor_customer, floor_plan"
        )
        for floor, source in FLOOR_TABLES.items():
            conn.execute(f"CREATE TABLE {floor} (LIKE {source} INCLUDING ALL)")
            conn.execute(f"INSERT INTO {floor} SELECT * FROM {source}")
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{floor}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {floor}))"
            )
        conn.execute(
            "ALTER TABLE floor_customer ADD FOREIGN KEY (plan_id) REFERENCES floor_plan (id)"
        )
        conn.execute(
            "ALTER TABLE floor_monthlyusage "
            "ADD FOREIGN KEY (customer_id) REFERENCES floor_customer (id)"
        )
        conn.execute(
            "ALTER TABLE floor_session ADD FOREIGN KEY (customer_id) REFERENCES floor_customer (id)"
        )
        # The floor records no project (the real start looks its project up).
        conn.execute("ALTER TABLE floor_session ALTER COLUMN project_id DROP NOT NULL")
        conn.execute("VACUUM ANALYZE")
    log(f"floor tables copied in {time.perf_counter() - started:.1f} s")


FLOOR_TABLES = {
    "floor_plan": "billing_plan",
    "floor_customer": "billing_customer",
    "floor_monthlyusage": "usage_monthlyusage",
    "floor_session": "usage_session",
}


def start_gunicorn(
    env: dict, port: int, workers: int, threads: int, app: str = "config.wsgi"
) -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [
            gunicorn,
            app,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("gunicorn did not answer /healthz")


def wrk(script: str, port: int, duration: int, connections: int, extra_env: dict) -> dict:
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            script,
            f"http://127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env={**os.environ, **extra_env},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def rate_of(result: dict) -> float:
    """Successful answers per second (wrk counts the others as non-2xx)."""
    ok = result["requests"] - result["non_2xx"] - result["socket_errors"]
    return ok / (result["duration_us"] / 1e6)


def median(results: list[dict]) -> dict:
    return sorted(results, key=rate_of)[len(results) // 2]


def figures(result: dict) -> str:
    return (
        f"{rate_of(result):6.0f}/s  p50 {result['p50_us'] / 1000:5.1f} ms  "
        f"p99 {result['p99_us'] / 1000:5.1f} ms"
    )


def report(name: str, real: list[dict], floor: list[dict], target: float) -> bool:
    """One line per round, then the median rounds' ratio to the floor against the target."""
    for number, (ours, bare) in enumerate(zip(real, floor, strict=True), start=1):
        errors = ours["non_2xx"] + ours["socket_errors"] + bare["non_2xx"] + bare["socket_errors"]
        print(
            f"  {name} round {number}: {figures(ours)}   floor {figures(bare)}   "
            f"ratio {rate_of(ours) / rate_of(bare):.2f}"
            + (f"  (non-2xx or socket errors: {errors})" if errors else "")
        )
    # Each round pairs the app with the floor measured beside it: the median of those ratios
    # is what holds when a neighbour slows the machine down for a while.
    ratios = sorted(rate_of(o) / rate_of(b) for o, b in zip(real, floor, strict=True))
    ratio = ratios[len(ratios) // 2]
    ours, bare = median(real), median(floor)
    print(
        f"{name:15s} {ratio:5.2f}x the floor (median of {len(real)} rounds' ratios; medians "
        f"{rate_of(ours):.0f}/s against {rate_of(bare):.0f}/s, p50 {ours['p50_us'] / 1000:.1f} "
        f"ms, p99 {ours['p99_us'] / 1000:.1f} ms)  "
        f"{'meets' if ratio >= target else 'BELOW'} target {target:.1f}x"
    )
    return ratio >= target


def report_limit_cost(name: str, real: list[dict], floor: list[dict], limited: list[dict]):
    """What the rate limit alone costs: the floor with the app's Redis count, against the
    floor, and the app against it (medians of the rounds' ratios)."""

    def median_ratio(tops: list[dict], bottoms: list[dict]) -> float:
        ratios = sorted(rate_of(t) / rate_of(b) for t, b in zip(tops, bottoms, strict=True))
        return ratios[len(ratios) // 2]

    print(
        f"{'':15s} the floor with the app's rate-limit count (one Redis round trip): "
        f"{rate_of(median(limited)):.0f}/s, {median_ratio(limited, floor):.2f}x the floor; "
        f"the app is {median_ratio(real, limited):.2f}x it"
    )


def close_open_sessions() -> None:
    """End the bench's open sessions between rounds (as succeeded, counters kept exact), so
    that concurrency limits never refuse the next round's starts."""
    with psycopg.connect(f"{PG}/{DB}") as conn:
        conn.execute(
            """
            UPDATE usage_monthlyusage u SET successful_sessions = successful_sessions + o.n
            FROM (SELECT customer_id, period, count(*) AS n FROM usage_session
                  WHERE status = 'active' GROUP BY customer_id, period) o
            WHERE u.customer_id = o.customer_id AND u.period = o.period
            """
        )
        conn.execute(
            "UPDATE usage_session SET status = 'succeeded', ended_at = now(), minutes = 2 "
            "WHERE status = 'active'"
        )
        conn.execute(
            "UPDATE floor_session SET status = 'succeeded', ended_at = now(), minutes = 2 "
            "WHERE status = 'active'"
        )
    # Clear the dead rows those updates left, so that each round starts from the same state.
    with psycopg.connect(f"{PG}/{DB}", autocommit=True) as conn:
        conn.execute(
            "VACUUM ANALYZE usage_session, usage_monthlyusage, floor_session, floor_monthlyusage"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of floor and real runs")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--port", type=int, default=8911, help="the app's; the floor's is +1")
    parser.add_argument("--reuse-data", action="store_true", help="keep the existing database")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    env = environment(args.port)
    if args.reuse_data:  # tables a newer schema added, and the SQL functions (post_migrate)
        manage(env, "migrate", "--run-syncdb", "-v", "0")
    else:
        build_database(env, args.customers, args.sessions)
    build_floor_tables()
    manage(env, "collectstatic", "--noinput", "-v", "0")  # as a deployment does
    key = manage(env, "create_service_key", "bench").strip().splitlines()[-1]
    subprocess.run(["redis-cli", "-n", "3", "FLUSHDB"], check=False, capture_output=True)
    floor_port, limited_port = args.port + 1, args.port + 2
    servers = [
        start_gunicorn(env, args.port, args.workers, args.threads),
        start_gunicorn(env, floor_port, args.workers, args.threads, app="bench.floor.wsgi"),
        start_gunicorn(
            {**env, "FLOOR_RATE_LIMITED": "1"},
            limited_port,
            args.workers,
            args.threads,
            app="bench.floor.wsgi",
        ),
    ]
    paths = {"usage reads": "bench/usage_read.lua", "session starts": "bench/session_start.lua"}
    real: dict[str, list[dict]] = {name: [] for name in paths}
    floor: dict[str, list[dict]] = {name: [] for name in paths}
    limited: dict[str, list[dict]] = {name: [] for name in paths}
    paced: dict[str, dict] = {}
    common = {"BENCH_KEY": key, "BENCH_CUSTOMERS": str(args.customers)}
    extra = {
        "usage reads": lambda run: common,
        # Starts go to the growth customers (the first half), whose limits admit them all.
        "session starts": lambda run: {
            **common,
            "BENCH_START_CUSTOMERS": str(args.customers // 2),
            "BENCH_RUN": f"{run}{time.time_ns()}",
        },
    }
    try:
        log(
            f"gunicorn: {args.workers} workers x {args.threads} thread(s) for the app and for "
            f"the floor; wrk: 2 threads, {args.connections} connections, {args.duration} s a run"
        )
        # Warm-up: worker start, prepared statements, the indexes' pages in memory.
        for name, script in paths.items():
            for port, tag in ((args.port, "warm"), (floor_port, "fwarm"), (limited_port, "lw")):
                wrk(script, port, 3, args.connections, extra[name](tag))
        close_open_sessions()
        servers_in_order = [(floor, floor_port, "floor"), (limited, limited_port, "limited"),
                            (real, args.port, "run")]  # fmt: skip
        for round_number in range(args.rounds):
            # Each path's three runs back to back, so that a noisy neighbour hits them alike;
            # in the reverse order every other round, so that a machine slowing down (or
            # speeding up) over a round does not favour whichever runs first.
            order = servers_in_order if round_number % 2 == 0 else servers_in_order[::-1]
            for name, script in paths.items():
                for results, port, tag in order:
                    results[name].append(wrk(script, port, args.duration, args.connections,
                                             extra[name](tag)))  # fmt: skip
            close_open_sessions()
        # p99 at half the peak rate: each connection paced to send half the median peak.
        for name, script in paths.items():
            half = rate_of(median(real[name])) / 2
            pace_ms = max(1, round(args.connections * 1000 / half))
            paced[name] = wrk(script, args.port, args.duration, args.connections,
                              {**extra[name]("paced"), "BENCH_DELAY_MS": str(pace_ms)})  # fmt: skip
        close_open_sessions()
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    print(
        f"\nPostgreSQL, {args.customers:,} customers, {args.sessions:,} sessions of history, "
        f"production settings, rate limits on (Redis); {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{os.cpu_count()} CPUs ({platform.node()})"
    )
    ok = report("usage reads", real["usage reads"], floor["usage reads"], 1.0)
    report_limit_cost("usage reads", real["usage reads"], floor["usage reads"],
                      limited["usage reads"])  # fmt: skip
    ok &= report("session starts", real["session starts"], floor["session starts"], 0.8)
    report_limit_cost("session starts", real["session starts"], floor["session starts"],
                      limited["session starts"])  # fmt: skip
    for name, result in paced.items():
        p99 = result["p99_us"] / 1000
        print(
            f"{name:15s} at half the peak: {rate_of(result):.0f}/s, p50 "
            f"{result['p50_us'] / 1000:.1f} ms, p99 {p99:.1f} ms  "
            f"{'meets' if p99 <= 25 else 'ABOVE'} target 25 ms"
        )
        ok &= p99 <= 25
    with psycopg.connect(f"{PG}/{DB}") as conn:
        counted, rows = conn.execute(
            "SELECT (SELECT coalesce(sum(total_sessions), 0) FROM usage_monthlyusage "
            "WHERE period = date_trunc('month', now())::date), "
            "(SELECT count(*) FROM usage_session "
            "WHERE period = date_trunc('month', now())::date)"
        ).fetchone()
    print(
        f"exactness: {rows:,} sessions recorded this month, counters say {counted:,}: "
        f"{'equal' if rows == counted else 'MISMATCH'}"
    )
    sys.exit(0 if ok and rows == counted else 1)


if __name__ == "__main__":
    main()
