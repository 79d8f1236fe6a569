"""The builder and rule pages through Django's test client: nested groups, the draft dry run,
paused rules with their Resume button."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from automations import services
from automations.engine.dispatch import dispatch_event
from automations.engine.limits import PauseCause, pause_rule
from automations.models import Execution, ExecutionStatus, Rule
from catalog.domain import services as domain
from tests.automations.engine.conftest import emit

pytestmark = pytest.mark.django_db

FREE_MAIL = r"@(gmail|yahoo|hotmail|outlook)\.com$"
HTMX = {"HX-Request": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


NESTED: dict[str, Any] = {
    "trigger": {"key": "customer_created", "config": {}},
    "conditions": [
        {"field": "source", "operator": "equals", "value": "free_trial"},
        {
            "match": "any",
            "children": [
                {"field": "email", "operator": "matches", "value": "@acme"},
                {
                    "match": "all",
                    "children": [
                        {"field": "email", "operator": "matches", "value": "[.]com$"},
                        {"field": "source", "operator": "equals", "value": "ads"},
                    ],
                },
            ],
        },
    ],
    "steps": [
        {
            "id": "welcome",
            "action": "tag",
            "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": "new"}},
        }
    ],
    "alert": None,
}


def form_fields(page: str) -> dict[str, str]:
    """The builder's named widgets and their values as the page shows them (a browser's post)."""
    import re

    fields: dict[str, str] = {}
    for tag in re.findall(r"<(?:input|select|textarea)[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name[1] in ("csrfmiddlewaretoken", "op"):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="radio"' in tag or 'type="checkbox"' in tag:
            if "checked" in tag:
                fields[name[1]] = value[1] if value else "on"
            continue
        fields[name[1]] = value[1] if value else ""
    for name, chosen in re.findall(
        r'<select[^>]*name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected',
        page,
        re.S,
    ):
        fields[name] = chosen
    return fields


# --- nested condition groups ------------------------------------------------------------------


def test_editing_a_rule_with_nested_groups_keeps_their_structure(marketer, workspace):
    # given a rule whose conditions nest an all group in an any group
    rule = services.save_rule(workspace=workspace, author=None, name="Nested", definition=NESTED)
    client = client_for(marketer)
    # when its builder is opened
    page = client.get(f"/rules/{rule.pk}/edit/").content.decode()
    # then the groups are shown as groups with their all/any choice
    assert 'name="cond-1-match"' in page
    assert 'name="cond-1-1-match"' in page
    assert 'id="cond-1-1-1-field"' in page
    # when saved as shown
    fields = form_fields(page)
    assert fields["cond-1-match"] == "any"
    assert fields["cond-1-1-match"] == "all"
    response = client.post(f"/rules/{rule.pk}/edit/", {**fields, "op": "save"})
    # then the new version has the same conditions
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.version == 2
    assert rule.definition["conditions"] == NESTED["conditions"]


def test_a_group_added_in_the_builder_is_saved_as_a_group(marketer):
    client = client_for(marketer)
    form = {
        "name": "Grouped",
        "trigger_key": "customer_created",
        "match": "all",
        "cond-0-field": "source",
        "cond-0-operator": "equals",
        "cond-0-value": "free_trial",
        "step-0-id": "welcome",
        "step-0-action": "tag",
        "step-0-in-customer_id-kind": "ref",
        "step-0-in-customer_id-value": "customer_id",
        "step-0-in-tag-kind": "literal",
        "step-0-in-tag-value": "new",
    }
    # when a group is added (it starts as "any" with one empty row)
    page = client.post("/rules/new/", {**form, "op": "add-group"}).content.decode()
    assert 'name="cond-1-match"' in page
    assert 'id="cond-1-0-field"' in page
    # when its rows are filled, its match set to "all", and the rule saved
    form |= {
        "cond-1-match": "all",
        "cond-1-0-field": "email",
        "cond-1-0-operator": "matches",
        "cond-1-0-value": "@acme",
        "cond-1-1-field": "email",
        "cond-1-1-operator": "matches",
        "cond-1-1-value": "[.]com$",
    }
    response = client.post("/rules/new/", {**form, "op": "save"})
    # then the definition holds the group
    assert response.status_code == 302
    assert Rule.objects.get().definition["conditions"] == [
        {"field": "source", "operator": "equals", "value": "free_trial"},
        {
            "match": "all",
            "children": [
                {"field": "email", "operator": "matches", "value": "@acme"},
                {"field": "email", "operator": "matches", "value": "[.]com$"},
            ],
        },
    ]


def test_a_problem_inside_a_group_is_shown_next_to_its_row(marketer):
    client = client_for(marketer)
    form = {
        "name": "Typo",
        "trigger_key": "customer_created",
        "cond-0-match": "any",
        "cond-0-0-field": "emial",
        "cond-0-0-operator": "equals",
        "cond-0-0-value": "x",
        "step-0-id": "welcome",
        "step-0-action": "tag",
        "step-0-in-customer_id-kind": "ref",
        "step-0-in-customer_id-value": "customer_id",
        "step-0-in-tag-kind": "literal",
        "step-0-in-tag-value": "new",
    }
    page = client.post("/rules/new/", {**form, "op": "save"}).content.decode()
    assert 'id="cond-0-0-field-errors"' in page
    assert Rule.objects.count() == 0


# --- the draft dry run ------------------------------------------------------------------------


def scenario_7_form(journey_id: int) -> dict[str, str]:
    """Scenario 7 as the builder posts it, never saved."""
    return {
        "name": "Free trial signups",
        "trigger_key": "customer_created",
        "cond-0-field": "source",
        "cond-0-operator": "equals",
        "cond-0-value": "free_trial",
        "step-0-id": "sequence",
        "step-0-action": "enroll_journey",
        "step-0-in-customer_id-kind": "ref",
        "step-0-in-customer_id-value": "customer_id",
        "step-0-in-journey_id-kind": "literal",
        "step-0-in-journey_id-value": str(journey_id),
        "step-1-id": "company",
        "step-1-action": "branch_by_condition",
        "step-1-cond-0-field": "email",
        "step-1-cond-0-operator": "matches",
        "step-1-cond-0-value": FREE_MAIL,
        "step-1-else-0-id": "sales",
        "step-1-else-0-action": "post_to_slack",
        "step-1-else-0-in-channel-kind": "literal",
        "step-1-else-0-in-channel-value": "#sales",
        "step-1-else-0-in-text-kind": "template",
        "step-1-else-0-in-text-value": "New trial from {{ email }}",
    }


@pytest.mark.parametrize(
    ("_case", "email", "branch", "slack"),
    [
        ("company address", "ceo@acme-industries.com", "otherwise", "New trial from ceo@"),
        ("free-mail address", "jane@gmail.com", "then", "skipped"),
    ],
)
def test_the_unsaved_draft_is_dry_run_on_pasted_json(
    marketer, workspace, _case, email, branch, slack
):
    # given scenario 7 in the builder, not saved
    journey = domain.create_journey(workspace=workspace, name="Trials", slug="trials")
    payload = {"customer_id": 7, "email": email, "source": "free_trial"}
    form = {
        **scenario_7_form(journey.pk),
        "op": "dry-run",
        "dry-source": "json",
        "dry-payload": json.dumps(payload),
    }
    # when the draft is dry-run from the builder (htmx)
    response = client_for(marketer).post("/rules/new/", form, headers=HTMX)
    # then the panel shows the trace: the branch taken and the Slack step's text or skip
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<section class="card" id="draft-dry-run"')
    assert "Branch taken: " in page
    assert f"“{branch}”" in page
    trace_sales = page[page.index('id="trace-sales"') :]
    assert slack in trace_sales[: trace_sales.index("</li>")]
    # and nothing was saved or done
    assert Rule.objects.count() == 0
    assert not journey.enrollments.exists()


def test_a_draft_dry_run_uses_the_triggers_example_by_default(marketer, workspace):
    journey = domain.create_journey(workspace=workspace, name="Trials", slug="trials")
    form = {**scenario_7_form(journey.pk), "op": "dry-run", "dry-source": "example"}
    page = client_for(marketer).post("/rules/new/", form, headers=HTMX).content.decode()
    assert 'id="trace"' in page


def test_an_invalid_draft_shows_the_checkers_problems_in_the_panel(marketer, workspace):
    form = {
        "name": "Broken",
        "trigger_key": "customer_created",
        "step-0-id": "reprice",
        "step-0-action": "update_price",
        "step-0-in-price-kind": "literal",
        "step-0-in-price-value": "9.99 EUR",
        "op": "dry-run",
        "dry-source": "example",
    }
    page = client_for(marketer).post("/rules/new/", form, headers=HTMX).content.decode()
    assert 'id="draft-dry-run-problems"' in page
    assert "does not carry one" in page
    assert 'id="trace"' not in page
    assert Rule.objects.count() == 0


def test_pasted_bad_json_gives_a_plain_error(marketer, workspace):
    journey = domain.create_journey(workspace=workspace, name="Trials", slug="trials")
    form = {
        **scenario_7_form(journey.pk),
        "op": "dry-run",
        "dry-source": "json",
        "dry-payload": "{not json",
    }
    page = client_for(marketer).post("/rules/new/", form, headers=HTMX).content.decode()
    assert 'id="id_dry-payload-errors"' in page
    assert "This is not JSON" in page
    assert 'id="trace"' not in page


def test_the_edit_page_dry_runs_its_draft_without_counting_its_saved_self_as_a_loop(
    marketer, workspace
):
    # given a saved, enabled rule that sets a fixed price on every product update
    definition = {
        "trigger": {"key": "product_updated", "config": {}},
        "steps": [
            {
                "id": "reprice",
                "action": "update_price",
                "inputs": {
                    "product_id": {"ref": "product_id"},
                    "price": {"literal": {"amount": "9.99", "currency": "EUR"}},
                },
            }
        ],
    }
    rule = services.save_rule(
        workspace=workspace, author=None, name="Sale", definition=definition, is_enabled=True
    )
    client = client_for(marketer)
    page = client.get(f"/rules/{rule.pk}/edit/").content.decode()
    # when its draft is dry-run on the example
    fields = {**form_fields(page), "op": "dry-run", "dry-source": "example"}
    answer = client.post(f"/rules/{rule.pk}/edit/", fields, headers=HTMX).content.decode()
    # then it runs (no loop with its own saved version)
    assert 'id="trace-reprice"' in answer
    assert "draft-dry-run-problems" not in answer


# --- paused rules -----------------------------------------------------------------------------


@pytest.fixture
def paused_rule(workspace) -> Rule:
    rule = services.save_rule(
        workspace=workspace,
        author=None,
        name="Welcome tag",
        is_enabled=True,
        definition={
            "trigger": {"key": "customer_created", "config": {}},
            "steps": [
                {
                    "id": "welcome",
                    "action": "tag",
                    "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": "new"}},
                }
            ],
        },
    )
    assert pause_rule(rule.pk, cause=PauseCause.BREAKER, reason="5 failures in a row")
    rule.refresh_from_db()
    return rule


def test_a_paused_rule_shows_paused_with_its_reason_and_a_resume_button(marketer, paused_rule):
    client = client_for(marketer)
    for url in ("/rules/", f"/rules/{paused_rule.pk}/"):
        page = client.get(url).content.decode()
        assert "Paused" in page, url
        assert "5 failures in a row" in page, url
        assert f'action="/rules/{paused_rule.pk}/resume/"' in page, url


def test_resume_lifts_the_pause_and_the_held_events_run(marketer, workspace, paused_rule):
    # given an event that arrived while the rule was paused: its execution is held
    customer = domain.create_customer(workspace=workspace, email="wes@example.com")
    event = emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": customer.email, "source": "web"},
    )
    dispatch_event(event.pk)
    held = Execution.objects.get(event=event)
    assert held.status == ExecutionStatus.HELD
    # when the marketer presses Resume
    response = client_for(marketer).post(f"/rules/{paused_rule.pk}/resume/")
    # then the rule is no longer paused and the held execution is released to run
    assert response.status_code == 302
    paused_rule.refresh_from_db()
    assert not paused_rule.is_paused
    held.refresh_from_db()
    assert held.status == ExecutionStatus.PENDING


def test_resume_over_htmx_answers_with_the_row_without_the_badge(marketer, paused_rule):
    answer = client_for(marketer).post(f"/rules/{paused_rule.pk}/resume/", headers=HTMX)
    row = answer.content.decode()
    assert row.lstrip().startswith(f'<tr id="rule-{paused_rule.pk}"')
    assert "Paused" not in row


def test_an_auditor_sees_the_pause_but_no_resume_button_and_gets_403(auditor, paused_rule):
    client = client_for(auditor)
    for url in ("/rules/", f"/rules/{paused_rule.pk}/"):
        page = client.get(url).content.decode()
        assert "5 failures in a row" in page, url
        assert "/resume/" not in page, url
    assert client.post(f"/rules/{paused_rule.pk}/resume/").status_code == 403
    paused_rule.refresh_from_db()
    assert paused_rule.is_paused
