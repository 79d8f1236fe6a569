"""The accepted-delivery fast path: a cached endpoint never changes an answer.

Each test first sends one delivery, so the endpoint is in the process's cache, then changes the
endpoint behind the cache's back (with ``QuerySet.update``, which bypasses ``save`` and its
``updated_at``) and checks the next delivery gets the answer a fresh load would give. Plus the
one-statement write itself: the event, its delivery row and the NOTIFY, a duplicate told apart,
and a dropped database connection replaced without losing the delivery.
"""

from __future__ import annotations

import select
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from catalog.events import NOTIFY_CHANNEL
from catalog.models import Event, EventStatus, Order
from tests.webhooks.conftest import as_json, fixture_bytes, make_endpoint, standard_headers
from tests.webhooks.test_presets import shopify_headers
from webhooks import ingest, services
from webhooks.models import Endpoint, EndpointSecret, InboundDelivery

pytestmark = pytest.mark.django_db


def _send(hook: Endpoint, secret: str, body: bytes | None = None) -> ingest.Outcome:
    body = body or as_json({"type": "customer.created", "id": uuid.uuid4().hex})
    headers = {"Content-Type": "application/json", **standard_headers(body, secret)}
    return ingest.receive(hook.token, body, headers, "127.0.0.1", len(body))


@pytest.fixture
def cached(workspace) -> tuple[Endpoint, str]:
    """An endpoint whose first delivery was accepted: it is in the cache now."""
    ingest.forget_endpoints()
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    assert _send(hook, secret).status == 202
    assert ingest._ENDPOINTS.get(hook.token) is not None
    return hook, secret


def test_a_cached_endpoint_stores_a_delivery_in_one_statement(cached, django_assert_num_queries):
    hook, secret = cached
    # when
    with django_assert_num_queries(1):
        outcome = _send(hook, secret)
    # then the event, its delivery row and its publisher flag are all there
    assert outcome.status == 202
    event = Event.objects.get(pk=str(outcome.event_id))
    assert (event.status, event.published_at, event.source) == (
        EventStatus.PENDING,
        None,
        "webhook",
    )
    assert event.root_event_id == event.pk
    delivery = InboundDelivery.objects.get(event=event)
    assert (delivery.status_code, delivery.endpoint_id, delivery.is_duplicate) == (
        202,
        hook.pk,
        False,
    )
    assert delivery.headers["webhook-signature"] == "[redacted]"


def test_a_redelivery_through_the_fast_path_is_a_duplicate_of_the_stored_event(cached):
    hook, secret = cached
    body = as_json({"type": "customer.created", "id": "cus_1"})
    headers = {"Content-Type": "application/json", **standard_headers(body, secret)}
    first = ingest.receive(hook.token, body, headers, "127.0.0.1", len(body))
    # when the same delivery comes again
    again = ingest.receive(hook.token, body, headers, "127.0.0.1", len(body))
    # then
    assert (first.status, again.status, again.duplicate) == (202, 200, True)
    assert again.event_id == first.event_id
    assert InboundDelivery.objects.filter(event_id=str(first.event_id)).count() == 2
    assert Event.objects.filter(dedupe_key__endswith=headers["webhook-id"]).count() == 1


def test_an_endpoint_disabled_behind_the_cache_refuses_the_next_delivery(cached):
    hook, secret = cached
    # when
    Endpoint.objects.filter(pk=hook.pk).update(is_enabled=False)
    outcome = _send(hook, secret)
    # then
    assert (outcome.status, outcome.body["error"]) == (404, "endpoint_disabled")


def test_a_smaller_body_limit_set_behind_the_cache_applies_to_the_next_delivery(cached):
    hook, secret = cached
    # when
    Endpoint.objects.filter(pk=hook.pk).update(max_body_bytes=20)
    outcome = _send(hook, secret)
    # then
    assert outcome.status == 413


def test_a_secret_revoked_behind_the_cache_no_longer_verifies(cached):
    hook, secret = cached
    # when the only secret expires and a new one takes over
    EndpointSecret.objects.filter(endpoint=hook).update(expires_at=timezone.now())
    EndpointSecret.build(hook, "whsec_" + "QUJD" * 8).save()
    outcome = _send(hook, secret)
    # then
    assert outcome.status == 401


def test_a_rotated_secret_verifies_although_the_cache_only_knew_the_old_one(cached):
    hook, _ = cached
    # when
    new_secret = services.rotate_secret(endpoint=hook, grace=timedelta(hours=1)).secret
    outcome = _send(hook, new_secret)
    # then
    assert outcome.status == 202


def test_a_deleted_endpoint_is_unknown_at_once(cached):
    hook, secret = cached
    # when
    Endpoint.objects.filter(pk=hook.pk).delete()
    outcome = _send(hook, secret)
    # then
    assert (outcome.status, outcome.body["error"]) == (404, "unknown_endpoint")


def test_declared_fields_set_behind_the_cache_are_enforced(cached):
    hook, secret = cached
    # when the endpoint starts requiring a number
    Endpoint.objects.filter(pk=hook.pk).update(declared_fields={"total": "money"})
    outcome = _send(hook, secret, as_json({"type": "order.paid", "total": "lots"}))
    # then
    assert outcome.status == 422


def test_capture_switched_on_behind_the_cache_captures_the_next_body(cached):
    hook, secret = cached
    # when
    Endpoint.objects.filter(pk=hook.pk).update(capture_mode=True)
    outcome = _send(hook, secret, as_json({"type": "sample", "plan": "gold"}))
    # then the capturing (slow) path stored the sample
    assert outcome.status == 202
    assert Endpoint.objects.get(pk=hook.pk).captured_sample == {"type": "sample", "plan": "gold"}


@pytest.mark.django_db(transaction=True)
def test_a_stored_delivery_wakes_the_event_publisher(workspace):
    # given a listener on the publisher's channel and a cached endpoint
    ingest.forget_endpoints()
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    assert _send(hook, secret).status == 202
    with psycopg.connect(_libpq_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        # when one more delivery is accepted
        assert _send(hook, secret).status == 202
        # then its statement's NOTIFY arrives
        ready, _, _ = select.select([listener.fileno()], [], [], 5)
        assert ready
        notices = list(listener.notifies(timeout=1, stop_after=1))
    assert [notice.channel for notice in notices] == [NOTIFY_CHANNEL]


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_and_the_delivery_stored(workspace):
    # given a cached endpoint and this thread's connection killed by the server
    ingest.forget_endpoints()
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    assert _send(hook, secret).status == 202
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(_libpq_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # when the next delivery comes (no health check runs before the fast path's statement)
    outcome = _send(hook, secret)
    # then it is stored on a new connection
    assert outcome.status == 202
    assert Event.objects.filter(pk=str(outcome.event_id)).exists()


def test_a_delivery_with_a_domain_change_takes_the_transaction_even_when_cached(workspace):
    # given a Shopify endpoint already cached by a delivery of a topic without domain change
    ingest.forget_endpoints()
    hook, secret = make_endpoint(workspace, preset="shopify", rate_limit_per_minute=0)
    assert _shopify(hook, secret, as_json({"id": 1}), "shop/update").status == 202
    assert ingest._ENDPOINTS.get(hook.token) is not None
    # when an order comes (its applier places the order in the event's transaction)
    body = fixture_bytes("shopify/orders_create.json")
    outcome = _shopify(hook, secret, body, "orders/create")
    # then the event was stored and the order placed
    assert outcome.status == 202
    assert Order.objects.get().external_id == "shopify:820982911946154508"


def _shopify(hook: Endpoint, secret: str, body: bytes, topic: str) -> ingest.Outcome:
    headers = {
        "Content-Type": "application/json",
        **shopify_headers(body, secret, topic, uuid.uuid4().hex),
    }
    return ingest.receive(hook.token, body, headers, "127.0.0.1", len(body))


def _libpq_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}"


def test_an_allowlist_set_behind_the_cache_applies_to_the_next_delivery(workspace):
    # given an endpoint cached
    ingest.forget_endpoints()
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    assert _send(hook, secret).status == 202
    # when its IP allowlist stops admitting the sender
    Endpoint.objects.filter(pk=hook.pk).update(ip_allowlist=["10.0.0.0/8"])
    outcome = _send(hook, secret)
    # then
    assert (outcome.status, outcome.body["error"]) == (403, "ip_not_allowed")
