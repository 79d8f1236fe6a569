"""Stored XSS through text that reaches the UI from outside or from the engine.

``test_xss_csrf`` covers what merchants type (rule, endpoint, field, member names). Here the
payload arrives the ways an attacker could send it: the body and a header of an inbound
delivery, an execution's error and a step's output (an upstream API's answer), a customer's tag,
the names of products, segments, journeys and the workspace itself. Every page must render it
escaped, never raw.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.models import Workspace
from automations.models import Execution, ExecutionStatus, StepRun, StepStatus
from catalog.domain.services.customers import tag_customer
from tests.automations.engine.conftest import emit, make_rule, step
from tests.factories import CustomerFactory, JourneyFactory, ProductFactory, SegmentFactory
from tests.webhooks.conftest import make_endpoint, standard_headers

pytestmark = pytest.mark.django_db

PAYLOADS = ["<script>alert(1)</script>", '"><svg onload=alert(1)>']


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def _store_everywhere(workspace: Workspace, payload: str) -> dict[str, str]:
    """Put ``payload`` in every text that comes from outside; return the pages to look at."""
    workspace.name = payload
    workspace.save(update_fields=["name"])
    endpoint, secret = make_endpoint(workspace, name="Shop")
    body = json.dumps({"note": payload, "id": "evt_1"}).encode()
    headers = {**standard_headers(body, secret), "X-Note": payload}
    delivered = Client().post(
        f"/hooks/{endpoint.token}", data=body, content_type="application/json", headers=headers
    )
    assert delivered.status_code == 202, delivered.content
    customer = CustomerFactory.create(workspace=workspace, email="x@example.com")
    with transaction.atomic():
        tag_customer(customer=customer, tag=payload[:50], causation=None)
    ProductFactory.create(workspace=workspace, title=payload)
    SegmentFactory.create(workspace=workspace, name=payload)
    JourneyFactory.create(workspace=workspace, name=payload)
    rule = make_rule(workspace, "Forward", "customer_created", [step("s", "tag", tag="x")])
    event = emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": "x@example.com", "source": payload},
    )
    execution = Execution.objects.create(
        workspace=workspace,
        rule=rule,
        rule_version=rule.version,
        event=event,
        status=ExecutionStatus.DEAD,
        error=payload,
        finished_at=timezone.now(),
    )
    StepRun.objects.create(
        execution=execution,
        path="steps.0",
        step_id="s",
        action="tag",
        status=StepStatus.FAILED,
        idempotency_key=f"{execution.pk}:steps.0",
        inputs={"tag": payload},
        output={"answer": payload},
        error=payload,
    )
    return {
        "endpoint deliveries (body, header)": f"/endpoints/{endpoint.pk}/deliveries/",
        "endpoint detail": f"/endpoints/{endpoint.pk}/",
        "rule detail (execution error, step output)": f"/rules/{rule.pk}/",
        "activity": "/activity/",
        "dashboard": "/dashboard/",
        "rules": "/rules/",
        "catalog": "/catalog/",
        "members (workspace name)": "/accounts/settings/members/",
    }


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_from_outside_renders_escaped_on_every_page(
    admin_client: Client, workspace: Workspace, payload: str, settings: Any
) -> None:
    # given
    pages = _store_everywhere(workspace, payload)
    # when
    responses = {what: admin_client.get(url) for what, url in pages.items()}
    # then: every page answers, and none carries the markup raw
    assert {what: r.status_code for what, r in responses.items()} == dict.fromkeys(pages, 200)
    for what, response in responses.items():
        assert payload not in response.content.decode(), what
    shown = {
        what
        for what, response in responses.items()
        if html.escape(payload) in response.content.decode()
    }
    # the texts are really on the pages (escaped), so the check above is not vacuous
    assert {
        "endpoint detail",
        "rule detail (execution error, step output)",
        "activity",
        "catalog",
        "members (workspace name)",
    } <= shown
