"""/api/v1/endpoints/ and /api/v1/deliveries/: roles, workspaces, secrets shown once."""

from __future__ import annotations

import json

import pytest

from catalog.models import Event
from tests.webhooks.conftest import as_json, make_endpoint, standard_headers
from webhooks.models import Endpoint, EndpointSecret, InboundDelivery

pytestmark = pytest.mark.django_db

NEW_ENDPOINT = {"name": "Signups", "preset": "standard_webhooks"}


def test_admin_creates_an_endpoint_and_sees_its_secret_once(admin, api_client_for, post):
    # given
    client = api_client_for(admin)
    # when
    created = client.post("/api/v1/endpoints/", NEW_ENDPOINT, format="json")
    detail = client.get(f"/api/v1/endpoints/{created.json()['id']}/")
    listing = client.get("/api/v1/endpoints/")
    # then
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    endpoint = Endpoint.objects.get()
    assert created.json()["url"] == f"http://testserver/hooks/{endpoint.token}"
    assert created.json()["scheme"] == "standard_webhooks"
    assert detail.status_code == 200
    assert "secret" not in detail.json()
    assert secret not in json.dumps(detail.json())
    assert secret not in json.dumps(listing.json())
    # and the secret really signs deliveries
    body = as_json({"type": "ping"})
    assert post(endpoint.token, body, standard_headers(body, secret)).status_code == 202


def test_admin_may_bring_the_providers_secret(admin, api_client_for):
    # given
    client = api_client_for(admin)
    # when
    created = client.post(
        "/api/v1/endpoints/",
        {"name": "Stripe", "preset": "stripe", "secret": "whsec_from_stripe_dashboard"},
        format="json",
    )
    # then
    assert created.status_code == 201
    assert created.json()["secret"] == "whsec_from_stripe_dashboard"
    assert EndpointSecret.objects.get().reveal() == "whsec_from_stripe_dashboard"


def test_rotate_secret_shows_the_new_secret_once_and_keeps_the_old_in_grace(
    admin, api_client_for, workspace
):
    # given
    hook, old = make_endpoint(workspace)
    client = api_client_for(admin)
    # when
    rotated = client.post(
        f"/api/v1/endpoints/{hook.pk}/rotate-secret/", {"grace_seconds": 3600}, format="json"
    )
    detail = client.get(f"/api/v1/endpoints/{hook.pk}/")
    # then
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != old
    assert [s.reveal() for s in hook.active_secrets()] == [new, old]
    assert len(detail.json()["secrets"]) == 2
    assert new not in json.dumps(detail.json())


@pytest.mark.parametrize(
    ("_case", "change", "field"),
    [
        ("bad CIDR", {"ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
        ("unknown type", {"declared_fields": {"email": "emial"}}, "declared_fields"),
        ("scheme of another preset", {"preset": "stripe", "scheme": "github"}, "scheme"),
        ("tolerance above 300 s", {"tolerance_seconds": 301}, "tolerance_seconds"),
        ("body limit above 10 MiB", {"max_body_bytes": 10 * 1024 * 1024 + 1}, "max_body_bytes"),
        ("hmac without header", {"preset": "generic", "scheme": "hmac"}, "scheme_options"),
        ("ordering key alone", {"ordering_key": "id"}, "ordering_key"),
    ],
)
def test_invalid_endpoint_is_refused(admin, api_client_for, _case, change, field):
    # when
    response = api_client_for(admin).post(
        "/api/v1/endpoints/", {**NEW_ENDPOINT, **change}, format="json"
    )
    # then
    assert response.status_code == 400
    assert field in response.json()
    assert Endpoint.objects.count() == 0


def test_auditor_reads_endpoints_and_deliveries_but_cannot_change_them(
    auditor, api_client_for, workspace, post
):
    # given
    hook, secret = make_endpoint(workspace)
    body = as_json({"type": "ping"})
    post(hook.token, body, standard_headers(body, secret))
    client = api_client_for(auditor)
    # when
    endpoints = client.get("/api/v1/endpoints/")
    deliveries = client.get("/api/v1/deliveries/")
    create = client.post("/api/v1/endpoints/", NEW_ENDPOINT, format="json")
    rotate = client.post(f"/api/v1/endpoints/{hook.pk}/rotate-secret/", {}, format="json")
    # then
    assert endpoints.status_code == 200
    assert [e["id"] for e in endpoints.json()["results"]] == [hook.pk]
    assert deliveries.status_code == 200
    assert [d["status_code"] for d in deliveries.json()["results"]] == [202]
    assert create.status_code == 403
    assert rotate.status_code == 403
    assert Endpoint.objects.count() == 1
    assert EndpointSecret.objects.count() == 1


def test_marketer_cannot_see_endpoints(marketer, api_client_for, workspace):
    # given
    make_endpoint(workspace)
    # when
    response = api_client_for(marketer).get("/api/v1/endpoints/")
    # then
    assert response.status_code == 403


def test_another_workspaces_endpoint_is_404(admin, api_client_for, other_workspace):
    # given
    theirs, _ = make_endpoint(other_workspace)
    client = api_client_for(admin)
    # when
    detail = client.get(f"/api/v1/endpoints/{theirs.pk}/")
    rotate = client.post(f"/api/v1/endpoints/{theirs.pk}/rotate-secret/", {}, format="json")
    delete = client.delete(f"/api/v1/endpoints/{theirs.pk}/")
    # then
    assert (detail.status_code, rotate.status_code, delete.status_code) == (404, 404, 404)
    assert EndpointSecret.objects.filter(endpoint=theirs).count() == 1
    assert Endpoint.objects.filter(pk=theirs.pk).exists()


def test_deliveries_filter_by_endpoint_and_status(admin, api_client_for, workspace, post):
    # given
    first, secret = make_endpoint(workspace)
    second, _ = make_endpoint(workspace, name="Other")
    body = as_json({"type": "ping"})
    post(first.token, body, standard_headers(body, secret))
    post(first.token, body, {"webhook-id": "x"})
    post(second.token, body, {})
    client = api_client_for(admin)
    # when
    by_endpoint = client.get(f"/api/v1/deliveries/?endpoint={first.pk}")
    refused = client.get(f"/api/v1/deliveries/?endpoint={first.pk}&status=401")
    # then
    assert [d["status_code"] for d in by_endpoint.json()["results"]] == [401, 202]
    assert [d["error"] for d in refused.json()["results"]] == ["missing_header"]


def test_other_workspaces_deliveries_are_not_listed(admin, api_client_for, other_workspace, post):
    # given
    theirs, _ = make_endpoint(other_workspace)
    post(theirs.token, b"{}", {})
    # when
    response = api_client_for(admin).get("/api/v1/deliveries/")
    # then
    assert InboundDelivery.objects.count() == 1
    assert response.json()["results"] == []


def test_capture_infers_fields_from_one_sample_and_accepting_declares_them(
    admin, api_client_for, workspace, post
):
    # given an endpoint in capture mode that received one real request
    hook, secret = make_endpoint(workspace, capture_mode=True)
    sample = {
        "email": "jane@example.com",
        "seats": 3,
        "mrr": 49.5,
        "trial": True,
        "signed_up_at": "2025-03-01T09:00:00Z",
        "website": "https://jane.example.com",
        "tags": ["a", "b"],
        "company": {"name": "Acme", "size": 12},
        "plan": "pro",
    }
    body = as_json(sample)
    post(hook.token, body, standard_headers(body, secret))
    client = api_client_for(admin)
    # when
    captured = client.get(f"/api/v1/endpoints/{hook.pk}/capture/")
    accepted = client.post(f"/api/v1/endpoints/{hook.pk}/capture/", {}, format="json")
    # then
    expected = {
        "email": "email",
        "seats": "integer",
        "mrr": "decimal",
        "trial": "boolean",
        "signed_up_at": "datetime",
        "website": "url",
        "tags": "list(string)",
        "company.name": "string",
        "company.size": "integer",
        "plan": "string",
    }
    assert captured.json()["inferred_fields"] == expected
    assert captured.json()["sample"] == sample
    assert accepted.status_code == 200
    hook.refresh_from_db()
    assert hook.declared_fields == expected
    assert hook.capture_mode is False
    # and the next delivery is checked against them
    bad = as_json({**sample, "seats": "many"})
    response = post(hook.token, bad, standard_headers(bad, secret))
    assert response.status_code == 422
    assert response.json()["fields"] == {"body.seats": ['expected integer, got "many"']}
    assert Event.objects.count() == 1


def test_admin_may_edit_the_inferred_fields_before_accepting(admin, api_client_for, workspace):
    # given
    hook, _ = make_endpoint(workspace, capture_mode=True)
    Endpoint.objects.filter(pk=hook.pk).update(captured_sample={"seats": 3})
    # when
    response = api_client_for(admin).post(
        f"/api/v1/endpoints/{hook.pk}/capture/",
        {"declared_fields": {"seats": "decimal?"}},
        format="json",
    )
    # then
    assert response.status_code == 200
    hook.refresh_from_db()
    assert hook.declared_fields == {"seats": "decimal?"}
