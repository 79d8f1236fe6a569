"""Run the real web app under gunicorn in a subprocess, with environment overrides."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.workers import ROOT, log_path, test_database_url


def free_port() -> int:
    """Return a TCP port nothing listens on right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(
    env_overrides: dict[str, str] | None = None,
    *,
    workers: int = 1,
    name: str = "hooks",
    production: bool = False,
) -> Iterator[str]:
    """Serve config.wsgi on a free port until the block ends; yield its base URL.

    The app uses this test session's database unless ``env_overrides`` names another. With
    ``production``, gunicorn runs with ``config/gunicorn.py`` (gevent workers, a database pool
    per process), as the Procfile runs it; else with gunicorn's defaults.
    """
    port = free_port()
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.update(env_overrides or {})
    gunicorn_log = log_path("gunicorn", name)
    log = open(gunicorn_log, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            *(["--config", str(ROOT / "config" / "gunicorn.py")] if production else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {gunicorn_log}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not listen: see {gunicorn_log}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
