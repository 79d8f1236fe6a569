"""Rules of the trigger kinds beyond webhooks, saved through the checker like any other rule."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.models import Workspace
from automations.models import Rule
from automations.services import save_rule

type MakeRule = Callable[..., Rule]


def slack_step() -> dict[str, Any]:
    return {
        "id": "notify",
        "action": "post_to_slack",
        "inputs": {"channel": {"literal": "#ops"}, "text": {"literal": "It happened."}},
    }


@pytest.fixture
def make_rule(workspace: Workspace) -> MakeRule:
    """Return a function saving an enabled rule on ``trigger`` with ``config`` in the workspace."""

    def make(
        trigger: str,
        config: dict[str, Any],
        *,
        name: str = "",
        enabled: bool = True,
        in_workspace: Workspace | None = None,
    ) -> Rule:
        return save_rule(
            workspace=in_workspace or workspace,
            author=None,
            name=name or f"On {trigger}",
            definition={
                "trigger": {"key": trigger, "config": config},
                "conditions": [],
                "steps": [slack_step()],
            },
            is_enabled=enabled,
        )

    return make


@dataclass
class Seen:
    """A request the local server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


type Handler = Callable[[Seen], tuple[int, Any, dict[str, str]]]


@dataclass
class LocalServer:
    """A JSON server on 127.0.0.1 standing in for a provider; ``handler`` answers each request."""

    url: str
    handler: Handler
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def local_server(settings) -> Iterator[LocalServer]:
    """Serve JSON on 127.0.0.1 (allowed past the SSRF guard for this test only)."""
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    server_box: list[LocalServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            parts = urlsplit(self.path)
            seen = Seen(
                "GET",
                parts.path,
                parse_qs(parts.query),
                {name.lower(): value for name, value in self.headers.items()},
            )
            local = server_box[0]
            local.seen.append(seen)
            status, body, headers = local.handler(seen)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_box.append(
        LocalServer(f"http://127.0.0.1:{httpd.server_address[1]}", lambda seen: (404, {}, {}))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
