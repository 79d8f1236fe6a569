"""Standard Webhooks (and Svix): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``."""

from __future__ import annotations

import base64
import secrets

from webhooks.presets.base import ProviderPreset, body_field, header
from webhooks.verifiers import Scheme


def make_secret() -> str:
    """Return a ``whsec_<base64>`` secret of 32 random bytes, as the spec's senders expect."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


PRESET = ProviderPreset(
    key="standard_webhooks",
    label="Standard Webhooks",
    scheme=Scheme.STANDARD_WEBHOOKS,
    event_id=header("webhook-id"),
    event_type=body_field("type"),
    make_secret=make_secret,
)
