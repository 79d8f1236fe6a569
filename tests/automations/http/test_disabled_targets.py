"""A fire_webhook target answering 410 Gone is disabled in its workspace until an admin says so."""

from __future__ import annotations

import pytest

from automations.engine.dispatch import dispatch_event
from automations.engine.run import run_execution
from automations.models import (
    Alert,
    AttemptOutcome,
    DisabledTarget,
    Execution,
    ExecutionStatus,
    StepRun,
)
from tests.automations.engine.conftest import emit, make_rule, step
from tests.factories import CustomerFactory

from .conftest import LocalServer, Reply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_local")]

DEAD, OK = ExecutionStatus.DEAD, ExecutionStatus.SUCCEEDED


def _notify(workspace, name, url, trigger="customer_created"):
    return make_rule(
        workspace, name, trigger, [step("notify", "fire_webhook", url=url, body={"hello": 1})]
    )


def _signup(workspace):
    customer = CustomerFactory.create(workspace=workspace)
    event = emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": customer.email, "source": "shop"},
    )
    dispatch_event(event.pk)
    return list(Execution.objects.filter(event=event).order_by("rule__name"))


def test_a_410_disables_the_url_for_every_rule_until_an_admin_enables_it(
    workspace, server: LocalServer, admin, marketer, api_client_for
):
    # given two rules of the workspace posting to one URL, which answers 410 Gone
    url = f"{server.url}/hooks/provision"
    _notify(workspace, "A notify", url)
    server.reply(Reply(410, "this hook was deleted"))
    [first] = _signup(workspace)

    # when the first execution calls it
    assert run_execution(first.pk) == DEAD

    # then the URL is disabled for the workspace and the rule's alert target is told
    target = DisabledTarget.objects.get()
    assert (target.workspace, target.url, target.reason, target.is_active) == (
        workspace,
        url,
        "it answered 410 Gone",
        True,
    )
    assert (target.rule_id, target.execution_id) == (first.rule_id, first.pk)
    assert len(server.requests) == 1
    step_run = StepRun.objects.get(execution=first)
    assert step_run.output == {"target_disabled": True}
    alert = Alert.objects.get(execution=first)
    assert alert.reason == "dead"
    assert "Typewire stopped sending to this URL" in alert.body

    # when another rule of the workspace posts to the same URL
    _notify(workspace, "B notify", url)
    later = _signup(workspace)
    assert [run_execution(e.pk) for e in later] == [DEAD, DEAD]

    # then nothing is sent, each refusal is logged as an attempt with a plain error
    assert len(server.requests) == 1
    for execution in later:
        [attempt] = StepRun.objects.get(execution=execution).attempt_log.all()
        assert attempt.outcome == AttemptOutcome.FAILED
        assert (attempt.http_method, attempt.http_url, attempt.response_status) == (
            "POST",
            url,
            None,
        )
        assert attempt.error.startswith(f"Not sent: {url} is disabled for this workspace since ")
        assert attempt.error.endswith(
            f"(it answered 410 Gone). An admin can enable it again (disabled target #{target.pk})."
        )
        assert Alert.objects.filter(execution=execution, reason="dead").exists()

    # when a marketer tries to enable it, then an admin does
    path = f"/api/v1/disabled-targets/{target.pk}/enable/"
    refused = api_client_for(marketer).post(path)
    listed = api_client_for(admin).get("/api/v1/disabled-targets/?active=true")
    enabled = api_client_for(admin).post(path)

    # then only the admin may; the URL is called again
    assert refused.status_code == 403
    assert [row["id"] for row in listed.json()["results"]] == [target.pk]
    assert enabled.status_code == 200
    assert enabled.json()["is_active"] is False
    assert enabled.json()["enabled_by"] == admin.pk
    assert api_client_for(admin).get("/api/v1/disabled-targets/?active=true").json()["count"] == 0
    server.reply(Reply(200, {"ok": True}), Reply(200, {"ok": True}))
    again = _signup(workspace)
    assert [run_execution(e.pk) for e in again] == [OK, OK]
    assert len(server.requests) == 3


def test_a_disabled_url_stays_callable_from_other_workspaces(
    workspace, other_workspace, server: LocalServer
):
    # given the URL disabled in one workspace
    url = f"{server.url}/hooks/shared"
    _notify(workspace, "Notify", url)
    server.reply(Reply(410, ""))
    [execution] = _signup(workspace)
    assert run_execution(execution.pk) == DEAD
    # when another workspace posts to it
    _notify(other_workspace, "Notify", url)
    [theirs] = _signup(other_workspace)
    # then it is called
    assert run_execution(theirs.pk) == OK
    assert len(server.requests) == 2


def test_a_disabled_target_answers_404_to_another_workspace_and_bad_filters_400(
    workspace, outsider, admin, api_client_for
):
    target = DisabledTarget.objects.create(
        workspace=workspace,
        url="https://hooks.example.com/x?token=s3cret",
        reason="gone",
        disabled_at="2025-03-01T10:00:00Z",
    )
    theirs = api_client_for(outsider).post(f"/api/v1/disabled-targets/{target.pk}/enable/")
    bad = api_client_for(admin).get("/api/v1/disabled-targets/?active=maybe")
    shown = api_client_for(admin).get(f"/api/v1/disabled-targets/{target.pk}/")
    assert theirs.status_code == 404
    assert bad.status_code == 400
    assert shown.json()["url"] == "https://hooks.example.com/x?token=%5Bredacted%5D"
