"""Vocabulary changes never leave broken rules to fail at run time."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from automations import services
from automations.models import Rule
from catalog.domain import services as domain
from catalog.domain.models import CustomFieldDefinition

pytestmark = pytest.mark.django_db


def uses_install_date(journey_id: int) -> dict[str, Any]:
    return {
        "trigger": {"key": "customer_tagged", "config": {"tag": "app"}},
        "conditions": [
            {"field": "customer.app_install_date", "operator": "after", "value": "2026-01-01"}
        ],
        "steps": [
            {
                "id": "welcome",
                "action": "enroll_journey",
                "inputs": {
                    "customer_id": {"ref": "customer_id"},
                    "journey_id": {"literal": journey_id},
                },
            }
        ],
    }


@pytest.fixture
def two_rules_on_a_custom_field(workspace, marketer):
    domain.define_custom_field(
        workspace=workspace, key="app_install_date", label="App install", field_type="date"
    )
    journey = domain.create_journey(workspace=workspace, name="Onboarding", slug="onboarding")
    rules = [
        services.save_rule(
            workspace=workspace,
            author=marketer,
            name=name,
            definition=uses_install_date(journey.pk),
            is_enabled=True,
        )
        for name in ("Onboard app users", "App users digest")
    ]
    untouched = services.save_rule(
        workspace=workspace,
        author=marketer,
        name="Unrelated",
        definition={**uses_install_date(journey.pk), "conditions": []},
        is_enabled=True,
    )
    return rules, untouched


def test_deleting_a_custom_field_lists_both_rules_and_disables_them_once_confirmed(
    api_client_for, admin, two_rules_on_a_custom_field
):
    # given
    (first, second), untouched = two_rules_on_a_custom_field
    definition = CustomFieldDefinition.objects.get(key="app_install_date")
    api = api_client_for(admin)
    url = f"/api/v1/custom-fields/{definition.pk}/"
    # when the admin asks to delete without confirming
    refused = api.delete(url)
    # then both rules are listed and nothing changed
    assert refused.status_code == 409
    assert sorted(r["rule"] for r in refused.json()["rules"]) == [
        "App users digest",
        "Onboard app users",
    ]
    assert CustomFieldDefinition.objects.filter(pk=definition.pk).exists()
    assert Rule.objects.filter(is_enabled=True).count() == 3
    # when confirmed
    done = api.delete(url + "?confirm=true")
    # then the field is gone and both rules are off with the reason; the third runs on
    assert done.status_code == 200
    assert sorted(done.json()["disabled_rules"]) == sorted([first.pk, second.pk])
    assert not CustomFieldDefinition.objects.filter(pk=definition.pk).exists()
    for rule in (first, second):
        rule.refresh_from_db()
        assert rule.is_enabled is False
        assert rule.disabled_reason.startswith("Custom field 'app_install_date' was deleted: ")
    untouched.refresh_from_db()
    assert untouched.is_enabled is True


def test_impact_endpoint_lists_the_rules_without_changing_anything(
    api_client_for, auditor, two_rules_on_a_custom_field
):
    definition = CustomFieldDefinition.objects.get(key="app_install_date")
    response = api_client_for(auditor).get(f"/api/v1/custom-fields/{definition.pk}/impact/")
    assert response.status_code == 200
    assert len(response.json()["rules"]) == 2
    assert (
        api_client_for(auditor).delete(f"/api/v1/custom-fields/{definition.pk}/").status_code == 403
    )


def test_recheck_rules_lists_and_disables_rules_the_catalog_no_longer_supports(
    workspace, two_rules_on_a_custom_field
):
    # given a vocabulary change that bypassed the guard (as a changed plug-in would)
    CustomFieldDefinition.objects.filter(key="app_install_date").delete()
    out = StringIO()
    # when listing only
    call_command("recheck_rules", stdout=out)
    # then both are named and still on
    assert "2 rule(s) would break." in out.getvalue()
    assert Rule.objects.filter(is_enabled=True).count() == 3
    # when applying
    call_command("recheck_rules", "--apply", stdout=StringIO())
    # then they are off, with the reason
    off = Rule.objects.filter(is_enabled=False)
    assert off.count() == 2
    assert all(r.disabled_reason.startswith("The catalog changed: ") for r in off)


def test_changing_an_endpoints_declared_fields_lists_and_then_disables_broken_rules(
    api_client_for, admin, marketer, workspace
):
    # given an endpoint declaring email and seats, and a rule reading body.seats
    from webhooks.services import create_endpoint

    endpoint = create_endpoint(
        workspace=workspace,
        name="Signups",
        preset="standard_webhooks",
        declared_fields={"email": "email", "seats": "integer"},
    ).endpoint
    rule = services.save_rule(
        workspace=workspace,
        author=marketer,
        name="Big teams",
        is_enabled=True,
        definition={
            "trigger": {"key": "webhook_received", "config": {"endpoint_id": endpoint.pk}},
            "conditions": [{"field": "body.seats", "operator": "gt", "value": 50}],
            "steps": [
                {
                    "id": "sales",
                    "action": "post_to_slack",
                    "inputs": {
                        "channel": {"literal": "#sales"},
                        "text": {"template": "Big team: {{ body.email }}"},
                    },
                }
            ],
        },
    )
    api = api_client_for(admin)
    url = f"/api/v1/endpoints/{endpoint.pk}/"
    # when seats is dropped without confirming
    refused = api.patch(url, {"declared_fields": {"email": "email"}}, format="json")
    # then the rule is listed and nothing changed
    assert refused.status_code == 409
    assert [r["rule"] for r in refused.json()["rules"]] == ["Big teams"]
    endpoint.refresh_from_db()
    assert endpoint.declared_fields == {"email": "email", "seats": "integer"}
    # when confirmed
    done = api.patch(url + "?confirm=true", {"declared_fields": {"email": "email"}}, format="json")
    # then the fields changed and the rule is off with the reason
    assert done.status_code == 200
    rule.refresh_from_db()
    assert rule.is_enabled is False
    assert rule.disabled_reason.startswith("Endpoint 'Signups' changed its fields: ")
    # and a change that breaks nothing goes through at once
    harmless = api.patch(
        url, {"declared_fields": {"email": "email", "plan": "string"}}, format="json"
    )
    assert harmless.status_code == 200


def test_a_changed_catalog_switches_off_the_rules_it_breaks_on_the_next_reconciliation(
    workspace, marketer, monkeypatch
):
    # given a rule using a plug-in action, checked against today's catalog
    from catalog.registry import registry

    workspace.plan = "enterprise"
    workspace.save()
    rule = services.save_rule(
        workspace=workspace,
        author=marketer,
        name="Points for VIPs",
        is_enabled=True,
        definition={
            "trigger": {"key": "customer_tagged", "config": {"tag": "vip"}},
            "steps": [
                {
                    "id": "points",
                    "action": "award_loyalty_points",
                    "inputs": {
                        "customer_id": {"ref": "customer_id"},
                        "points": {"literal": 100},
                    },
                }
            ],
        },
    )
    assert services.recheck_if_catalog_changed() is None  # first run records the catalog
    assert services.recheck_if_catalog_changed() is None  # unchanged: nothing to do
    # when a deploy removes the plug-in's action
    action = registry.get_action("award_loyalty_points")
    registry.unregister_action("award_loyalty_points")
    try:
        impacts = services.recheck_if_catalog_changed()
    finally:
        registry.register_action(action, "plugins.loyalty.catalog_entries")
    # then the rule is listed and switched off with the reason
    assert impacts is not None
    assert [i.rule.pk for i in impacts] == [rule.pk]
    rule.refresh_from_db()
    assert rule.is_enabled is False
    assert rule.disabled_reason.startswith("The catalog changed: ")
