"""The rules API: every save runs the checker; versions, rollback, enable and dry-run."""

from __future__ import annotations

from typing import Any

import pytest

from automations.models import Rule, RuleVersion
from catalog.domain import services as domain
from catalog.domain.models import Journey

pytestmark = pytest.mark.django_db

FREE_MAIL = r"@(gmail|yahoo|hotmail|outlook)\.com$"


def vip_rule(journey_id: int, tag: str = "vip") -> dict[str, Any]:
    """Scenario 3: customer_tagged (tag = vip) -> enroll_journey(vip-welcome)."""
    return {
        "trigger": {"key": "customer_tagged", "config": {"tag": tag}},
        "conditions": [],
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


def signup_rule(journey_id: int) -> dict[str, Any]:
    """Scenario 7: signup -> journey + Airtable row + Slack #sales unless free-mail."""
    return {
        "trigger": {"key": "customer_created", "config": {}},
        "conditions": [{"field": "source", "operator": "equals", "value": "free_trial"}],
        "steps": [
            {
                "id": "sequence",
                "action": "enroll_journey",
                "inputs": {
                    "customer_id": {"ref": "customer_id"},
                    "journey_id": {"literal": journey_id},
                },
            },
            {
                "id": "airtable",
                "action": "create_airtable_row",
                "inputs": {
                    "base": {"literal": "appTrials"},
                    "table": {"literal": "Signups"},
                    "fields": {"literal": {"source": "typewire"}},
                },
            },
            {
                "id": "company",
                "action": "branch_by_condition",
                "inputs": {},
                "condition": [{"field": "email", "operator": "matches", "value": FREE_MAIL}],
                "then": [],
                "else": [
                    {
                        "id": "sales",
                        "action": "post_to_slack",
                        "inputs": {
                            "channel": {"literal": "#sales"},
                            "text": {"template": "New trial from {{ email }}"},
                        },
                    }
                ],
            },
        ],
    }


@pytest.fixture
def journey(workspace) -> Journey:
    return domain.create_journey(workspace=workspace, name="VIP welcome", slug="vip-welcome")


def test_a_valid_rule_is_saved_with_its_sentence_and_version_1(api_client_for, marketer, journey):
    # when
    response = api_client_for(marketer).post(
        "/api/v1/rules/", {"name": "VIP welcome", "definition": vip_rule(journey.pk)}, format="json"
    )
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1
    assert body["trigger_key"] == "customer_tagged"
    assert body["sentence"].startswith("When ")
    rule = Rule.objects.get()
    assert RuleVersion.objects.get(rule=rule).number == 1


def test_update_price_on_customer_created_is_rejected_with_the_checkers_words(
    api_client_for, marketer
):
    # given
    definition = {
        "trigger": {"key": "customer_created"},
        "steps": [
            {
                "id": "price",
                "action": "update_price",
                "inputs": {"price": {"literal": {"amount": "9.99", "currency": "EUR"}}},
            }
        ],
    }
    # when
    response = api_client_for(marketer).post(
        "/api/v1/rules/", {"name": "Wrong wiring", "definition": definition}, format="json"
    )
    # then
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "rule_invalid"
    problem = next(p for p in body["problems"] if p["path"] == "steps[0].inputs.product_id")
    assert problem["code"] == "missing_input"
    assert (
        "Update price needs a product, but 'Customer created' does not carry one"
        in (problem["message"])
    )
    assert not Rule.objects.exists()


def test_a_loop_between_two_rules_is_refused_naming_both(api_client_for, marketer, journey):
    # given rule A: tagged vip -> tag welcomed ; rule B: tagged welcomed -> tag vip
    api = api_client_for(marketer)

    def tagger(name: str, on: str, adds: str) -> dict[str, Any]:
        return {
            "name": name,
            "is_enabled": True,
            "definition": {
                "trigger": {"key": "customer_tagged", "config": {"tag": on}},
                "steps": [
                    {
                        "id": "tag",
                        "action": "tag",
                        "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": adds}},
                    }
                ],
            },
        }

    first = api.post("/api/v1/rules/", tagger("A", "vip", "welcomed"), format="json")
    assert first.status_code == 201, first.json()
    # when
    second = api.post("/api/v1/rules/", tagger("B", "welcomed", "vip"), format="json")
    # then
    assert second.status_code == 400
    cycle = next(p for p in second.json()["problems"] if p["code"] == "cycle")
    assert "B → A → B" in cycle["message"] or "A → B → A" in cycle["message"]
    assert Rule.objects.count() == 1


def test_versions_diff_names_the_changed_condition_value_and_rollback_adds_a_third(
    api_client_for, marketer, journey
):
    # given a rule saved twice with a different condition value
    api = api_client_for(marketer)
    first = signup_rule(journey.pk)
    created = api.post("/api/v1/rules/", {"name": "Trials", "definition": first}, format="json")
    assert created.status_code == 201, created.json()
    url = f"/api/v1/rules/{created.json()['id']}/"
    second = signup_rule(journey.pk)
    second["conditions"][0]["value"] = "paid_trial"
    assert api.patch(url, {"definition": second}, format="json").status_code == 200
    # when
    history = api.get(f"{url}versions/?from=1&to=2")
    # then the diff names the changed condition value
    assert history.status_code == 200
    assert [v["number"] for v in history.json()["versions"]] == [2, 1]
    assert history.json()["changes"] == [
        {
            "path": "conditions[0].value",
            "kind": "changed",
            "before": "free_trial",
            "after": "paid_trial",
        }
    ]
    # when rolling back to version 1
    rolled = api.post(f"{url}rollback/", {"version": 1}, format="json")
    # then version 3 has version 1's definition
    assert rolled.status_code == 200, rolled.json()
    assert rolled.json()["version"] == 3
    v3 = RuleVersion.objects.get(rule_id=created.json()["id"], number=3)
    v1 = RuleVersion.objects.get(rule_id=created.json()["id"], number=1)
    assert v3.definition == v1.definition
    assert v3.note == "Rolled back to version 1"


@pytest.mark.parametrize(
    ("_case", "email", "branch", "slack_skipped"),
    [
        ("company address", "ceo@acme-industries.com", "else", False),
        ("free-mail address", "someone@gmail.com", "then", True),
    ],
)
def test_dry_run_of_scenario_7_shows_the_branch_taken(
    api_client_for, marketer, journey, workspace, _case, email, branch, slack_skipped
):
    # given
    api = api_client_for(marketer)
    created = api.post(
        "/api/v1/rules/", {"name": "Trials", "definition": signup_rule(journey.pk)}, format="json"
    )
    assert created.status_code == 201, created.json()
    customer = domain.create_customer(workspace=workspace, email=email, source="free_trial")
    payload = {"customer_id": customer.pk, "email": email, "source": "free_trial"}
    # when
    response = api.post(
        f"/api/v1/rules/{created.json()['id']}/dry-run/", {"payload": payload}, format="json"
    )
    # then
    assert response.status_code == 200, response.json()
    trace = response.json()
    assert trace["fired"] is True
    by_id = {s["step_id"]: s for s in trace["steps"]}
    assert by_id["company"]["branch_taken"] == branch
    assert by_id["sales"]["skipped"] is slack_skipped
    if not slack_skipped:
        assert by_id["sales"]["resolved_inputs"]["text"] == f"New trial from {email}"
    # and nothing happened
    assert not journey.enrollments.exists()


def test_dry_run_with_a_payload_that_does_not_fit_is_a_clear_400(api_client_for, marketer, journey):
    api = api_client_for(marketer)
    created = api.post(
        "/api/v1/rules/", {"name": "VIP", "definition": vip_rule(journey.pk)}, format="json"
    )
    response = api.post(
        f"/api/v1/rules/{created.json()['id']}/dry-run/",
        {"payload": {"customer_id": "three", "tag": "vip", "action": "added"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "payload_invalid"
    assert "customer_id" in response.json()["fields"]


def test_auditor_reads_rules_but_cannot_save(api_client_for, auditor, journey):
    api = api_client_for(auditor)
    assert api.get("/api/v1/rules/").status_code == 200
    response = api.post(
        "/api/v1/rules/", {"name": "VIP", "definition": vip_rule(journey.pk)}, format="json"
    )
    assert response.status_code == 403
    assert not Rule.objects.exists()


def test_another_workspaces_rule_is_404(api_client_for, marketer, outsider, other_workspace):
    # given
    other_journey = domain.create_journey(workspace=other_workspace, name="J", slug="j")
    created = api_client_for(outsider).post(
        "/api/v1/rules/",
        {"name": "Theirs", "definition": vip_rule(other_journey.pk)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    # when
    response = api_client_for(marketer).get(f"/api/v1/rules/{created.json()['id']}/")
    # then
    assert response.status_code == 404


def _order_paid_rule() -> dict[str, Any]:
    return {
        "trigger": {"key": "order_paid", "config": {}},
        "conditions": [
            {
                "field": "amount",
                "operator": "gt",
                "value": {"amount": "100.00", "currency": "EUR"},
            }
        ],
        "steps": [
            {
                "id": "notify",
                "action": "post_to_slack",
                "inputs": {
                    "channel": {"literal": "#sales"},
                    "text": {"template": "Order {{ order_id }} paid: {{ amount }}"},
                },
            }
        ],
    }


def _store_paid_events(workspace, amounts: list[str]) -> list[Any]:
    from django.db import transaction

    from catalog.events import record_event

    with transaction.atomic():
        return [
            record_event(
                workspace=workspace,
                trigger_key="order_paid",
                payload={
                    "order_id": i + 1,
                    "payment_method": "card",
                    "amount": {"amount": amount, "currency": "EUR"},
                },
            )
            for i, amount in enumerate(amounts)
        ]


def test_backtest_over_200_events_reports_the_exact_would_fire_count(
    api_client_for, marketer, workspace
):
    # given 200 stored order_paid events, 73 of them over 100 EUR
    amounts = ["150.00" if i % 200 < 73 else "20.00" for i in range(200)]
    _store_paid_events(workspace, amounts)
    api = api_client_for(marketer)
    created = api.post(
        "/api/v1/rules/", {"name": "Big orders", "definition": _order_paid_rule()}, format="json"
    )
    assert created.status_code == 201, created.json()
    # when
    response = api.post(
        f"/api/v1/rules/{created.json()['id']}/backtest/", {"days": 7}, format="json"
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["events"] == 200
    assert body["would_fire"] == 73
    assert len(body["not_fired"]) == 127
    assert len(body["samples"]) == 5
    assert body["samples"][0]["steps"][0]["resolved_inputs"]["text"] == ("Order 1 paid: 150.00 EUR")
    assert "but the value was" in body["not_fired"][0]["reason"]


def test_why_didnt_it_fire_names_the_failing_condition_and_the_actual_value(
    api_client_for, marketer, workspace
):
    # given
    (event,) = _store_paid_events(workspace, ["20.00"])
    api = api_client_for(marketer)
    created = api.post(
        "/api/v1/rules/",
        {"name": "Big orders", "definition": _order_paid_rule(), "is_enabled": True},
        format="json",
    )
    assert created.status_code == 201, created.json()
    # when
    response = api.get(f"/api/v1/rules/{created.json()['id']}/why/?event={event.pk}")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["fires"] is False
    reasons = " ".join(body["reasons"])
    assert "conditions[0]" in reasons
    assert "20.00" in reasons
    assert "created after this event" in reasons


def test_why_with_a_malformed_event_id_is_a_clear_400(api_client_for, marketer):
    created = api_client_for(marketer).post(
        "/api/v1/rules/", {"name": "Big orders", "definition": _order_paid_rule()}, format="json"
    )
    response = api_client_for(marketer).get(f"/api/v1/rules/{created.json()['id']}/why/?event=x")
    assert response.status_code == 400
    assert response.json()["event"] == ["Give the id of a stored event."]
