"""Missed-webhook backfill: what the provider lists and never arrived is ingested, once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from automations.triggers.backfill import (
    BackfillResult,
    backfill_all,
    backfill_shopify,
    backfill_stripe,
)
from catalog.models import Event, EventSource, Order
from webhooks import services
from webhooks.ingest import receive
from webhooks.models import OrderingState

SINCE = datetime(2025, 3, 1, tzinfo=UTC)


def stripe_event(n: int) -> dict[str, Any]:
    return {
        "id": f"evt_{n:04d}",
        "object": "event",
        "type": "customer.created",
        "created": int(SINCE.timestamp()) + n * 60,
        "livemode": False,
        "data": {"object": {"id": f"cus_{n:04d}", "email": f"c{n}@example.com", "name": "Jo"}},
    }


def deliver_stripe(endpoint, secret: str, document: dict[str, Any]) -> int:
    body = json.dumps(document).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=int(time.time())
    )
    headers = {"Content-Type": "application/json", "Stripe-Signature": str(header)}
    return receive(endpoint.token, body, headers, "127.0.0.1").status


def stripe_like(events: list[dict[str, Any]], page_size: int = 4):
    """A Stripe events list: newest first, ``starting_after`` pagination, Bearer auth."""
    newest_first = sorted(events, key=lambda e: e["created"], reverse=True)

    def handle(seen):
        if seen.path != "/v1/events":
            return 404, {"error": {"message": "no such route"}}, {}
        if seen.headers.get("authorization") != "Bearer sk_test_backfill":
            return 401, {"error": {"message": "bad key"}}, {}
        gte = int(seen.query["created[gte]"][0])
        listed = [e for e in newest_first if e["created"] >= gte]
        after = seen.query.get("starting_after", [""])[0]
        if after:
            listed = listed[[e["id"] for e in listed].index(after) + 1 :]
        page = listed[:page_size]
        return 200, {"object": "list", "data": page, "has_more": len(listed) > page_size}, {}

    return handle


def test_stripe_backfill_ingests_exactly_the_events_that_never_arrived(
    workspace, settings, local_server
):
    # given: 10 events at Stripe, 7 of them delivered by webhook
    revealed = services.create_endpoint(workspace=workspace, name="Stripe", preset="stripe")
    endpoint, secret = revealed.endpoint, revealed.secret
    events = [stripe_event(n) for n in range(1, 11)]
    missed = {"evt_0003", "evt_0006", "evt_0009"}
    for document in events:
        if document["id"] not in missed:
            assert deliver_stripe(endpoint, secret, document) == 202
    settings.TYPEWIRE_STRIPE_API_BASE_URL = local_server.url
    settings.TYPEWIRE_STRIPE_API_KEY = "sk_test_backfill"
    local_server.handler = stripe_like(events)

    # when
    result = backfill_stripe(endpoint, SINCE)

    # then
    assert result == BackfillResult(endpoint.pk, listed=10, ingested=3, rejected=0, error="")
    backfilled = Event.objects.filter(source=EventSource.BACKFILL)
    assert sorted(e.payload["body"]["id"] for e in backfilled) == sorted(missed)
    assert sorted(str(e.dedupe_key) for e in backfilled) == [
        f"hook:{endpoint.pk}:evt_0003",
        f"hook:{endpoint.pk}:evt_0006",
        f"hook:{endpoint.pk}:evt_0009",
    ]
    third = backfilled.get(dedupe_key=f"hook:{endpoint.pk}:evt_0003")
    assert third.payload["event_type"] == "customer.created"
    assert third.occurred_at == SINCE + timedelta(minutes=3)
    assert Event.objects.filter(trigger_key="webhook_received").count() == 10
    assert [s.query["created[gte]"] for s in local_server.seen] == [
        [str(int(SINCE.timestamp()))]
    ] * 3


def test_running_the_stripe_backfill_again_ingests_nothing(workspace, settings, local_server):
    # given: a backfill already ran
    endpoint = services.create_endpoint(
        workspace=workspace, name="Stripe", preset="stripe"
    ).endpoint
    settings.TYPEWIRE_STRIPE_API_BASE_URL = local_server.url
    settings.TYPEWIRE_STRIPE_API_KEY = "sk_test_backfill"
    local_server.handler = stripe_like([stripe_event(n) for n in range(1, 11)])
    first = backfill_stripe(endpoint, SINCE)

    # when
    second = backfill_stripe(endpoint, SINCE)

    # then
    assert (first.ingested, second.ingested, second.listed) == (10, 0, 10)
    assert Event.objects.filter(trigger_key="webhook_received").count() == 10


def test_a_webhook_arriving_after_the_backfill_is_a_duplicate(workspace, settings, local_server):
    # given: the backfill took in evt_0001, then Stripe's late retry of it arrives
    revealed = services.create_endpoint(workspace=workspace, name="Stripe", preset="stripe")
    settings.TYPEWIRE_STRIPE_API_BASE_URL = local_server.url
    settings.TYPEWIRE_STRIPE_API_KEY = "sk_test_backfill"
    local_server.handler = stripe_like([stripe_event(1)])
    backfill_stripe(revealed.endpoint, SINCE)

    # when
    status = deliver_stripe(revealed.endpoint, revealed.secret, stripe_event(1))

    # then
    assert status == 200
    assert Event.objects.get().source == EventSource.BACKFILL


def test_a_provider_error_ingests_nothing_and_says_why(workspace, settings, local_server):
    # given: the key is wrong
    endpoint = services.create_endpoint(
        workspace=workspace, name="Stripe", preset="stripe"
    ).endpoint
    settings.TYPEWIRE_STRIPE_API_BASE_URL = local_server.url
    settings.TYPEWIRE_STRIPE_API_KEY = "sk_test_wrong"
    local_server.handler = stripe_like([stripe_event(1)])

    # when
    result = backfill_stripe(endpoint, SINCE)

    # then
    assert (result.listed, result.ingested) == (0, 0)
    assert result.error.startswith("127.0.0.1 answered 401")
    assert Event.objects.count() == 0


def test_an_endpoint_without_an_api_key_is_skipped(workspace, settings):
    # given
    endpoint = services.create_endpoint(
        workspace=workspace, name="Stripe", preset="stripe"
    ).endpoint
    settings.TYPEWIRE_STRIPE_API_KEY = ""

    # when
    result = backfill_stripe(endpoint, SINCE)

    # then
    assert result == BackfillResult(endpoint.pk, error="no Stripe API key for this endpoint")
    assert Event.objects.count() == 0


def shopify_order(order_id: int, updated_at: str, financial_status: str = "paid") -> dict[str, Any]:
    return {
        "id": order_id,
        "email": f"buyer{order_id}@example.com",
        "created_at": "2025-03-01T10:15:00-05:00",
        "updated_at": updated_at,
        "currency": "USD",
        "total_price": "199.00",
        "financial_status": financial_status,
        "fulfillment_status": None,
        "gateway": "manual",
        "customer": {"id": order_id + 1000, "email": f"buyer{order_id}@example.com"},
        "line_items": [
            {
                "product_id": 632910392,
                "sku": "IPOD",
                "title": "IPod",
                "quantity": 1,
                "price": "199.00",
            }
        ],
    }


def deliver_shopify(
    endpoint, secret: str, topic: str, document: dict[str, Any], event_id: str
) -> int:
    body = json.dumps(document).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Topic": topic,
        "X-Shopify-Event-Id": event_id,
    }
    return receive(endpoint.token, body, headers, "127.0.0.1").status


def test_shopify_backfill_ingests_the_orders_newer_than_what_arrived(
    workspace, settings, local_server
):
    # given: order 1 arrived by webhook in its listed version, order 2 in an older one,
    # order 3 never arrived
    revealed = services.create_endpoint(workspace=workspace, name="Shop", preset="shopify")
    endpoint, secret = revealed.endpoint, revealed.secret
    one = shopify_order(1, "2025-03-01T10:15:02-05:00")
    two_old = shopify_order(2, "2025-03-01T10:15:02-05:00", financial_status="pending")
    two = shopify_order(2, "2025-03-01T11:00:00-05:00")
    three = shopify_order(3, "2025-03-01T12:00:00-05:00")
    assert deliver_shopify(endpoint, secret, "orders/create", one, "e1") == 202
    assert deliver_shopify(endpoint, secret, "orders/create", two_old, "e2") == 202
    settings.TYPEWIRE_SHOPIFY_API_BASE_URL = local_server.url
    settings.TYPEWIRE_SHOPIFY_API_KEY = "shpat_backfill"

    def handle(seen):
        assert seen.headers["x-shopify-access-token"] == "shpat_backfill"
        assert seen.query["updated_at_min"] == ["2025-03-01T00:00:00+00:00"]
        return 200, {"orders": [three, two, one]}, {}

    local_server.handler = handle

    # when
    result = backfill_shopify(endpoint, SINCE)
    again = backfill_shopify(endpoint, SINCE)

    # then
    assert result == BackfillResult(endpoint.pk, listed=3, ingested=2, rejected=0, error="")
    assert (again.listed, again.ingested) == (3, 0)
    backfilled = Event.objects.filter(source=EventSource.BACKFILL).order_by("occurred_at")
    assert [(e.payload["event_type"], e.payload["body"]["id"]) for e in backfilled] == [
        ("orders/updated", 2),
        ("orders/updated", 3),
    ]
    assert dict(Order.objects.values_list("external_id", "status")) == {
        "shopify:1": "pending",
        "shopify:2": "paid",
        "shopify:3": "paid",
    }
    assert OrderingState.objects.get(endpoint=endpoint, key="orders:3").version == (
        "2025-03-01T12:00:00-05:00"
    )


def test_backfill_all_runs_every_stripe_endpoint_with_a_key(workspace, settings, local_server):
    # given: a Stripe endpoint, a disabled one, and a generic endpoint
    stripe_endpoint = services.create_endpoint(
        workspace=workspace, name="Stripe", preset="stripe"
    ).endpoint
    services.create_endpoint(workspace=workspace, name="Off", preset="stripe", is_enabled=False)
    services.create_endpoint(
        workspace=workspace,
        name="Generic",
        preset="generic",
        scheme="hmac",
        scheme_options={"header": "X-Sig"},
    )
    settings.TYPEWIRE_STRIPE_API_BASE_URL = local_server.url
    settings.TYPEWIRE_STRIPE_API_KEY = "sk_test_backfill"
    local_server.handler = stripe_like([stripe_event(1), stripe_event(2)])

    # when
    results = backfill_all(since=SINCE)

    # then
    assert results == [BackfillResult(stripe_endpoint.pk, listed=2, ingested=2)]
