"""Stored XSS in user-editable text, CSRF on every page that takes a POST, and the CSP header.

The CSRF walk goes over the URL conf's page views (everything but the API, the inbound hook and
Django's admin), so a new form is covered without editing this file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Membership, Role, Workspace
from automations import services as rule_services
from tests.factories import CustomerFactory, CustomFieldDefinitionFactory
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def _rule_definition(tag: str) -> dict[str, Any]:
    return {
        "trigger": {"key": "customer_created", "config": {}},
        "steps": [
            {
                "id": "welcome",
                "action": "tag",
                "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": tag}},
            }
        ],
    }


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def _pages_showing(workspace: Workspace, payload: str) -> dict[str, str]:
    """Store ``payload`` in every user-editable text; return the pages that show each one."""
    rule = rule_services.save_rule(
        workspace=workspace, author=None, name=payload, definition=_rule_definition(payload)
    )
    rule.description = payload
    rule.save(update_fields=["description"])
    endpoint, _ = make_endpoint(workspace, name=payload)
    CustomFieldDefinitionFactory.create(workspace=workspace, key="nickname", label=payload)
    CustomerFactory.create(workspace=workspace, first_name=payload, email="x@example.com")
    user = User.objects.create_user(username="eve", first_name=payload, email="eve@example.com")
    Membership.objects.create(user=user, workspace=workspace, role=Role.MARKETER)
    return {
        "rule name (list)": "/rules/",
        "rule name and description (detail)": f"/rules/{rule.pk}/",
        "rule (edit form)": f"/rules/{rule.pk}/edit/",
        "endpoint name (list)": "/endpoints/",
        "endpoint name (detail)": f"/endpoints/{endpoint.pk}/",
        "endpoint (deliveries)": f"/endpoints/{endpoint.pk}/deliveries/",
        "members": "/accounts/settings/members/",
        "catalog (custom field label)": "/catalog/",
        "dashboard": "/dashboard/",
        "activity": "/activity/",
    }


@pytest.mark.parametrize("payload", PAYLOADS)
def test_stored_payloads_render_escaped_on_every_page(
    admin_client: Client, workspace: Workspace, payload: str
) -> None:
    # given
    pages = _pages_showing(workspace, payload)
    # when
    responses = {what: admin_client.get(url) for what, url in pages.items()}
    # then
    assert {what: r.status_code for what, r in responses.items()} == dict.fromkeys(pages, 200)
    for what, response in responses.items():
        body = response.content.decode()
        assert payload not in body, what
    shown = [what for what, r in responses.items() if html.escape(payload) in r.content.decode()]
    assert {
        "rule name (list)",
        "rule name and description (detail)",
        "endpoint name (list)",
    } <= set(shown)


# --- CSRF ----------------------------------------------------------------------------------------


def _page_routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace == "admin":
                continue
            yield from _page_routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            if not route.startswith(("api/", "hooks/")):
                yield "/" + re.sub(r"<int:\w+>", "1", re.sub(r"<str:\w+>", "x", route))


PAGE_ROUTES = sorted(set(_page_routes(get_resolver().url_patterns)))
# Pages that must not need a token: the health checks (GET-only probes).
NO_FORMS = {"/healthz", "/readyz"}


def test_the_walk_finds_the_forms() -> None:
    expected = {"/rules/new/", "/rules/1/toggle/", "/endpoints/1/rotate/", "/accounts/login/"}
    assert expected <= set(PAGE_ROUTES)


@pytest.mark.parametrize("url", [u for u in PAGE_ROUTES if u not in NO_FORMS])
def test_post_without_csrf_token_is_refused(admin: User, url: str) -> None:
    # given a logged-in admin whose browser is tricked into posting
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    # when
    response = client.post(url, {"name": "x", "enabled": "on"})
    # then
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_post_with_the_token_gets_past_csrf(admin: User, workspace: Workspace) -> None:
    # given (control: the same client with a token is not refused by CSRF)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    client.get("/rules/")
    token = client.cookies["csrftoken"].value
    # when
    response = client.post("/accounts/workspace/", {"workspace": "acme"}, HTTP_X_CSRFTOKEN=token)
    # then
    assert response.status_code != 403


# --- CSP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/rules/", "/endpoints/", "/accounts/login/", "/dashboard/"])
def test_pages_send_a_csp_without_unsafe_inline(admin_client: Client, url: str) -> None:
    # when
    response = admin_client.get(url)
    # then
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert re.search(r"script-src 'self'( 'nonce-[^']+')?;", policy)
