"""The inbound webhook pipeline, as plain functions over (token, raw request).

``receive`` takes what the view read and returns an ``Outcome``; the view only maps it to a
response. Steps, in order: endpoint lookup (404) → size (413) → content type (415) → IP
allowlist (403) → rate limit (429) → signature (401) → JSON (400) → event id and type →
payload validation (422) → one transaction storing the event, the preset's domain changes and
the delivery row (202), or, when the insert meets the same event id (its ON CONFLICT), a
duplicate (200) that changes nothing. An event older than the newest applied
one for its entity is stored as ``stale`` and changes nothing. The request never talks to the
broker: the event is stored unpublished and the event publisher (``catalog.publisher``, woken
once the event is committed) publishes it in a batch; a broker outage leaves it unpublished
and pending, for the publisher's next round or the sweeper. A plain delivery (no domain change,
no ordering, no capture) is stored by one statement on an endpoint this process has cached
(``webhooks.fastpath``); the rest in one transaction.

Every answer writes one ``InboundDelivery``: in the event's transaction when accepted, in its
own transaction otherwise, and best-effort when the database itself is failing (503).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from psycopg_pool import PoolTimeout

from catalog.domain.services import DomainError
from catalog.events import DuplicateEventError, event_row, record_event
from catalog.models import Event, EventSource, EventStatus
from catalog.registry import get_trigger
from catalog.types import FieldSpec, JSONValue, ValidationError
from ops import crypto
from ops.crypto import InvalidToken
from webhooks import fastpath
from webhooks.fastpath import EndpointCache, KnownEndpoint
from webhooks.fields import DeclarationError
from webhooks.models import (
    TOKEN_PREFIX_LENGTH,
    Endpoint,
    InboundDelivery,
    OrderingState,
)
from webhooks.presets import Delivery, ProviderPreset, Version, get_preset
from webhooks.ratelimit import Decision, hit
from webhooks.verifiers import SignatureError, SignatureReason, Verified, get_verifier
from webhooks.verifiers.base import VerifierConfigError

logger = logging.getLogger(__name__)

LOGGED_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 100
REDACTED = "[redacted]"
# Headers never stored in the delivery log (plus the generic HMAC endpoint's own header).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "stripe-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "x-shopify-hmac-sha256",
        "webhook-signature",
        "svix-signature",
    }
)

type BodyReader = Callable[[int], bytes]
"""Reads at most the given number of bytes of the request body."""


class DeliveryError(StrEnum):
    """Why a delivery was not accepted (signature reasons come from ``SignatureReason``)."""

    UNKNOWN_ENDPOINT = "unknown_endpoint"
    ENDPOINT_DISABLED = "endpoint_disabled"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    IP_NOT_ALLOWED = "ip_not_allowed"
    RATE_LIMITED = "rate_limited"
    MALFORMED_JSON = "malformed_json"
    PAYLOAD_INVALID = "payload_invalid"
    ENDPOINT_MISCONFIGURED = "endpoint_misconfigured"
    UNAVAILABLE = "unavailable"
    # Accepted and stored, but the preset's domain change was refused (logged, still 202).
    DOMAIN_REJECTED = "domain_rejected"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one delivery: status code, JSON body, and what it did."""

    status: int
    body: dict[str, JSONValue]
    event_id: str | None = None
    duplicate: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Context:
    """What the pipeline learnt so far, for the delivery row."""

    token: str
    headers: dict[str, str]
    remote_ip: str | None
    started: float
    received_at: datetime
    endpoint: Endpoint | None = None
    raw_body: bytes = b""
    body_size: int = 0
    provider_event_id: str = ""
    event_type: str = ""
    # Counted once per request, even when the pipeline runs again on a fresh endpoint.
    rate_decision: Decision | None = None


class _Reject(Exception):
    """Stop the pipeline with this answer."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        extra: Mapping[str, JSONValue] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def outcome(self) -> Outcome:
        body: dict[str, JSONValue] = {"error": self.error, "detail": self.detail, **self.extra}
        return Outcome(self.status, body, headers=self.headers)


_ENDPOINTS = EndpointCache(seconds=settings.TYPEWIRE_ENDPOINT_CACHE_SECONDS)


class _Refresh(Exception):
    """The cached endpoint cannot take this delivery by itself: load it fresh and start again."""


def receive(
    endpoint_token: str,
    raw_body: bytes | BodyReader,
    headers: Mapping[str, str],
    remote_ip: str | None,
    content_length: int | None = None,
    *,
    now: datetime | None = None,
) -> Outcome:
    """Verify, deduplicate and store one delivery; return the answer. Never raises.

    ``raw_body`` is the body, or a reader the pipeline calls once it knows the endpoint's size
    limit (at most ``max_body_bytes + 1`` bytes are read). ``content_length`` is the request's
    declared length, checked before reading. ``now`` is the verification time (tests).
    """
    context = _Context(
        token=endpoint_token,
        headers={name.lower(): value for name, value in headers.items()},
        remote_ip=_clean_ip(remote_ip),
        started=time.perf_counter(),
        received_at=timezone.now(),
    )
    now = now or context.received_at
    body = _Body(raw_body, content_length)
    try:
        return _pipeline(context, body, now)
    except _Reject as reject:
        outcome = reject.outcome()
        _log_rejected(context, outcome, reject.error, reject.detail)
        return outcome
    except (OperationalError, InterfaceError) as exc:
        logger.warning("webhook %s… not stored: database unavailable (%s)", _prefix(context), exc)
        retry_after = str(settings.TYPEWIRE_WEBHOOK_RETRY_AFTER_SECONDS)
        outcome = Outcome(
            503,
            {
                "error": DeliveryError.UNAVAILABLE,
                "detail": "The event could not be stored; retry later.",
            },
            headers={"Retry-After": retry_after},
        )
        if not isinstance(exc.__cause__, PoolTimeout):
            # (No connection to be had within DB_POOL_TIMEOUT: the log's row would wait as
            # long again for one. The warning above is its record.)
            _log_rejected(context, outcome, DeliveryError.UNAVAILABLE, str(exc)[:500])
        return outcome


def forget_endpoints() -> None:
    """Empty this process's endpoint cache (tests, and after restoring a database)."""
    _ENDPOINTS.clear()


def _pipeline(context: _Context, body: _Body, now: datetime) -> Outcome:
    """Run the steps with the cached endpoint when there is one, else (or then) a fresh one.

    The cached endpoint only ever accepts: anything else it would answer (a rejection, a
    delivery needing the slow path, an endpoint changed since it was cached) is answered by
    running again on the endpoint loaded fresh, so a cache can never change an answer.
    """
    cached = _ENDPOINTS.get(context.token) if context.token else None
    if cached is not None:
        try:
            outcome = _accept(context, cached, body, now, cached=True)
        except (_Reject, _Refresh):
            outcome = None
        if outcome is not None:
            return outcome
        _ENDPOINTS.drop(context.token)
        context.endpoint = None  # what the fresh load finds, if anything, is logged instead
    known = _load_endpoint(context, now)
    _ENDPOINTS.put(context.token, known)
    outcome = _accept(context, known, body, now, cached=False)
    assert outcome is not None  # a fresh endpoint always answers
    return outcome


def _accept(
    context: _Context, known: KnownEndpoint, source: _Body, now: datetime, *, cached: bool
) -> Outcome | None:
    """Run the steps on ``known``; None when the cached endpoint turned out stale."""
    endpoint = known.endpoint
    context.endpoint = endpoint
    context.provider_event_id = context.event_type = ""
    if not endpoint.is_enabled:
        raise _Reject(404, DeliveryError.ENDPOINT_DISABLED, "This endpoint is disabled.")
    body = source.read(context, endpoint.max_body_bytes)
    _check_content_type(context.headers)
    _check_ip(known, context.remote_ip)
    _check_rate(context, endpoint)
    preset = get_preset(endpoint.preset)
    verified = _verify(known, body, context.headers, now)
    document = _parse_json(body)
    event_id = (
        verified.event_id
        or preset.event_id(context.headers, document)
        or "sha256:" + hashlib.sha256(body).hexdigest()
    )
    event_type = verified.event_type or preset.event_type(context.headers, document)
    context.provider_event_id = event_id[:255]
    context.event_type = (event_type or "")[:255]
    dedupe_key = _dedupe_key(endpoint, event_id)
    declared = {**preset.declared_for(event_type), **known.declared}
    payload: dict[str, JSONValue] = {"endpoint_id": endpoint.pk, "body": document}
    if event_type:
        payload["event_type"] = event_type
    try:
        clean = get_trigger(endpoint.trigger_key).validate_payload(payload, declared)
    except ValidationError as exc:
        raise _Reject(
            422,
            DeliveryError.PAYLOAD_INVALID,
            "The body does not fit the endpoint's declared fields.",
            extra={"fields": {path: list(messages) for path, messages in exc.as_dict().items()}},
        ) from exc
    delivery = Delivery(endpoint, context.headers, document, event_type)
    if known.fingerprint is not None and _is_plain(endpoint, preset, event_type):
        stored = _store_plain(context, known, clean, dedupe_key, verified, now)
        if stored is not None or cached:
            return stored
        # The endpoint changed between its load and the write: the transaction below decides.
    elif cached:
        raise _Refresh
    try:
        return _store(context, delivery, preset, payload, declared, dedupe_key, verified, now)
    except DuplicateEventError as exc:
        # No lookup before the insert: a fresh delivery (the common case) saves a round trip,
        # and the insert's ON CONFLICT finds a redelivery, concurrent or not, in the same step.
        return _duplicate(context, exc.existing.pk)


# --- the steps ------------------------------------------------------------------------------


def _load_endpoint(context: _Context, now: datetime) -> KnownEndpoint:
    # The token is unique: no ORDER BY (the model's ordering) for at most one row. The captured
    # sample (up to a whole body) is only ever written here, never read.
    endpoint = (
        next(
            iter(
                Endpoint.objects.with_active_secrets(now)
                .select_related("workspace")
                .defer("captured_sample")
                .filter(token=context.token)
                .order_by()[:1]
            ),
            None,
        )
        if context.token
        else None
    )
    if endpoint is None:
        raise _Reject(404, DeliveryError.UNKNOWN_ENDPOINT, "No endpoint has this URL.")
    context.endpoint = endpoint
    try:
        verifier = get_verifier(endpoint.scheme, endpoint.scheme_options or None)
        secrets = tuple(crypto.decrypt(token) for token in endpoint.active_secret_tokens(now))
    except (VerifierConfigError, InvalidToken) as exc:
        logger.error("endpoint %s cannot verify deliveries: %r", endpoint.pk, exc)
        raise _Reject(
            503,
            DeliveryError.ENDPOINT_MISCONFIGURED,
            "The endpoint cannot verify deliveries right now; retry later.",
            headers={"Retry-After": str(settings.TYPEWIRE_WEBHOOK_RETRY_AFTER_SECONDS)},
        ) from exc
    own = _own_declared(endpoint)
    fingerprint: str | None = getattr(endpoint, "_fingerprint", None)
    return KnownEndpoint(
        endpoint=endpoint,
        fingerprint=fingerprint,
        secrets=secrets,
        verifier=verifier,
        declared=own,
        networks=tuple(endpoint.networks()),
    )


class _Body:
    """The request body, read once and only as far as an endpoint's size limit asks."""

    def __init__(self, source: bytes | BodyReader, content_length: int | None) -> None:
        self.source = source
        self.content_length = content_length
        self.data = b""
        self.ended = isinstance(source, bytes)
        if isinstance(source, bytes):
            self.data = source

    def read(self, context: _Context, limit: int) -> bytes:
        """Return the body, or reject it as larger than ``limit`` bytes (413)."""
        too_large = _Reject(
            413, DeliveryError.BODY_TOO_LARGE, f"The body is larger than {limit} bytes."
        )
        if self.content_length is not None and self.content_length > limit:
            # The declared length is logged as the size; a lie past the column's range must
            # not lose the delivery row (PositiveIntegerField: at most 2**31 - 1).
            context.body_size = min(self.content_length, 2**31 - 1)
            raise too_large
        # One byte past the limit is enough to know it is too large; never read more.
        while not self.ended and len(self.data) <= limit:
            assert not isinstance(self.source, bytes)
            chunk = self.source(limit + 1 - len(self.data))
            self.data += chunk
            self.ended = not chunk
        body = self.data[: limit + 1]
        context.raw_body = body[:LOGGED_BODY_BYTES]
        context.body_size = len(body)
        if len(body) > limit:
            raise too_large
        return body


def _check_content_type(headers: Mapping[str, str]) -> None:
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise _Reject(
            415,
            DeliveryError.UNSUPPORTED_MEDIA_TYPE,
            f"Send JSON (Content-Type: application/json), not {media_type or 'no content type'}.",
        )


def _check_ip(known: KnownEndpoint, remote_ip: str | None) -> None:
    networks = known.networks
    if not networks:
        return
    address = ipaddress.ip_address(remote_ip) if remote_ip else None
    if address is None or not any(address in network for network in networks):
        raise _Reject(
            403,
            DeliveryError.IP_NOT_ALLOWED,
            f"{remote_ip or 'This address'} is not in the endpoint's IP allowlist.",
        )


def _check_rate(context: _Context, endpoint: Endpoint) -> None:
    # The token part keeps counters apart when ids are reused (a recreated database).
    decision = context.rate_decision
    if decision is None:
        decision = hit(f"{endpoint.pk}:{endpoint.token[:8]}", endpoint.rate_limit_per_minute)
        context.rate_decision = decision
    if not decision.allowed:
        raise _Reject(
            429,
            DeliveryError.RATE_LIMITED,
            f"More than {endpoint.rate_limit_per_minute} deliveries in a minute; "
            f"retry in {decision.retry_after} s.",
            headers={"Retry-After": str(decision.retry_after)},
        )


def _verify(
    known: KnownEndpoint, body: bytes, headers: Mapping[str, str], now: datetime
) -> Verified:
    try:
        verified = known.verifier.verify(
            body=body, headers=headers, secrets=list(known.secrets), now=now
        )
    except SignatureError as exc:
        raise _Reject(401, exc.reason, exc.detail) from exc
    if verified.timestamp is not None:
        _check_tolerance(verified.timestamp, now, known.endpoint.tolerance_seconds)
    return verified


def _check_tolerance(timestamp: datetime, now: datetime, seconds: int) -> None:
    """Apply the endpoint's window, which may be narrower than the scheme's own."""
    tolerance = timedelta(seconds=seconds)
    if timestamp < now - tolerance:
        raise _Reject(
            401,
            SignatureReason.TIMESTAMP_EXPIRED,
            f"The signature timestamp is more than {seconds} seconds old.",
        )
    if timestamp > now + tolerance:
        raise _Reject(
            401,
            SignatureReason.TIMESTAMP_IN_FUTURE,
            f"The signature timestamp is more than {seconds} seconds in the future.",
        )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse_json(body: bytes) -> Any:
    try:
        document = json.loads(body, parse_float=_finite_float, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        detail = str(exc)[:200] if isinstance(exc, json.JSONDecodeError) else "not JSON"
        raise _Reject(
            400, DeliveryError.MALFORMED_JSON, f"The body is not valid JSON: {detail}."
        ) from exc
    problem = None if _plainly_storable(body) else _storage_problem(document)
    if problem is not None:
        raise _Reject(400, DeliveryError.MALFORMED_JSON, problem)
    return document


def _plainly_storable(body: bytes) -> bool:
    r"""Whether the body's bytes alone show ``_storage_problem`` has nothing to find (most do).

    JSON writes a NUL only as the escape ``\u0000`` (a raw one is invalid), and nesting deeper
    than ``MAX_JSON_DEPTH`` takes more than that many ``{`` or ``[``. A body with a zero byte
    (UTF-16 or UTF-32 JSON, which the parser accepts) is left to the full check.
    """
    return (
        b"\x00" not in body
        and b"\\u0000" not in body
        and body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH
    )


def _storage_problem(document: Any) -> str | None:
    """Return why PostgreSQL could not store ``document`` (depth, NUL characters), or None."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"The body is nested deeper than {MAX_JSON_DEPTH} levels."
        if isinstance(value, str) and "\x00" in value:
            return "The body contains a NUL character (\\u0000), which cannot be stored."
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return "The body contains a NUL character (\\u0000), which cannot be stored."
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None


def _dedupe_key(endpoint: Endpoint, event_id: str) -> str:
    key = f"hook:{endpoint.pk}:{event_id}"
    if len(key) > 255:
        key = f"hook:{endpoint.pk}:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"
    return key


def _declared(
    endpoint: Endpoint, preset: ProviderPreset, event_type: str | None
) -> dict[str, FieldSpec]:
    """The fields a delivery of ``event_type`` declares (the backfill's, outside the pipeline)."""
    return {**preset.declared_for(event_type), **_own_declared(endpoint)}


def _own_declared(endpoint: Endpoint) -> dict[str, FieldSpec]:
    try:
        return endpoint.declared_specs()
    except DeclarationError:
        logger.error("endpoint %s has invalid declared fields; ignoring them", endpoint.pk)
        return {}


def _is_plain(endpoint: Endpoint, preset: ProviderPreset, event_type: str | None) -> bool:
    """Whether a delivery only stores its event: no ordering, no domain change, no capture."""
    return (
        settings.TYPEWIRE_WEBHOOK_PUBLISH_LATER
        and not endpoint.capture_mode
        and not endpoint.ordering_key
        and preset.ordering is None
        and (event_type or "") not in preset.appliers
    )


def _store_plain(
    context: _Context,
    known: KnownEndpoint,
    clean_payload: dict[str, Any],
    dedupe_key: str,
    verified: Verified,
    now: datetime,
) -> Outcome | None:
    """Store a plain delivery in one statement; None when the endpoint changed meanwhile."""
    endpoint = known.endpoint
    assert known.fingerprint is not None
    event = event_row(
        workspace_id=endpoint.workspace_id,
        trigger_key=endpoint.trigger_key,
        clean_payload=clean_payload,
        source=EventSource.WEBHOOK,
        occurred_at=verified.timestamp or now,
        dedupe_key=dedupe_key,
        published=False,
    )
    event_id = str(event["id"])
    outcome = Outcome(202, {"event_id": event_id}, event_id=event_id)
    stored = fastpath.store_accepted(
        endpoint_id=endpoint.pk,
        fingerprint=known.fingerprint,
        now=now,
        event=event,
        delivery=_delivery_values(context, outcome, "", ""),
    )
    if not stored.current:
        return None
    if stored.event_id is not None:
        return outcome
    existing = stored.existing_id
    if existing is None:
        # A concurrent delivery of the same event committed while the statement ran.
        existing = (
            Event.objects.filter(workspace_id=endpoint.workspace_id, dedupe_key=dedupe_key)
            .values_list("pk", flat=True)
            .get()
        )
    return _duplicate(context, existing)


def _version_of(endpoint: Endpoint, preset: ProviderPreset, delivery: Delivery) -> Version | None:
    if endpoint.ordering_key and endpoint.version_field:
        key = _dig(delivery.body, endpoint.ordering_key)
        version = _dig(delivery.body, endpoint.version_field)
        if key is None or version is None or isinstance(key, dict | list):
            return None
        return Version(key=str(key), version=str(version))
    return preset.ordering(delivery) if preset.ordering else None


def _dig(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _sort_key(version: str) -> tuple[int, Any]:
    """Order versions: datetimes by instant, numbers numerically, anything else as text."""
    parsed = parse_datetime(version)
    if parsed is not None and parsed.tzinfo is not None:
        return (0, parsed)
    try:
        return (1, Decimal(version))
    except InvalidOperation:
        return (2, version)


def _is_stale(endpoint: Endpoint, version: Version) -> bool:
    """Record ``version`` as the newest for its key unless a newer one is; return if stale.

    Runs in the ingest transaction, under a row lock, so deliveries for one key serialise.
    """
    key = version.key[:255]
    OrderingState.objects.bulk_create(
        [OrderingState(endpoint=endpoint, key=key, version=version.version[:64])],
        ignore_conflicts=True,
    )
    state = OrderingState.objects.select_for_update().get(endpoint=endpoint, key=key)
    if state.version == version.version[:64]:
        return False
    current, new = _sort_key(state.version), _sort_key(version.version)
    if current[0] == new[0] and current[1] > new[1]:
        return True
    state.version = version.version[:64]
    state.save(update_fields=["version", "updated_at"])
    return False


def _store(
    context: _Context,
    delivery: Delivery,
    preset: ProviderPreset,
    payload: dict[str, JSONValue],
    declared: Mapping[str, FieldSpec],
    dedupe_key: str,
    verified: Verified,
    now: datetime,
) -> Outcome:
    endpoint = delivery.endpoint
    error, detail = "", ""
    with transaction.atomic():
        event = record_event(
            workspace=endpoint.workspace,
            trigger_key=endpoint.trigger_key,
            payload=payload,
            source=EventSource.WEBHOOK,
            occurred_at=verified.timestamp or now,
            dedupe_key=dedupe_key,
            declared=declared,
            # No broker round trip in the request: the event publisher takes it from here.
            publish_later=settings.TYPEWIRE_WEBHOOK_PUBLISH_LATER,
        )
        version = _version_of(endpoint, preset, delivery)
        if version is not None and _is_stale(endpoint, version):
            detail = f"Older than the newest applied {version.key} (version {version.version})."
            Event.objects.filter(pk=event.pk).update(
                status=EventStatus.STALE, status_detail=detail[:255]
            )
        elif (applier := preset.appliers.get(delivery.event_type or "")) is not None:
            try:
                with transaction.atomic():
                    applier(delivery, event)
            except (DomainError, ValidationError) as exc:
                # The event is stored either way; the refused change is in the delivery log.
                error, detail = DeliveryError.DOMAIN_REJECTED, str(exc)[:1000]
        if endpoint.capture_mode and isinstance(delivery.body, dict):
            Endpoint.objects.filter(pk=endpoint.pk).update(
                captured_sample=delivery.body, captured_at=now
            )
        outcome = Outcome(202, {"event_id": str(event.id)}, event_id=str(event.id))
        _delivery_row(context, outcome, error, detail, event=event).save()
    return outcome


def _duplicate(context: _Context, event_pk: Any) -> Outcome:
    outcome = Outcome(
        200, {"duplicate": True, "event_id": str(event_pk)}, event_id=str(event_pk), duplicate=True
    )
    # One INSERT, atomic by itself: no BEGIN/COMMIT round trips around it.
    _delivery_row(context, outcome, "", "", event_id=event_pk).save()
    return outcome


# --- the delivery log -----------------------------------------------------------------------


def _delivery_row(
    context: _Context,
    outcome: Outcome,
    error: str,
    detail: str,
    *,
    event: Event | None = None,
    event_id: Any = None,
) -> InboundDelivery:
    return InboundDelivery(**_delivery_values(context, outcome, error, detail, event, event_id))


def _delivery_values(
    context: _Context,
    outcome: Outcome,
    error: str,
    detail: str,
    event: Event | None = None,
    event_id: Any = None,
) -> dict[str, Any]:
    """The delivery row's column values by attribute name (the fast path inserts them as is)."""
    endpoint = context.endpoint
    return {
        "endpoint_id": endpoint.pk if endpoint else None,
        "workspace_id": endpoint.workspace_id if endpoint else None,
        "token_prefix": "" if endpoint else _prefix(context),
        "received_at": context.received_at,
        "remote_ip": context.remote_ip,
        "status_code": outcome.status,
        "error": str(error),
        "detail": detail,
        "event_id": event.pk if event is not None else event_id,
        "is_duplicate": outcome.duplicate,
        "latency_ms": int((time.perf_counter() - context.started) * 1000),
        "headers": dict(_redacted(context.headers, endpoint)),
        "body": _text(context.raw_body),
        "body_size": context.body_size,
        "is_body_truncated": context.body_size > len(context.raw_body),
        "provider_event_id": _clean(context.provider_event_id)[:255],
        "event_type": _clean(context.event_type)[:255],
    }


def _log_rejected(context: _Context, outcome: Outcome, error: str, detail: str) -> None:
    """Write the row of a delivery that was not accepted; best-effort when the DB is down."""
    try:
        with transaction.atomic():
            _delivery_row(context, outcome, error, detail).save()
    except DatabaseError:
        logger.warning(
            "could not log a %s delivery for %s…", outcome.status, _prefix(context), exc_info=True
        )


def _redacted(headers: Mapping[str, str], endpoint: Endpoint | None) -> Iterator[tuple[str, str]]:
    extra = str((endpoint.scheme_options or {}).get("header", "")).lower() if endpoint else ""
    for name, value in headers.items():
        secret = name in SECRET_HEADERS or (extra and name == extra)
        yield _clean(name), REDACTED if secret else _clean(value)


def _clean(text: str) -> str:
    """``text`` fit for storage (as ``_text`` makes it); as is when plain ASCII, the usual case."""
    if text.isascii() and "\x00" not in text:
        return text
    return _text(text.encode(errors="replace"))


def _text(data: bytes) -> str:
    """Decode for storage: invalid UTF-8 replaced, NUL (which PostgreSQL refuses) replaced."""
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _prefix(context: _Context) -> str:
    return _text(context.token[:TOKEN_PREFIX_LENGTH].encode(errors="replace"))


@lru_cache(maxsize=4096)
def _clean_ip(remote_ip: str | None) -> str | None:
    # Cached: senders are few, and parsing an address costs more than the rest of the step.
    try:
        return str(ipaddress.ip_address(remote_ip)) if remote_ip else None
    except ValueError:
        return None
