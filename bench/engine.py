"""Benchmark the engine: stored event to finished execution, with 1 and then 2 Celery workers.

Not a test: it prints figures. It creates (if missing) and migrates a dedicated PostgreSQL
database, saves one rule through the checker (customer_tagged vip -> enroll_journey, a simple
internal action), then for each worker count:

1. starts that many ``celery worker`` processes (one process each, ``--concurrency 1``,
   production-like settings: DEBUG off, WARNING logs, acks late, prefetch 1) on Redis;
2. **saturation**: stores ``--events`` customer_tagged events as fast as one producer can (one
   transaction per event, each published on commit, as a domain service does) and waits for
   every execution to finish; throughput = events / (last finished_at - first recorded_at),
   latency = execution.finished_at - event.recorded_at (it includes the queueing a backlog
   causes);
3. **paced**: once the backlog is drained, stores ``--paced-events`` at a third of the
   saturated rate and reports the latency of
   an engine that keeps up.

Each event also emits journey_enrolled (dispatched, matching no rule), as in production::

    .venv/bin/python bench/engine.py [--events 300] [--paced-events 60] [--workers 1,2]

The defaults keep the whole run under 3 minutes on a 2-core machine.

Environment: BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/typewire_bench),
BENCH_BROKER_URL (default redis://127.0.0.1:6379/13; its queues are purged between rounds).
Writes ``bench/results/engine.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/typewire_bench")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
QUEUES = "ingest,rules,outbound,periodic"
ENV = {
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "TYPEWIRE_REDIS_URL": BROKER_URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
    "FIELD_ENCRYPTION_KEY": "uicTjyxFcOI50OfxEU2USLeTK_F20nk2E9evTpkSXEA=",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
WAIT_LIMIT_SECONDS = 60.0  # per phase: a run never hangs past this


def ensure_database() -> None:
    """Create the benchmark database if it does not exist, then migrate it."""
    import psycopg

    parts = urlsplit(DATABASE_URL)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **ENV},
        check=True,
    )


def setup_django() -> None:
    """Configure Django in this process with the benchmark settings."""
    os.environ.update(ENV)
    import django

    django.setup()


def prepare() -> tuple[Any, Any]:
    """Return the bench workspace and its rule, creating them on the first run."""
    from accounts.models import Plan, Workspace
    from automations.models import Rule
    from automations.services import save_rule
    from catalog.domain.services import create_journey

    workspace, _ = Workspace.objects.get_or_create(
        slug="bench-engine", defaults={"name": "Bench", "plan": Plan.PRO}
    )
    rule = Rule.objects.filter(workspace=workspace, name="VIP welcome").first()
    if rule is not None:
        return workspace, rule
    journey = create_journey(workspace=workspace, name="VIP welcome", slug="vip-welcome")
    rule = save_rule(
        workspace=workspace,
        author=None,
        name="VIP welcome",
        is_enabled=True,
        definition={
            "trigger": {"key": "customer_tagged", "config": {"tag": "vip", "action": "added"}},
            "conditions": [],
            "steps": [
                {
                    "id": "enroll",
                    "action": "enroll_journey",
                    "inputs": {
                        "customer_id": {"ref": "customer_id"},
                        "journey_id": {"literal": journey.pk},
                    },
                }
            ],
        },
    )
    return workspace, rule


def new_customers(workspace: Any, count: int) -> list[int]:
    """Create ``count`` customers never enrolled before; return their ids."""
    from catalog.models import Customer

    run = time.time_ns()
    created = Customer.objects.bulk_create(
        Customer(workspace=workspace, email=f"c{run}-{n}@bench.example", source="bench")
        for n in range(count)
    )
    return [c.pk for c in created]


def purge_queues() -> None:
    """Empty the broker's queues (messages of an earlier round name rows that are gone)."""
    from kombu import Connection

    with Connection(BROKER_URL) as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)


def start_workers(count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker processes and wait until each is ready."""
    logs = ROOT / "var"
    logs.mkdir(exist_ok=True)
    procs = []
    for n in range(count):
        path = logs / f"bench-engine-worker-{n}.log"
        log = path.open("wb")
        cmd = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUES,
            "--concurrency", "1", "--loglevel", "INFO", "-n", f"bench{n}@%h",
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=ROOT,
                env={**os.environ, **ENV, "LOG_LEVEL": "INFO"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + 60
        while b" ready." not in path.read_bytes():
            if procs[-1].poll() is not None or time.monotonic() > deadline:
                stop_workers(procs)
                raise RuntimeError(f"worker {n} did not start: see {path}")
            time.sleep(0.1)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the worker processes started by :func:`start_workers` (their process groups)."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def store_events(workspace: Any, customer_ids: list[int], rate: float | None) -> list[str]:
    """Store one customer_tagged event per customer, at ``rate`` per second or flat out."""
    from django.db import transaction

    from catalog.events import record_event

    ids = []
    start = time.perf_counter()
    for n, customer_id in enumerate(customer_ids):
        if rate:
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        with transaction.atomic():
            event = record_event(
                workspace=workspace,
                trigger_key="customer_tagged",
                payload={"customer_id": customer_id, "tag": "vip", "action": "added"},
            )
        ids.append(str(event.pk))
    return ids


def wait_finished(rule: Any, event_ids: list[str]) -> bool:
    """Wait until every event has a finished execution of ``rule``; False after the limit."""
    from automations.models import Execution

    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    executions = Execution.objects.filter(rule=rule, event_id__in=event_ids)
    while time.monotonic() < deadline:
        if executions.filter(finished_at__isnull=False).count() >= len(event_ids):
            return True
        time.sleep(0.25)
    return False


def wait_idle(workspace: Any) -> None:
    """Wait (bounded) until no event of the workspace waits for dispatch (backlog drained)."""
    from catalog.models import Event, EventStatus

    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    pending = Event.objects.filter(workspace=workspace, status=EventStatus.PENDING)
    while pending.exists() and time.monotonic() < deadline:
        time.sleep(0.25)


def figures(rule: Any, event_ids: list[str]) -> dict[str, Any]:
    """Throughput and latency of the executions of ``event_ids``."""
    from automations.models import Execution

    rows = list(
        Execution.objects.filter(rule=rule, event_id__in=event_ids).values_list(
            "event__recorded_at", "finished_at", "status"
        )
    )
    done = [(recorded, finished) for recorded, finished, _ in rows if finished is not None]
    statuses: dict[str, int] = {}
    for *_, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    if not done:
        return {"events": len(event_ids), "finished": 0, "statuses": statuses}
    latencies = sorted((finished - recorded).total_seconds() * 1000 for recorded, finished in done)
    span = (max(f for _, f in done) - min(r for r, _ in done)).total_seconds()
    return {
        "events": len(event_ids),
        "finished": len(done),
        "statuses": statuses,
        "seconds": round(span, 2),
        "events_per_second": round(len(done) / span, 1) if span else None,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            "max": round(latencies[-1], 1),
        },
    }


def run_round(workers: int, events: int, paced_events: int) -> dict[str, Any]:
    """One worker count: a saturation phase, then a paced phase at a third of that rate."""
    workspace, rule = prepare()
    customers = new_customers(workspace, events + paced_events + 20)
    purge_queues()
    procs = start_workers(workers)
    try:
        # Warm-up: the workers import, connect and compile the rule before the clock starts.
        warm = store_events(workspace, customers[-20:], None)
        wait_finished(rule, warm)
        t0 = time.monotonic()
        saturated_ids = store_events(workspace, customers[:events], None)
        stored = time.monotonic()
        wait_finished(rule, saturated_ids)
        print(
            f"  {workers} worker(s): {events} events stored in {stored - t0:.1f} s, "
            f"finished {time.monotonic() - t0:.1f} s after the first",
            flush=True,
        )
        saturated = figures(rule, saturated_ids)
        wait_idle(workspace)
        rate = (saturated.get("events_per_second") or 20) / 3
        paced_ids = store_events(workspace, customers[events : events + paced_events], rate)
        wait_finished(rule, paced_ids)
        paced = figures(rule, paced_ids)
        paced["rate"] = round(rate, 1)
    finally:
        stop_workers(procs)
    return {"workers": workers, "saturated": saturated, "paced": paced}


def main() -> None:
    """Run the rounds, print a table and write bench/results/engine.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--paced-events", type=int, default=60)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    args = parser.parse_args()

    began = time.monotonic()
    ensure_database()
    setup_django()
    rounds = [
        run_round(int(count), args.events, args.paced_events) for count in args.workers.split(",")
    ]
    print()
    print(f"Engine: customer_tagged -> enroll_journey, {args.events} events at saturation")
    print(f"{'workers':>7} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} | "
          f"{'paced/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")  # fmt: skip
    for result in rounds:
        sat, paced = result["saturated"], result["paced"]
        print(
            f"{result['workers']:>7} {sat.get('events_per_second', '-')!s:>9} "
            f"{sat.get('latency_ms', {}).get('p50', '-')!s:>8} "
            f"{sat.get('latency_ms', {}).get('p99', '-')!s:>8} | "
            f"{paced.get('rate', '-')!s:>8} "
            f"{paced.get('latency_ms', {}).get('p50', '-')!s:>8} "
            f"{paced.get('latency_ms', {}).get('p99', '-')!s:>8}  "
            f"{sat['statuses']} {paced['statuses']}"
        )
    output = {
        "benchmark": "engine",
        "at": datetime.now(UTC).isoformat(),
        "rule": "customer_tagged (vip) -> enroll_journey",
        "events": args.events,
        "paced_events": args.paced_events,
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "engine.json").write_text(json.dumps(output, indent=2) + "\n")
    print(f"\nWritten to {results / 'engine.json'} in {output['wall_seconds']} s.")


if __name__ == "__main__":
    main()
