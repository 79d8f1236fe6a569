"""Benchmark webhook ingestion: gunicorn + PostgreSQL, signed deliveries, requests/s and latency.

Not a test: it prints figures. It migrates a benchmark database, creates a workspace and a
Standard Webhooks endpoint (no rate limit), serves the app with gunicorn (2 workers,
production-like settings: DEBUG off), then drives signed deliveries with unique ids from an
async httpx client over 32 connections for ~10 seconds::

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 32] [--threads 4]

Environment: BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/tw_bench, created if
missing), BENCH_BROKER_URL (default redis://127.0.0.1:6379/14; its dispatch queue is purged at
the end, since no worker drains it here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
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
}


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


def start_gunicorn(port: int, threads: int) -> subprocess.Popen[bytes]:
    """Start gunicorn with 2 workers and wait until it listens."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
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


async def drive(url: str, secret: str, seconds: float, connections: int) -> None:
    """Post signed deliveries from ``connections`` concurrent senders; print the figures."""
    import httpx
    from standardwebhooks.webhooks import Webhook

    hook = Webhook(secret)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    deadline = time.monotonic() + seconds

    async def sender(client: httpx.AsyncClient, n: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            msg_id = f"msg_{n}_{i}_{uuid.uuid4().hex[:8]}"
            body = f'{{"type": "bench.tick", "sender": {n}, "n": {i}}}'
            now = datetime.now(UTC)
            headers = {
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": hook.sign(msg_id=msg_id, timestamp=now, data=body),
            }
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                statuses[response.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[-1] += 1
                print(f"error: {exc!r}", file=sys.stderr)
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client, n) for n in range(connections)))
        elapsed = time.perf_counter() - started

    total = sum(statuses.values())
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    print(f"requests:      {total} in {elapsed:.1f} s over {connections} connections")
    print(f"throughput:    {total / elapsed:.0f} requests/s")
    print(f"latency p50:   {quantiles[49]:.1f} ms")
    print(f"latency p99:   {quantiles[98]:.1f} ms")
    print(f"status codes:  {dict(sorted(statuses.items()))}")


def purge_queue() -> None:
    """Empty the dispatch queue the benchmark filled (no worker runs here)."""
    from kombu import Connection

    with Connection(BROKER_URL) as conn:
        queue = conn.SimpleQueue("ingest")
        purged = queue.clear()
        queue.close()
    print(f"purged {purged} dispatch message(s) from {BROKER_URL}")


def main() -> None:
    """Set up, serve, drive, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    args = parser.parse_args()

    ensure_database()
    token, secret = create_endpoint()
    port = free_port()
    proc = start_gunicorn(port, args.threads)
    print(f"gunicorn: 2 workers x {args.threads} threads (gthread), DEBUG off, {DATABASE_URL}")
    try:
        url = f"http://127.0.0.1:{port}/hooks/{token}"
        asyncio.run(drive(url, secret, args.seconds, args.connections))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        purge_queue()


if __name__ == "__main__":
    main()
