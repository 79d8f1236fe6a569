"""Zapier: a Zap's "Webhooks by Zapier" POST with a bearer token; fires ``zapier_event``.

Zapier cannot sign bodies, so the Zap sends ``Authorization: Bearer <secret>`` (a custom header
in the Zap's action). The event type is the body's ``event`` field when the Zap sends one; the
fields of the body are the endpoint's declared ones.
"""

from __future__ import annotations

from webhooks.presets.base import ProviderPreset, body_field, header
from webhooks.verifiers import Scheme

PRESET = ProviderPreset(
    key="zapier",
    label="Zapier",
    scheme=Scheme.BEARER,
    event_id=header("x-zapier-delivery-id"),
    event_type=body_field("event"),
    trigger_key="zapier_event",
)
