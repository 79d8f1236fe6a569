"""The benchmark suite: start the stack, run each scenario for a bounded time, print one table.

``make bench`` (or ``.venv/bin/python -m bench``) recreates the bench database, starts gunicorn
(2 workers x 8 threads, ``config/gunicorn.py``) with production settings and
``TYPEWIRE_BENCH=1`` through ``ops/stack.py``, then runs the scenarios, starting and stopping
Celery workers as each needs:

- ``ingest``: signed webhook deliveries vs the bare DRF hello, 32 connections (bench/ingest.py);
- ``e2e``: deliveries to a finished tag action with 1 and 2 workers (bench/engine.py);
- ``burst``: 20,000 deliveries at once, with workers running (bench/ingest.py);
- ``fanout``: dispatch among 10,000 rules, the checker at 5,000 (bench/fanout.py);

and the peak memory of a gunicorn worker and of a Celery worker over the whole run. It prints
one table and writes ``bench/results/<scenario>.json`` and ``bench/results/summary.json``.

``--quick`` is the CI profile (ingest and e2e, about a minute). The exit status is 1 only when a
request failed or an accepted event was lost; figures never fail a run.

Environment: BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/tw_bench, dropped and
created again), BENCH_BROKER_URL (redis://127.0.0.1:6379/14) and BENCH_REDIS_URL
(redis://127.0.0.1:6379/15), both emptied first.
"""

from __future__ import annotations

import argparse
import os
import platform
import runpy
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, Bench, MemorySampler, ensure_wrk, setup_django, write_result
from ops.stack import Stack

SCENARIOS = ("ingest", "e2e", "burst", "fanout")
QUICK = ("ingest", "e2e")
LOG_DIR = ROOT / "var" / "bench"


def web_setup(workers: int) -> str:
    """Describe the web process as config/gunicorn.py sets it up (GUNICORN_CMD_ARGS aside)."""
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    worker = str(config["worker_class"]).rsplit(".", 1)[-1]
    pool = dict(item.split("=", 1) for item in config["raw_env"]).get("DB_POOL_SIZE", "0")
    described = f"gunicorn {workers} workers ({worker}, database pool of {pool} each)"
    if extra := os.environ.get("GUNICORN_CMD_ARGS"):
        described += f", GUNICORN_CMD_ARGS={extra!r}"
    return described


def machine() -> dict[str, Any]:
    """CPUs, memory and CPU model of this machine (Linux ``/proc``)."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; ``--quick`` sets the CI profile's defaults."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI profile: ingest and e2e, short")
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, help="run this scenario (repeatable)"
    )
    parser.add_argument("--ingest-seconds", type=float, help="ingest run (default 20, quick 6)")
    parser.add_argument("--hello-seconds", type=float, help="hello run (default 10, quick 4)")
    parser.add_argument(
        "--ingest-rounds", type=int, help="hello and ingest take turns (default 5, quick 2)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--e2e-workers", help="worker counts, comma-separated (default 1,2, quick 2)"
    )
    parser.add_argument("--saturation-events", type=int, help="default 2000, quick 200")
    parser.add_argument("--paced-seconds", type=float, help="at 100/s (default 20, quick 3)")
    parser.add_argument("--rate", type=float, default=100.0, help="paced offered rate, per s")
    parser.add_argument(
        "--limit", type=float, help="cap on an e2e drain, s (default 300, quick 60)"
    )
    parser.add_argument("--burst", type=int, default=20_000, help="deliveries in the burst")
    parser.add_argument("--burst-limit", type=float, default=240.0, help="seconds to drain")
    parser.add_argument(
        "--burst-workers", type=int, default=2, help="Celery workers during the burst"
    )
    parser.add_argument("--rules", type=int, default=10_000, help="fan-out workspace size")
    parser.add_argument("--dispatch-events", type=int, default=50)
    parser.add_argument("--checker-rules", type=int, default=5000)
    args = parser.parse_args(argv)
    args.scenarios = tuple(args.only or (QUICK if args.quick else SCENARIOS))
    defaults = {
        "ingest_seconds": (20.0, 6.0),
        "hello_seconds": (10.0, 4.0),
        "ingest_rounds": (5, 2),
        "e2e_workers": ("1,2", "2"),
        "saturation_events": (2000, 200),
        "paced_seconds": (20.0, 3.0),
        "limit": (300.0, 60.0),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def _flush_redis(*urls: str) -> None:
    import redis

    for url in urls:
        redis.Redis.from_url(url).flushdb()


def run_scenarios(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen scenarios in order; return their results by name."""
    from bench.engine import run_end_to_end
    from bench.fanout import run_fanout
    from bench.ingest import run_burst, run_ingest

    results: dict[str, Any] = {}
    for name in SCENARIOS:
        if name not in args.scenarios:
            continue
        print(f"-- {name}", flush=True)
        began = time.monotonic()
        if name == "ingest":
            result = run_ingest(
                bench,
                seconds=args.ingest_seconds,
                hello_seconds=args.hello_seconds,
                rounds=args.ingest_rounds,
                connections=args.connections,
            )
        elif name == "e2e":
            result = run_end_to_end(
                bench,
                worker_counts=tuple(int(n) for n in args.e2e_workers.split(",")),
                saturation_events=args.saturation_events,
                paced_seconds=args.paced_seconds,
                rate=args.rate,
                limit=args.limit,
            )
        elif name == "burst":
            result = run_burst(
                bench,
                count=args.burst,
                workers=args.burst_workers,
                connections=args.connections,
                limit=args.burst_limit,
            )
        else:
            result = run_fanout(
                bench,
                rules=args.rules,
                events=args.dispatch_events,
                checker_rules=args.checker_rules,
            )
        result["wall_seconds"] = round(time.monotonic() - began, 1)
        results[name] = result
        write_result(name, result)
    return results


def _ms(figures: dict[str, Any]) -> str:
    return f"{figures['p50_ms']:.1f} / {figures['p95_ms']:.1f} / {figures['p99_ms']:.1f}"


def _cpu(figures: dict[str, Any], *kinds: str) -> str:
    """CPU milliseconds per request of the given process kinds, " / "-separated."""
    return " / ".join(f"{figures.get(f'{kind}_cpu_ms_per_request', 0.0):.2f}" for kind in kinds)


def _ratio(ingest: dict[str, Any]) -> str:
    text = f"{ingest['ratio_to_hello']:.0%}"
    if len(each := ingest.get("ratio_by_round", ())) > 1:
        text += f" (median; rounds {min(each):.0%}-{max(each):.0%})"
    return text


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(scenario, figure, value, target) rows for the table."""
    rows: list[tuple[str, str, str, str]] = []
    if (ingest := results.get("ingest")) is not None:
        hello, hooks = ingest["hello"], ingest["ingest"]
        rows += [
            ("ingest", "hello (bare DRF) req/s", f"{hello['requests_per_s']:.0f}", ""),
            ("ingest", "hello p50 / p95 / p99 ms", _ms(hello), ""),
            ("ingest", "webhook req/s", f"{hooks['requests_per_s']:.0f}", ">= 1000"),
            ("ingest", "webhook p50 / p95 / p99 ms", _ms(hooks), "p99 < 50"),
            ("ingest", "webhook / hello", _ratio(ingest), ">= 60 %"),
            ("ingest", "errors / lost events", f"{hooks['errors']} / {hooks['lost_events']}", "0"),
            ("ingest", "CPU ms/request: hello web", _cpu(hello, "web"), ""),
            ("ingest", "CPU ms/request: webhook web / PG", _cpu(hooks, "web", "postgres"), ""),
        ]
    if (e2e := results.get("e2e")) is not None:
        for found in e2e["rounds"]:
            n, sat, paced = found["workers"], found["saturation"], found["paced"]
            effect = paced["event_to_effect"]
            rows += [
                ("e2e", f"{n} worker(s): executions/s", str(sat["executions_per_s"]),
                 ">= 300 (2 workers)"),
                ("e2e", f"{n} worker(s): effect p50 / p99 ms at {e2e['rate']:.0f}/s",
                 f"{effect['p50_ms']:.0f} / {effect['p99_ms']:.0f}", "p99 < 1000"),
                ("e2e", f"{n} worker(s): errors / lost",
                 f"{sat['errors'] + paced['errors']} / {found['lost_events']}"
                 + (f" ({late} unfinished at the cap)"
                    if (late := found["events_without_finished_execution"]) else ""), "0"),
            ]  # fmt: skip
    if (burst := results.get("burst")) is not None:
        drain = f"{burst['drain_seconds']} s" if burst["drained"] else (
            f"not drained in {burst['limit_seconds']:.0f} s "
            f"({burst['finished_executions']} finished)"
        )  # fmt: skip
        rows += [
            ("burst", f"{burst['deliveries']} deliveries: all 2xx",
             f"{'yes' if burst['all_2xx'] else 'no'} ({burst['answered_2xx']})", "yes"),
            ("burst", "accepted in / rate",
             f"{burst['accept_seconds']} s / {burst['accept_per_s']}/s", ""),
            ("burst", f"drained ({burst['workers']} workers)", drain, "< 60 s"),
            ("burst", "backlog peak: events / executions",
             f"{burst['peak_pending_events']} / {burst['peak_unfinished_executions']}", ""),
        ]  # fmt: skip
    if (fanout := results.get("fanout")) is not None:
        dispatch, checker = fanout["dispatch"], fanout["checker"]
        rows += [
            ("fanout", f"dispatch, {dispatch['matching_rules']} of {dispatch['rules']} rules, ms",
             f"{dispatch['median_ms']} (p95 {dispatch['p95_ms']})", "< 20"),
            ("fanout", f"checker, 1 rule of {checker['rules']}, ms",
             f"{checker['median_ms']} (p95 {checker['p95_ms']})", "< 50"),
        ]  # fmt: skip
    if (memory := results.get("memory")) is not None:
        rows += [
            ("memory", "gunicorn worker peak RSS MB", str(memory["web_worker_peak_mb"]), "< 150"),
            ("memory", "Celery worker peak RSS MB", str(memory["celery_worker_peak_mb"]), "< 200"),
        ]
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    """Print the rows as one Markdown table."""
    header = ("scenario", "figure", "value", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def failures(results: dict[str, Any]) -> list[str]:
    """Request errors and lost events, the only things that fail a run."""
    found = []
    if (ingest := results.get("ingest")) is not None:
        for name in ("hello", "ingest"):
            if ingest[name]["errors"]:
                found.append(f"{name}: {ingest[name]['errors']} request error(s)")
        if ingest["ingest"]["lost_events"]:
            found.append(f"ingest: {ingest['ingest']['lost_events']} lost event(s)")
    for found_round in results.get("e2e", {}).get("rounds", []):
        n = found_round["workers"]
        errors = found_round["saturation"]["errors"] + found_round["paced"]["errors"]
        lost = found_round["lost_events"] + found_round["saturation"]["lost_events"]
        lost += found_round["paced"]["lost_events"]
        if errors:
            found.append(f"e2e ({n} workers): {errors} request error(s)")
        if lost:
            found.append(f"e2e ({n} workers): {lost} lost event(s)")
    if (burst := results.get("burst")) is not None:
        if burst["errors"]:
            found.append(f"burst: {burst['errors']} request error(s)")
        if burst["lost_events"]:
            found.append(f"burst: {burst['lost_events']} lost event(s)")
    return found


def main(argv: list[str] | None = None) -> None:
    """Run the suite; exit 1 on request errors or lost events."""
    args = parse_args(argv)
    ensure_wrk()
    began = time.monotonic()
    host = machine()
    print(
        f"Typewire bench ({'quick' if args.quick else 'full'}): {', '.join(args.scenarios)} on "
        f"{host['cpus']} CPU(s), {host['memory_gb']} GB, {host['cpu_model']}",
        flush=True,
    )
    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    _flush_redis(broker, redis_url)
    stack = Stack(
        database_url=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tw_bench"
        ),
        broker_url=broker,
        redis_url=redis_url,
        log_dir=LOG_DIR,
        extra_env={"TYPEWIRE_BENCH": "1"},
    )
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    with stack:
        stack.prepare_database(recreate=True)
        setup_django(stack)
        base = stack.start_web(workers=args.web_workers)
        bench = Bench(stack=stack, base_url=base, quick=args.quick)
        bench.memory = MemorySampler(bench)
        try:
            results = run_scenarios(bench, args)
        finally:
            bench.stop_workers()
            memory = bench.memory.close()
    results["memory"] = memory
    setup = {
        "profile": "quick" if args.quick else "full",
        "web": web_setup(args.web_workers),
        "connections": args.connections,
        "machine": host,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    rows = table_rows(results)
    write_result("summary", {"setup": setup, "table": rows, "results": results})
    print()
    print_table(rows)
    print(f"\n{setup['web']}; logs in {LOG_DIR.relative_to(ROOT)}; {setup['wall_seconds']} s.")
    problems = failures(results)
    for problem in problems:
        print(f"FAILED: {problem}")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
