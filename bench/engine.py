"""Scenario ``e2e``: webhook deliveries through dispatch to a finished internal action.

A rule tags the customer named in each delivery (webhook_received -> ``tag``; the tag emits
customer_tagged, dispatched too, as in production). For each worker count (one-process Celery
workers, ``--concurrency 1`` each, production settings: acks late, prefetch 1):

1. **saturation**: ``saturation_events`` deliveries are stored by wrk while no worker runs, then
   the workers start together; executions/s = executions finished after the moment all were
   ready / (last finished_at - that moment), or, for a backlog drained before that moment (the
   quick profile's few hundred), its executions less the first / (last - first finished_at);
2. **paced**: deliveries at a fixed offered rate (100/s) from a small thread pool of keep-alive
   connections, for ``paced_seconds``; event -> effect latency is read from the database: the
   tag step's ``finished_at`` minus the event's ``recorded_at`` (p50/p99).

Every delivery answered 2xx must be a stored event, and every stored event must reach a finished
execution: work left when the engine makes no progress for 20 s counts as lost (work left at
the ``limit`` cap by a slow engine is reported, not lost).

Run through the suite: ``.venv/bin/python -m bench --only e2e``;
``.venv/bin/python bench/engine.py`` does the same.
"""

from __future__ import annotations

import http.client
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.harness import Bench


def send_paced(base_url: str, lines: list[str], rate: float, senders: int = 32) -> dict[str, Any]:
    """POST pre-signed deliveries at ``rate`` per second; return counts and client latency."""
    parts = urlsplit(base_url)
    local = threading.local()

    def send(line: str) -> tuple[int, float]:
        path, msg_id, stamp, signature, body = line.split("\t", 4)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": signature,
        }
        started = time.perf_counter()
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request("POST", path, body=body.encode(), headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            local.conn = None
            status = 0
        return status, (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(senders) as pool:
        start = time.perf_counter()
        futures = []
        for n, line in enumerate(lines):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(send, line))
        results = [future.result() for future in futures]
        elapsed = time.perf_counter() - start
    ok = sum(1 for status, _ in results if 200 <= status < 300)
    return {
        "sent": len(lines),
        "ok": ok,
        "errors": len(lines) - ok,
        "offered_per_s": rate,
        "achieved_per_s": round(len(lines) / elapsed, 1) if elapsed else 0.0,
        "client": harness.latency_figures([ms for _, ms in results]),
    }


def _effect_latencies(rule: Any, since: datetime) -> list[float]:
    """Milliseconds from each event (recorded since ``since``) to its tag step's end."""
    from automations.models import StepRun

    rows = StepRun.objects.filter(
        execution__rule=rule,
        execution__event__recorded_at__gte=since,
        finished_at__isnull=False,
    ).values_list("execution__event__recorded_at", "finished_at")
    return [(finished - recorded).total_seconds() * 1000 for recorded, finished in rows]


def _round(
    bench: Bench,
    hook: harness.Hook,
    rule: Any,
    workers: int,
    *,
    saturation_events: int,
    paced_seconds: float,
    rate: float,
    limit: float,
) -> dict[str, Any]:
    """One worker count: saturation, then the paced run."""
    from django.db.models import Count, Max, Min

    from automations.models import Execution

    paced_count = int(rate * paced_seconds)
    customers = harness.new_customers(hook.workspace, saturation_events + paced_count)
    bodies = [{"type": "bench.e2e", "customer_id": c, "n": i} for i, c in enumerate(customers)]
    lines = harness.signed_lines(hook, hook.path, bodies)
    saturation_lines, paced_lines = lines[:saturation_events], lines[saturation_events:]
    executions = Execution.objects.filter(rule=rule)
    finished = executions.filter(finished_at__isnull=False)
    before_events = harness.webhook_events(hook).count()
    before_finished = finished.count()

    # 1. saturation: a stored backlog, then every worker at once.
    with tempfile.TemporaryDirectory() as tmp:
        data = harness.write_lines(Path(tmp), "saturation", saturation_lines)
        summary = harness.run_wrk(bench.base_url, data, seconds=limit, once=True)
    stored = harness.webhook_events(hook).count() - before_events
    sent = harness.wrk_figures(summary)
    starting_at = datetime.now(UTC)
    bench.start_workers(workers)
    ready_at = datetime.now(UTC)
    target = before_finished + saturation_events
    drained = harness.wait_drained(finished.count, target, cap=limit)
    in_window = finished.filter(finished_at__gte=ready_at)
    last = in_window.aggregate(last=Max("finished_at"))["last"]
    span = (last - ready_at).total_seconds() if last else 0.0
    drain_rate = round(in_window.count() / span, 1) if span else None
    if drain_rate is None:  # drained while the workers were starting
        backlog = finished.filter(finished_at__gte=starting_at).aggregate(
            count=Count("pk"), first=Min("finished_at"), last=Max("finished_at")
        )
        if backlog["count"] > 1 and backlog["last"] > backlog["first"]:
            whole = (backlog["last"] - backlog["first"]).total_seconds()
            drain_rate = round((backlog["count"] - 1) / whole, 1)
    saturation = {
        "events": saturation_events,
        "answered_2xx": sent["ok"],
        "errors": sent["errors"],
        "stored_events": stored,
        "lost_events": max(0, sent["ok"] - stored),
        "drained": drained,
        "executions_per_s": drain_rate,
    }

    # 2. paced: a fixed offered rate, the engine keeping up.
    paced_since = datetime.now(UTC)
    paced = send_paced(bench.base_url, paced_lines, rate)
    target = before_finished + saturation_events + paced["ok"]
    paced["drained"] = harness.wait_drained(finished.count, target, cap=limit)
    paced["stored_events"] = (
        harness.webhook_events(hook).filter(recorded_at__gte=paced_since).count()
    )
    paced["lost_events"] = max(0, paced["ok"] - paced["stored_events"])
    paced["event_to_effect"] = harness.latency_figures(_effect_latencies(rule, paced_since))
    unfinished = executions.filter(finished_at__isnull=True).count()
    bench.stop_workers()
    missing = max(0, harness.webhook_events(hook).count() - finished.count())
    # Work left when the engine stopped making progress is lost; left by a slow engine at the
    # cap, it is only late.
    stalled = "stalled" in (drained, paced["drained"])
    return {
        "workers": workers,
        "saturation": saturation,
        "paced": paced,
        "unfinished_executions": unfinished,
        "events_without_finished_execution": missing,
        "lost_events": missing if stalled else 0,
    }


def run_end_to_end(
    bench: Bench,
    *,
    worker_counts: tuple[int, ...] = (1, 2),
    saturation_events: int = 1000,
    paced_seconds: float = 10.0,
    rate: float = 100.0,
    limit: float = 90.0,
) -> dict[str, Any]:
    """Run a round per worker count; return their figures."""
    hook, rule = harness.tagging_hook("bench-e2e", "e2e")
    rounds = [
        _round(
            bench,
            hook,
            rule,
            workers,
            saturation_events=saturation_events,
            paced_seconds=paced_seconds,
            rate=rate,
            limit=limit,
        )
        for workers in worker_counts
    ]
    harness.skip_pending(hook)
    bench.purge_queues()
    return {"rate": rate, "rounds": rounds}


if __name__ == "__main__":
    from bench.run import main

    main(["--only", "e2e", *sys.argv[1:]])
