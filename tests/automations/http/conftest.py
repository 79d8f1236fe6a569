"""A local HTTP server standing in for every external API, and step contexts to call it with."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from accounts.models import Workspace
from automations.engine.contract import StepContext
from catalog.events import Causation


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, body (dict/list as JSON), headers, delay before answering."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            return self.body.encode(), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


@dataclass(frozen=True)
class Received:
    """One request the server got."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LocalServer:
    """An HTTP server on 127.0.0.1 that records requests and plays scripted replies.

    Replies queued with ``reply()`` are used in order; then ``default`` (or ``responder``, a
    function of the request) answers every further request.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.queue: list[Reply] = []
        self.default = Reply(200, {"ok": True})
        self.responder: Callable[[Received], Reply] | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = server._next(received)
                if reply.delay:
                    time.sleep(reply.delay)
                body, headers = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self.queue:
                return self.queue.pop(0)
        if self.responder is not None:
            return self.responder(received)
        return self.default

    def reply(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    running = LocalServer()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def allow_local(settings) -> None:
    """Allow 127.0.0.1 as an outbound target (local server tests only)."""
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]


def step_context(
    workspace: Workspace, inputs: dict[str, Any], *, step_path: str = "steps.0", attempt: int = 1
) -> StepContext:
    """Return the context of step ``step_path`` of execution 1 (idempotency key "1:<path>")."""
    return StepContext(
        workspace=workspace,
        execution_id=1,
        rule_id=1,
        step_path=step_path,
        idempotency_key=f"1:{step_path}",
        attempt=attempt,
        inputs=inputs,
        causation=Causation(execution_id=1, root_event_id=uuid.uuid4(), depth=0),
    )


@pytest.fixture
def make_ctx(workspace: Workspace) -> Callable[..., StepContext]:
    """Return a factory of step contexts in the ``workspace`` persona (database tests)."""

    def make(inputs: dict[str, Any], **kwargs: Any) -> StepContext:
        return step_context(workspace, inputs, **kwargs)

    return make


@pytest.fixture
def ctx() -> StepContext:
    """A step context with an unsaved workspace, for tests of the client alone (no database)."""
    return step_context(Workspace(slug="acme", name="Acme Store"), {})
