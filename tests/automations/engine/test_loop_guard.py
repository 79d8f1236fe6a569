"""The runtime loop guard: chains that slipped past the save-time check stop and alert."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from automations.engine.dispatch import dispatch_event
from automations.engine.run import run_execution
from automations.models import Alert, Execution, ExecutionStatus
from catalog.domain.services import tag_customer
from catalog.models import Event
from tests.automations.engine.conftest import drain, make_rule, step
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMER = {"ref": "customer_id"}


def _tag(customer, tag):
    with transaction.atomic():
        tag_customer(customer=customer, tag=tag)


def test_a_rule_that_triggers_itself_stops_as_a_loop_and_alerts(workspace):
    # given a rule built in the database (the checker would refuse it): each tag adds another
    customer = CustomerFactory.create(workspace=workspace)
    again = {"template": "{{ tag }}-again"}
    rule = make_rule(
        workspace, "Echo", "customer_tagged", [step("t", "tag", customer_id=CUSTOMER, tag=again)]
    )
    _tag(customer, "vip")
    # when
    drain()
    # then
    first, second = Execution.objects.order_by("id")
    assert (first.rule, first.status) == (rule, ExecutionStatus.SUCCEEDED)
    assert (second.rule, second.status) == (rule, ExecutionStatus.LOOP)
    root = Event.objects.get(depth=0)
    assert second.error == (
        f"Stopped as a loop: rule 'Echo' already ran for event {root.pk}, which started this "
        "chain: 'Echo' → 'Echo'."
    )
    assert not second.steps.exists()
    assert sorted(customer.tags.values_list("tag", flat=True)) == ["vip", "vip-again"]
    alert = Alert.objects.get()
    assert (alert.execution, alert.reason, alert.subject) == (
        second,
        "loop",
        "[Typewire] Rule 'Echo' stopped as a loop",
    )


def test_a_chain_of_distinct_rules_stops_at_the_depth_limit(workspace, settings):
    # given A (vip) tags b, B (b) tags c, C (c) tags d, with a depth limit of 2
    settings.TYPEWIRE_MAX_CHAIN_DEPTH = 2
    customer = CustomerFactory.create(workspace=workspace)
    for name, on, adds in (("A", "vip", "b"), ("B", "b", "c"), ("C", "c", "d")):
        steps = [step("t", "tag", customer_id=CUSTOMER, tag=adds)]
        make_rule(workspace, name, "customer_tagged", steps, config={"tag": on, "action": "added"})
    _tag(customer, "vip")
    # when
    drain()
    # then
    runs = [(e.rule.name, e.event.depth, e.status) for e in Execution.objects.order_by("id")]
    assert runs == [
        ("A", 0, ExecutionStatus.SUCCEEDED),
        ("B", 1, ExecutionStatus.SUCCEEDED),
        ("C", 2, ExecutionStatus.LOOP),
    ]
    stopped = Execution.objects.get(rule__name="C")
    root = Event.objects.get(depth=0)
    assert stopped.error == (
        f"Stopped as a loop: the chain of rules started by event {root.pk} reached depth 2 "
        "(the limit is 2): 'A' → 'B' → 'C'."
    )
    assert sorted(customer.tags.values_list("tag", flat=True)) == ["b", "c", "vip"]
    assert Alert.objects.get().execution == stopped


def test_a_rule_that_runs_itself_through_run_rule_stops_as_a_loop(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    rule = make_rule(workspace, "Self", "customer_tagged", [])
    payload = {"customer_id": customer.pk, "tag": "x", "action": "added"}
    rule.definition["steps"] = [step("again", "run_rule", rule_id=rule.pk, payload=payload)]
    rule.save()
    _tag(customer, "vip")
    # when
    drain()
    # then
    parent = Execution.objects.get(parent__isnull=True)
    child = Execution.objects.get(parent=parent)
    assert child.status == ExecutionStatus.LOOP
    assert child.error == (
        "Stopped as a loop: rules run each other through run_rule: 'Self' → 'Self'."
    )
    assert parent.status == ExecutionStatus.DEAD
    assert parent.error == (
        f"Step steps[0] (run_rule) failed: The chained rule 'Self' (execution {child.pk}): "
        f"{child.error}"
    )
    assert sorted(Alert.objects.values_list("reason", flat=True)) == ["dead", "loop"]


def test_the_guard_reads_no_executions_for_an_event_that_started_no_chain(workspace):
    # given a rule with many earlier executions, and a new event nothing has followed yet
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(
        workspace, "Note", "customer_tagged", [step("t", "tag", customer_id=CUSTOMER, tag="seen")]
    )
    for n in range(3):
        _tag(customer, f"earlier-{n}")
    drain()
    _tag(customer, "new")
    event = Event.objects.get(payload__tag="new")
    dispatch_event(event.pk)
    execution = Execution.objects.get(event=event)
    # when it runs
    with CaptureQueriesContext(connection) as queries:
        status = run_execution(execution.pk)
    # then the guard looked up the event's chain only: however many executions the rule has,
    # none of them is read (as one statement, PostgreSQL could walk them all)
    assert status == ExecutionStatus.SUCCEEDED
    guard_reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT 1 AS "a" FROM "automations_execution"')
    ]
    assert guard_reads == []
