"""Benchmark webhook ingestion against a bare DRF view, on gunicorn + PostgreSQL + Redis.

Not a test: it prints figures. It migrates a benchmark database, creates a workspace and a
Standard Webhooks endpoint (no rate limit), serves the app with gunicorn (production-like
settings: DEBUG off, WARNING logs, persistent database connections) and ``TYPEWIRE_BENCH=1``,
which routes the bare DRF baseline ``POST /bench/hello`` (``config/bench.py``). Then, with wrk
(``apt-get install wrk``) over 32 connections for ``--seconds`` each, after a short warm-up:

1. **hello**: the same ~300-byte JSON body to ``/bench/hello`` (parse JSON, answer 200);
2. **ingest**: pre-signed Standard Webhooks deliveries with unique ids to ``/hooks/<token>``
   (signed just before the run, well inside the 5-minute window; wrk replays them, so the load
   generator spends no CPU on signing).

It prints requests/s, p50/p95/p99 and errors for each, the ingest/hello ratio, and checks the
database: every 202 must be a stored event (lost events and non-2xx answers are errors). Writes
``bench/results/ingest.json``::

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 32] [--workers 2]
        [--threads 4] [--wrk-threads 2]

Environment: BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/tw_bench, created if
missing), BENCH_BROKER_URL (default redis://127.0.0.1:6379/14; its dispatch queue is purged at
the end, since no worker drains it here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tw_bench")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
ENV = {
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "TYPEWIRE_REDIS_URL": BROKER_URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
    "FIELD_ENCRYPTION_KEY": "uicTjyxFcOI50OfxEU2USLeTK_F20nk2E9evTpkSXEA=",
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "TYPEWIRE_BENCH": "1",
}
RESULTS = ROOT / "bench" / "results" / "ingest.json"
BODY_PAD = "x" * 200  # brings the JSON body to ~300 bytes, the reference size
# Replays pre-built requests (one per line: path, then headers and body separated by tabs);
# each wrk thread takes every n-th line so no two connections send the same delivery.
WRK_SCRIPT = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  requests = {}
  local nthreads = tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local path, msg_id, ts, sig, body = line:match("^(.-)\t(.-)\t(.-)\t(.-)\t(.*)$")
      local headers = {["Content-Type"] = "application/json"}
      if msg_id ~= "" then
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = ts
        headers["webhook-signature"] = sig
      end
      table.insert(requests, wrk.format("POST", path, headers, body))
    end
    i = i + 1
  end
  n = 0
end
function request()
  n = n + 1
  if n > #requests then n = 1 end
  return requests[n]
end
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
end
"""


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


def create_endpoint() -> tuple[str, str]:
    """Create a workspace and an unlimited Standard Webhooks endpoint; return token and secret."""
    os.environ.update(ENV)
    import django

    django.setup()
    from accounts.models import Workspace
    from webhooks import services

    workspace, _ = Workspace.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    revealed = services.create_endpoint(
        workspace=workspace,
        name=f"bench {uuid.uuid4().hex[:6]}",
        preset="standard_webhooks",
        rate_limit_per_minute=0,
    )
    return revealed.endpoint.token, revealed.secret


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    """Start gunicorn (gthread workers, keep-alive) and wait until it listens."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--config",
            str(ROOT / "config" / "gunicorn.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **ENV},
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit("gunicorn did not start")


def write_requests(path: Path, url_path: str, secret: str | None, count: int) -> None:
    """Write ``count`` requests for the wrk script; signed with unique ids when ``secret``."""
    from standardwebhooks.webhooks import Webhook

    hook = Webhook(secret) if secret else None
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    lines = []
    for i in range(count):
        body = json.dumps({"type": "bench.tick", "n": i, "run": run, "pad": BODY_PAD})
        if hook is None:
            lines.append(f"{url_path}\t\t\t\t{body}")
            continue
        msg_id = f"msg_{run}_{i}"
        signature = hook.sign(msg_id=msg_id, timestamp=now, data=body)
        lines.append(f"{url_path}\t{msg_id}\t{int(now.timestamp())}\t{signature}\t{body}")
    path.write_text("\n".join(lines) + "\n")


def run_wrk(
    base: str, script: Path, data: Path, *, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    """Run wrk with the replay script; return its summary (latencies in microseconds)."""
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
            "--",
            str(data),
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def figures(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Turn a wrk summary into the reported figures (requests/s, ms, errors)."""
    seconds = summary["duration_us"] / 1e6
    errors = sum(summary[key] for key in ("connect", "read", "write", "status", "timeout"))
    return {
        "scenario": name,
        "requests": summary["requests"],
        "requests_per_s": round(summary["requests"] / seconds, 1),
        "p50_ms": round(summary["p50_us"] / 1000, 2),
        "p95_ms": round(summary["p95_us"] / 1000, 2),
        "p99_ms": round(summary["p99_us"] / 1000, 2),
        "max_ms": round(summary["max_us"] / 1000, 2),
        "errors": errors,
    }


def stored_outcomes(token: str) -> dict[str, int]:
    """Count the endpoint's delivery rows by status code, and its stored events."""
    from django.db.models import Count

    from catalog.models import Event
    from webhooks.models import Endpoint, InboundDelivery

    endpoint = Endpoint.objects.get(token=token)
    rows = (
        InboundDelivery.objects.filter(endpoint=endpoint)
        .values("status_code")
        .annotate(n=Count("id"))
    )
    counts = {str(row["status_code"]): row["n"] for row in rows}
    counts["events"] = Event.objects.filter(
        workspace_id=endpoint.workspace_id, dedupe_key__startswith=f"hook:{endpoint.pk}:"
    ).count()
    return counts


def purge_queue() -> None:
    """Empty the dispatch queue the benchmark filled (no worker runs here)."""
    from kombu import Connection

    with Connection(BROKER_URL) as conn:
        queue = conn.SimpleQueue("ingest")
        purged = queue.clear()
        queue.close()
    print(f"purged {purged} dispatch message(s) from {BROKER_URL}")


def main() -> None:
    """Set up, serve, drive hello then ingest, report, clean up."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--max-rate", type=int, default=4000, help="requests/s to pre-sign for (unique ids)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    ensure_database()
    token, secret = create_endpoint()
    warm_token, warm_secret = create_endpoint()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_gunicorn(port, args.workers, args.threads)
    setup = (
        f"gunicorn: {args.workers} workers x {args.threads} threads (gthread), DEBUG off; "
        f"wrk: {args.wrk_threads} threads, {args.connections} connections, {args.seconds:.0f} s"
    )
    print(setup)
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "replay.lua"
            script.write_text(WRK_SCRIPT)
            count = int(args.max_rate * args.seconds)
            hello, warm, hooks = Path(tmp) / "hello", Path(tmp) / "warm", Path(tmp) / "hooks"
            write_requests(hello, "/bench/hello", None, 1000)
            write_requests(warm, f"/hooks/{warm_token}", warm_secret, 4000)
            write_requests(hooks, f"/hooks/{token}", secret, count)
            common = {"connections": args.connections, "threads": args.wrk_threads}
            # Warm-up: every worker thread opens its database and broker connections.
            run_wrk(base, script, warm, seconds=2, **common)
            run_wrk(base, script, hello, seconds=2, **common)
            for name, data in (("hello", hello), ("ingest", hooks)):
                summary = run_wrk(base, script, data, seconds=args.seconds, **common)
                results.append(figures(name, summary))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        purge_queue()

    stored = stored_outcomes(token)
    hello_rps, ingest = results[0]["requests_per_s"], results[1]
    ingest["stored"] = stored
    ingest["lost_events"] = max(0, stored.get("202", 0) - stored["events"])
    ingest["ratio_to_hello"] = round(ingest["requests_per_s"] / hello_rps, 3) if hello_rps else 0
    print(f"{'scenario':<8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for row in results:
        print(
            f"{row['scenario']:<8} {row['requests_per_s']:>8.0f} {row['p50_ms']:>8.1f} "
            f"{row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['errors']:>7}"
        )
    print(f"ingest / hello: {ingest['ratio_to_hello']:.0%}")
    print(f"stored: {stored} (lost events: {ingest['lost_events']})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"setup": setup, "machine_cpus": os.cpu_count(), "results": results}, indent=2)
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    if ingest["errors"] or ingest["lost_events"] or results[0]["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
