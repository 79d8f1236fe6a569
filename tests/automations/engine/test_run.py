"""Running executions: steps in order, once each, with their inputs, outputs and attempts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from automations.engine import run as engine_run
from automations.engine.dispatch import dispatch_event
from automations.engine.run import claim, run_execution
from automations.models import (
    AppliedEffect,
    Attempt,
    AttemptOutcome,
    Execution,
    ExecutionStatus,
    StepRun,
    StepStatus,
)
from catalog.models import CustomerTag, Event, JourneyEnrollment
from tests.automations.engine.conftest import emit, make_due, make_rule, step
from tests.factories import CustomerFactory, JourneyFactory, ProductFactory

pytestmark = pytest.mark.django_db

CUSTOMER = {"ref": "customer_id"}


def _signup(workspace, customer):
    return emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": customer.email, "source": "shopify"},
    )


def _execution_for(event):
    dispatch_event(event.pk)
    return Execution.objects.get(event=event)


def _take_one(workspace):
    """A product with 10 in stock, and a pending execution of a rule taking one of them."""
    product = ProductFactory.create(workspace=workspace, inventory_quantity=10)
    steps = [step("take", "update_inventory", product_id={"ref": "product_id"}, delta=-1)]
    make_rule(workspace, "Take one", "product_created", steps)
    event = emit(
        workspace, "product_created", {"product_id": product.pk, "title": "Tee", "type": "apparel"}
    )
    return product, _execution_for(event)


def test_tag_step_applies_its_effect_once_and_chains_the_event(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(
        workspace,
        "Welcome",
        "customer_created",
        [step("t", "tag", customer_id=CUSTOMER, tag="new")],
    )
    event = _signup(workspace, customer)
    execution = _execution_for(event)
    # when
    status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.SUCCEEDED
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.finished_at is not None
    assert execution.lease_until is None
    step_run = StepRun.objects.get(execution=execution)
    assert (step_run.path, step_run.status, step_run.attempts) == (
        "steps[0]",
        StepStatus.SUCCEEDED,
        1,
    )
    assert step_run.inputs == {"customer_id": customer.pk, "tag": "new"}
    assert step_run.idempotency_key == f"{execution.pk}:steps[0]"
    attempt = Attempt.objects.get(step_run=step_run)
    assert (attempt.number, attempt.outcome, attempt.error) == (1, AttemptOutcome.SUCCEEDED, "")
    assert AppliedEffect.objects.get().idempotency_key == step_run.idempotency_key
    assert list(customer.tags.values_list("tag", flat=True)) == ["new"]
    tagged = Event.objects.get(trigger_key="customer_tagged")
    assert tagged.causation_execution_id == execution.pk
    assert (tagged.root_event_id, tagged.depth) == (event.pk, 1)


def test_inputs_resolve_templates_entity_fields_and_defaults(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace, first_name="Ann")
    steps = [
        step("t", "tag", customer_id=CUSTOMER, tag={"template": "hello-{{ customer.first_name }}"}),
        step("u", "tag", customer_id=CUSTOMER, tag={"ref": "phone", "default": "no-phone"}),
    ]
    make_rule(workspace, "Greet", "customer_created", steps)
    execution = _execution_for(_signup(workspace, customer))
    # when
    run_execution(execution.pk)
    # then
    assert sorted(customer.tags.values_list("tag", flat=True)) == ["hello-Ann", "no-phone"]
    assert [s.inputs["tag"] for s in StepRun.objects.order_by("path")] == ["hello-Ann", "no-phone"]


@pytest.mark.parametrize(
    ("_case", "email", "taken", "tag"),
    [
        ("company", "jo@acme-corp.com", "then", "sales"),
        ("free mail", "jo@gmail.com", "else", "nurture"),
    ],
)
def test_branch_runs_one_arm_and_records_it(workspace, _case, email, taken, tag):
    # given
    customer = CustomerFactory.create(workspace=workspace, email=email)
    branch = {
        "id": "check",
        "action": "branch_by_condition",
        "inputs": {},
        "condition": [{"field": "email", "operator": "contains", "value": "@acme-corp.com"}],
        "then": [step("sales", "tag", customer_id=CUSTOMER, tag="sales")],
        "else": [step("nurture", "tag", customer_id=CUSTOMER, tag="nurture")],
    }
    make_rule(workspace, "Route", "customer_created", [branch])
    execution = _execution_for(_signup(workspace, customer))
    # when
    run_execution(execution.pk)
    # then
    runs = {s.path: (s.status, s.output) for s in StepRun.objects.filter(execution=execution)}
    assert runs == {
        "steps[0]": (StepStatus.SUCCEEDED, {"branch": taken}),
        f"steps[0].{taken}[0]": (StepStatus.SUCCEEDED, {}),
    }
    assert list(customer.tags.values_list("tag", flat=True)) == [tag]


def test_a_three_day_wait_is_stored_with_its_due_time_and_resumes_when_due(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    steps = [
        step("pause", "wait", duration="P3D"),
        step("t", "tag", customer_id=CUSTOMER, tag="later"),
    ]
    make_rule(workspace, "Later", "customer_created", steps)
    execution = _execution_for(_signup(workspace, customer))
    before = timezone.now()
    # when
    status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.WAITING
    execution.refresh_from_db()
    wait = StepRun.objects.get(execution=execution, path="steps[0]")
    assert wait.status == StepStatus.WAITING
    assert execution.resume_at == wait.next_attempt_at
    assert (
        before + dt.timedelta(days=3)
        <= execution.resume_at
        <= timezone.now() + dt.timedelta(days=3)
    )
    assert execution.lease_until is None
    assert run_execution(execution.pk) is None  # not due yet: nothing happens
    assert not customer.tags.exists()
    # when the three days have passed
    make_due(execution)
    status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.SUCCEEDED
    assert list(customer.tags.values_list("tag", flat=True)) == ["later"]


def test_run_rule_runs_the_other_rule_as_a_linked_child_execution(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    journey = JourneyFactory.create(workspace=workspace)
    welcome = make_rule(
        workspace,
        "Standard welcome",
        "customer_tagged",
        [step("j", "enroll_journey", customer_id=CUSTOMER, journey_id=journey.pk)],
    )
    payload = {"customer_id": customer.pk, "tag": "vip", "action": "added"}
    make_rule(
        workspace,
        "Signup",
        "customer_created",
        [step("chain", "run_rule", rule_id=welcome.pk, payload=payload)],
    )
    execution = _execution_for(_signup(workspace, customer))
    # when
    status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.SUCCEEDED
    child = Execution.objects.get(parent=execution)
    assert (child.rule, child.parent_step, child.event_id, child.status) == (
        welcome,
        "steps[0]",
        execution.event_id,
        ExecutionStatus.SUCCEEDED,
    )
    assert StepRun.objects.get(execution=execution).output == {"execution_id": child.pk}
    assert JourneyEnrollment.objects.get().customer == customer
    enrolled = Event.objects.get(trigger_key="journey_enrolled")
    assert enrolled.causation_execution_id == child.pk


def test_a_worker_dying_before_the_step_recorded_success_leaves_no_effect(workspace, monkeypatch):
    # given a worker that dies after the effect, before the step's success is written: the
    # effect, its AppliedEffect row and the step's success are one transaction
    product, execution = _take_one(workspace)

    def die(*args, **kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(engine_run._ExecutionRun, "_attempt", die)
        with pytest.raises(SystemExit):
            run_execution(execution.pk)
    product.refresh_from_db()
    assert product.inventory_quantity == 10
    assert not AppliedEffect.objects.filter(pk=f"{execution.pk}:steps[0]").exists()
    Execution.objects.filter(pk=execution.pk).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    # when the sweeper hands it to another worker
    status = run_execution(execution.pk)
    # then the effect is applied once, and the try the dead worker left is logged
    assert status == ExecutionStatus.SUCCEEDED
    product.refresh_from_db()
    assert product.inventory_quantity == 9
    assert Event.objects.filter(trigger_key="product_updated").count() == 1
    step_run = StepRun.objects.get(execution=execution)
    assert [(a.number, a.outcome) for a in step_run.attempt_log.all()] == [
        (1, AttemptOutcome.RETRYABLE),
        (2, AttemptOutcome.SUCCEEDED),
    ]
    assert "worker stopped" in step_run.attempt_log.get(number=1).error


def test_a_lease_lost_when_the_last_step_settles_the_execution_rolls_its_effect_back(
    workspace, monkeypatch
):
    # given a one-step rule, and another worker taking the execution over during the step
    # (simulated in the step's own transaction, so its rollback undoes the takeover too)
    product, execution = _take_one(workspace)
    theirs = timezone.now() + dt.timedelta(minutes=10)
    logged = engine_run._ExecutionRun._attempt

    def taken_over(self, *args, **kwargs):
        Execution.objects.filter(pk=execution.pk).update(lease_until=theirs)
        return logged(self, *args, **kwargs)

    monkeypatch.setattr(engine_run._ExecutionRun, "_attempt", taken_over)
    # when
    status = run_execution(execution.pk)
    # then the effect, its record and the step's success went back with the lost lease
    assert status is None
    product.refresh_from_db()
    assert product.inventory_quantity == 10
    assert not AppliedEffect.objects.filter(pk=f"{execution.pk}:steps[0]").exists()
    assert StepRun.objects.get(execution=execution).status == StepStatus.RUNNING
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


def test_a_step_whose_effect_is_recorded_is_not_applied_again(workspace):
    # given an effect already recorded under the step's idempotency key
    product, execution = _take_one(workspace)
    recorded: dict[str, object] = {}
    AppliedEffect.objects.create(idempotency_key=f"{execution.pk}:steps[0]", output=recorded)
    # when
    status = run_execution(execution.pk)
    # then the recorded outputs stand in for the effect
    assert status == ExecutionStatus.SUCCEEDED
    product.refresh_from_db()
    assert product.inventory_quantity == 10
    assert not Event.objects.filter(trigger_key="product_updated").exists()
    assert StepRun.objects.get(execution=execution).output == recorded


def test_an_execution_is_claimed_by_one_worker_at_a_time(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(
        workspace,
        "Welcome",
        "customer_created",
        [step("t", "tag", customer_id=CUSTOMER, tag="new")],
    )
    execution = _execution_for(_signup(workspace, customer))
    assert claim(execution.pk) is not None
    # when another worker gets the same message
    status = run_execution(execution.pk)
    # then
    assert status is None
    assert not StepRun.objects.exists()
    assert not CustomerTag.objects.exists()


def test_a_finished_execution_is_not_run_again(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(
        workspace,
        "Welcome",
        "customer_created",
        [step("t", "tag", customer_id=CUSTOMER, tag="new")],
    )
    execution = _execution_for(_signup(workspace, customer))
    run_execution(execution.pk)
    # when
    status = run_execution(execution.pk)
    # then
    assert status is None
    assert Attempt.objects.count() == 1


def test_inputs_that_do_not_fit_the_action_fail_at_once(
    workspace, django_capture_on_commit_callbacks
):
    # given a rule whose tag comes from a field the event does not have
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(
        workspace,
        "Broken",
        "customer_created",
        [step("t", "tag", customer_id=CUSTOMER, tag={"ref": "phone"})],
    )
    execution = _execution_for(_signup(workspace, customer))
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.DEAD
    execution.refresh_from_db()
    assert execution.error == (
        "Step steps[0] (tag) failed: The inputs do not fit 'Tag customer': "
        "tag: required field is missing"
    )
    attempt = Attempt.objects.get()
    assert (attempt.outcome, attempt.error) == (
        AttemptOutcome.FAILED,
        "The inputs do not fit 'Tag customer': tag: required field is missing",
    )
    assert not AppliedEffect.objects.exists()
    assert not CustomerTag.objects.exists()
    assert execution.alerts.get().target == "ops@example.com"
    assert len(callbacks) == 1


def test_a_customer_of_another_workspace_fails_for_good(workspace, other_workspace):
    # given
    stranger = CustomerFactory.create(workspace=other_workspace)
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(
        workspace, "Wrong", "customer_created", [step("t", "tag", customer_id=stranger.pk, tag="x")]
    )
    execution = _execution_for(_signup(workspace, customer))
    # when
    status = run_execution(execution.pk)
    # then
    assert status == ExecutionStatus.DEAD
    execution.refresh_from_db()
    assert execution.error == (
        f"Step steps[0] (tag) failed: customer {stranger.pk} does not exist in this workspace"
    )
    assert not CustomerTag.objects.exists()
