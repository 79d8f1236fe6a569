"""A signed test delivery, sent from the endpoint page straight into the ingest pipeline.

The body is built from the fields the endpoint declares (its preset's and its own), signed
with the endpoint's current secret by its scheme, and handed to :func:`webhooks.ingest.receive`
in-process: it is verified, stored and logged exactly like a delivery from outside, without an
HTTP call to ourselves.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from catalog.types import (
    BooleanType,
    DatetimeType,
    DateType,
    DecimalType,
    DurationType,
    EmailType,
    EnumType,
    FieldSpec,
    FieldType,
    IntegerType,
    ListType,
    MoneyType,
    ObjectType,
    PhoneType,
    TextType,
    UrlType,
)
from webhooks import ingest
from webhooks.fields import DeclarationError
from webhooks.models import Endpoint
from webhooks.presets import get_preset
from webhooks.verifiers import Scheme
from webhooks.verifiers.generic_hmac import HmacVerifier

TEST_EVENT_TYPE = "typewire.test"
TEST_REMOTE_IP = "127.0.0.1"


class NoSecret(Exception):
    """The endpoint has no current secret to sign with."""


def example_for(field_type: FieldType, now: dt.datetime) -> Any:
    """Return a plausible JSON value of ``field_type`` for a test body."""
    if isinstance(field_type, ObjectType):
        return example_object(field_type.fields, now)
    if isinstance(field_type, ListType):
        return [example_for(field_type.item, now)]
    if isinstance(field_type, EnumType):
        return field_type.values[0]
    simple: list[tuple[type[FieldType], Any]] = [
        (EmailType, "test@example.com"),
        (PhoneType, "+4915112345678"),
        (UrlType, "https://example.com/"),
        (TextType, "A test event sent from Typewire."),
        (BooleanType, True),
        (IntegerType, 1),
        (DecimalType, "1.50"),
        (MoneyType, {"amount": "10.00", "currency": "EUR"}),
        (DatetimeType, now.strftime("%Y-%m-%dT%H:%M:%SZ")),
        (DateType, now.date().isoformat()),
        (DurationType, "PT5M"),
    ]
    for cls, value in simple:
        if isinstance(field_type, cls):
            return value
    return "test"


def example_object(specs: Mapping[str, FieldSpec], now: dt.datetime) -> dict[str, Any]:
    """Return an example object with every declared field (optional ones included)."""
    return {name: example_for(spec.type, now) for name, spec in specs.items()}


def sample_body(endpoint: Endpoint, now: dt.datetime | None = None) -> dict[str, Any]:
    """Return a test body that fits the endpoint's declared fields."""
    now = now or timezone.now()
    try:
        own = endpoint.declared_specs()
    except DeclarationError:
        own = {}
    declared = {**get_preset(endpoint.preset).declared_for(TEST_EVENT_TYPE), **own}
    return {
        "id": f"evt_test_{uuid.uuid4().hex[:16]}",
        "type": TEST_EVENT_TYPE,
        **example_object(declared, now),
    }


def signed_headers(
    endpoint: Endpoint, secret: str, body: bytes, now: dt.datetime
) -> dict[str, str]:
    """Return the headers that sign ``body`` with ``secret`` by the endpoint's scheme."""
    scheme = Scheme(endpoint.scheme)
    delivery_id = f"msg_test_{uuid.uuid4().hex}"
    headers = {"content-type": "application/json"}
    if scheme is Scheme.STANDARD_WEBHOOKS:
        signature = Webhook(secret).sign(msg_id=delivery_id, timestamp=now, data=body.decode())
        headers.update(
            {
                "webhook-id": delivery_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            }
        )
    elif scheme is Scheme.STRIPE:
        stamp = str(int(now.timestamp()))
        digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        headers["stripe-signature"] = f"t={stamp},v1={digest.hexdigest()}"
    elif scheme is Scheme.GITHUB:
        digest = hmac.new(secret.encode(), body, hashlib.sha256)
        headers.update(
            {
                "x-hub-signature-256": "sha256=" + digest.hexdigest(),
                "x-github-event": "ping",
                "x-github-delivery": delivery_id,
            }
        )
    elif scheme is Scheme.SHOPIFY:
        digest = hmac.new(secret.encode(), body, hashlib.sha256)
        headers.update(
            {
                "x-shopify-hmac-sha256": base64.b64encode(digest.digest()).decode(),
                "x-shopify-topic": "typewire/test",
                "x-shopify-webhook-id": delivery_id,
            }
        )
    elif scheme is Scheme.BEARER:
        headers["authorization"] = f"Bearer {secret}"
    else:
        verifier = HmacVerifier.from_options(endpoint.scheme_options or {})
        raw = hmac.new(secret.encode(), body, verifier.algorithm.value).digest()
        text = raw.hex() if verifier.encoding.value == "hex" else base64.b64encode(raw).decode()
        headers[verifier.header] = verifier.prefix + text
        if verifier.event_id_header:
            headers[verifier.event_id_header] = delivery_id
    return headers


def send_test_event(endpoint: Endpoint) -> tuple[ingest.Outcome, dict[str, Any]]:
    """Sign a sample body with the endpoint's current secret and run it through ingest.

    Returns the pipeline's outcome and the body sent. Raises NoSecret when no secret verifies.
    """
    current = endpoint.active_secrets()
    if not current:
        raise NoSecret(f"Endpoint '{endpoint.name}' has no current secret: rotate it first.")
    now = timezone.now()
    body = sample_body(endpoint, now)
    raw = json.dumps(body).encode()
    headers = signed_headers(endpoint, current[0].reveal(), raw, now)
    outcome = ingest.receive(endpoint.token, raw, headers, TEST_REMOTE_IP, len(raw), now=now)
    return outcome, body
