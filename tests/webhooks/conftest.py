"""Endpoints, signing helpers and the HTTP poster shared by the webhook tests."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client
from standardwebhooks.webhooks import Webhook

from webhooks import services
from webhooks.models import Endpoint

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """Return a captured provider payload from tests/webhooks/fixtures, byte for byte."""
    return (FIXTURES / name).read_bytes()


def seconds_from_now(offset: int) -> int:
    """A whole-second timestamp ``offset`` seconds from now, rounded away from now.

    ``int(time.time()) + 301`` is up to a second less than 301 s ahead, and the delivery takes
    a moment to reach the check: such a timestamp can land inside a 300 s window. Rounding away
    from now keeps it at least ``offset`` seconds off whenever the check runs.
    """
    now = time.time()
    return math.ceil(now) + offset if offset > 0 else math.floor(now) + offset


def standard_headers(
    body: bytes, secret: str, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Headers of a delivery signed by the standardwebhooks package itself."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(
        msg_id=msg_id, timestamp=datetime.fromtimestamp(timestamp, tz=UTC), data=body.decode()
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def make_endpoint(workspace, **attributes: Any) -> tuple[Endpoint, str]:
    """Create an endpoint (Standard Webhooks unless told otherwise); return it and its secret."""
    attributes.setdefault("name", "Signups")
    attributes.setdefault("preset", "standard_webhooks")
    revealed = services.create_endpoint(workspace=workspace, **attributes)
    return revealed.endpoint, revealed.secret


@pytest.fixture
def endpoint(workspace) -> tuple[Endpoint, str]:
    return make_endpoint(workspace)


@pytest.fixture
def post() -> Callable[..., Any]:
    """POST raw bytes to /hooks/<token> through the full Django stack."""
    client = Client()

    def send(
        token: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        remote_ip: str = "127.0.0.1",
    ) -> Any:
        return client.post(
            f"/hooks/{token}",
            data=body,
            content_type=content_type,
            headers=headers or {},
            REMOTE_ADDR=remote_ip,
        )

    return send


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters of earlier runs must not leak into this test (ids are reused)."""
    url = settings.TYPEWIRE_RATELIMIT_REDIS_URL
    if url:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter("tw:ratelimit:*"))
        if keys:
            client.delete(*keys)


def as_json(body: Any) -> bytes:
    return json.dumps(body).encode()
