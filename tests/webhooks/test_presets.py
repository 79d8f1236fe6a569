"""Provider presets end to end: signed with the providers' tools, stored, applied to the domain."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
import stripe
from githubkit.webhooks import sign as github_sign

from catalog.models import Customer, Event, EventStatus, Order, OrderStatus, Product
from tests.webhooks.conftest import fixture_bytes, make_endpoint
from webhooks.models import InboundDelivery

pytestmark = pytest.mark.django_db

JSON = {"Content-Type": "application/json"}


# --- Stripe ---------------------------------------------------------------------------------


def stripe_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp or int(time.time())
    )
    return {"Stripe-Signature": str(header)}


def test_stripe_payment_intent_succeeded_is_stored_with_its_declared_fields(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="stripe")
    body = fixture_bytes("stripe/payment_intent.succeeded.json")
    # when
    response = post(hook.token, body, stripe_headers(body, secret))
    # then
    event = Event.objects.get()
    assert response.status_code == 202
    assert event.dedupe_key == f"hook:{hook.pk}:evt_3OqRtB2eZvKYlo2C1xq0oYqT"
    assert event.payload["event_type"] == "payment_intent.succeeded"
    assert event.payload["body"]["data"]["object"]["amount"] == 12000
    assert event.payload["body"]["data"]["object"]["receipt_email"] == "jane.doe@example.com"


def test_stripe_retry_with_a_new_timestamp_is_a_duplicate(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="stripe")
    body = fixture_bytes("stripe/invoice.payment_failed.json")
    first = post(hook.token, body, stripe_headers(body, secret, int(time.time()) - 60))
    # when
    retry = post(hook.token, body, stripe_headers(body, secret))
    # then
    assert first.status_code == 202
    assert retry.status_code == 200
    assert retry.json() == {"duplicate": True, "event_id": first.json()["event_id"]}
    assert Event.objects.count() == 1


def test_stripe_event_that_breaks_its_declared_payload_is_422(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="stripe")
    document = json.loads(fixture_bytes("stripe/payment_intent.succeeded.json"))
    document["data"]["object"]["amount"] = "12000"
    del document["data"]["object"]["currency"]
    body = json.dumps(document).encode()
    # when
    response = post(hook.token, body, stripe_headers(body, secret))
    # then
    assert response.status_code == 422
    assert response.json()["fields"] == {
        "body.data.object.amount": ['expected integer, got "12000"'],
        "body.data.object.currency": ["required field is missing"],
    }
    assert Event.objects.count() == 0


# --- GitHub ---------------------------------------------------------------------------------


def test_github_push_signed_by_githubkit_is_stored_under_its_delivery_id(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="github")
    body = fixture_bytes("github/push.json")
    headers = {
        "X-Hub-Signature-256": github_sign(secret, body),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "push",
    }
    # when
    response = post(hook.token, body, headers)
    # then
    event = Event.objects.get()
    assert response.status_code == 202
    assert event.dedupe_key == f"hook:{hook.pk}:72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert event.payload["event_type"] == "push"
    assert event.payload["body"]["repository"]["full_name"] == "octocat/Hello-World"


# --- Zapier ---------------------------------------------------------------------------------


def test_zapier_endpoint_fires_zapier_event_with_a_bearer_token(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="zapier", declared_fields={"email": "email"})
    body = b'{"event": "trial_signup", "email": "jane@example.com"}'
    # when
    response = post(hook.token, body, {"Authorization": f"Bearer {secret}"})
    # then
    event = Event.objects.get()
    assert response.status_code == 202
    assert event.trigger_key == "zapier_event"
    assert event.payload["event_type"] == "trial_signup"


# --- Shopify --------------------------------------------------------------------------------


def shopify_headers(body: bytes, secret: str, topic: str, event_id: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Shop-Domain": "acme.myshopify.com",
    }


def _order_body(**changes) -> bytes:
    document = json.loads(fixture_bytes("shopify/orders_create.json"))
    document.update(changes)
    return json.dumps(document).encode()


def test_shopify_orders_create_places_the_order_and_emits_order_created(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="shopify")
    body = fixture_bytes("shopify/orders_create.json")
    # when
    response = post(hook.token, body, shopify_headers(body, secret, "orders/create", "e-1"))
    # then
    assert response.status_code == 202
    order = Order.objects.get()
    assert order.external_id == "shopify:820982911946154508"
    assert str(order.total) == "403.00"
    assert order.currency == "USD"
    assert order.status == OrderStatus.PENDING
    assert order.customer.email == "jon@example.com"
    assert [item["sku"] for item in order.line_items] == ["IPOD2008PINK", "IPOD2008RED"]
    assert Product.objects.count() == 2
    created = Event.objects.get(trigger_key="order_created")
    assert created.payload["order_id"] == order.pk
    assert created.payload["total"] == {"amount": "403.00", "currency": "USD"}
    webhook_event = Event.objects.get(trigger_key="webhook_received")
    assert response.json() == {"event_id": str(webhook_event.id)}
    assert sorted(Event.objects.values_list("trigger_key", flat=True)) == sorted(
        [
            "webhook_received",
            "customer_created",
            "product_created",
            "product_created",
            "order_created",
            "lifecycle_changed",
            "repeat_order_milestone",
        ]
    )


def test_shopify_orders_create_replayed_under_a_new_event_id_places_no_second_order(
    workspace, post
):
    # given
    hook, secret = make_endpoint(workspace, preset="shopify")
    body = fixture_bytes("shopify/orders_create.json")
    post(hook.token, body, shopify_headers(body, secret, "orders/create", "e-1"))
    # when
    response = post(hook.token, body, shopify_headers(body, secret, "orders/create", "e-2"))
    # then
    assert response.status_code == 202
    assert Order.objects.count() == 1
    assert Event.objects.filter(trigger_key="order_created").count() == 1


def test_shopify_stale_orders_updated_is_stored_stale_and_changes_nothing(workspace, post):
    # given an order created at 10:15:02 (its updated_at)
    hook, secret = make_endpoint(workspace, preset="shopify")
    body = fixture_bytes("shopify/orders_create.json")
    post(hook.token, body, shopify_headers(body, secret, "orders/create", "e-1"))
    before = sorted(Event.objects.values_list("trigger_key", flat=True))
    # when an older orders/updated (10:15:01) arrives late, saying the order was paid
    stale_body = _order_body(updated_at="2025-03-01T10:15:01-05:00", financial_status="paid")
    response = post(
        hook.token, stale_body, shopify_headers(stale_body, secret, "orders/updated", "e-2")
    )
    # then
    assert response.status_code == 202
    stale = Event.objects.get(pk=response.json()["event_id"])
    assert stale.status == EventStatus.STALE
    assert Order.objects.get().status == OrderStatus.PENDING
    after = sorted(Event.objects.values_list("trigger_key", flat=True))
    assert after == sorted([*before, "webhook_received"])
    assert not Event.objects.filter(trigger_key="order_paid").exists()


def test_shopify_newer_orders_updated_is_applied(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="shopify")
    body = fixture_bytes("shopify/orders_create.json")
    post(hook.token, body, shopify_headers(body, secret, "orders/create", "e-1"))
    # when
    newer = _order_body(updated_at="2025-03-01T10:20:00-05:00", financial_status="paid")
    response = post(hook.token, newer, shopify_headers(newer, secret, "orders/updated", "e-2"))
    # then
    assert response.status_code == 202
    assert Event.objects.get(pk=response.json()["event_id"]).status == EventStatus.PENDING
    assert Order.objects.get().status == OrderStatus.PAID
    assert Event.objects.get(trigger_key="order_paid").payload["payment_method"] == "manual"


def test_shopify_paid_fulfilled_and_refunded_follow_the_order(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="shopify")
    created = fixture_bytes("shopify/orders_create.json")
    post(hook.token, created, shopify_headers(created, secret, "orders/create", "e-1"))
    paid = _order_body(updated_at="2025-03-01T10:16:00-05:00", financial_status="paid")
    fulfilled = _order_body(
        updated_at="2025-03-01T11:00:00-05:00",
        fulfillment_status="fulfilled",
        fulfillments=[{"tracking_number": "1Z999"}],
    )
    refund = json.dumps(
        {
            "id": 509562969,
            "order_id": 820982911946154508,
            "created_at": "2025-03-02T09:00:00-05:00",
            "note": "damaged",
            "transactions": [{"amount": "41.00", "kind": "refund", "status": "success"}],
        }
    ).encode()
    # when
    answers = [
        post(hook.token, paid, shopify_headers(paid, secret, "orders/paid", "e-2")).status_code,
        post(
            hook.token, fulfilled, shopify_headers(fulfilled, secret, "orders/fulfilled", "e-3")
        ).status_code,
        post(
            hook.token, refund, shopify_headers(refund, secret, "refunds/create", "e-4")
        ).status_code,
    ]
    # then
    assert answers == [202, 202, 202]
    order = Order.objects.get()
    assert order.status == OrderStatus.FULFILLED
    assert order.tracking == "1Z999"
    assert str(order.refunded_amount) == "41.00"
    assert Event.objects.get(trigger_key="order_fulfilled").payload["tracking"] == "1Z999"
    refund_event = Event.objects.get(trigger_key="refund_created")
    assert refund_event.payload["refund_amount"] == {"amount": "41.00", "currency": "USD"}


def test_shopify_inventory_update_to_zero_sells_the_product_out(workspace, post):
    # given a product created from Shopify, linked to its inventory item
    hook, secret = make_endpoint(workspace, preset="shopify", preset_options={"currency": "EUR"})
    product_body = fixture_bytes("shopify/products_create.json")
    post(hook.token, product_body, shopify_headers(product_body, secret, "products/create", "p-1"))
    level = json.dumps(
        {
            "inventory_item_id": 808950810,
            "location_id": 905684977,
            "available": 0,
            "updated_at": "2025-03-01T12:00:00-05:00",
        }
    ).encode()
    # when
    response = post(
        hook.token, level, shopify_headers(level, secret, "inventory_levels/update", "i-1")
    )
    # then
    assert response.status_code == 202
    product = Product.objects.get()
    assert (product.sku, product.currency, product.inventory_quantity) == ("TSHIRT-S", "EUR", 0)
    assert Event.objects.get(trigger_key="product_sold_out").payload["sku"] == "TSHIRT-S"


def test_shopify_customers_create_creates_the_customer(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, preset="shopify")
    body = json.dumps(
        {
            "id": 706405506930370084,
            "email": "bob@example.com",
            "first_name": "Bob",
            "last_name": "Norman",
            "phone": "+16136120707",
            "updated_at": "2025-03-01T09:00:00-05:00",
        }
    ).encode()
    # when
    response = post(hook.token, body, shopify_headers(body, secret, "customers/create", "c-1"))
    # then
    assert response.status_code == 202
    customer = Customer.objects.get()
    assert (customer.email, customer.first_name, customer.phone, customer.external_id) == (
        "bob@example.com",
        "Bob",
        "+16136120707",
        "shopify:706405506930370084",
    )
    assert Event.objects.filter(trigger_key="customer_created").count() == 1


def test_shopify_change_the_domain_refuses_is_stored_and_logged(workspace, post):
    # given a refund for an order Typewire never saw
    hook, secret = make_endpoint(workspace, preset="shopify")
    refund = json.dumps(
        {
            "id": 1,
            "order_id": 42,
            "created_at": "2025-03-02T09:00:00-05:00",
            "transactions": [{"amount": "5.00", "kind": "refund", "status": "success"}],
        }
    ).encode()
    # when
    response = post(hook.token, refund, shopify_headers(refund, secret, "refunds/create", "r-1"))
    # then
    assert response.status_code == 202
    assert Event.objects.get().trigger_key == "webhook_received"
    delivery = InboundDelivery.objects.get()
    assert (delivery.error, delivery.detail) == ("domain_rejected", "refund for unknown order 42")
    assert Order.objects.count() == 0
