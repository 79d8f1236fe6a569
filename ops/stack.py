"""Run the Typewire stack as real processes on 127.0.0.1, with production-like settings.

``Stack`` starts gunicorn (``config/gunicorn.py``), Celery workers, beat and any other
long-running process (a dispatcher, say) against a given PostgreSQL database and broker, each in
its own process group with its output in ``log_dir/<name>.log``, and stops every one of them on
exit. The benchmarks (``bench/``) and the tests that kill processes on purpose use it::

    with Stack(database_url=..., broker_url=..., log_dir=Path("var/stack")) as stack:
        stack.prepare_database()
        base = stack.start_web(workers=2)
        worker = stack.start_worker(concurrency=1)
        ...
        stack.kill(worker)  # SIGKILL to the worker's whole process group

Every process gets :meth:`Stack.env`: DEBUG off, fixed test secrets, WARNING logs, no HTTPS
redirect, hosts 127.0.0.1 and localhost. Nothing here imports Django, so the launcher can run
before the database exists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
QUEUES = "ingest,rules,outbound,periodic"
# Fixed, public test values: a stack started here never holds real data.
TEST_SECRET_KEY = "typewire-stack-secret-key-not-for-production-0123456789"
TEST_FIELD_ENCRYPTION_KEY = "uicTjyxFcOI50OfxEU2USLeTK_F20nk2E9evTpkSXEA="
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class StackError(RuntimeError):
    """A process of the stack did not start (its log file is named in the message)."""


@dataclass
class _Started:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def child_pids(pid: int) -> list[int]:
    """Return the direct children of ``pid`` (Linux ``/proc``); empty if it is gone."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children.extend(int(c) for c in (task / "children").read_text().split())
    return children


def peak_rss_kib(pid: int) -> int | None:
    """Return the peak resident set size (``VmHWM``) of ``pid`` in KiB, None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


class Stack:
    """Launch and stop the Typewire processes; a context manager (``stop()`` on exit)."""

    def __init__(
        self,
        *,
        database_url: str,
        broker_url: str,
        redis_url: str | None = None,
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """Remember where everything runs; start nothing yet."""
        self.database_url = database_url
        self.broker_url = broker_url
        self.redis_url = redis_url
        self.log_dir = Path(log_dir)
        self.extra_env = dict(extra_env or {})
        self.web_proc: subprocess.Popen[bytes] | None = None
        self.base_url: str | None = None
        self._started: list[_Started] = []

    def __enter__(self) -> Self:
        """Return the stack."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop every process started."""
        self.stop()

    def env(self) -> dict[str, str]:
        """Return the environment every process of the stack gets (this one's, overridden)."""
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "CELERY_BROKER_URL": self.broker_url,
                "DEBUG": "false",
                "SECRET_KEY": TEST_SECRET_KEY,
                "FIELD_ENCRYPTION_KEY": TEST_FIELD_ENCRYPTION_KEY,
                "LOG_LEVEL": "WARNING",
                "SECURE_SSL_REDIRECT": "false",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name in ("SECRET_KEY_FILE", "FIELD_ENCRYPTION_KEY_FILE"):
            env.pop(name, None)
        if self.redis_url is not None:
            env["TYPEWIRE_REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    # --- database ---------------------------------------------------------------------------
    def prepare_database(self, *, recreate: bool = True) -> None:
        """Create the database (dropping it first when ``recreate``), then migrate it."""
        import psycopg

        parts = urlsplit(self.database_url)
        name = parts.path.lstrip("/")
        if not name or '"' in name:
            raise StackError(f"not a usable database name: {name!r}")
        admin_url = parts._replace(path="/postgres").geturl()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if recreate:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / "migrate.log"
        with log_path.open("wb") as log:
            done = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "1"],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode:
            raise StackError(f"migrate failed ({done.returncode}): see {log_path}")

    # --- processes --------------------------------------------------------------------------
    def start_process(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group, output to ``log_dir/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("wb")
        try:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError:
            log.close()
            raise
        self._started.append(_Started(name, proc, log_path, log))
        return proc

    def log_path(self, proc: subprocess.Popen[bytes]) -> Path:
        """Return the log file of a process this stack started."""
        return self._record(proc).log_path

    def start_web(self, *, workers: int = 2) -> str:
        """Start gunicorn on a free port, wait until ``/healthz`` answers; return the base URL."""
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = self.start_process(
            f"web-{port}",
            [
                sys.executable, "-m", "gunicorn", "config.wsgi:application",
                "--config", str(ROOT / "config" / "gunicorn.py"),
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers),
                "--log-level", "warning",
            ],
        )  # fmt: skip

        def healthy() -> bool:
            if proc.poll() is not None:
                return True
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        if not wait_until(healthy, START_TIMEOUT, 0.2) or proc.poll() is not None:
            self.kill(proc)
            raise StackError(f"gunicorn did not answer /healthz: see {self.log_path(proc)}")
        self.web_proc, self.base_url = proc, base
        return base

    def start_worker(
        self,
        *,
        queues: str | None = None,
        concurrency: int = 1,
        name: str | None = None,
        wait: bool = True,
    ) -> subprocess.Popen[bytes]:
        """Start ``celery worker``; wait until it has declared its queues and is ready.

        With ``wait=False`` it returns at once: call :meth:`wait_worker_ready` (to start several
        workers side by side, say).
        """
        name = name or f"worker{len(self._started)}"
        proc = self.start_process(
            name,
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "-Q", queues or QUEUES,
                "--concurrency", str(concurrency),
                "--loglevel", "INFO",
                "-n", f"{name}@%h",
                "--without-heartbeat", "--without-gossip", "--without-mingle",
            ],
        )  # fmt: skip
        if wait:
            self.wait_worker_ready(proc)
        return proc

    def wait_worker_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Wait until a worker from :meth:`start_worker` is ready; kill it and raise if not."""
        self._wait_for_line(proc, b" ready.", "celery worker")

    def start_beat(self) -> subprocess.Popen[bytes]:
        """Start ``celery beat`` (database scheduler) and wait until it runs."""
        name = f"beat{len(self._started)}"
        proc = self.start_process(
            name,
            [
                sys.executable, "-m", "celery", "-A", "config", "beat",
                "--loglevel", "INFO",
                "--pidfile", str(self.log_dir / f"{name}.pid"),
            ],
        )  # fmt: skip
        self._wait_for_line(proc, b"beat: Starting", "celery beat")
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process group of ``proc``; after SIGKILL, reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT)

    def terminate(self, proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
        """Stop ``proc`` gracefully, then SIGKILL its group after ``timeout`` seconds.

        SIGTERM goes to the leader only: gunicorn's master and Celery's main process stop their
        own children (a Celery pool child signalled directly would lose its task).
        """
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        # Children that outlived their leader (a gunicorn worker, a prefork child) go too.
        self.kill(proc, signal.SIGKILL)

    def stop(self) -> None:
        """Stop every process this stack started, newest first, and close their logs."""
        while self._started:
            started = self._started.pop()
            self.terminate(started.proc)
            started.log.close()
        self.web_proc = self.base_url = None

    # --- observation ------------------------------------------------------------------------
    def processes(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        """Return (name, process) for every process started and not stopped."""
        return [(s.name, s.proc) for s in self._started]

    def web_worker_pids(self) -> list[int]:
        """Return the pids of the gunicorn worker processes (children of the master)."""
        return child_pids(self.web_proc.pid) if self.web_proc is not None else []

    def _record(self, proc: subprocess.Popen[bytes]) -> _Started:
        for started in self._started:
            if started.proc is proc:
                return started
        raise KeyError(proc.pid)

    def _wait_for_line(self, proc: subprocess.Popen[bytes], marker: bytes, what: str) -> None:
        """Wait until ``marker`` appears in ``proc``'s log; kill it and raise if it never does."""
        log_path = self.log_path(proc)

        def ready() -> bool:
            return proc.poll() is not None or marker in log_path.read_bytes()

        if not wait_until(ready, START_TIMEOUT) or proc.poll() is not None:
            self.kill(proc)
            raise StackError(f"{what} did not start: see {log_path}")
