"""Template injection through the API: the checker refuses it, dry-runs never evaluate it.

Templates only substitute ``{{ path }}`` placeholders of the trigger's fields; attribute access,
calls, indexing and filters are not syntax. The pure evaluator is property-tested in
``tests/automations/test_properties.py``; these tests go through ``/api/v1/rules/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import Workspace
from automations import services
from automations.models import Rule
from catalog.models import Event

pytestmark = pytest.mark.django_db

INJECTIONS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ email.__class__ }}",
    "{{ email|safe }}",
    "{{ config.items() }}",
    "{% import os %}{{ os.system('id') }}",
    "{{ __import__('os').system('id') }}",
    "{{ self.__init__.__globals__ }}",
    "${7*7} {{7*7}}",
]


def _definition(text: str) -> dict[str, Any]:
    return {
        "trigger": {"key": "customer_created"},
        "steps": [
            {
                "id": "sales",
                "action": "post_to_slack",
                "inputs": {"channel": {"literal": "#sales"}, "text": {"template": text}},
            }
        ],
    }


@pytest.fixture
def client(marketer: User, api_client_for: Callable[[User], APIClient]) -> APIClient:
    return api_client_for(marketer)


@pytest.mark.parametrize("text", INJECTIONS)
def test_rule_with_an_injected_template_is_refused(client: APIClient, text: str) -> None:
    # when
    response = client.post(
        "/api/v1/rules/", {"name": "Inject", "definition": _definition(text)}, format="json"
    )
    # then
    assert response.status_code == 400, response.content
    assert Rule.objects.count() == 0


@pytest.mark.parametrize("text", INJECTIONS)
def test_dry_run_of_an_injected_draft_is_refused(client: APIClient, text: str) -> None:
    # given a valid saved rule
    rule = services.save_rule(
        workspace=_workspace(client), author=None, name="Ok", definition=_definition("Hi")
    )
    # when
    response = client.post(
        f"/api/v1/rules/{rule.pk}/dry-run/", {"definition": _definition(text)}, format="json"
    )
    # then
    assert response.status_code == 400, response.content
    assert Event.objects.count() == 0


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_a_payload_value_is_rendered_as_text(client: APIClient, text: str) -> None:
    # given a rule whose message quotes the customer's e-mail
    rule = services.save_rule(
        workspace=_workspace(client),
        author=None,
        name="Quote",
        definition=_definition("New: {{ email }}"),
    )
    payload = {"customer_id": 1, "email": text, "source": "web"}
    # when
    response = client.post(f"/api/v1/rules/{rule.pk}/dry-run/", {"payload": payload}, format="json")
    # then
    body = json.dumps(response.json())
    assert response.status_code in (200, 400), response.content
    assert "<class" not in body
    assert "49" not in body.replace(text, "")
    if response.status_code == 200:
        assert json.dumps(f"New: {text}")[1:-1] in body


def _workspace(client: APIClient) -> Workspace:
    return Workspace.objects.get(slug="acme")
