"""Retries with backoff, dead letters after the last attempt, and alerts that reach their target."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from automations.engine.alerts import deliver_alert
from automations.engine.dispatch import dispatch_event
from automations.engine.run import backoff, run_execution
from automations.models import (
    Alert,
    AlertStatus,
    AppliedEffect,
    Attempt,
    AttemptOutcome,
    Execution,
    ExecutionStatus,
    StepRun,
    StepStatus,
)
from catalog.models import CustomerTag
from tests.automations.engine.conftest import emit, make_due, make_rule, step
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("engine_plugin")]

CUSTOMER = {"ref": "customer_id"}


def _run_rule_once(workspace, steps, alert=None):
    customer = CustomerFactory.create(workspace=workspace)
    kwargs = {"alert": alert} if alert else {}
    make_rule(workspace, "Flaky", "customer_created", steps, **kwargs)
    event = emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": customer.email, "source": "shopify"},
    )
    dispatch_event(event.pk)
    return customer, Execution.objects.get(event=event)


def test_a_step_failing_twice_then_succeeding_finishes_on_attempt_3_with_backoff(workspace):
    # given
    steps = [step("t", "test_flaky_tag", customer_id=CUSTOMER, tag="vip", fail_times=2)]
    customer, execution = _run_rule_once(workspace, steps)
    statuses = []
    # when
    for _ in range(3):
        statuses.append(run_execution(execution.pk))
        execution.refresh_from_db()
        if execution.status == ExecutionStatus.WAITING:
            step_run = StepRun.objects.get(execution=execution)
            last = step_run.attempt_log.order_by("number").last()
            assert last is not None
            assert last.next_attempt_at is not None
            # then each retry is due when its attempt row says, and the execution sleeps till then
            assert step_run.status == StepStatus.RETRYING
            assert execution.resume_at == step_run.next_attempt_at == last.next_attempt_at
            ceiling = 2.0 * 2 ** (last.number - 1)
            delay = (last.next_attempt_at - last.finished_at).total_seconds()
            assert 0 <= delay <= ceiling + 0.1
            make_due(execution)
    # then
    assert statuses == [ExecutionStatus.WAITING, ExecutionStatus.WAITING, ExecutionStatus.SUCCEEDED]
    step_run = StepRun.objects.get(execution=execution)
    assert step_run.output == {"attempt": 3}
    assert [(a.number, a.outcome, a.error) for a in step_run.attempt_log.all()] == [
        (1, AttemptOutcome.RETRYABLE, "try 1 failed"),
        (2, AttemptOutcome.RETRYABLE, "try 2 failed"),
        (3, AttemptOutcome.SUCCEEDED, ""),
    ]
    assert [a.next_attempt_at is not None for a in step_run.attempt_log.all()] == [
        True,
        True,
        False,
    ]
    assert list(customer.tags.values_list("tag", flat=True)) == ["vip"]


def test_backoff_is_exponential_with_full_jitter_capped_and_honours_retry_after():
    # when
    firsts = [backoff(1).total_seconds() for _ in range(200)]
    fifths = [backoff(5).total_seconds() for _ in range(200)]
    late = [backoff(40).total_seconds() for _ in range(200)]
    # then
    assert all(0 <= s <= 2 for s in firsts)
    assert all(0 <= s <= 32 for s in fifths)
    assert max(fifths) > 2  # the ceiling grows
    assert all(0 <= s <= 3600 for s in late)
    assert backoff(1, retry_after=120).total_seconds() == 120


def test_an_http_attempt_logs_the_exchange_and_honours_retry_after(workspace):
    # given
    _, execution = _run_rule_once(workspace, [step("h", "test_http_flaky", fail_times=1)])
    # when
    status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.WAITING
    attempt = Attempt.objects.get()
    assert (attempt.outcome, attempt.error) == (
        AttemptOutcome.RETRYABLE,
        "hooks.example.com answered 503",
    )
    assert (attempt.http_method, attempt.http_url, attempt.response_status) == (
        "POST",
        "https://hooks.example.com/flaky",
        503,
    )
    key = f"{execution.pk}:steps[0]"
    assert attempt.request_headers == {"Idempotency-Key": key}
    assert (attempt.request_body, attempt.response_body, attempt.duration_ms) == (
        '{"hello": "world"}',
        "busy",
        12,
    )
    assert attempt.next_attempt_at is not None
    assert (attempt.next_attempt_at - attempt.finished_at).total_seconds() >= 30
    assert not AppliedEffect.objects.exists()  # HTTP actions carry their key themselves


def test_a_permanent_error_dead_letters_at_once_and_records_a_disabled_target(
    workspace, django_capture_on_commit_callbacks
):
    # given
    _, execution = _run_rule_once(
        workspace, [step("b", "test_broken", customer_id=CUSTOMER, disable=1)]
    )
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.DEAD
    execution.refresh_from_db()
    assert execution.error == "Step steps[0] (test_broken) failed: the target said no"
    step_run = StepRun.objects.get()
    assert (step_run.status, step_run.attempts, step_run.output) == (
        StepStatus.FAILED,
        1,
        {"target_disabled": True},
    )
    assert [(a.number, a.outcome) for a in Attempt.objects.all()] == [(1, AttemptOutcome.FAILED)]
    alert = Alert.objects.get()
    assert (alert.kind, alert.target, alert.status, alert.reason) == (
        "email",
        "ops@example.com",
        AlertStatus.PENDING,
        "dead",
    )
    assert len(callbacks) == 1


def test_after_the_last_attempt_the_execution_is_dead_and_the_alert_is_emailed(
    workspace, settings, mailoutbox
):
    # given
    settings.TYPEWIRE_MAX_ATTEMPTS = 3
    steps = [step("t", "test_flaky_tag", customer_id=CUSTOMER, tag="vip", fail_times=99)]
    _, execution = _run_rule_once(workspace, steps)
    # when
    statuses = []
    for _ in range(3):
        statuses.append(run_execution(execution.pk))
        make_due(execution)
    alert = Alert.objects.get(execution=execution)
    sent = deliver_alert(alert.pk)
    # then
    assert statuses == [ExecutionStatus.WAITING, ExecutionStatus.WAITING, ExecutionStatus.DEAD]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD
    assert execution.error == (
        "Step steps[0] (test_flaky_tag) failed: try 3 failed (gave up after 3 attempts)"
    )
    assert [a.outcome for a in Attempt.objects.all()] == [
        AttemptOutcome.RETRYABLE,
        AttemptOutcome.RETRYABLE,
        AttemptOutcome.FAILED,
    ]
    assert sent is True
    alert.refresh_from_db()
    assert alert.status == AlertStatus.SENT
    assert alert.sent_at is not None
    [mail] = mailoutbox
    assert mail.to == ["ops@example.com"]
    assert mail.subject == "[Typewire] Rule 'Flaky' failed"
    assert f"Event: {execution.event_id} (customer_created" in mail.body
    assert "What it does: When customer_created happens, then run 1 step(s)." in mail.body
    assert "Failing step: steps[0] (test_flaky_tag), after 3 attempt(s)" in mail.body
    assert f"Error: {execution.error}" in mail.body
    assert not CustomerTag.objects.exists()
    assert deliver_alert(alert.pk) is False  # sent once
    assert len(mailoutbox) == 1


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hook_server():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_an_alert_to_a_webhook_or_slack_is_posted_through_the_guarded_client(
    workspace, settings, hook_server, kind
):
    # given
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    alert_to = {"kind": kind, "target": hook_server}
    _, execution = _run_rule_once(
        workspace, [step("b", "test_broken", customer_id=CUSTOMER)], alert_to
    )
    run_execution(execution.pk)
    alert = Alert.objects.get()
    # when
    deliver_alert(alert.pk)
    # then
    [body] = _Hook.received
    if kind == "slack":
        assert str(body["text"]).startswith("*[Typewire] Rule 'Flaky' failed*\nRule: Flaky")
    else:
        assert body["type"] == "typewire.execution.failed"
        assert body["execution"] == {
            "id": execution.pk,
            "status": "dead",
            "error": "Step steps[0] (test_broken) failed: the target said no",
        }
        assert body["event"] == {"id": str(execution.event_id), "trigger": "customer_created"}
    alert.refresh_from_db()
    assert alert.status == AlertStatus.SENT


def test_an_alert_to_a_refused_address_is_recorded_as_failed(workspace, settings):
    # given an alert webhook on a private address, not on the allow list
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = []
    alert_to = {"kind": "webhook", "target": "http://10.0.0.1/alerts"}
    _, execution = _run_rule_once(
        workspace, [step("b", "test_broken", customer_id=CUSTOMER)], alert_to
    )
    run_execution(execution.pk)
    alert = Alert.objects.get()
    # when
    with pytest.raises(Exception, match="private"):
        deliver_alert(alert.pk)
    # then
    alert.refresh_from_db()
    assert alert.status == AlertStatus.FAILED
    assert "private" in alert.error
    assert alert.sent_at is None
    assert timezone.now() - alert.created_at < dt.timedelta(minutes=1)
