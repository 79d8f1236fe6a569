"""Replay: a dead-lettered execution resumes from its failed step with the same keys."""

from __future__ import annotations

import pytest

from automations.engine.dispatch import dispatch_event
from automations.engine.replay import NotReplayable, replay
from automations.engine.run import run_execution
from automations.models import AppliedEffect, AttemptOutcome, Execution, ExecutionStatus, StepRun
from catalog.models import Event
from tests.automations.engine.conftest import emit, make_due, make_rule, step
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("engine_plugin")]

CUSTOMER = {"ref": "customer_id"}


@pytest.fixture
def dead_execution(workspace, settings):
    """Tag 'first' (succeeds), then a step that fails its first 3 tries, with 3 allowed."""
    settings.TYPEWIRE_MAX_ATTEMPTS = 3
    customer = CustomerFactory.create(workspace=workspace)
    steps = [
        step("first", "tag", customer_id=CUSTOMER, tag="first"),
        step("flaky", "test_flaky_tag", customer_id=CUSTOMER, tag="second", fail_times=3),
    ]
    make_rule(workspace, "Two steps", "customer_created", steps)
    event = emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": customer.email, "source": "shopify"},
    )
    dispatch_event(event.pk)
    execution = Execution.objects.get(event=event)
    for _ in range(3):
        run_execution(execution.pk)
        make_due(execution)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD
    return execution


def test_replay_resumes_from_the_failed_step_with_the_same_idempotency_key(
    dead_execution, django_capture_on_commit_callbacks
):
    # given
    failed = StepRun.objects.get(execution=dead_execution, path="steps[1]")
    key = failed.idempotency_key
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        replay(dead_execution)
    dead_execution.refresh_from_db()
    pending = dead_execution.status
    status = run_execution(dead_execution.pk)
    # then
    assert len(callbacks) == 1
    assert pending == ExecutionStatus.PENDING
    assert status == ExecutionStatus.SUCCEEDED
    failed.refresh_from_db()
    assert failed.idempotency_key == key
    assert failed.output == {"attempt": 4}
    assert [(a.number, a.outcome) for a in failed.attempt_log.all()] == [
        (1, AttemptOutcome.RETRYABLE),
        (2, AttemptOutcome.RETRYABLE),
        (3, AttemptOutcome.FAILED),
        (4, AttemptOutcome.SUCCEEDED),
    ]
    first = StepRun.objects.get(execution=dead_execution, path="steps[0]")
    assert first.attempts == 1  # not run again
    assert AppliedEffect.objects.count() == 2
    assert Event.objects.filter(trigger_key="customer_tagged").count() == 2


def test_replay_refuses_an_execution_that_is_not_dead(dead_execution):
    # given
    replay(dead_execution)
    run_execution(dead_execution.pk)
    # when
    with pytest.raises(NotReplayable, match="only a dead-lettered execution can be replayed"):
        replay(dead_execution)
    # then
    dead_execution.refresh_from_db()
    assert dead_execution.status == ExecutionStatus.SUCCEEDED
