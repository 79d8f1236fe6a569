"""A custom sender: generic HMAC (header, hash, encoding, prefix) or a bearer token.

The event id is the configured ``event_id_header`` when the sender has one, else the hash of
the body (ingest's fallback); the event type is the body's ``type`` or ``event`` field.
"""

from __future__ import annotations

from typing import Any

from webhooks.presets.base import Headers, ProviderPreset
from webhooks.presets.standard import make_secret
from webhooks.verifiers import Scheme


def _event_type(headers: Headers, body: Any) -> str | None:
    if isinstance(body, dict):
        for name in ("type", "event", "event_type"):
            if isinstance(value := body.get(name), str) and value:
                return value
    return None


PRESET = ProviderPreset(
    key="generic",
    label="Custom",
    scheme=Scheme.HMAC,
    schemes=(Scheme.HMAC, Scheme.BEARER, Scheme.STANDARD_WEBHOOKS),
    event_type=_event_type,
    make_secret=make_secret,
)
