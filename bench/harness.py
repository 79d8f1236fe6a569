"""What every benchmark scenario shares: the stack, wrk, pre-signed deliveries, figures, memory.

``Bench`` holds the running stack (``ops/stack.py``: gunicorn, Celery workers, on the bench
database and Redis) and Django set up in this process with the same settings, so a scenario can
create its workspace, endpoint and rule directly and read its outcome from the database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.stack import QUEUES, Stack, child_pids, peak_rss_kib, wait_until

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
BODY_PAD = "x" * 200  # brings a JSON body to ~300 bytes, the reference size

# Replays pre-built requests (one per line: path, webhook-id, timestamp, signature, body, tab-
# separated); each wrk thread takes every n-th line so no two connections send the same one.
# With a third argument "once", a thread that has sent its share sends GET /healthz instead
# (wrk cannot leave a connection idle), counts the answers to its own requests and, once every
# one is answered, stops and writes <data>.done<id> (wrk itself runs its full duration, so
# run_wrk interrupts it when every thread is done); done() reports those counts. wrk calls
# request() once on its first thread to check the script before any connection opens: that
# call must not use up a request.
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
  once = args[3] == "once"
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
  filler = wrk.format("GET", "/healthz")
  checking = id == 0
  done_file = args[1] .. ".done" .. id
  n = 0
  answered = 0
  ok = 0
  if once and #requests == 0 then finish() end
end
function finish()
  io.open(done_file, "w"):close()
  wrk.thread:stop()
end
function request()
  if checking then
    checking = false
    return requests[1]
  end
  n = n + 1
  if n > #requests then
    if once then return filler end
    n = 1
  end
  return requests[n]
end
function response(status, headers, body)
  if body == '{"status": "ok"}' then return end
  answered = answered + 1
  if status >= 200 and status < 300 then ok = ok + 1 end
  if once and answered == #requests then finish() end
end
function done(summary, latency, requests)
  local answered, ok = 0, 0
  for _, thread in ipairs(threads) do
    answered = answered + (thread:get("answered") or 0)
    ok = ok + (thread:get("ok") or 0)
  end
  -- The latency quantiles at every 0.1 %, so that several runs can be merged (merge_wrk).
  local quantiles = {}
  for i = 1, 1000 do quantiles[i] = latency:percentile((i - 0.5) / 10) end
  io.write('{"quantiles_us": [' .. table.concat(quantiles, ",") .. ']}\n')
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"answered": %d, "ok": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout, answered, ok))
end
"""


def percentile(values: list[float], pct: float) -> float:
    """Return the ``pct`` percentile of ``values`` (nearest rank; 0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_figures(values_ms: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of a list of milliseconds, rounded."""
    return {
        "p50_ms": round(statistics.median(values_ms), 2) if values_ms else 0.0,
        "p95_ms": round(percentile(values_ms, 95), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2) if values_ms else 0.0,
    }


def ensure_wrk() -> None:
    """Stop with a clear message when wrk is missing (``make bench`` installs it)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run `make bench`)")


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user and system) the processes ``pids`` have used so far; gone ones skipped."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def postgres_pids() -> list[int]:
    """The pids of this machine's PostgreSQL processes (the bench's server is local)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CpuMeter:
    """CPU time of the web workers and of PostgreSQL over the runs between start and stop."""

    def __init__(self, bench: Bench) -> None:
        """Measure ``bench``'s web workers and the local PostgreSQL server."""
        self.bench = bench
        self.seconds = {"web": 0.0, "postgres": 0.0}
        self._started: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {
            "web": cpu_seconds(self.bench.stack.web_worker_pids()),
            "postgres": cpu_seconds(postgres_pids()),
        }

    def start(self) -> None:
        """Begin a measured run."""
        self._started = self._now()

    def stop(self) -> None:
        """End a measured run; add what it used."""
        for name, value in self._now().items():
            self.seconds[name] += value - self._started[name]

    def per_request_ms(self, requests: int) -> dict[str, float]:
        """CPU milliseconds per request, by process kind."""
        return {
            f"{name}_cpu_ms_per_request": round(1000 * value / requests, 3) if requests else 0.0
            for name, value in self.seconds.items()
        }


class MemorySampler:
    """Track the peak RSS (VmHWM) of the web workers and Celery worker processes, once a second."""

    def __init__(self, bench: Bench) -> None:
        """Sample ``bench``'s stack until :meth:`close`."""
        self.bench = bench
        self.peak_kib: dict[str, int] = {"web_worker": 0, "celery_worker": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> None:
        """Read the high-water mark of every live web worker and Celery process now."""
        stack = self.bench.stack
        roles = [("web_worker", pid) for pid in stack.web_worker_pids()]
        for proc in self.bench.workers:
            roles.append(("celery_worker", proc.pid))
            roles.extend(("celery_worker", pid) for pid in child_pids(proc.pid))
        for role, pid in roles:
            peak = peak_rss_kib(pid) or 0
            self.peak_kib[role] = max(self.peak_kib[role], peak)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def close(self) -> dict[str, float]:
        """Stop sampling; return the peaks in MB."""
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)
        return {f"{role}_peak_mb": round(kib / 1024, 1) for role, kib in self.peak_kib.items()}


@dataclass
class Bench:
    """The running stack, the base URL and the Celery workers a scenario has started."""

    stack: Stack
    base_url: str
    quick: bool
    workers: list[Any] = field(default_factory=list)
    memory: MemorySampler | None = None

    def start_workers(self, count: int) -> float:
        """Start ``count`` one-process workers at once; return the monotonic time all are ready."""
        procs = [
            self.stack.start_worker(concurrency=1, name=f"bench-worker{n}", wait=False)
            for n in range(count)
        ]
        for proc in procs:
            self.stack.wait_worker_ready(proc)
        self.workers.extend(procs)
        return time.monotonic()

    def stop_workers(self) -> None:
        """Record their memory, then stop every worker started by :meth:`start_workers`."""
        if self.memory is not None:
            self.memory.sample()
        for proc in self.workers:
            self.stack.terminate(proc)
        self.workers.clear()

    def purge_queues(self) -> None:
        """Empty the broker's queues (messages left by a scenario that no worker ran)."""
        from kombu import Connection

        with Connection(self.stack.broker_url) as conn:
            for queue in QUEUES.split(","):
                conn.default_channel.queue_purge(queue)


# --- deliveries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hook:
    """A Standard Webhooks endpoint of the bench workspace, with its secret."""

    workspace: Any
    endpoint: Any
    secret: str

    @property
    def path(self) -> str:
        """The endpoint's URL path."""
        return f"/hooks/{self.endpoint.token}"


def create_hook(workspace: Any, *, declared_fields: dict[str, str] | None = None) -> Hook:
    """Create an unlimited Standard Webhooks endpoint in ``workspace``."""
    from webhooks import services

    revealed = services.create_endpoint(
        workspace=workspace,
        name=f"bench {uuid.uuid4().hex[:6]}",
        preset="standard_webhooks",
        rate_limit_per_minute=0,
        declared_fields=declared_fields or {},
    )
    return Hook(workspace, revealed.endpoint, revealed.secret)


def bench_workspace(slug: str) -> Any:
    """Return the workspace ``slug`` (Pro plan), created on first use."""
    from accounts.models import Plan, Workspace

    workspace, _ = Workspace.objects.get_or_create(
        slug=slug, defaults={"name": slug.replace("-", " ").title(), "plan": Plan.PRO}
    )
    return workspace


def signed_lines(hook: Hook | None, path: str, bodies: list[dict[str, Any]]) -> list[str]:
    """Pre-sign one delivery per body with a unique id (unsigned when ``hook`` is None)."""
    from standardwebhooks.webhooks import Webhook

    signer = Webhook(hook.secret) if hook else None
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    lines = []
    for i, document in enumerate(bodies):
        body = json.dumps({**document, "pad": BODY_PAD})
        if signer is None:
            lines.append(f"{path}\t\t\t\t{body}")
            continue
        msg_id = f"msg_{run}_{i}"
        signature = signer.sign(msg_id=msg_id, timestamp=now, data=body)
        lines.append(f"{path}\t{msg_id}\t{int(now.timestamp())}\t{signature}\t{body}")
    return lines


def write_lines(directory: Path, name: str, lines: list[str]) -> Path:
    """Write request lines for the wrk script; return the file."""
    path = directory / name
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(
    base: str,
    data: Path,
    *,
    seconds: float,
    connections: int = 32,
    threads: int = 2,
    once: bool = False,
) -> dict[str, Any]:
    """Replay ``data`` with wrk for ``seconds``; return its summary (latencies in microseconds).

    With ``once``, every request is sent once and wrk is interrupted as soon as all are
    answered (``seconds`` is then only a bound).
    """
    script = data.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    markers = [Path(f"{data}.done{n}") for n in range(threads)]
    for marker in markers:
        marker.unlink(missing_ok=True)
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(script), base, "--", str(data), str(threads),
        "once" if once else "loop",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if once:
        all_done = wait_until(
            lambda: proc.poll() is not None or all(m.exists() for m in markers), seconds, 0.05
        )
        if all_done and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=seconds + 30)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if len(lines) < 2:
        raise RuntimeError(f"wrk printed no summary: {out}\n{err}")
    summary: dict[str, Any] = json.loads(lines[-1])
    summary["quantiles_us"] = json.loads(lines[-2])["quantiles_us"]
    return summary


def merge_wrk(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge wrk runs of the same requests into one summary, as if they were one run.

    Counts and durations add up; the percentiles are those of all the runs' requests together,
    each run's quantiles weighing by its number of requests.
    """
    if len(summaries) == 1:
        return summaries[0]
    points: list[tuple[float, float]] = []
    for each in summaries:
        quantiles = each["quantiles_us"]
        points += [(q, each["requests"] / len(quantiles)) for q in quantiles]
    points.sort()
    total = sum(weight for _, weight in points)

    def percentile(p: float) -> float:
        reached = 0.0
        for value, weight in points:
            reached += weight
            if reached >= total * p / 100:
                return value
        return points[-1][0] if points else 0.0

    counted = ("requests", "duration_us", "connect", "read", "write", "status", "timeout")
    merged: dict[str, Any] = {
        key: sum(each[key] for each in summaries) for key in (*counted, "answered", "ok")
    }
    merged |= {f"p{p}_us": percentile(p) for p in (50, 95, 99)}
    merged["max_us"] = max(each["max_us"] for each in summaries)
    return merged


def wrk_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Turn a wrk summary into requests/s, milliseconds and errors."""
    seconds = summary["duration_us"] / 1e6
    errors = sum(summary[key] for key in ("connect", "read", "write", "timeout"))
    non_2xx = summary["answered"] - summary["ok"]
    return {
        "requests": summary["answered"],
        "ok": summary["ok"],
        "seconds": round(seconds, 2),
        "requests_per_s": round(summary["answered"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(summary["p50_us"] / 1000, 2),
        "p95_ms": round(summary["p95_us"] / 1000, 2),
        "p99_ms": round(summary["p99_us"] / 1000, 2),
        "max_ms": round(summary["max_us"] / 1000, 2),
        "errors": errors + non_2xx,
    }


def webhook_events(hook: Hook) -> Any:
    """The events ``hook``'s deliveries stored (a queryset)."""
    from catalog.models import Event

    return Event.objects.filter(
        workspace_id=hook.endpoint.workspace_id, dedupe_key__startswith=f"hook:{hook.endpoint.pk}:"
    )


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def setup_django(stack: Stack) -> None:
    """Configure Django in this process with the stack's settings."""
    os.environ.update(stack.env())
    import django

    django.setup()


def new_customers(workspace: Any, count: int) -> list[int]:
    """Create ``count`` customers of ``workspace``; return their ids."""
    from catalog.models import Customer

    run = time.time_ns()
    created = Customer.objects.bulk_create(
        (
            Customer(workspace=workspace, email=f"c{run}-{n}@bench.example", source="bench")
            for n in range(count)
        ),
        batch_size=2000,
    )
    return [c.pk for c in created]


def tag_rule(hook: Hook, tag: str) -> Any:
    """Save (through the checker) a rule: a delivery to ``hook`` tags its body's customer."""
    from automations.services import save_rule

    return save_rule(
        workspace=hook.workspace,
        author=None,
        name=f"Tag {tag} {hook.endpoint.pk}",
        is_enabled=True,
        definition={
            "trigger": {"key": "webhook_received", "config": {"endpoint_id": hook.endpoint.pk}},
            "conditions": [],
            "steps": [
                {
                    "id": "tag",
                    "action": "tag",
                    "inputs": {"customer_id": {"ref": "body.customer_id"}, "tag": {"literal": tag}},
                }
            ],
        },
    )


def tagging_hook(slug: str, tag: str) -> tuple[Hook, Any]:
    """A workspace, an endpoint declaring ``customer_id`` and a rule tagging that customer."""
    hook = create_hook(bench_workspace(slug), declared_fields={"customer_id": "ref(customer)"})
    return hook, tag_rule(hook, tag)


def skip_pending(hook: Hook) -> int:
    """Take ``hook``'s still pending events out of dispatch (a scenario ran no worker for them)."""
    from django.utils import timezone

    from catalog.models import Event, EventStatus

    changes: dict[str, Any] = {
        "status": EventStatus.SKIPPED,
        "status_detail": "Benchmark: skipped.",
    }
    if any(f.name == "published_at" for f in Event._meta.get_fields()):
        changes["published_at"] = timezone.now()  # nothing left for the event publisher
    return int(webhook_events(hook).filter(status=EventStatus.PENDING).update(**changes))


def wait_drained(count: Callable[[], int], target: int, *, cap: float, stall: float = 20.0) -> str:
    """Wait until ``count()`` reaches ``target``; return "drained", "stalled" or "capped".

    "stalled": no progress for ``stall`` seconds with work left (a lost event, not a slow
    engine); "capped": still progressing when ``cap`` seconds ran out (a slow engine).
    """
    deadline = time.monotonic() + cap
    last, progressed = -1, time.monotonic()
    while True:
        done = count()
        now = time.monotonic()
        if done >= target:
            return "drained"
        if done != last:
            last, progressed = done, now
        elif now - progressed > stall:
            return "stalled"
        if now > deadline:
            return "capped"
        time.sleep(0.25)
