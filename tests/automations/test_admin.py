"""The Django admin saves rules through the same checker and versioning as the API."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from automations.models import Rule, RuleVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def _form(workspace, definition) -> dict[str, str]:
    return {
        "workspace": str(workspace.pk),
        "name": "From the admin",
        "description": "",
        "definition": json.dumps(definition),
    }


def test_admin_refuses_a_rule_the_checker_rejects(superuser_client, workspace):
    # given update_price on customer_created
    definition = {
        "trigger": {"key": "customer_created"},
        "steps": [{"id": "p", "action": "update_price", "inputs": {}}],
    }
    # when
    response = superuser_client.post("/admin/automations/rule/add/", _form(workspace, definition))
    # then the form comes back with the checker's words and nothing is saved
    assert response.status_code == 200
    assert "Update price needs a product" in response.content.decode()
    assert not Rule.objects.exists()


def test_admin_saves_a_valid_rule_as_version_1(superuser_client, workspace):
    definition = {
        "trigger": {"key": "order_paid"},
        "steps": [
            {
                "id": "n",
                "action": "post_to_slack",
                "inputs": {"channel": {"literal": "#x"}, "text": {"literal": "paid"}},
            }
        ],
    }
    response = superuser_client.post("/admin/automations/rule/add/", _form(workspace, definition))
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert rule.sentence.startswith("When ")
    assert RuleVersion.objects.get(rule=rule).note == "Saved in the admin"
