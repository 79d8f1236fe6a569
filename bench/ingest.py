"""Scenarios ``ingest`` and ``burst``: webhook deliveries over HTTP, replayed by wrk.

**ingest** (no Celery worker runs): after a short warm-up, the bare DRF ``POST /bench/hello``
(``config/bench.py``, routed with ``TYPEWIRE_BENCH=1``) and then pre-signed Standard Webhooks
deliveries with unique ids at ``/hooks/<token>``, each for a bounded time over 32 connections:
requests/s, p50/p95/p99, errors, and the ingest/hello ratio (the median of the rounds' ratios).
Every 2xx wrk saw must be a stored event (``lost``). The stored events are then taken out of
dispatch and the queues purged.

**burst**: with workers running and a rule that tags the delivery's customer, 20,000
deliveries sent once each as fast as wrk can: whether all were answered 2xx, how long they took
to be accepted and to drain to finished executions, and the backlog peak (pending events and
unfinished executions, sampled twice a second).

Run through the suite: ``.venv/bin/python -m bench --only ingest`` (or ``--only burst``);
``.venv/bin/python bench/ingest.py`` does the same for ingest.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.harness import Bench


def run_ingest(
    bench: Bench,
    *,
    seconds: float,
    hello_seconds: float,
    rounds: int = 5,
    connections: int = 32,
    wrk_threads: int = 2,
    max_rate: int = 5000,
) -> dict[str, Any]:
    """Drive hello and ingest in turns; return both figures, the ratio and the lost events.

    The two alternate over ``rounds`` (hello, then ingest, each for its share of its time), so
    that a machine whose speed drifts during the run (a shared host) weighs on both alike.
    """
    workspace = harness.bench_workspace("bench-ingest")
    hook, warm = harness.create_hook(workspace), harness.create_hook(workspace)
    per_round = int(max_rate * seconds / rounds)
    common = {"connections": connections, "threads": wrk_threads}
    hello_runs: list[dict[str, Any]] = []
    hook_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ticks = [{"type": "bench.tick", "n": i} for i in range(per_round * rounds)]
        sign, write = harness.signed_lines, harness.write_lines
        hello = write(folder, "hello", sign(None, "/bench/hello", ticks[:1000]))
        warm_file = write(folder, "warm", sign(warm, warm.path, ticks[:5000]))
        # Each round sends deliveries of its own: every request of a round is a new event.
        hooks = [
            write(folder, f"hooks{n}", sign(hook, hook.path, ticks[n * per_round :][:per_round]))
            for n in range(rounds)
        ]
        # Warm-up: every gunicorn thread opens its database and broker connections.
        harness.run_wrk(bench.base_url, warm_file, seconds=2, **common)
        harness.run_wrk(bench.base_url, hello, seconds=2, **common)
        hello_cpu, hook_cpu = harness.CpuMeter(bench), harness.CpuMeter(bench)
        for data in hooks:
            hello_cpu.start()
            hello_runs.append(
                harness.run_wrk(bench.base_url, hello, seconds=hello_seconds / rounds, **common)
            )
            hello_cpu.stop()
            hook_cpu.start()
            hook_runs.append(
                harness.run_wrk(bench.base_url, data, seconds=seconds / rounds, **common)
            )
            hook_cpu.stop()
    hello_figures = harness.wrk_figures(harness.merge_wrk(hello_runs))
    hello_figures.update(hello_cpu.per_request_ms(hello_figures["requests"]))
    ingest = harness.wrk_figures(harness.merge_wrk(hook_runs))
    ingest.update(hook_cpu.per_request_ms(ingest["requests"]))
    stored = harness.webhook_events(hook).count()
    ingest["stored_events"] = stored
    # Past ``per_round`` requests wrk sends a round's deliveries again: answered 200 as
    # duplicates (and not counted as lost).
    ingest["replayed"] = sum(max(0, run["answered"] - per_round) for run in hook_runs)
    ingest["lost_events"] = max(0, ingest["ok"] - ingest["replayed"] - stored)
    hello_rps = hello_figures["requests_per_s"]
    by_round = [
        round(_rate(w) / _rate(h), 3) if _rate(h) else 0.0
        for h, w in zip(hello_runs, hook_runs, strict=True)
    ]
    # The median of the rounds' ratios: a round whose hello a busy host slowed moves it less
    # than it moves the ratio of the totals.
    totals = round(ingest["requests_per_s"] / hello_rps, 3) if hello_rps else 0.0
    for each in (hook, warm):
        harness.skip_pending(each)
    bench.purge_queues()
    return {
        "connections": connections,
        "seconds": seconds,
        "rounds": rounds,
        "hello": hello_figures,
        "ingest": ingest,
        "ratio_to_hello": round(statistics.median(by_round), 3),
        "ratio_of_totals": totals,
        "ratio_by_round": by_round,
    }


def _rate(summary: dict[str, Any]) -> float:
    return float(summary["answered"] / summary["duration_us"]) if summary["duration_us"] else 0.0


class BacklogSampler:
    """Sample a workspace's pending events and unfinished executions; keep the peaks."""

    def __init__(self, workspace: Any, rule: Any, interval: float = 0.5) -> None:
        """Start sampling in a thread (its own database connection)."""
        self.workspace, self.rule, self.interval = workspace, rule, interval
        self.peak_pending_events = 0
        self.peak_unfinished_executions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from django.db import connection

        from automations.models import Execution
        from catalog.models import Event, EventStatus

        try:
            while not self._stop.wait(self.interval):
                pending = Event.objects.filter(
                    workspace=self.workspace, status=EventStatus.PENDING
                ).count()
                unfinished = Execution.objects.filter(
                    rule=self.rule, finished_at__isnull=True
                ).count()
                self.peak_pending_events = max(self.peak_pending_events, pending)
                self.peak_unfinished_executions = max(self.peak_unfinished_executions, unfinished)
        finally:
            connection.close()

    def close(self) -> dict[str, int]:
        """Stop; return the peaks."""
        self._stop.set()
        self._thread.join(timeout=10)
        return {
            "peak_pending_events": self.peak_pending_events,
            "peak_unfinished_executions": self.peak_unfinished_executions,
        }


def run_burst(
    bench: Bench,
    *,
    count: int,
    workers: int = 2,
    connections: int = 32,
    wrk_threads: int = 2,
    limit: float = 240.0,
) -> dict[str, Any]:
    """Send ``count`` deliveries once each with workers running; time acceptance and drain."""
    from django.db.models import Max

    from automations.models import Execution

    hook, rule = harness.tagging_hook("bench-burst", "burst")
    customers = harness.new_customers(hook.workspace, count)
    bodies = [{"type": "bench.burst", "customer_id": c, "n": i} for i, c in enumerate(customers)]
    events = harness.webhook_events(hook)
    finished = Execution.objects.filter(rule=rule, finished_at__isnull=False)
    bench.start_workers(workers)
    with tempfile.TemporaryDirectory() as tmp:
        data = harness.write_lines(
            Path(tmp), "burst", harness.signed_lines(hook, hook.path, bodies)
        )
        sampler = BacklogSampler(hook.workspace, rule)
        began, began_at = time.monotonic(), datetime.now(UTC)
        summary = harness.run_wrk(
            bench.base_url,
            data,
            seconds=limit,
            connections=connections,
            threads=wrk_threads,
            once=True,
        )
    drained = harness.wait_drained(
        finished.count, count, cap=max(1.0, limit - (time.monotonic() - began))
    )
    backlog = sampler.close()
    bench.stop_workers()
    figures = harness.wrk_figures(summary)
    stored = events.count()
    last_event = events.aggregate(last=Max("recorded_at"))["last"]
    last_finished = finished.aggregate(last=Max("finished_at"))["last"]
    accept_s = (last_event - began_at).total_seconds() if last_event else None
    done = finished.count()
    result = {
        "deliveries": count,
        "workers": workers,
        "answered": figures["requests"],
        "answered_2xx": figures["ok"],
        "all_2xx": figures["ok"] == count and figures["errors"] == 0,
        "errors": figures["errors"],
        "stored_events": stored,
        # Accepted but not stored, or stored and never run by an engine that stopped progressing.
        "lost_events": max(0, figures["ok"] - stored)
        + (count - done if drained == "stalled" else 0),
        "accept_seconds": round(accept_s, 2) if accept_s else None,
        "accept_per_s": round(stored / accept_s, 1) if accept_s else None,
        "p99_ms": figures["p99_ms"],
        "finished_executions": done,
        "drained": drained == "drained",
        "drain_state": drained,
        "drain_seconds": round((last_finished - began_at).total_seconds(), 2)
        if drained == "drained" and last_finished
        else None,
        "limit_seconds": limit,
        **backlog,
    }
    # What did not drain within the limit stays out of the next scenarios.
    harness.skip_pending(hook)
    bench.purge_queues()
    return result


if __name__ == "__main__":
    from bench.run import main

    main(["--only", "ingest", *sys.argv[1:]])
