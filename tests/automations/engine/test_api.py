"""The execution log and replay API, and emitting internal events through the API."""

from __future__ import annotations

import pytest

from accounts.models import Role
from automations.engine.dispatch import dispatch_event
from automations.engine.run import run_execution
from automations.models import Execution, ExecutionStatus, Rule
from catalog.models import Event, EventSource, EventStatus
from tests.automations.engine.conftest import emit, make_rule, step
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMER = {"ref": "customer_id"}


def _executed(workspace, steps, name="Welcome"):
    customer = CustomerFactory.create(workspace=workspace)
    Rule.objects.update(is_enabled=False)  # one rule per event: the newest
    rule = make_rule(workspace, name, "customer_created", steps)
    event = emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": customer.email, "source": "shopify"},
    )
    dispatch_event(event.pk)
    execution = Execution.objects.get(event=event, rule=rule)
    run_execution(execution.pk)
    execution.refresh_from_db()
    return execution


def _dead(workspace):
    missing = CustomerFactory.create(workspace=workspace)
    missing_id = missing.pk
    missing.delete()
    return _executed(workspace, [step("t", "tag", customer_id=missing_id, tag="x")], "Doomed")


def test_a_marketer_lists_executions_filtered_by_rule_and_status(
    workspace, marketer, api_client_for
):
    # given
    ok = _executed(workspace, [step("t", "tag", customer_id=CUSTOMER, tag="vip")])
    dead = _dead(workspace)
    client = api_client_for(marketer)
    # when
    everything = client.get("/api/v1/executions/")
    by_rule = client.get(f"/api/v1/executions/?rule={ok.rule_id}")
    by_status = client.get("/api/v1/executions/?status=dead")
    # then
    assert everything.status_code == 200
    assert [e["id"] for e in everything.json()["results"]] == [dead.pk, ok.pk]
    assert [e["id"] for e in by_rule.json()["results"]] == [ok.pk]
    [row] = by_status.json()["results"]
    assert (row["id"], row["rule_name"], row["status"], row["trigger_key"]) == (
        dead.pk,
        "Doomed",
        "dead",
        "customer_created",
    )


def test_bad_filters_answer_400_naming_the_parameter(workspace, marketer, api_client_for):
    # given
    client = api_client_for(marketer)
    # when
    answers = [
        client.get("/api/v1/executions/?status=lost"),
        client.get("/api/v1/executions/?rule=abc"),
        client.get("/api/v1/executions/?since=yesterday"),
    ]
    # then
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert [sorted(a.json()) for a in answers] == [
        ["error", "status"],
        ["error", "rule"],
        ["error", "since"],
    ]


def test_the_time_range_filter_uses_the_creation_time(workspace, auditor, api_client_for):
    # given
    execution = _executed(workspace, [step("t", "tag", customer_id=CUSTOMER, tag="vip")])
    created = execution.created_at.isoformat().replace("+00:00", "Z")
    client = api_client_for(auditor)
    # when
    since = client.get("/api/v1/executions/", {"since": created})
    until = client.get("/api/v1/executions/", {"until": created})
    # then
    assert [e["id"] for e in since.json()["results"]] == [execution.pk]
    assert until.json()["results"] == []


def test_the_detail_carries_step_runs_attempts_and_alerts(workspace, marketer, api_client_for):
    # given
    execution = _dead(workspace)
    # when
    answer = api_client_for(marketer).get(f"/api/v1/executions/{execution.pk}/")
    # then
    assert answer.status_code == 200
    body = answer.json()
    [step_run] = body["steps"]
    assert (step_run["path"], step_run["status"], step_run["idempotency_key"]) == (
        "steps[0]",
        "failed",
        f"{execution.pk}:steps[0]",
    )
    [attempt] = step_run["attempts_log"]
    assert (attempt["number"], attempt["outcome"]) == (1, "failed")
    assert attempt["error"].endswith("does not exist in this workspace")
    [alert] = body["alerts"]
    assert (alert["kind"], alert["target"], alert["status"]) == (
        "email",
        "ops@example.com",
        "pending",
    )


def test_another_workspace_execution_answers_404(
    workspace, other_workspace, outsider, api_client_for
):
    # given
    execution = _dead(workspace)
    # when
    answer = api_client_for(outsider).get(f"/api/v1/executions/{execution.pk}/")
    replayed = api_client_for(outsider).post(f"/api/v1/executions/{execution.pk}/replay/")
    # then
    assert (answer.status_code, replayed.status_code) == (404, 404)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD


def test_an_admin_replays_a_dead_execution(
    workspace, admin, api_client_for, django_capture_on_commit_callbacks
):
    # given
    execution = _dead(workspace)
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = api_client_for(admin).post(f"/api/v1/executions/{execution.pk}/replay/")
    # then
    assert answer.status_code == 202
    assert answer.json()["status"] == "pending"
    execution.refresh_from_db()
    assert (execution.status, execution.error) == (ExecutionStatus.PENDING, "")
    assert len(callbacks) == 1


@pytest.mark.parametrize("_case", [Role.MARKETER, Role.AUDITOR])
def test_only_admins_may_replay(workspace, api_client_for, request, _case):
    # given
    user = request.getfixturevalue({Role.MARKETER: "marketer", Role.AUDITOR: "auditor"}[_case])
    execution = _dead(workspace)
    # when
    answer = api_client_for(user).post(f"/api/v1/executions/{execution.pk}/replay/")
    # then
    assert answer.status_code == 403
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD


def test_replaying_an_execution_that_is_not_dead_answers_409(workspace, admin, api_client_for):
    # given
    execution = _executed(workspace, [step("t", "tag", customer_id=CUSTOMER, tag="vip")])
    # when
    answer = api_client_for(admin).post(f"/api/v1/executions/{execution.pk}/replay/")
    # then
    assert answer.status_code == 409
    assert answer.json()["error"] == "not_replayable"
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED


@pytest.mark.usefixtures("every_trigger_heard")
def test_an_admin_emits_an_internal_event(
    workspace, admin, api_client_for, django_capture_on_commit_callbacks
):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    payload = {"customer_id": customer.pk, "tag": "vip", "action": "added"}
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = api_client_for(admin).post(
            "/api/v1/events/", {"trigger": "customer_tagged", "payload": payload}, format="json"
        )
    # then
    assert answer.status_code == 202
    event = Event.objects.get()
    assert answer.json() == {"event_id": str(event.pk)}
    assert (event.trigger_key, event.payload, event.source, event.status) == (
        "customer_tagged",
        payload,
        EventSource.INTERNAL,
        EventStatus.PENDING,
    )
    assert len(callbacks) == 1


def test_an_event_that_does_not_fit_its_trigger_answers_400_naming_each_field(
    workspace, admin, api_client_for
):
    # given
    client = api_client_for(admin)
    # when
    bad_payload = client.post(
        "/api/v1/events/",
        {"trigger": "customer_tagged", "payload": {"tag": 5, "action": "added"}},
        format="json",
    )
    bad_trigger = client.post(
        "/api/v1/events/", {"trigger": "customer_taged", "payload": {}}, format="json"
    )
    # then
    assert bad_payload.status_code == 400
    assert bad_payload.json()["error"] == "payload_invalid"
    assert sorted(bad_payload.json()["fields"]) == ["customer_id", "tag"]
    assert bad_trigger.status_code == 400
    assert bad_trigger.json()["trigger"] == [
        'Unknown trigger "customer_taged". Did you mean "customer_tagged"?'
    ]
    assert not Event.objects.exists()


def test_a_marketer_may_not_emit_events(workspace, marketer, api_client_for):
    # when
    answer = api_client_for(marketer).post(
        "/api/v1/events/", {"trigger": "customer_tagged", "payload": {}}, format="json"
    )
    # then
    assert answer.status_code == 403
    assert not Event.objects.exists()


def test_an_event_with_a_dedupe_key_seen_before_is_a_duplicate(workspace, admin, api_client_for):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    body = {
        "trigger": "customer_tagged",
        "payload": {"customer_id": customer.pk, "tag": "vip", "action": "added"},
        "dedupe_key": "import-42",
    }
    client = api_client_for(admin)
    first = client.post("/api/v1/events/", body, format="json")
    # when
    second = client.post("/api/v1/events/", body, format="json")
    # then
    assert second.status_code == 200
    assert second.json() == {"duplicate": True, "event_id": first.json()["event_id"]}
    assert Event.objects.count() == 1
