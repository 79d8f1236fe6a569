"""run_rule: a chained rule must be switched on and unpaused, and its limits apply to the chain."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from automations.engine.dispatch import dispatch_event
from automations.engine.limits import release_held
from automations.engine.run import run_execution
from automations.models import Alert, Execution, ExecutionStatus, Rule, StepRun, StepStatus
from catalog.models import JourneyEnrollment
from tests.automations.engine.conftest import emit, make_due, make_rule, step
from tests.factories import CustomerFactory, JourneyFactory

pytestmark = pytest.mark.django_db

CUSTOMER = {"ref": "customer_id"}
OK, DEAD, WAITING, HELD = (
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.DEAD,
    ExecutionStatus.WAITING,
    ExecutionStatus.HELD,
)


def _chain(workspace, target_id, customer_id):
    """A signup rule whose only step runs rule ``target_id`` for the customer."""
    payload = {"customer_id": customer_id, "tag": "vip", "action": "added"}
    return make_rule(
        workspace,
        "Signup",
        "customer_created",
        [step("chain", "run_rule", rule_id=target_id, payload=payload)],
    )


def _signup(workspace, customer_id):
    """A customer_created event, dispatched; return the signup rule's execution."""
    event = emit(
        workspace,
        "customer_created",
        {"customer_id": customer_id, "email": f"c{customer_id}@example.com", "source": "shop"},
    )
    dispatch_event(event.pk)
    return Execution.objects.get(event=event, parent__isnull=True)


def _welcome(workspace, journey, **changes):
    rule = make_rule(
        workspace,
        "Standard welcome",
        "customer_tagged",
        [step("j", "enroll_journey", customer_id=CUSTOMER, journey_id=journey.pk)],
    )
    Rule.objects.filter(pk=rule.pk).update(**changes)
    rule.refresh_from_db()
    return rule


# ---------------------------------------------------------------------------------------------
# A switched-off, paused or deleted target is not run


@pytest.mark.parametrize(
    ("_case", "changes", "detail"),
    [
        (
            "switched off",
            {"is_enabled": False},
            "The rule 'Standard welcome' (#{id}) is switched off: it was not run.",
        ),
        (
            "switched off by Typewire",
            {"is_enabled": False, "disabled_reason": "The catalog changed"},
            "The rule 'Standard welcome' (#{id}) is switched off (The catalog changed): "
            "it was not run.",
        ),
        (
            "paused",
            {"paused_at": timezone.now(), "paused_reason": "Paused by Typewire (breaker): x."},
            "The rule 'Standard welcome' (#{id}) is paused: it was not run. "
            "Paused by Typewire (breaker): x.",
        ),
    ],
)
def test_run_rule_does_not_run_a_switched_off_or_paused_rule_and_dead_letters(
    workspace, _case, changes, detail
):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    welcome = _welcome(workspace, JourneyFactory.create(workspace=workspace), **changes)
    _chain(workspace, welcome.pk, customer.pk)
    execution = _signup(workspace, customer.pk)
    # when
    status = run_execution(execution.pk)
    # then: the step failed at once, nothing ran, the alert target is told
    assert status == DEAD
    step_run = StepRun.objects.get(execution=execution)
    expected = detail.format(id=welcome.pk)
    assert (step_run.status, step_run.error, step_run.attempts) == (
        StepStatus.FAILED,
        expected,
        1,
    )
    execution.refresh_from_db()
    assert execution.error == f"Step steps[0] (run_rule) failed: {expected}"
    assert not Execution.objects.filter(parent=execution).exists()
    assert not JourneyEnrollment.objects.exists()
    alert = Alert.objects.get()
    assert (alert.execution, alert.reason) == (execution, "dead")
    assert expected in alert.body


def test_run_rule_to_a_deleted_rule_dead_letters_naming_it(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    welcome = _welcome(workspace, JourneyFactory.create(workspace=workspace))
    _chain(workspace, welcome.pk, customer.pk)
    execution = _signup(workspace, customer.pk)
    welcome_id = welcome.pk
    welcome.delete()
    # when
    status = run_execution(execution.pk)
    # then
    assert status == DEAD
    assert StepRun.objects.get(execution=execution).error == (
        f"There is no rule #{welcome_id} in this workspace (was it deleted?)."
    )
    assert Alert.objects.get().execution == execution


def test_a_chain_already_started_is_not_refused_when_resumed(workspace):
    # given a chained rule that waits, then gets switched off while its child waits
    customer = CustomerFactory.create(workspace=workspace)
    journey = JourneyFactory.create(workspace=workspace)
    later = make_rule(
        workspace,
        "Later welcome",
        "customer_tagged",
        [
            step("w", "wait", duration="PT1S"),
            step("j", "enroll_journey", customer_id=CUSTOMER, journey_id=journey.pk),
        ],
    )
    _chain(workspace, later.pk, customer.pk)
    execution = _signup(workspace, customer.pk)
    assert run_execution(execution.pk) == WAITING
    Rule.objects.filter(pk=later.pk).update(is_enabled=False)
    # when the wait is over
    child = Execution.objects.get(parent=execution)
    make_due(child)
    make_due(execution)
    status = run_execution(execution.pk)
    # then what had started finishes
    assert status == OK
    assert JourneyEnrollment.objects.get().customer == customer


# ---------------------------------------------------------------------------------------------
# The chained rule's rate cap and circuit breaker count its chained executions


def test_a_chained_execution_counts_against_the_chained_rules_rate_cap(workspace):
    # given a chained rule capped at 1 execution per minute, run from two signups
    customer = CustomerFactory.create(workspace=workspace)
    welcome = _welcome(
        workspace, JourneyFactory.create(workspace=workspace), rate_limit_per_minute=1
    )
    _chain(workspace, welcome.pk, customer.pk)
    first, second = _signup(workspace, customer.pk), _signup(workspace, customer.pk)
    if timezone.now().second >= 58:  # both children must fall in one clock minute
        time.sleep(3)
    # when both run in the same minute
    assert run_execution(first.pk) == OK
    status = run_execution(second.pk)
    # then the second chain is held by the cap, and its parent waits for it
    assert status == WAITING
    admitted = Execution.objects.get(parent=first)
    held = Execution.objects.get(parent=second)
    assert (admitted.status, admitted.admitted_at is not None) == (OK, True)
    assert (held.status, held.admitted_at) == (HELD, None)
    assert StepRun.objects.get(execution=second).status == StepStatus.WAITING
    # when the sweeper releases it in the next minute and the parent looks again
    assert release_held(welcome.pk, now=timezone.now() + dt.timedelta(seconds=61)) == [held.pk]
    make_due(second)
    # then the chain completes
    assert run_execution(second.pk) == OK
    held.refresh_from_db()
    assert held.status == OK


def test_dead_chained_executions_trip_the_chained_rules_breaker(workspace):
    # given a chained rule whose step always fails (no such customer), breaker at 2
    missing = 987654
    target = make_rule(
        workspace,
        "Provision",
        "customer_tagged",
        [step("t", "tag", customer_id=CUSTOMER, tag="provisioned")],
    )
    Rule.objects.filter(pk=target.pk).update(breaker_threshold=2)
    signup = _chain(workspace, target.pk, missing)
    executions = [_signup(workspace, missing) for _ in range(3)]
    # when two chains die
    assert [run_execution(e.pk) for e in executions[:2]] == [DEAD, DEAD]
    # then the chained rule is paused (its own count), its owner and target told
    target.refresh_from_db()
    assert target.is_paused
    assert target.paused_reason == (
        "Paused by Typewire (breaker): its last 2 executions were dead-lettered "
        "(the breaker trips at 2 in a row)."
    )
    assert Alert.objects.filter(rule=target, reason="paused").exists()
    signup.refresh_from_db()
    assert not signup.is_paused
    # when a third signup chains to the paused rule
    assert run_execution(executions[2].pk) == DEAD
    # then it is refused without running
    assert Execution.objects.filter(parent=executions[2]).count() == 0
    assert "is paused: it was not run." in StepRun.objects.get(execution=executions[2]).error
