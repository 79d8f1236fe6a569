"""The shape of a provider preset: scheme, event id and type extraction, declared payloads."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catalog.types import FieldSpec
from webhooks.verifiers import Scheme

if TYPE_CHECKING:
    from catalog.models import Event
    from webhooks.models import Endpoint

type Headers = Mapping[str, str]
"""Request headers keyed by lower-case name."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified, parsed delivery as a preset sees it."""

    endpoint: Endpoint
    headers: Headers
    body: Any
    event_type: str | None


@dataclass(frozen=True, slots=True)
class Version:
    """Where an entity's version lives: ``key`` names the entity, ``version`` orders its states."""

    key: str
    version: str


type Extractor = Callable[[Headers, Any], str | None]
type OrderingOf = Callable[[Delivery], Version | None]
type Applier = Callable[[Delivery, Event], None]


def no_value(headers: Headers, body: Any) -> str | None:
    """An extractor that finds nothing."""
    return None


def body_field(name: str) -> Extractor:
    """Return an extractor of the body's top-level field ``name`` (as text, if scalar)."""

    def extract(headers: Headers, body: Any) -> str | None:
        value = body.get(name) if isinstance(body, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
        return None

    return extract


def header(name: str) -> Extractor:
    """Return an extractor of the request header ``name`` (lower-case)."""

    def extract(headers: Headers, body: Any) -> str | None:
        return headers.get(name) or None

    return extract


def random_secret() -> str:
    """Return a random secret for schemes that key an HMAC with the secret's text."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ProviderPreset:
    """What Typewire knows about one provider's webhooks.

    ``base`` fields are declared for every event; ``events`` adds fields per event type (the
    keys are the provider's event types: ``payment_intent.succeeded``, ``orders/create``).
    ``appliers`` change the domain for some event types, in the ingest transaction; they raise
    ``catalog.domain.services.DomainError`` when the domain refuses. ``ordering`` says where an
    event's entity key and version are, for out-of-order detection.
    """

    key: str
    label: str
    scheme: Scheme
    base: Mapping[str, FieldSpec] = field(default_factory=dict)
    events: Mapping[str, Mapping[str, FieldSpec]] = field(default_factory=dict)
    event_id: Extractor = no_value
    event_type: Extractor = no_value
    ordering: OrderingOf | None = None
    appliers: Mapping[str, Applier] = field(default_factory=dict)
    make_secret: Callable[[], str] = random_secret
    trigger_key: str = "webhook_received"
    schemes: tuple[Scheme, ...] = ()

    @property
    def allowed_schemes(self) -> tuple[Scheme, ...]:
        """The schemes an endpoint of this preset may use (the preset's own by default)."""
        return self.schemes or (self.scheme,)

    def declared_for(self, event_type: str | None) -> dict[str, FieldSpec]:
        """Return the fields declared for ``event_type``: the base ones plus the event's own."""
        return {**self.base, **self.events.get(event_type or "", {})}
