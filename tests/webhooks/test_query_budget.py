"""Query budget of the inbound webhook path: a delivery costs a fixed, small number of queries.

Counted through the full Django stack (``POST /hooks/<token>``), with the rate limiter off so
only database statements count. Accepted, endpoint not yet cached in this process: the endpoint
with its active secrets and fingerprint (one statement), then one statement storing the event,
its delivery row and the NOTIFY that wakes the event publisher (``webhooks.fastpath``). Cached:
that one statement only. Duplicate: the same statement, which meets the dedupe key and finds
the stored event, then the duplicate's delivery row.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Event
from ops import crypto
from tests.webhooks.conftest import make_endpoint, standard_headers
from webhooks import ingest, services
from webhooks.models import Endpoint, InboundDelivery

pytestmark = pytest.mark.django_db

ACCEPTED_BUDGET = 2
CACHED_BUDGET = 1
DUPLICATE_BUDGET = 2


def _body() -> bytes:
    return json.dumps({"type": "customer.created", "id": uuid.uuid4().hex}).encode()


def test_an_accepted_delivery_stays_within_its_query_budget(
    workspace, post, django_assert_max_num_queries
):
    # given an endpoint with a rotated secret (two active secrets) and a signed delivery
    hook, _ = make_endpoint(workspace, rate_limit_per_minute=0)
    secret = services.rotate_secret(endpoint=hook, grace=timedelta(hours=1)).secret
    body = _body()
    headers = standard_headers(body, secret)
    ingest.forget_endpoints()
    # when
    with django_assert_max_num_queries(ACCEPTED_BUDGET):
        response = post(hook.token, body, headers)
    # then
    assert response.status_code == 202
    assert Event.objects.filter(pk=response.json()["event_id"]).exists()
    # and once the endpoint is cached, a delivery is one statement
    body = _body()
    with django_assert_max_num_queries(CACHED_BUDGET):
        response = post(hook.token, body, standard_headers(body, secret))
    assert response.status_code == 202


def test_a_duplicate_delivery_stays_within_its_query_budget(
    workspace, post, django_assert_max_num_queries
):
    # given a delivery already accepted once
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    body = _body()
    headers = standard_headers(body, secret)
    assert post(hook.token, body, headers).status_code == 202
    # when it is sent again
    with django_assert_max_num_queries(DUPLICATE_BUDGET):
        response = post(hook.token, body, headers)
    # then
    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert InboundDelivery.objects.filter(endpoint=hook, is_duplicate=True).count() == 1


def test_the_secrets_come_with_the_endpoint_and_expired_ones_stay_out(workspace):
    # given an endpoint whose first secret was rotated out with a grace period now over
    hook, first = make_endpoint(workspace)
    second = services.rotate_secret(endpoint=hook, grace=timedelta(seconds=1)).secret
    later = timezone.now() + timedelta(minutes=1)
    # when it is loaded the way the pipeline loads it
    loaded = Endpoint.objects.with_active_secrets(later).get(pk=hook.pk)
    # then the one query carried exactly the active secrets, newest first
    assert [crypto.decrypt(token) for token in loaded.active_secret_tokens(later)] == [second]
    assert first != second
