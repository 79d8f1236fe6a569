"""Stripe: ``Stripe-Signature`` over ``t.body``; event id and type from the body's id and type."""

from __future__ import annotations

import secrets

from catalog.types import (
    FieldSpec,
    FieldType,
    boolean,
    email,
    fields,
    integer,
    object_of,
    optional,
    string,
)
from webhooks.presets.base import ProviderPreset, body_field
from webhooks.verifiers import Scheme


def _data(**members: FieldSpec | FieldType) -> dict[str, FieldSpec]:
    """Declare ``data.object`` of a Stripe event with ``members`` (an open object)."""
    declared = fields(id=string(), **members)
    return fields(data=object_of({"object": object_of(declared, is_open=True)}, is_open=True))


def _make_secret() -> str:
    """Return a whsec_ secret; in practice Stripe shows one per endpoint and the admin pastes it."""
    return "whsec_" + secrets.token_urlsafe(32)


BASE = fields(id=string(), type=string(), created=integer(), livemode=boolean())

EVENTS: dict[str, dict[str, FieldSpec]] = {
    "payment_intent.succeeded": _data(
        amount=integer(minimum=0),
        amount_received=optional(integer(minimum=0)),
        currency=string(),
        customer=optional(string()),
        receipt_email=optional(email()),
        status=string(),
    ),
    "payment_intent.payment_failed": _data(
        amount=integer(minimum=0),
        currency=string(),
        customer=optional(string()),
        status=string(),
    ),
    "charge.refunded": _data(
        amount=integer(minimum=0),
        amount_refunded=integer(minimum=0),
        currency=string(),
        customer=optional(string()),
        payment_intent=optional(string()),
    ),
    "customer.created": _data(email=optional(email()), name=optional(string())),
    "customer.subscription.created": _data(customer=string(), status=string()),
    "customer.subscription.deleted": _data(customer=string(), status=string()),
    "invoice.paid": _data(customer=string(), amount_paid=integer(minimum=0), currency=string()),
    "invoice.payment_failed": _data(
        customer=string(),
        customer_email=optional(email()),
        amount_due=integer(minimum=0),
        attempt_count=integer(minimum=0),
        currency=string(),
    ),
    "checkout.session.completed": _data(
        customer=optional(string()),
        amount_total=optional(integer(minimum=0)),
        currency=optional(string()),
    ),
}

PRESET = ProviderPreset(
    key="stripe",
    label="Stripe",
    scheme=Scheme.STRIPE,
    base=BASE,
    events=EVENTS,
    event_id=body_field("id"),
    event_type=body_field("type"),
    make_secret=_make_secret,
)
