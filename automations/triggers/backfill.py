"""Missed-webhook backfill: ask Stripe and Shopify what happened, ingest what never arrived.

For a Stripe endpoint the provider's events list (``GET /v1/events?created[gte]=...``) gives
events with the ids the webhooks carry, so each listed event maps to the dedupe key the
webhook path uses (``hook:<endpoint id>:<event id>``): what is stored is skipped, the rest is
ingested. For a Shopify endpoint the orders updated since (``GET /admin/api/<version>/
orders.json?updated_at_min=...``) are compared with the newest version of each order the
endpoint applied (its ordering state): an order whose ``updated_at`` is newer is ingested as an
``orders/updated`` delivery keyed by order id and ``updated_at``.

Either way the document goes through the webhook pipeline's validation against the declared
fields, its dedupe, its out-of-order check and the preset's domain changes, in one transaction,
and the event is marked ``source=backfill``. Running a backfill twice ingests nothing the
second time.

Credentials (for now, until endpoints hold an encrypted API key): the environment variable
named by the endpoint's ``preset_options["api_key_env"]``, else the setting
``TYPEWIRE_STRIPE_API_KEY`` / ``TYPEWIRE_SHOPIFY_API_KEY``. Shopify's shop URL is
``preset_options["shop_url"]``, else ``TYPEWIRE_SHOPIFY_API_BASE_URL``. A Stripe endpoint's
``preset_options["enabled_events"]`` (the event types it subscribes to) narrows the list.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from automations.triggers.fetch import SourceError, get_json
from catalog.domain.services import DomainError
from catalog.events import DuplicateEventError, record_event
from catalog.models import Event, EventSource, EventStatus
from catalog.registry import get_trigger
from catalog.types import JSONValue, ValidationError

# The webhook pipeline's own steps, so a backfilled document is keyed, validated, ordered and
# applied exactly as a delivery would be.
from webhooks.ingest import _declared, _dedupe_key, _is_stale, _version_of
from webhooks.models import Endpoint, OrderingState, Preset
from webhooks.presets import Delivery, get_preset

logger = logging.getLogger(__name__)

SHOPIFY_API_VERSION = "2024-10"
STRIPE_PAGE_SIZE = 100
SHOPIFY_PAGE_SIZE = 250
# A provider listing more pages than this in one run is cut short (logged); the next run
# continues from the same ``since``, and the dedupe makes the overlap free.
MAX_PAGES = 50


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """What one backfill of one endpoint did."""

    endpoint_id: int
    listed: int = 0
    ingested: int = 0
    rejected: int = 0
    error: str = ""


class _Counts:
    def __init__(self) -> None:
        self.listed = 0
        self.ingested = 0
        self.rejected = 0


def backfill_stripe(endpoint: Endpoint, since: datetime) -> BackfillResult:
    """Ingest the Stripe events created since ``since`` that the endpoint never received.

    Returns the counts; a provider that cannot be reached (or no API key) is reported in
    ``error`` and ingests nothing. Events already stored, by webhook or by an earlier backfill,
    are skipped.
    """
    key = _api_key(endpoint, "TYPEWIRE_STRIPE_API_KEY")
    if not key:
        return BackfillResult(endpoint.pk, error="no Stripe API key for this endpoint")
    counts = _Counts()
    try:
        for document in _stripe_events(endpoint, since, key):
            counts.listed += 1
            if not isinstance(document, dict) or not document.get("id"):
                counts.rejected += 1
                continue
            created = document.get("created")
            occurred = datetime.fromtimestamp(created, tz=UTC) if isinstance(created, int) else None
            event_type = str(document.get("type") or "") or None
            _ingest(endpoint, document, str(document["id"]), event_type, occurred, counts)
    except SourceError as exc:
        logger.warning("Stripe backfill of endpoint %s stopped: %s", endpoint.pk, exc)
        return _result(endpoint, counts, str(exc))
    return _result(endpoint, counts)


def backfill_shopify(endpoint: Endpoint, since: datetime) -> BackfillResult:
    """Ingest the Shopify orders updated since ``since`` newer than what the endpoint applied.

    Each such order becomes an ``orders/updated`` delivery (which places the order if it is
    new and brings its state up to Shopify's). Returns the counts, as :func:`backfill_stripe`.
    """
    key = _api_key(endpoint, "TYPEWIRE_SHOPIFY_API_KEY")
    base = str(endpoint.preset_options.get("shop_url") or settings.TYPEWIRE_SHOPIFY_API_BASE_URL)
    if not key or not base:
        return BackfillResult(endpoint.pk, error="no Shopify shop URL or access token")
    query = urlencode(
        {"status": "any", "limit": SHOPIFY_PAGE_SIZE, "updated_at_min": since.isoformat()}
    )
    url: str | None = f"{base.rstrip('/')}/admin/api/{SHOPIFY_API_VERSION}/orders.json?{query}"
    counts = _Counts()
    try:
        for _page in range(MAX_PAGES):
            if url is None:
                break
            fetched = get_json(url, headers={"X-Shopify-Access-Token": key})
            orders = fetched.document.get("orders") if isinstance(fetched.document, dict) else None
            for order in orders or []:
                counts.listed += 1
                _backfill_order(endpoint, order, counts)
            url = fetched.next_url
        else:
            logger.warning(
                "Shopify backfill of endpoint %s: more than %d pages", endpoint.pk, MAX_PAGES
            )
    except SourceError as exc:
        logger.warning("Shopify backfill of endpoint %s stopped: %s", endpoint.pk, exc)
        return _result(endpoint, counts, str(exc))
    return _result(endpoint, counts)


def backfill_endpoint(endpoint: Endpoint, since: datetime) -> BackfillResult | None:
    """Backfill one endpoint by its preset; None for presets without a provider API."""
    if endpoint.preset == Preset.STRIPE:
        return backfill_stripe(endpoint, since)
    if endpoint.preset == Preset.SHOPIFY:
        return backfill_shopify(endpoint, since)
    return None


def backfill_all(*, since: datetime | None = None) -> list[BackfillResult]:
    """Backfill every enabled Stripe and Shopify endpoint (the daily job).

    ``since`` defaults to ``TYPEWIRE_BACKFILL_LOOKBACK_HOURS`` ago (48 h: a daily job with a
    day of overlap). Endpoints without credentials are skipped quietly.
    """
    lookback = timedelta(hours=getattr(settings, "TYPEWIRE_BACKFILL_LOOKBACK_HOURS", 48))
    since = since or timezone.now() - lookback
    results: list[BackfillResult] = []
    endpoints = Endpoint.objects.filter(
        is_enabled=True, preset__in=[Preset.STRIPE, Preset.SHOPIFY]
    ).select_related("workspace")
    for endpoint in endpoints:
        result = backfill_endpoint(endpoint, since)
        if result is None:
            continue
        if result.ingested:
            logger.warning(
                "backfill of endpoint %s ingested %d missed event(s)", endpoint.pk, result.ingested
            )
        results.append(result)
    return results


# --- Stripe ---------------------------------------------------------------------------------


def _stripe_events(endpoint: Endpoint, since: datetime, key: str) -> Iterator[Any]:
    """Yield the events created since ``since``, newest first, page by page."""
    params: list[tuple[str, str]] = [
        ("created[gte]", str(int(since.timestamp()))),
        ("limit", str(STRIPE_PAGE_SIZE)),
    ]
    for event_type in endpoint.preset_options.get("enabled_events") or []:
        params.append(("types[]", str(event_type)))
    base = settings.TYPEWIRE_STRIPE_API_BASE_URL.rstrip("/")
    starting_after = ""
    for _page in range(MAX_PAGES):
        page = params + ([("starting_after", starting_after)] if starting_after else [])
        fetched = get_json(
            f"{base}/v1/events?{urlencode(page)}", headers={"Authorization": f"Bearer {key}"}
        )
        document = fetched.document
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            raise SourceError("Stripe's events list has no data")
        yield from data
        if not document.get("has_more") or not data or not isinstance(data[-1], dict):
            return
        starting_after = str(data[-1].get("id", ""))
    logger.warning("Stripe backfill of endpoint %s: more than %d pages", endpoint.pk, MAX_PAGES)


# --- Shopify --------------------------------------------------------------------------------


def _backfill_order(endpoint: Endpoint, order: Any, counts: _Counts) -> None:
    """Ingest one listed order unless the endpoint already applied this version of it."""
    if not isinstance(order, dict) or order.get("id") is None:
        counts.rejected += 1
        return
    updated = str(order.get("updated_at") or "")
    updated_at = parse_datetime(updated)
    if updated_at is None:
        counts.rejected += 1
        return
    state = OrderingState.objects.filter(endpoint=endpoint, key=f"orders:{order['id']}").first()
    applied = parse_datetime(state.version) if state else None
    if applied is not None and applied >= updated_at:
        return
    event_id = f"backfill:orders/{order['id']}@{updated}"
    _ingest(endpoint, order, event_id, "orders/updated", updated_at, counts)


# --- the shared ingestion -------------------------------------------------------------------


def _ingest(
    endpoint: Endpoint,
    document: dict[str, Any],
    provider_event_id: str,
    event_type: str | None,
    occurred_at: datetime | None,
    counts: _Counts,
) -> Event | None:
    """Store one document as the webhook pipeline would, marked as backfilled.

    Returns the event, or None when it was stored before or does not fit the declared fields
    (counted as rejected and logged, as a 422 delivery would be).
    """
    dedupe_key = _dedupe_key(endpoint, provider_event_id)
    if Event.objects.filter(workspace_id=endpoint.workspace_id, dedupe_key=dedupe_key).exists():
        return None
    preset = get_preset(endpoint.preset)
    declared = _declared(endpoint, preset, event_type)
    payload: dict[str, JSONValue] = {"endpoint_id": endpoint.pk, "body": document}
    if event_type:
        payload["event_type"] = event_type
    try:
        get_trigger(endpoint.trigger_key).validate_payload(payload, declared)
    except ValidationError as exc:
        logger.warning(
            "backfill of endpoint %s: %s does not fit the declared fields: %s",
            endpoint.pk,
            provider_event_id,
            exc.as_dict(),
        )
        counts.rejected += 1
        return None
    delivery = Delivery(endpoint, _headers(event_type, provider_event_id), document, event_type)
    try:
        with transaction.atomic():
            event = record_event(
                workspace=endpoint.workspace,
                trigger_key=endpoint.trigger_key,
                payload=payload,
                source=EventSource.BACKFILL,
                occurred_at=occurred_at,
                dedupe_key=dedupe_key,
                declared=declared,
            )
            version = _version_of(endpoint, preset, delivery)
            if version is not None and _is_stale(endpoint, version):
                detail = f"Older than the newest applied {version.key} (version {version.version})."
                Event.objects.filter(pk=event.pk).update(
                    status=EventStatus.STALE, status_detail=detail[:255]
                )
            elif (applier := preset.appliers.get(event_type or "")) is not None:
                try:
                    with transaction.atomic():
                        applier(delivery, event)
                except (DomainError, ValidationError) as exc:
                    # Stored either way, as a webhook would be; the refusal is logged.
                    logger.warning(
                        "backfill of endpoint %s: %s not applied: %s", endpoint.pk, dedupe_key, exc
                    )
    except DuplicateEventError:
        return None  # a webhook for the same event arrived meanwhile
    counts.ingested += 1
    return event


def _headers(event_type: str | None, provider_event_id: str) -> Mapping[str, str]:
    """The headers a delivery of this document would have carried (Shopify reads its topic)."""
    headers = {"x-typewire-backfill": "1"}
    if event_type:
        headers["x-shopify-topic"] = event_type
    headers["x-shopify-event-id"] = provider_event_id
    return headers


def _api_key(endpoint: Endpoint, setting: str) -> str:
    """Return the endpoint's provider API key: its named environment variable, else a setting."""
    variable = str(endpoint.preset_options.get("api_key_env") or "")
    if variable:
        return os.environ.get(variable, "")
    return str(getattr(settings, setting, "") or "")


def _result(endpoint: Endpoint, counts: _Counts, error: str = "") -> BackfillResult:
    return BackfillResult(endpoint.pk, counts.listed, counts.ingested, counts.rejected, error)
