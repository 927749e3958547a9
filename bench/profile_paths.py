"""Where a hot path's time goes: its requests run in this one process, against the app and
against the floor, timed per request and (with --profile) under cProfile.

Calls each WSGI application directly (no gunicorn, no wrk), with production settings and
rate limits on, on the database `make bench` built (run `bench/run.py` first). Prints the mean
wall time per request of each path, app and floor, and their ratio; with --profile, the
functions that take the app's time. Run: `.venv/bin/python bench/profile_paths.py --help`.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import close_open_sessions, environment  # noqa: E402


def wsgi_request(method: str, path: str, query: str, body: bytes, key: str) -> dict:
    from django.test import RequestFactory

    return (
        RequestFactory()
        .generic(
            method,
            f"{path}?{query}" if query else path,
            body,
            content_type="application/json",
            HTTP_HOST="127.0.0.1",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        .environ
    )


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (every process: this one, PostgreSQL, Redis,
    the kernel), from /proc/stat; 0 where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def call(application, environ: dict) -> int:
    status = []
    chunks = application(environ, lambda s, headers, exc_info=None: status.append(s))
    b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return int(status[0][:3])


def requests_for(path_name: str, count: int, customers: int, run: str):
    for number in range(count):
        user = f"bench-{1 + number % customers:05d}"
        if path_name == "read":
            yield "GET", "/billing/usage", f"user_id={user}", b""
        elif path_name == "end":  # of the session the same number started
            body = json.dumps({"status": "succeeded", "minutes": "2.5"}).encode()
            yield "POST", f"/api/v1/sessions/{run}-{number}/end", "", body
        else:
            body = json.dumps({"session_id": f"{run}-{number}", "user_id": user}).encode()
            yield "POST", "/api/v1/sessions", "", body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", choices=["read", "start", "end"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--floor", action="store_true", help="time the floor instead")
    parser.add_argument(
        "--no-lane",
        action="store_true",
        help="the app's requests through the middleware chain and DRF, not the service lane",
    )
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument("--env", action="append", default=[], help="NAME=value, to try")
    parser.add_argument("--key", default="", help="a service key (made when not given)")
    args = parser.parse_args()
    if args.floor and args.path == "end":
        parser.error("the floor has no session end: time the app's, with and without --no-lane")

    os.environ.update(environment(8911))
    if args.floor:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor.settings"
    os.environ.update(dict(item.split("=", 1) for item in args.env))
    import django

    django.setup()
    key = args.key
    if not args.floor and not key:
        from api.service_keys import service_key_create

        key = service_key_create(name="profile")[1]
    # The applications gunicorn serves in bench/run.py.
    if args.floor:
        from bench.floor.wsgi import application
    else:
        from config.wsgi import api_application, application

        if args.no_lane:
            api_application.lane = None
    # As between bench/run.py's rounds: no open sessions (concurrency limits admit every
    # start) and this minute's rate-limit counts from zero.
    close_open_sessions()
    if not args.floor:
        from django.core.cache import cache

        cache.clear()
    # Starts go to the growth customers (the first 500), whose limits admit them all.
    customers = 1000 if args.path == "read" else 500
    run = f"profile-{time.time_ns()}"
    if args.path == "end":  # the sessions to end, started beforehand and not timed
        for suffix, count in (("w", 200), ("", args.requests)):
            for method, path, query, body in requests_for("start", count, customers, run + suffix):
                call(application, wsgi_request(method, path, query, body, key))
    warm = list(requests_for(args.path, 200, customers, run + "w"))
    for method, path, query, body in warm:
        call(application, wsgi_request(method, path, query, body, key))
    todo = [
        wsgi_request(method, path, query, body, key)
        for method, path, query, body in requests_for(args.path, args.requests, customers, run)
    ]
    profiler = cProfile.Profile() if args.profile else None
    statuses: dict[int, int] = {}
    started, cpu, busy = time.perf_counter(), time.process_time(), machine_busy_seconds()
    if profiler:
        profiler.enable()
    for environ in todo:
        status = call(application, environ)
        statuses[status] = statuses.get(status, 0) + 1
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    busy = machine_busy_seconds() - busy
    print(
        f"{'floor' if args.floor else 'app without the lane' if args.no_lane else 'app'} "
        f"{args.path}: {args.requests} requests, "
        f"{elapsed / args.requests * 1000:.3f} ms each ({cpu / args.requests * 1000:.3f} ms "
        f"of this process's CPU, {busy / args.requests * 1000:.3f} ms of the machine's), "
        f"statuses {statuses}"
    )
    if profiler:
        stats = pstats.Stats(profiler)
        by_package: dict[str, float] = {}
        for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
            if "site-packages/" in filename:
                package = filename.split("site-packages/")[-1].split("/")[0]
            else:
                package = filename.removeprefix(str(ROOT) + "/").split("/")[0]
            by_package[package] = by_package.get(package, 0.0) + tottime
        total = sum(by_package.values())
        for package, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:15]:
            print(f"  {package:40s} {seconds / total:6.1%}")
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main()
