"""Secrets are shown once: never again in API responses, the delivery log, or the logs.

A secret is in exactly two responses (creating the endpoint and rotating its secret). It is
stored encrypted: the column differs from the plaintext and decrypts back to it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from ops import crypto
from tests.webhooks.conftest import standard_headers
from webhooks.models import EndpointSecret, InboundDelivery

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg5MA=="
BEARER = "bearer-secret-never-shown-0123456789"
BODY = json.dumps({"type": "user.created", "id": "u1"}).encode()


@pytest.fixture
def admin_api(admin: User, api_client_for: Callable[[User], APIClient]) -> APIClient:
    return api_client_for(admin)


def _create(client: APIClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/endpoints/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def _every_read(client: APIClient, endpoint_id: int) -> list[str]:
    urls = [
        "/api/v1/endpoints/",
        f"/api/v1/endpoints/{endpoint_id}/",
        "/api/v1/deliveries/",
        "/api/schema/",
    ]
    return [client.get(url).content.decode() for url in urls]


def test_secret_is_returned_once_then_never(admin_api: APIClient) -> None:
    # given
    created = _create(admin_api, name="Signups", preset="standard_webhooks", secret=SECRET)
    # when
    reads = _every_read(admin_api, created["id"])
    # then
    assert created["secret"] == SECRET
    assert all(SECRET not in body and SECRET.removeprefix("whsec_") not in body for body in reads)


def test_rotated_secret_is_returned_once_then_never(admin_api: APIClient) -> None:
    # given
    created = _create(admin_api, name="Signups", preset="standard_webhooks")
    # when
    rotated = admin_api.post(
        f"/api/v1/endpoints/{created['id']}/rotate-secret/", {}, format="json"
    ).json()
    reads = _every_read(admin_api, created["id"])
    # then
    assert rotated["secret"] not in (created["secret"], None)
    for secret in (created["secret"], rotated["secret"]):
        assert all(secret not in body for body in reads)


def test_secret_is_stored_encrypted_and_decrypts_back(admin_api: APIClient) -> None:
    # given
    created = _create(admin_api, name="Signups", preset="standard_webhooks", secret=SECRET)
    # when
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT encrypted_secret FROM webhooks_endpointsecret WHERE endpoint_id = %s",
            [created["id"]],
        )
        [(stored,)] = cursor.fetchall()
    # then
    assert SECRET not in stored
    assert SECRET.removeprefix("whsec_") not in stored
    assert crypto.decrypt(stored) == SECRET
    assert EndpointSecret.objects.get(endpoint_id=created["id"]).reveal() == SECRET


@pytest.mark.parametrize(("_case", "valid"), [("accepted", True), ("forged", False)])
def test_signature_headers_are_redacted_in_the_delivery_log_and_absent_from_logs(
    admin_api: APIClient,
    post: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    _case: str,
    valid: bool,
) -> None:
    # given
    created = _create(admin_api, name="Signups", preset="standard_webhooks", secret=SECRET)
    headers = standard_headers(BODY, SECRET if valid else "whsec_" + "B" * 32)
    signature = headers["webhook-signature"]
    # when
    with caplog.at_level(logging.DEBUG):
        response = post(
            created["token"], BODY, headers={**headers, "Authorization": f"Bearer {BEARER}"}
        )
    # then
    assert response.status_code == (202 if valid else 401)
    delivery = InboundDelivery.objects.get()
    assert delivery.headers["webhook-signature"] == "[redacted]"
    assert delivery.headers["authorization"] == "[redacted]"
    api_view = admin_api.get(f"/api/v1/deliveries/{delivery.pk}/").content.decode()
    for secret in (SECRET, signature, BEARER):
        assert secret not in json.dumps(delivery.headers)
        assert secret not in api_view
        assert secret not in caplog.text


def test_bearer_secret_and_custom_header_are_redacted(
    admin_api: APIClient, post: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    # given a generic endpoint checking a bearer token
    created = _create(
        admin_api,
        name="Custom",
        preset="generic",
        scheme="bearer",
        secret=BEARER,
    )
    # when
    with caplog.at_level(logging.DEBUG):
        ok = post(created["token"], BODY, headers={"Authorization": f"Bearer {BEARER}"})
        bad = post(created["token"], BODY, headers={"Authorization": f"Bearer {BEARER}x"})
    # then
    assert (ok.status_code, bad.status_code) == (202, 401)
    for delivery in InboundDelivery.objects.all():
        assert delivery.headers["authorization"] == "[redacted]"
    assert BEARER not in caplog.text
    assert BEARER not in admin_api.get("/api/v1/deliveries/").content.decode()


def test_misconfigured_endpoint_logs_no_secret(
    admin_api: APIClient, post: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    # given a stored secret that no longer decrypts (a lost key): verification logs an error
    created = _create(admin_api, name="Signups", preset="standard_webhooks", secret=SECRET)
    EndpointSecret.objects.filter(endpoint_id=created["id"]).update(encrypted_secret="garbage")
    # when
    with caplog.at_level(logging.DEBUG):
        response = post(created["token"], BODY, headers=standard_headers(BODY, SECRET))
    # then
    assert response.status_code == 503
    assert "cannot verify deliveries" in caplog.text
    assert SECRET not in caplog.text
