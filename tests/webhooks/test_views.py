"""POST /hooks/<token> through the whole Django stack: every status code, each one logged."""

from __future__ import annotations

import json

import pytest
from django.http.request import HttpHeaders

from catalog.models import Event, EventSource, EventStatus
from tests.webhooks.conftest import as_json, make_endpoint, seconds_from_now, standard_headers
from webhooks import views
from webhooks.models import InboundDelivery

pytestmark = pytest.mark.django_db

BODY = as_json({"type": "user.created", "email": "jane@example.com", "plan": "trial"})


def test_signed_delivery_is_stored_and_answered_202(endpoint, post):
    # given
    hook, secret = endpoint
    headers = standard_headers(BODY, secret, msg_id="msg_1")
    # when
    response = post(hook.token, BODY, headers)
    # then
    event = Event.objects.get()
    assert response.status_code == 202
    assert response.json() == {"event_id": str(event.id)}
    assert event.trigger_key == "webhook_received"
    assert event.source == EventSource.WEBHOOK
    assert event.status == EventStatus.PENDING
    assert event.dedupe_key == f"hook:{hook.pk}:msg_1"
    assert event.payload == {
        "endpoint_id": hook.pk,
        "event_type": "user.created",
        "body": {"type": "user.created", "email": "jane@example.com", "plan": "trial"},
    }
    delivery = InboundDelivery.objects.get()
    assert delivery.status_code == 202
    assert delivery.event_id == event.id
    assert delivery.endpoint == hook
    assert delivery.workspace == hook.workspace
    assert delivery.provider_event_id == "msg_1"
    assert delivery.event_type == "user.created"
    assert delivery.is_duplicate is False
    assert delivery.error == ""
    assert delivery.body == BODY.decode()
    assert delivery.remote_ip == "127.0.0.1"


def test_delivery_log_redacts_signature_and_credential_headers(endpoint, post):
    # given
    hook, secret = endpoint
    headers = {
        **standard_headers(BODY, secret),
        "Authorization": "Bearer hunter2",
        "Cookie": "sessionid=abc",
        "X-Trace": "t-1",
    }
    # when
    post(hook.token, BODY, headers)
    # then
    logged = InboundDelivery.objects.get().headers
    assert logged["webhook-signature"] == "[redacted]"
    assert logged["authorization"] == "[redacted]"
    assert logged["cookie"] == "[redacted]"
    assert logged["x-trace"] == "t-1"
    assert secret not in json.dumps(logged)


def test_delivery_log_keeps_headers_as_sent_with_nul_made_storable(endpoint, post):
    # given header values as a WSGI server hands them over: latin-1 text, one with a NUL
    hook, secret = endpoint
    headers = {**standard_headers(BODY, secret), "X-Note": "café", "X-Odd": "a\x00b"}
    # when
    response = post(hook.token, BODY, headers)
    # then
    assert response.status_code == 202
    logged = InboundDelivery.objects.get().headers
    assert logged["x-note"] == "café"
    assert logged["x-odd"] == "a\ufffdb"
    assert logged["content-type"] == "application/json"


def test_pipeline_headers_are_the_request_headers_by_lower_case_name():
    # given an environ with prefixed and unprefixed headers and other keys
    meta = {
        "HTTP_WEBHOOK_ID": "msg_1",
        "HTTP_X_FORWARDED_FOR": "203.0.113.9",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "12",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "testserver",
        "wsgi.url_scheme": "https",
    }
    # when
    headers = views._headers(meta)
    # then
    assert headers == {name.lower(): value for name, value in HttpHeaders(meta).items()}
    assert headers == {
        "webhook-id": "msg_1",
        "x-forwarded-for": "203.0.113.9",
        "content-type": "application/json",
        "content-length": "12",
    }


def test_duplicate_delivery_returns_200_and_same_event_id(endpoint, post):
    # given
    hook, secret = endpoint
    headers = standard_headers(BODY, secret, msg_id="msg_dup")
    first = post(hook.token, BODY, headers)
    # when
    second = post(hook.token, BODY, headers)
    # then
    event = Event.objects.get()
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"duplicate": True, "event_id": str(event.id)}
    duplicate = InboundDelivery.objects.get(is_duplicate=True)
    assert duplicate.status_code == 200
    assert duplicate.event_id == event.id
    assert InboundDelivery.objects.count() == 2


def _headers_without(headers, name):
    return {k: v for k, v in headers.items() if k != name}


SIGNATURE_CASES = [
    # (_case, how the delivery is spoiled, expected reason)
    ("garbage signature", lambda h, s: {**h, "webhook-signature": "garbage"}, "malformed_header"),
    (
        "non-ASCII signature",
        lambda h, s: {**h, "webhook-signature": "v1,ünïcödé=="},
        "malformed_header",
    ),
    (
        "bad base64",
        lambda h, s: {**h, "webhook-signature": "v1,not*base64!"},
        "malformed_header",
    ),
    (
        "wrong secret",
        lambda h, s: standard_headers(BODY, "whsec_" + "A" * 43 + "=", msg_id="msg_x"),
        "signature_mismatch",
    ),
    (
        "expired timestamp",
        lambda h, s: standard_headers(BODY, s, timestamp=seconds_from_now(-301)),
        "timestamp_expired",
    ),
    (
        "future timestamp",
        lambda h, s: standard_headers(BODY, s, timestamp=seconds_from_now(301)),
        "timestamp_in_future",
    ),
    ("missing header", lambda h, s: _headers_without(h, "webhook-signature"), "missing_header"),
]


@pytest.mark.parametrize(("_case", "spoil", "reason"), SIGNATURE_CASES)
def test_bad_signature_is_401_logged_and_stores_nothing(endpoint, post, _case, spoil, reason):
    # given
    hook, secret = endpoint
    headers = spoil(standard_headers(BODY, secret, msg_id="msg_x"), secret)
    # when
    response = post(hook.token, BODY, headers)
    # then
    assert response.status_code == 401
    assert response.json()["error"] == reason
    assert response.json()["detail"]
    assert Event.objects.count() == 0
    delivery = InboundDelivery.objects.get()
    assert (delivery.status_code, delivery.error, delivery.event) == (401, reason, None)


def test_tampered_body_is_401_signature_mismatch(endpoint, post):
    # given
    hook, secret = endpoint
    headers = standard_headers(BODY, secret)
    tampered = BODY.replace(b"trial", b"paid!")
    # when
    response = post(hook.token, tampered, headers)
    # then
    assert response.status_code == 401
    assert response.json()["error"] == "signature_mismatch"
    assert Event.objects.count() == 0
    assert InboundDelivery.objects.get().error == "signature_mismatch"


def test_malformed_json_is_400(endpoint, post):
    # given a correctly signed body that is not JSON
    hook, secret = endpoint
    body = b'{"type": "user.created", "email":'
    # when
    response = post(hook.token, body, standard_headers(body, secret))
    # then
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    assert Event.objects.count() == 0
    assert InboundDelivery.objects.get().status_code == 400


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("NaN", b'{"x": NaN}'),
        ("infinite number", b'{"x": 1e999}'),
        ("NUL character", b'{"x": "a\\u0000b"}'),
        ("too deep", b'{"x": ' + b"[" * 150 + b"]" * 150 + b"}"),
    ],
)
def test_json_that_cannot_be_stored_is_400(endpoint, post, _case, body):
    # given
    hook, secret = endpoint
    # when
    response = post(hook.token, body, standard_headers(body, secret))
    # then
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    assert Event.objects.count() == 0


def test_non_json_is_415(endpoint, post):
    # given
    hook, secret = endpoint
    body = b"email=jane@example.com"
    # when
    response = post(hook.token, body, standard_headers(body, secret), content_type="text/plain")
    # then
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert Event.objects.count() == 0
    assert InboundDelivery.objects.get().status_code == 415


def test_json_suffix_media_type_is_accepted(endpoint, post):
    # given
    hook, secret = endpoint
    # when
    response = post(
        hook.token,
        BODY,
        standard_headers(BODY, secret),
        content_type="application/cloudevents+json; charset=utf-8",
    )
    # then
    assert response.status_code == 202
    assert Event.objects.count() == 1


def test_too_large_body_is_413(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, max_body_bytes=100)
    body = as_json({"padding": "x" * 100})
    # when
    response = post(hook.token, body, standard_headers(body, secret))
    # then
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert Event.objects.count() == 0
    delivery = InboundDelivery.objects.get()
    assert (delivery.status_code, delivery.body_size) == (413, len(body))


def test_schema_violation_is_422_naming_each_field(workspace, post):
    # given
    hook, secret = make_endpoint(
        workspace, declared_fields={"email": "email", "seats": "integer", "plan": "string"}
    )
    body = as_json({"email": "nope", "seats": "three"})
    # when
    response = post(hook.token, body, standard_headers(body, secret))
    # then
    assert response.status_code == 422
    assert response.json() == {
        "error": "payload_invalid",
        "detail": "The body does not fit the endpoint's declared fields.",
        "fields": {
            "body.email": ['expected an email address, got "nope"'],
            "body.seats": ['expected integer, got "three"'],
            "body.plan": ["required field is missing"],
        },
    }
    assert Event.objects.count() == 0
    assert InboundDelivery.objects.get().error == "payload_invalid"


def test_unknown_token_is_404_and_logged_without_endpoint(post):
    # when
    response = post("no-such-token-at-all", BODY, {})
    # then
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_endpoint"
    delivery = InboundDelivery.objects.get()
    assert (delivery.endpoint, delivery.workspace, delivery.token_prefix) == (
        None,
        None,
        "no-such-",
    )
    assert Event.objects.count() == 0


def test_disabled_endpoint_is_404(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, is_enabled=False)
    # when
    response = post(hook.token, BODY, standard_headers(BODY, secret))
    # then
    assert response.status_code == 404
    assert response.json()["error"] == "endpoint_disabled"
    assert InboundDelivery.objects.get().endpoint == hook
    assert Event.objects.count() == 0


def test_over_the_rate_limit_is_429_with_retry_after(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=2)
    answers = [
        post(hook.token, BODY, standard_headers(BODY, secret, msg_id=f"msg_{i}")).status_code
        for i in range(2)
    ]
    # when
    response = post(hook.token, BODY, standard_headers(BODY, secret, msg_id="msg_3"))
    # then
    assert answers == [202, 202]
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Event.objects.count() == 2
    assert InboundDelivery.objects.filter(status_code=429).count() == 1


def test_address_outside_the_allowlist_is_403(workspace, post):
    # given
    hook, secret = make_endpoint(workspace, ip_allowlist=["10.0.0.0/8"])
    # when
    refused = post(hook.token, BODY, standard_headers(BODY, secret), remote_ip="192.0.2.7")
    allowed = post(hook.token, BODY, standard_headers(BODY, secret), remote_ip="10.1.2.3")
    # then
    assert refused.status_code == 403
    assert refused.json()["error"] == "ip_not_allowed"
    assert allowed.status_code == 202
    assert Event.objects.count() == 1
    assert InboundDelivery.objects.get(status_code=403).remote_ip == "192.0.2.7"


def test_get_is_not_allowed(endpoint, client):
    # given
    hook, _ = endpoint
    # when
    response = client.get(f"/hooks/{hook.token}")
    # then
    assert response.status_code == 405
    assert Event.objects.count() == 0
