"""The engine's prepared statements: the same outcome as the ORM path they replace on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.engine import prepared
from automations.engine.dispatch import dispatch_event
from automations.engine.prepared import (
    StepSuccess,
    chain_events,
    insert_step_run,
    write_success,
)
from automations.engine.run import claim
from automations.models import (
    AppliedEffect,
    Attempt,
    AttemptOutcome,
    Execution,
    ExecutionStatus,
    StepRun,
    StepStatus,
)
from catalog.models import Event
from tests.automations.engine.conftest import emit, make_rule, step
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

PATHS = ["prepared", "orm"]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    """Run the test through the prepared statements, then through the ORM fallback."""
    if request.param == "orm":
        monkeypatch.setattr(prepared, "_prepared", lambda: False)
    return request.param


def _claimed(workspace):
    """A claimed execution of a one-step rule, its lease, and its step run stored running."""
    product = ProductFactory.create(workspace=workspace)
    steps = [step("take", "update_inventory", product_id={"ref": "product_id"}, delta=-1)]
    make_rule(workspace, "Take one", "product_created", steps)
    event = emit(
        workspace, "product_created", {"product_id": product.pk, "title": "Tee", "type": "apparel"}
    )
    dispatch_event(event.pk)
    execution = Execution.objects.select_related("event").get(event=event)
    lease = claim(execution.pk)
    assert lease is not None
    execution.status, execution.lease_until = ExecutionStatus.RUNNING, lease
    step_run = StepRun(
        execution=execution,
        path="steps[0]",
        step_id="take",
        action="update_inventory",
        status=StepStatus.RUNNING,
        idempotency_key=f"{execution.pk}:steps[0]",
        inputs={"product_id": product.pk, "delta": -1},
        attempts=1,
        started_at=timezone.now(),
    )
    insert_step_run(step_run)
    return execution, lease, step_run


def _success(step_run, *, settle=None, effect=True):
    now = timezone.now()
    attempt = Attempt(
        step_run=step_run,
        number=1,
        started_at=now,
        finished_at=now,
        outcome=AttemptOutcome.SUCCEEDED,
        duration_ms=3,
    )
    return StepSuccess(
        step_run=step_run,
        output={"inventory_quantity": 9},
        attempt=attempt,
        finished_at=now,
        effect_key=step_run.idempotency_key if effect else None,
        settle=settle,
    )


def test_a_step_run_is_inserted_with_its_key(workspace, path):
    # given / when
    execution, _, step_run = _claimed(workspace)
    # then it is stored as built, and the object knows its row
    assert step_run.pk is not None
    assert not step_run._state.adding
    stored = StepRun.objects.get(pk=step_run.pk)
    assert (stored.execution_id, stored.path, stored.status, stored.inputs["delta"]) == (
        execution.pk,
        "steps[0]",
        StepStatus.RUNNING,
        -1,
    )


def test_the_last_steps_success_settles_the_execution_with_it(workspace, path):
    # given
    execution, lease, step_run = _claimed(workspace)
    # when
    with CaptureQueriesContext(connection) as queries:
        settled = write_success(_success(step_run, settle=lease), execution)
    # then the step run, its attempt, the effect and the execution are stored succeeded
    assert settled
    stored = StepRun.objects.get(pk=step_run.pk)
    assert (stored.status, stored.output, stored.finished_at) == (
        StepStatus.SUCCEEDED,
        {"inventory_quantity": 9},
        step_run.finished_at,
    )
    assert [(a.number, a.outcome, a.duration_ms) for a in stored.attempt_log.all()] == [
        (1, AttemptOutcome.SUCCEEDED, 3)
    ]
    effect = AppliedEffect.objects.get(pk=step_run.idempotency_key)
    assert effect.output == {"inventory_quantity": 9}
    row = Execution.objects.get(pk=execution.pk)
    assert (row.status, row.lease_until, row.finished_at) == (
        ExecutionStatus.SUCCEEDED,
        None,
        step_run.finished_at,
    )
    # and the objects in memory say the same
    assert (execution.status, execution.lease_until) == (ExecutionStatus.SUCCEEDED, None)
    assert step_run.status == StepStatus.SUCCEEDED
    # and on PostgreSQL that is one statement
    if path == "prepared":
        assert len(queries.captured_queries) == 1


def test_a_middle_steps_success_leaves_the_execution_running(workspace, path):
    # given
    execution, lease, step_run = _claimed(workspace)
    # when no settling is asked, nor an effect recorded (an HTTP action's success)
    assert write_success(_success(step_run, effect=False), execution)
    # then
    assert StepRun.objects.get(pk=step_run.pk).status == StepStatus.SUCCEEDED
    assert Attempt.objects.filter(step_run=step_run).count() == 1
    assert not AppliedEffect.objects.exists()
    row = Execution.objects.get(pk=execution.pk)
    assert (row.status, row.lease_until) == (ExecutionStatus.RUNNING, lease)
    assert execution.status == ExecutionStatus.RUNNING


def test_a_lost_lease_is_reported_and_the_transaction_rolls_it_all_back(workspace, path):
    # given another worker holding the execution now
    execution, lease, step_run = _claimed(workspace)
    theirs = timezone.now() + dt.timedelta(minutes=10)
    Execution.objects.filter(pk=execution.pk).update(lease_until=theirs)
    # when the success is written in the effect's transaction, rolled back on False
    with transaction.atomic():
        settled = write_success(_success(step_run, settle=lease), execution)
        transaction.set_rollback(not settled)
    # then nothing of it is stored, and the other worker's lease stands
    assert not settled
    assert StepRun.objects.get(pk=step_run.pk).status == StepStatus.RUNNING
    assert not Attempt.objects.exists()
    assert not AppliedEffect.objects.exists()
    row = Execution.objects.get(pk=execution.pk)
    assert (row.status, row.lease_until) == (ExecutionStatus.RUNNING, theirs)
    assert execution.status == ExecutionStatus.RUNNING


def test_the_chain_is_the_roots_events_but_the_one_named(workspace, path):
    # given a root event, two events it caused, and an unrelated one
    root = emit(workspace, "product_created", {"product_id": 1, "title": "A", "type": "x"})
    caused = []
    for n in (2, 3):
        event = emit(workspace, "product_created", {"product_id": n, "title": "B", "type": "x"})
        Event.objects.filter(pk=event.pk).update(root_event_id=root.pk)
        caused.append(event.pk)
    emit(workspace, "product_created", {"product_id": 4, "title": "C", "type": "x"})
    # when / then
    assert sorted(chain_events(root.pk, but=caused[0])) == sorted([root.pk, caused[1]])
    assert sorted(chain_events(root.pk, but=root.pk)) == sorted(caused)
