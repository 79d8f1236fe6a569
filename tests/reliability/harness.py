"""The fault-injection harness: the real stack, steady traffic, five faults, a reconciled table.

``run(profile)`` starts Typewire as separate processes on 127.0.0.1 with ``ops.stack.Stack``
(gunicorn, two Celery workers, beat) on its own PostgreSQL database, with its own
``redis-server`` as the broker, and an HTTP target standing in for a merchant's receiver. It
seeds a workspace (``tests.reliability.seed``), then for a bounded time sends signed Standard
Webhooks deliveries and internal events at a steady rate, every one of them twice (in a row,
concurrently, or with the second copy later, out of order), while it injects:

(a) ``broker``: the broker is killed (its queues are lost) and started again 20 s later;
(b) ``worker``: a worker is SIGKILLed mid-run and a new one started;
(c) ``database``: the database refuses connections for 10 s (``ALLOW_CONNECTIONS false`` and
    every session terminated);
(d) ``target``: the outbound target fails 50% of requests and times out on 10%;
(e) ``duplicates``: every delivery twice, some out of order, some concurrently (the whole run).

A sender that gets no 2xx retries, as a provider would; a worker or beat that exits by itself is
restarted, as a process manager would, and counted in the table. Once traffic stops and the
system has drained (or the drain time is up) it reads the database and the target and
reconciles (``tests.reliability.reconcile``). ``TYPEWIRE_FAULT_INJECT`` (test only, see
settings) starts a deliberately broken build, which the harness must catch.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ops.stack import ROOT, Stack, free_port, wait_until
from tests.reliability import reconcile

# Celery's INFO lines: "Task <name>[<id>] received", "... succeeded in", "... raised", "... retry".
TASK_LINE = re.compile(
    r"Task [\w.]+\[(?P<id>[\w-]+)\] (?P<what>received|succeeded|raised|retry|failed)"
)
TARGET_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUTBOUND_TIMEOUT = 2.0
SWEEP_AFTER_SECONDS = 5


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """One fault: its kind, when it starts (seconds into the traffic) and how long it lasts."""

    kind: str  # broker, worker, database, target
    at: float
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Profile:
    """How long, how fast, which faults when, and how long to wait for the backlog to drain."""

    name: str
    traffic_seconds: float
    hooks_per_second: float
    events_per_second: float
    faults: tuple[FaultPlan, ...]
    drain_seconds: float
    send_grace_seconds: float = 30.0


def _cycle(offset: float) -> tuple[FaultPlan, ...]:
    """The four timed faults, one after another; the worker dies while the target is flaky."""
    return (
        FaultPlan("broker", offset + 4, 20),
        FaultPlan("target", offset + 28, 24),
        FaultPlan("worker", offset + 36),
        FaultPlan("database", offset + 58, 10),
    )


PROFILES = {
    # CI: all five faults in about two and a half minutes of wall time.
    "short": Profile("short", 75, 3.0, 1.0, _cycle(0), drain_seconds=60),
    # Ten minutes of traffic, the four timed faults four times over, a higher rate.
    "long": Profile(
        "long",
        600,
        5.0,
        1.0,
        _cycle(0) + _cycle(150) + _cycle(300) + _cycle(450),
        drain_seconds=180,
    ),
}


# --- the outbound target ----------------------------------------------------------------------


@dataclass
class _Key:
    ref: str
    requests: int = 0
    applied_at: float | None = None


@dataclass
class Target:
    """A receiver on 127.0.0.1 that verifies signatures and applies each ``webhook-id`` once."""

    secret: str
    flaky: bool = False
    keys: dict[str, _Key] = field(default_factory=dict)
    bad_signatures: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(8))

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, float]:
        """Return (status, seconds to stall before answering) for one request."""
        try:
            Webhook(self.secret).verify(body, headers)
            ref = str(json.loads(body)["ref"])
        except (WebhookVerificationError, ValueError, KeyError, TypeError):
            with self.lock:
                self.bad_signatures += 1
            return 400, 0.0
        webhook_id = headers.get("webhook-id", "")
        with self.lock:
            key = self.keys.setdefault(webhook_id, _Key(ref))
            key.requests += 1
            roll = self.rng.random() if self.flaky else 1.0
            if roll < 0.5:
                self.answers["500 (flaky)"] += 1
                return 500, 0.0
            # Applied (once per key), then either answered or left to time out.
            if key.applied_at is None:
                key.applied_at = time.time()
            if roll < 0.6:
                self.answers["timeout (flaky)"] += 1
                return 200, OUTBOUND_TIMEOUT + 1.0
            self.answers["200"] += 1
            return 200, 0.0

    def rows(self) -> list[reconcile.TargetKey]:
        with self.lock:
            return [
                reconcile.TargetKey(webhook_id, k.ref, k.requests, k.applied_at)
                for webhook_id, k in self.keys.items()
            ]

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on a free port; yield the URL rules post to."""
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, stall = target.handle(headers, body)
                if stall:
                    time.sleep(stall)
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/receive"
        finally:
            server.shutdown()
            server.server_close()


# --- the broker and the database ----------------------------------------------------------------


class Broker:
    """A ``redis-server`` of our own, so it can be killed and started again."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = self.stack.start_process(f"broker-{self.starts}", argv)

        def listening() -> bool:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return True
            return False

        if not wait_until(listening, 15):
            raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.stack.kill(self.proc, signal.SIGKILL)
            self.proc = None


def _admin_url(database_url: str) -> str:
    return urlsplit(database_url)._replace(path="/postgres").geturl()


def _database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def block_database(database_url: str) -> None:
    """Refuse new connections to the database and end every session it has."""
    name = _database_name(database_url)
    with psycopg.connect(_admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )


def allow_database(database_url: str) -> None:
    name = _database_name(database_url)
    with psycopg.connect(_admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


class Supervisor:
    """Keep two workers and beat running, as a process manager would; count what crashed.

    A process that exits on its own (not killed by a fault) is restarted and counted, with the
    reason its log gives, in the table.
    """

    def __init__(self, stack: Stack, run_id: str) -> None:
        self.stack = stack
        self.run_id = run_id
        self.lock = threading.Lock()
        self.workers: list[subprocess.Popen[bytes]] = []
        self.beat: subprocess.Popen[bytes] | None = None
        self.crashes: Counter[str] = Counter()
        self.started = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _new_worker(self) -> subprocess.Popen[bytes]:
        with self.lock:
            self.started += 1
            name = f"worker{self.started}-{self.run_id}"
        return self.stack.start_worker(concurrency=2, name=name)

    def start(self) -> None:
        self.workers = [self._new_worker(), self._new_worker()]
        self.beat = self.stack.start_beat()
        self.thread.start()

    def in_flight(self, proc: subprocess.Popen[bytes]) -> int:
        """How many tasks ``proc`` has received and not finished, from its log."""
        received: set[str] = set()
        finished: set[str] = set()
        try:
            text = self.stack.log_path(proc).read_text(errors="replace")
        except (OSError, KeyError):
            return 0
        for match in TASK_LINE.finditer(text):
            (received if match["what"] == "received" else finished).add(match["id"])
        return len(received - finished)

    def kill_one(self, wait: float = 10.0) -> tuple[float, int]:
        """SIGKILL a worker mid-task, start another; return the kill's time and tasks lost.

        Waits up to ``wait`` seconds for a worker with a task in flight and kills the busiest.
        """
        deadline = time.monotonic() + wait
        while True:
            with self.lock:
                busy = sorted(((self.in_flight(w), i) for i, w in enumerate(self.workers)))
            if busy[-1][0] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        with self.lock:
            victim = self.workers.pop(busy[-1][1])
        self.stack.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        tasks = busy[-1][0]
        replacement = self._new_worker()
        with self.lock:
            self.workers.append(replacement)
        return killed_at, tasks

    def _reason(self, proc: subprocess.Popen[bytes]) -> str:
        try:
            lines = self.stack.log_path(proc).read_text(errors="replace").splitlines()
        except (OSError, KeyError):
            lines = []
        for line in reversed(lines):
            if "Unrecoverable error" in line or "CRITICAL" in line:
                return line.split("]", 1)[-1].strip()[:120]
        return f"exit status {proc.returncode}"

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            with self.lock:
                dead = [w for w in self.workers if w.poll() is not None]
                self.workers = [w for w in self.workers if w not in dead]
            for proc in dead:
                reason = self._reason(proc)
                _say(f"a worker exited by itself ({reason}); starting another")
                self.crashes[f"worker exited: {reason}"] += 1
                replacement = self._new_worker()
                with self.lock:
                    self.workers.append(replacement)
            if self.beat is not None and self.beat.poll() is not None:
                reason = self._reason(self.beat)
                _say(f"beat exited by itself ({reason}); starting it again")
                self.crashes[f"beat exited: {reason}"] += 1
                self.beat = self.stack.start_beat()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()


# --- traffic ------------------------------------------------------------------------------------


@dataclass
class _Sent:
    kind: str
    ref: str
    dedupe_key: str
    first_sent_at: float
    accepted_at: float | None = None


class Traffic:
    """Send items at a steady rate, each twice; retry any copy until it gets a 2xx."""

    def __init__(self, base_url: str, seed: dict[str, Any], run_id: str, deadline: float) -> None:
        self.base_url = base_url
        self.seed = seed
        self.run_id = run_id
        self.deadline = deadline
        self.items: dict[str, _Sent] = {}
        self.requests: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.rng = random.Random(20260421)
        self.pool = ThreadPoolExecutor(max_workers=48, thread_name_prefix="sender")
        self.client = httpx.Client(timeout=15.0, limits=httpx.Limits(max_connections=64))
        self.later: list[tuple[float, int, Callable[[], None]]] = []
        self.counter = 0

    # one copy of one item
    def _send_copy(
        self, item: _Sent, build: Callable[[], tuple[str, bytes, dict[str, str]]]
    ) -> None:
        delay = 0.3
        while time.time() < self.deadline:
            url, body, headers = build()
            try:
                response = self.client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                status = f"no answer ({type(exc).__name__})"
                retry_after = None
            else:
                status = str(response.status_code)
                retry_after = response.headers.get("Retry-After")
            with self.lock:
                self.requests[item.kind] += 1
                self.answers[f"{item.kind} {status}"] += 1
                if status.startswith("2"):
                    if item.accepted_at is None:
                        item.accepted_at = time.time()
                    if status == "200":
                        self.duplicates[f"duplicate {item.kind}s answered 200"] += 1
                    return
            if status in {"400", "401", "404", "413", "415", "422"}:
                return  # a documented refusal a provider would not retry
            wait = delay
            if retry_after and retry_after.isdigit():
                wait = min(float(retry_after), 2.0)
            time.sleep(wait * (0.5 + self.rng.random()))
            delay = min(delay * 2, 3.0)

    def _send_twice(
        self, item: _Sent, build: Callable[[], tuple[str, bytes, dict[str, str]]]
    ) -> None:
        self._send_copy(item, build)
        self._send_copy(item, build)

    def _hook(self, n: int) -> tuple[_Sent, Callable[[], tuple[str, bytes, dict[str, str]]]]:
        ref = f"{self.run_id}-{n}"
        msg_id = f"msg_{ref}"
        customers = self.seed["customers"]
        body = json.dumps({"ref": ref, "customer_id": customers[n % len(customers)]}).encode()
        item = _Sent("hook", ref, f"hook:{self.seed['endpoint_id']}:{msg_id}", time.time())
        url = f"{self.base_url}/hooks/{self.seed['endpoint_token']}"
        signer = Webhook(self.seed["endpoint_secret"])

        def build() -> tuple[str, bytes, dict[str, str]]:
            now = datetime.now(UTC)
            headers = {
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(msg_id, now, body.decode()),
            }
            return url, body, headers

        return item, build

    def _event(self, n: int) -> tuple[_Sent, Callable[[], tuple[str, bytes, dict[str, str]]]]:
        ref = f"{self.run_id}-e{n}"
        customers = self.seed["customers"]
        document = {
            "trigger": "opt_in_changed",
            "payload": {
                "customer_id": customers[n % len(customers)],
                "channel": "email",
                "action": "opted_in" if n % 2 else "opted_out",
            },
            "dedupe_key": f"internal:{ref}",
        }
        body = json.dumps(document).encode()
        item = _Sent("event", ref, f"internal:{ref}", time.time())
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Token {self.seed['api_token']}",
            "X-Workspace": self.seed["workspace_slug"],
        }
        url = f"{self.base_url}/api/v1/events/"
        return item, lambda: (url, body, headers)

    def emit(self, kind: str, n: int) -> None:
        """Send item ``n`` twice: in a row, concurrently, or the second copy later."""
        item, build = self._hook(n) if kind == "hook" else self._event(n)
        with self.lock:
            self.items[item.dedupe_key] = item
        mode = n % 3
        if mode == 0:
            self.pool.submit(self._send_twice, item, build)
        elif mode == 1:
            self.pool.submit(self._send_copy, item, build)
            self.pool.submit(self._send_copy, item, build)
        else:
            self.pool.submit(self._send_copy, item, build)
            at = time.monotonic() + 1.0 + 5.0 * self.rng.random()
            with self.lock:
                self.counter += 1
                heapq.heappush(self.later, (at, self.counter, lambda: self._send_copy(item, build)))

    def run(self, seconds: float, hooks_per_second: float, events_per_second: float) -> None:
        """Emit at a steady rate for ``seconds``; then send the copies still scheduled."""
        start = time.monotonic()
        next_hook = next_event = start
        hooks = events = 0
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                break
            if now >= next_hook:
                self.emit("hook", hooks)
                hooks += 1
                next_hook += 1.0 / hooks_per_second
            if events_per_second and now >= next_event:
                self.emit("event", events)
                events += 1
                next_event += 1.0 / events_per_second
            self._release_later(now)
            time.sleep(0.01)
        while self.later:
            self._release_later(time.monotonic())
            time.sleep(0.05)

    def _release_later(self, now: float) -> None:
        while True:
            with self.lock:
                if not self.later or self.later[0][0] > now:
                    return
                _, _, job = heapq.heappop(self.later)
            self.pool.submit(job)

    def finish(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()

    def rows(self) -> list[reconcile.Item]:
        with self.lock:
            return [
                reconcile.Item(i.kind, i.ref, i.dedupe_key, i.first_sent_at, i.accepted_at)
                for i in self.items.values()
            ]


# --- reading the database -----------------------------------------------------------------------


def read_rows(
    database_url: str, workspace_id: int
) -> tuple[list[reconcile.EventRow], list[reconcile.ExecutionRow], list[reconcile.EffectRow]]:
    """Read the workspace's events, executions and applied effects (raw SQL, no Django)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        events = [
            reconcile.EventRow(str(row[0]), row[1], row[2], row[3])
            for row in conn.execute(
                "SELECT id, trigger_key, dedupe_key, status FROM catalog_event "
                "WHERE workspace_id = %s",
                [workspace_id],
            )
        ]
        executions = [
            reconcile.ExecutionRow(row[0], str(row[1]), row[2], row[3])
            for row in conn.execute(
                "SELECT id, event_id, rule_id, status FROM automations_execution "
                "WHERE workspace_id = %s",
                [workspace_id],
            )
        ]
        ids = {e.id for e in executions}
        effects = [
            reconcile.EffectRow(row[0], row[1].timestamp())
            for row in conn.execute(
                "SELECT idempotency_key, applied_at FROM automations_appliedeffect"
            )
            if int(row[0].split(":", 1)[0]) in ids
        ]
    return events, executions, effects


def recovered_work(database_url: str, workspace_id: int) -> Counter[str]:
    """Evidence that the faults hit: work finished late, or only after another attempt."""
    late = f"{SWEEP_AFTER_SECONDS} seconds"
    with psycopg.connect(database_url, autocommit=True) as conn:
        events = conn.execute(
            "SELECT count(*) FROM catalog_event WHERE workspace_id = %s "
            "AND dispatched_at > recorded_at + %s::interval",
            [workspace_id, late],
        ).fetchone()
        steps = conn.execute(
            "SELECT count(*) FROM automations_steprun s JOIN automations_execution e "
            "ON e.id = s.execution_id WHERE e.workspace_id = %s AND s.attempts > 1",
            [workspace_id],
        ).fetchone()
    return Counter(
        {
            f"events dispatched over {late} late": int(events[0]) if events else 0,
            "steps that took more than one attempt": int(steps[0]) if steps else 0,
        }
    )


def logged_deliveries(database_url: str, endpoint_id: int) -> int:
    """How many inbound deliveries the endpoint's log holds."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM webhooks_inbounddelivery WHERE endpoint_id = %s", [endpoint_id]
        ).fetchone()
    return int(row[0]) if row else 0


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Report:
    """The figures, the rendered table, and where the logs are."""

    figures: reconcile.Figures
    table: str
    log_dir: Path
    deliveries_logged: int

    @property
    def ok(self) -> bool:
        return self.figures.ok


def _say(message: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(
    profile: Profile,
    *,
    database_url: str,
    redis_url: str | None = None,
    log_dir: Path | None = None,
    fault_inject: str = "",
) -> Report:
    """Run the profile against a fresh stack and return the reconciled report."""
    log_dir = log_dir or ROOT / "var" / f"reliability-{profile.name}"
    # One INFO line per request would bury a failing test's output.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    run_id = uuid.uuid4().hex[:8]
    target = Target(TARGET_SECRET)
    faults: list[reconcile.Fault] = []
    notes: list[str] = []
    env = {
        "TYPEWIRE_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "TYPEWIRE_OUTBOUND_TIMEOUT_SECONDS": str(OUTBOUND_TIMEOUT),
        "TYPEWIRE_OUTBOUND_CONNECT_TIMEOUT_SECONDS": "1",
        "TYPEWIRE_RETRY_BASE_SECONDS": "0.5",
        "TYPEWIRE_RETRY_CAP_SECONDS": "4",
        "TYPEWIRE_MAX_ATTEMPTS": "15",
        "TYPEWIRE_EXECUTION_LEASE_SECONDS": "10",
        "TYPEWIRE_SWEEP_AFTER_SECONDS": str(SWEEP_AFTER_SECONDS),
        "TYPEWIRE_SWEEP_EVERY_SECONDS": "2",
        "TYPEWIRE_EXECUTION_SWEEP_EVERY_SECONDS": "1",
        "TYPEWIRE_WEBHOOK_RETRY_AFTER_SECONDS": "1",
        "CELERY_BROKER_CONNECTION_TIMEOUT": "1",
        "TYPEWIRE_FAULT_INJECT": fault_inject,
    }
    # The broker URL is only known once its port is picked; the stack reads it at each start.
    stack = Stack(
        database_url=database_url,
        broker_url="",
        redis_url=redis_url,
        log_dir=log_dir,
        extra_env=env,
    )
    # Exits run in reverse: the supervisor stops before the stack stops its processes.
    with stack, target.serve() as target_url, contextlib.ExitStack() as cleanup:
        broker = Broker(stack)
        stack.broker_url = broker.url
        broker.start()
        _say(f"preparing {database_url} (logs in {log_dir})")
        stack.prepare_database()
        seeded = subprocess.run(
            [sys.executable, "-m", "tests.reliability.seed", target_url, TARGET_SECRET],
            cwd=ROOT,
            env=stack.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if seeded.returncode:
            raise RuntimeError(f"seeding failed: {seeded.stderr[-2000:]}")
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        base_url = stack.start_web(workers=2)
        supervisor = Supervisor(stack, run_id)
        cleanup.callback(supervisor.stop)
        supervisor.start()
        _say(f"stack up at {base_url}; {profile.traffic_seconds:.0f} s of traffic")

        traffic_start = time.time()
        deadline = traffic_start + profile.traffic_seconds + profile.send_grace_seconds
        traffic = Traffic(base_url, seed, run_id, deadline)
        sender = threading.Thread(
            target=traffic.run,
            args=(profile.traffic_seconds, profile.hooks_per_second, profile.events_per_second),
            daemon=True,
        )
        sender.start()

        def fault_thread(plan: FaultPlan) -> None:
            time.sleep(max(0.0, traffic_start + plan.at - time.time()))
            started = time.time()
            _say(f"fault {plan.kind} at +{started - traffic_start:.0f} s")
            if plan.kind == "broker":
                broker.kill()
                try:
                    time.sleep(plan.seconds)
                finally:
                    broker.start()
                name = f"(a) broker stopped {plan.seconds:g} s"
            elif plan.kind == "worker":
                # The kill is the whole fault: recovery counts from it, replacement included.
                killed_at, tasks = supervisor.kill_one()
                notes.append(f"the worker was SIGKILLed with {tasks} task(s) in flight")
                name = "(b) worker SIGKILLed"
            elif plan.kind == "database":
                block_database(database_url)
                try:
                    time.sleep(plan.seconds)
                finally:
                    allow_database(database_url)
                name = f"(c) database blocked {plan.seconds:g} s"
            else:
                target.flaky = True
                time.sleep(plan.seconds)
                target.flaky = False
                name = "(d) target flaky"
            ended = killed_at if plan.kind == "worker" else time.time()
            _say(f"fault {plan.kind} over at +{ended - traffic_start:.0f} s")
            with traffic.lock:
                n = sum(1 for f in faults if f.name.split(" #")[0] == name)
                faults.append(
                    reconcile.Fault(name if not n else f"{name} #{n + 1}", started, ended)
                )

        threads = [threading.Thread(target=fault_thread, args=(p,)) for p in profile.faults]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sender.join()
        traffic.finish()
        traffic_end = time.time()
        faults.append(
            reconcile.Fault("(e) duplicates (end of traffic)", traffic_start, traffic_end)
        )
        _say("traffic over; draining")

        def reconciled() -> reconcile.Figures:
            events, executions, effects = read_rows(database_url, seed["workspace_id"])
            return reconcile.figures(
                items=traffic.rows(),
                requests=traffic.requests,
                answers=traffic.answers,
                duplicate_answers=traffic.duplicates,
                events=events,
                executions=executions,
                effects=effects,
                target=target.rows(),
                rules=reconcile.Rules(
                    by_kind={
                        "hook": (seed["rules"]["hook_tag"], seed["rules"]["hook_forward"]),
                        "event": (seed["rules"]["optin_tag"],),
                    },
                    outbound=frozenset({seed["rules"]["hook_forward"]}),
                ),
                faults=sorted(faults, key=lambda f: f.name),
                recovered=recovered_work(database_url, seed["workspace_id"]),
            )

        drain_deadline = time.time() + profile.drain_seconds
        figures = reconciled()
        while not figures.ok and time.time() < drain_deadline:
            time.sleep(2)
            figures = reconciled()
        _say(f"drained {time.time() - traffic_end:.0f} s after the traffic")
        supervisor.stop()
        if supervisor.crashes:
            figures.crashes.update(supervisor.crashes)
        logged = logged_deliveries(database_url, seed["endpoint_id"])
        broken = f", broken build {fault_inject!r}" if fault_inject else ""
        title = (
            f"Reliability, {profile.name} profile{broken}: {profile.traffic_seconds:.0f} s of "
            f"traffic at {profile.hooks_per_second:g} webhooks/s + "
            f"{profile.events_per_second:g} internal events/s"
        )
        text = reconcile.table(figures, title=title)
        answered_up = sum(
            count
            for answer, count in traffic.answers.items()
            if answer.startswith("hook ") and answer != "hook 503" and "no answer" not in answer
        )
        text += (
            f"\n\ndeliveries in the endpoint's log: {logged}, for {answered_up} webhook answers "
            "given while the database was up (a 503 while it is blocked is in the web log only)"
        )
        text += "".join(f"\n{note}" for note in notes)
        if target.bad_signatures:
            text += f"\nforwarded requests with a bad signature: {target.bad_signatures}"
    return Report(figures, text, log_dir, logged)


def default_database_url() -> str:
    """``<DATABASE_URL's database>_chaos``: never the database of the tests or the app."""
    base = os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/typewire")
    parts = urlsplit(base)
    return parts._replace(path=f"/{parts.path.lstrip('/') or 'typewire'}_chaos").geturl()
