"""Forged, replayed, expired and future signatures through ``/hooks/<token>``; rotation edges.

Every delivery goes through the full Django stack (the ``post`` fixture) except the two that pin
the verification clock exactly at a grace expiry, which call ``ingest.receive(now=...)``: the
view always verifies at the wall clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Workspace
from catalog.models import Event
from tests.webhooks.conftest import as_json, make_endpoint, seconds_from_now, standard_headers
from webhooks import ingest, services
from webhooks.models import EndpointSecret, InboundDelivery

pytestmark = pytest.mark.django_db

BODY = as_json({"type": "user.created", "data": {"email": "jane@example.com"}})


@pytest.fixture
def hook(workspace: Workspace) -> tuple[Any, str]:
    return make_endpoint(workspace)


def _body(response: Any) -> dict[str, Any]:
    return json.loads(response.content)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("_case", "tamper", "error"),
    [
        (
            "wrong_secret",
            lambda body, secret: standard_headers(body, "whsec_" + "A" * 32),
            "signature_mismatch",
        ),
        (
            "body_changed_after_signing",
            lambda body, secret: standard_headers(body.replace(b"jane", b"mallory"), secret),
            "signature_mismatch",
        ),
        (
            "other_message_id",
            lambda body, secret: {
                **standard_headers(body, secret, msg_id="msg_a"),
                "webhook-id": "msg_b",
            },
            "signature_mismatch",
        ),
        (
            "other_timestamp",
            lambda body, secret: {
                **standard_headers(body, secret, timestamp=int(time.time())),
                "webhook-timestamp": str(int(time.time()) - 1),
            },
            "signature_mismatch",
        ),
        (
            "signature_of_another_scheme_version",
            lambda body, secret: {
                **standard_headers(body, secret),
                "webhook-signature": standard_headers(body, secret)["webhook-signature"].replace(
                    "v1,", "v2,"
                ),
            },
            "malformed_header",
        ),
    ],
)
def test_forged_signature_answers_401_and_stores_nothing(
    hook: tuple[Any, str], post: Callable[..., Any], _case: str, tamper: Any, error: str
) -> None:
    # given
    endpoint, secret = hook
    headers = tamper(BODY, secret)
    # when
    response = post(endpoint.token, BODY, headers=headers)
    # then
    assert response.status_code == 401
    assert _body(response)["error"] == error
    assert Event.objects.count() == 0
    delivery = InboundDelivery.objects.get()
    assert (delivery.status_code, delivery.error, delivery.event_id) == (401, error, None)


def test_missing_signature_answers_401(hook: tuple[Any, str], post: Callable[..., Any]) -> None:
    # given
    endpoint, _ = hook
    # when
    response = post(endpoint.token, BODY, headers={})
    # then
    assert response.status_code == 401
    assert _body(response)["error"] == "missing_header"
    assert Event.objects.count() == 0


def test_replay_with_the_same_id_and_timestamp_is_a_duplicate_processed_once(
    hook: tuple[Any, str], post: Callable[..., Any]
) -> None:
    # given one delivery, captured by an attacker or resent by the provider
    endpoint, secret = hook
    headers = standard_headers(BODY, secret, msg_id="msg_replayed")
    first = post(endpoint.token, BODY, headers=headers)
    # when
    again = post(endpoint.token, BODY, headers=headers)
    # then
    assert first.status_code == 202
    assert again.status_code == 200
    assert _body(again) == {"duplicate": True, "event_id": _body(first)["event_id"]}
    event = Event.objects.get()
    assert str(event.pk) == _body(first)["event_id"]
    assert [(d.status_code, d.is_duplicate) for d in InboundDelivery.objects.order_by("id")] == [
        (202, False),
        (200, True),
    ]


def test_replay_resigned_with_a_new_timestamp_is_still_the_same_event(
    hook: tuple[Any, str], post: Callable[..., Any]
) -> None:
    # given
    endpoint, secret = hook
    now = int(time.time())
    first = post(endpoint.token, BODY, headers=standard_headers(BODY, secret, "msg_x", now - 60))
    # when
    again = post(endpoint.token, BODY, headers=standard_headers(BODY, secret, "msg_x", now))
    # then
    assert (first.status_code, again.status_code) == (202, 200)
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    ("_case", "offset", "error"),
    [
        ("expired", -301, "timestamp_expired"),
        ("long_expired", -86_400 * 365, "timestamp_expired"),
        ("future", 301, "timestamp_in_future"),
        ("far_future", 86_400 * 365, "timestamp_in_future"),
    ],
)
def test_signature_outside_the_window_answers_401(
    hook: tuple[Any, str], post: Callable[..., Any], _case: str, offset: int, error: str
) -> None:
    # given a correctly signed delivery whose timestamp is outside the 300 s window
    endpoint, secret = hook
    headers = standard_headers(BODY, secret, timestamp=seconds_from_now(offset))
    # when
    response = post(endpoint.token, BODY, headers=headers)
    # then
    assert response.status_code == 401
    assert _body(response)["error"] == error
    assert Event.objects.count() == 0


def test_signature_inside_the_window_is_accepted(
    hook: tuple[Any, str], post: Callable[..., Any]
) -> None:
    endpoint, secret = hook
    headers = standard_headers(BODY, secret, timestamp=int(time.time()) - 240)
    assert post(endpoint.token, BODY, headers=headers).status_code == 202


# --- rotation edges ----------------------------------------------------------------------------


def _expiring(endpoint: Any) -> datetime:
    expires_at = EndpointSecret.objects.get(endpoint=endpoint, expires_at__isnull=False).expires_at
    assert expires_at is not None
    return expires_at


def _receive(endpoint: Any, secret: str, msg_id: str, at: Any) -> ingest.Outcome:
    headers = {
        "Content-Type": "application/json",
        **standard_headers(BODY, secret, msg_id=msg_id, timestamp=int(at.timestamp())),
    }
    return ingest.receive(endpoint.token, BODY, headers, "127.0.0.1", now=at)


def test_old_secret_verifies_until_just_before_its_grace_expiry(hook: tuple[Any, str]) -> None:
    # given
    endpoint, old = hook
    services.rotate_secret(endpoint=endpoint, grace=timedelta(hours=1))
    expires_at = _expiring(endpoint)
    # when
    outcome = _receive(endpoint, old, "m1", expires_at - timedelta(microseconds=1))
    # then
    assert outcome.status == 202


def test_old_secret_is_refused_exactly_at_its_grace_expiry(hook: tuple[Any, str]) -> None:
    # given
    endpoint, old = hook
    new = services.rotate_secret(endpoint=endpoint, grace=timedelta(hours=1)).secret
    expires_at = _expiring(endpoint)
    # when
    by_old = _receive(endpoint, old, "m1", expires_at)
    by_new = _receive(endpoint, new, "m2", expires_at)
    # then
    assert (by_old.status, by_old.body["error"]) == (401, "signature_mismatch")
    assert by_new.status == 202
    assert Event.objects.count() == 1


def test_zero_grace_retires_the_old_secret_at_once(
    hook: tuple[Any, str], post: Callable[..., Any]
) -> None:
    # given
    endpoint, old = hook
    new = services.rotate_secret(endpoint=endpoint, grace=timedelta(0)).secret
    # when
    by_old = post(endpoint.token, BODY, headers=standard_headers(BODY, old))
    by_new = post(endpoint.token, BODY, headers=standard_headers(BODY, new))
    # then
    assert (by_old.status_code, by_new.status_code) == (401, 202)


def test_rotating_twice_leaves_exactly_the_two_newest_secrets_verifying(
    hook: tuple[Any, str], post: Callable[..., Any]
) -> None:
    # given
    endpoint, first = hook
    second = services.rotate_secret(endpoint=endpoint).secret
    # when
    third = services.rotate_secret(endpoint=endpoint).secret
    statuses = [
        post(endpoint.token, BODY, headers=standard_headers(BODY, secret)).status_code
        for secret in (first, second, third)
    ]
    # then
    assert statuses == [401, 202, 202]
    assert Event.objects.count() == 2
    assert timezone.now() < _expiring_second(endpoint)


def _expiring_second(endpoint: Any) -> Any:
    """The second secret's grace end (the first one's was cut to the second rotation)."""
    return (
        EndpointSecret.objects.filter(endpoint=endpoint, expires_at__gt=timezone.now())
        .get()
        .expires_at
    )
