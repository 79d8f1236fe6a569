"""Start real Celery worker processes against the test database (no eager mode, no mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.lanes import LANE

ROOT = Path(__file__).resolve().parent.parent
QUEUES = "ingest,rules,outbound,periodic"


def log_path(kind: str, name: str) -> Path:
    """``var/<kind>-<name>[-<lane>].log``: where a process this lane starts writes its log."""
    return ROOT / "var" / f"{kind}-{name}{'-' + LANE if LANE else ''}.log"


def test_database_url() -> str:
    """Return a DATABASE_URL naming the database this test session really uses."""
    s = connection.settings_dict
    user = s.get("USER") or "root"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


@contextmanager
def celery_worker(
    broker_url: str | None = None,
    *,
    queues: str = QUEUES,
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    name: str = "test",
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``celery worker`` as a subprocess on the test database until the block ends."""
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    env.update(extra_env or {})
    worker_log = log_path("worker", name)
    log = open(worker_log, "wb")  # noqa: SIM115 - closed below
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "-n",
        f"{name}@%h",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        # Wait until the worker has declared its queues: AMQP drops messages to unbound queues.
        wait_for(lambda: b" ready." in worker_log.read_bytes() or proc.poll() is not None, 60)
        if proc.poll() is not None:
            raise RuntimeError(f"worker {name} exited: see {worker_log}")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@contextmanager
def celery_beat(
    *, name: str = "test", extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``celery beat`` (the project's DatabaseScheduler) on the test database in the block.

    Its log is ``log_path("beat", name)``; the block starts once beat has loaded its schedule.
    """
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.update(extra_env or {})
    beat_log = log_path("beat", name)
    log = open(beat_log, "wb")  # noqa: SIM115 - closed below
    cmd = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "DEBUG"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for(lambda: b"beat: Starting" in beat_log.read_bytes() or proc.poll() is not None)
        # "Starting" comes before the schedule is read: wait for its first tick too.
        wait_for(lambda: b"beat: Waking up" in beat_log.read_bytes() or proc.poll() is not None, 60)
        if proc.poll() is not None:
            raise RuntimeError(f"beat {name} exited: see {beat_log}")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def wait_for[T](
    predicate: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Poll ``predicate`` until it returns a truthy value; return it, or raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")
