"""ingest.receive as a function: body limits, rotation, tolerance, ordering, capture, secrets."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from catalog.models import Event, EventStatus
from tests.webhooks.conftest import as_json, make_endpoint, standard_headers
from webhooks import ingest, services
from webhooks.models import EndpointSecret, InboundDelivery, OrderingState

pytestmark = pytest.mark.django_db

JSON = {"Content-Type": "application/json"}


class CountingReader:
    """A request stream that records how much the pipeline asked for."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.requested: list[int] = []

    def __call__(self, size: int) -> bytes:
        self.requested.append(size)
        return self.stream.read(size)


def test_body_is_never_read_past_the_limit(workspace):
    # given a 10 MiB body sent without a Content-Length
    hook, _ = make_endpoint(workspace, max_body_bytes=1000)
    reader = CountingReader(b"x" * (10 * 1024 * 1024))
    # when
    outcome = ingest.receive(hook.token, reader, JSON, "127.0.0.1", None)
    # then
    assert outcome.status == 413
    assert reader.requested == [1001]
    assert reader.stream.tell() == 1001
    assert Event.objects.count() == 0


def test_declared_length_over_the_limit_is_refused_unread(workspace):
    # given
    hook, _ = make_endpoint(workspace, max_body_bytes=1000)
    reader = CountingReader(b"x" * 5000)
    # when
    outcome = ingest.receive(hook.token, reader, JSON, "127.0.0.1", 5000)
    # then
    assert outcome.status == 413
    assert outcome.body["error"] == "body_too_large"
    assert reader.requested == []
    assert InboundDelivery.objects.get().body_size == 5000


def _signed(secret: str, msg_id: str, at: datetime) -> tuple[bytes, dict[str, str]]:
    body = as_json({"type": "user.created", "id": msg_id})
    headers = {
        **JSON,
        **standard_headers(body, secret, msg_id=msg_id, timestamp=int(at.timestamp())),
    }
    return body, headers


def test_both_secrets_verify_during_the_grace_period(workspace):
    # given
    hook, old_secret = make_endpoint(workspace)
    new_secret = services.rotate_secret(endpoint=hook, grace=timedelta(hours=24)).secret
    now = timezone.now()
    # when
    by_old = ingest.receive(hook.token, *_signed(old_secret, "m1", now), "127.0.0.1", now=now)
    by_new = ingest.receive(hook.token, *_signed(new_secret, "m2", now), "127.0.0.1", now=now)
    # then
    assert (by_old.status, by_new.status) == (202, 202)
    assert Event.objects.count() == 2


def test_old_secret_stops_verifying_after_the_grace_period(workspace):
    # given a rotation whose 24 h grace period is over at ``later``
    hook, old_secret = make_endpoint(workspace)
    new_secret = services.rotate_secret(endpoint=hook, grace=timedelta(hours=24)).secret
    later = timezone.now() + timedelta(hours=24, seconds=1)
    # when
    by_old = ingest.receive(hook.token, *_signed(old_secret, "m1", later), "127.0.0.1", now=later)
    by_new = ingest.receive(hook.token, *_signed(new_secret, "m2", later), "127.0.0.1", now=later)
    # then
    assert by_old.status == 401
    assert by_old.body["error"] == "signature_mismatch"
    assert by_new.status == 202
    assert Event.objects.count() == 1


def test_rotating_twice_retires_the_secret_still_in_grace(workspace):
    # given
    hook, first = make_endpoint(workspace)
    services.rotate_secret(endpoint=hook)
    # when
    third = services.rotate_secret(endpoint=hook).secret
    # then
    active = hook.active_secrets()
    assert len(active) == 2
    assert active[0].reveal() == third
    assert first not in [secret.reveal() for secret in active]


def test_secrets_are_encrypted_at_rest(workspace):
    # given
    hook, secret = make_endpoint(workspace)
    # when
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT encrypted_secret FROM webhooks_endpointsecret WHERE endpoint_id = %s",
            [hook.pk],
        )
        (stored,) = cursor.fetchone()
    # then
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored
    assert EndpointSecret.objects.get(endpoint=hook).reveal() == secret


def test_endpoint_tolerance_narrows_the_scheme_window(workspace):
    # given an endpoint that accepts signatures at most 60 s old
    hook, secret = make_endpoint(workspace, tolerance_seconds=60)
    now = timezone.now()
    # when
    old = ingest.receive(
        hook.token, *_signed(secret, "m1", now - timedelta(seconds=120)), "127.0.0.1", now=now
    )
    fresh = ingest.receive(
        hook.token, *_signed(secret, "m2", now - timedelta(seconds=30)), "127.0.0.1", now=now
    )
    # then
    assert old.status == 401
    assert old.body["error"] == "timestamp_expired"
    assert fresh.status == 202


def test_event_id_falls_back_to_the_hash_of_the_body(workspace):
    # given a bearer-token sender that names no delivery id
    hook, secret = make_endpoint(workspace, preset="generic", scheme="bearer")
    body = b'{"event": "signup", "email": "a@example.com"}'
    headers = {**JSON, "Authorization": f"Bearer {secret}"}
    # when
    first = ingest.receive(hook.token, body, headers, "127.0.0.1")
    again = ingest.receive(hook.token, body, headers, "127.0.0.1")
    # then
    event = Event.objects.get()
    assert first.status == 202
    assert again.status == 200
    assert again.duplicate is True
    assert event.dedupe_key == f"hook:{hook.pk}:sha256:{hashlib.sha256(body).hexdigest()}"
    assert event.payload["event_type"] == "signup"


def test_older_version_of_an_entity_is_stored_stale_and_not_pending(workspace):
    # given a custom endpoint ordered by ``id`` and ``version``
    hook, secret = make_endpoint(workspace, ordering_key="id", version_field="version")
    now = timezone.now()

    def deliver(msg_id: str, version: int) -> ingest.Outcome:
        body = as_json({"id": "sub_1", "version": version})
        headers = {**JSON, **standard_headers(body, secret, msg_id=msg_id)}
        return ingest.receive(hook.token, body, headers, "127.0.0.1", now=now)

    newer = deliver("m-new", 5)
    # when
    older = deliver("m-old", 3)
    # then
    assert (newer.status, older.status) == (202, 202)
    assert Event.objects.get(pk=str(newer.event_id)).status == EventStatus.PENDING
    stale = Event.objects.get(pk=str(older.event_id))
    assert stale.status == EventStatus.STALE
    assert OrderingState.objects.get(endpoint=hook).version == "5"


def test_capture_mode_keeps_the_sample(workspace):
    # given
    hook, secret = make_endpoint(workspace, capture_mode=True)
    body = as_json({"email": "jane@example.com", "seats": 3})
    # when
    outcome = ingest.receive(
        hook.token, body, {**JSON, **standard_headers(body, secret)}, "127.0.0.1"
    )
    # then
    hook.refresh_from_db()
    assert outcome.status == 202
    assert hook.captured_sample == {"email": "jane@example.com", "seats": 3}
    assert hook.captured_at is not None


def test_invalid_remote_address_is_logged_as_unknown(workspace):
    # given
    hook, secret = make_endpoint(workspace)
    body = as_json({"type": "x"})
    # when
    outcome = ingest.receive(
        hook.token, body, {**JSON, **standard_headers(body, secret)}, "not-an-ip"
    )
    # then
    assert outcome.status == 202
    assert InboundDelivery.objects.get().remote_ip is None


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("UTF-16 NUL escape", '{"x": "a\\u0000b"}'.encode("utf-16")),
        ("UTF-16 too deep", ('{"x": ' + "[" * 150 + "]" * 150 + "}").encode("utf-16")),
        ("NUL escape", b'{"x": "a\\u0000b"}'),
        ("too deep in arrays", b"[" * 102 + b"]" * 102),
        ("too deep in objects", b'{"a": ' * 101 + b"1" + b"}" * 101),
    ],
)
def test_json_postgresql_cannot_store_is_refused_400_in_any_encoding(workspace, _case, body):
    # given a sender the signature scheme lets send any bytes
    hook, secret = make_endpoint(workspace, preset="generic", scheme="bearer")
    headers = {**JSON, "Authorization": f"Bearer {secret}"}
    # when
    outcome = ingest.receive(hook.token, body, headers, "127.0.0.1")
    # then
    assert outcome.status == 400
    assert outcome.body["error"] == "malformed_json"
    assert Event.objects.count() == 0


def test_json_nested_to_the_limit_is_accepted(workspace):
    # given a body exactly MAX_JSON_DEPTH deep
    hook, secret = make_endpoint(workspace, preset="generic", scheme="bearer")
    body = b'{"a": ' + b"[" * 99 + b"1" + b"]" * 99 + b"}"
    headers = {**JSON, "Authorization": f"Bearer {secret}"}
    # when
    outcome = ingest.receive(hook.token, body, headers, "127.0.0.1")
    # then
    assert outcome.status == 202
