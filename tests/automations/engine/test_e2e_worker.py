"""The engine end to end on real worker processes, PostgreSQL and Redis (no eager mode).

Workers load the test plug-in (``TYPEWIRE_PLUGIN_APPS=tests.engine_plugin``) and run with a
3 s lease. The periodic sweeper is sent to them by the test as beat would (every 0.5 s here).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery import current_app
from django.conf import settings
from django.db import transaction
from kombu import Connection

from automations.models import (
    Alert,
    AlertStatus,
    AppliedEffect,
    AttemptOutcome,
    Execution,
    ExecutionStatus,
    StepRun,
    StepStatus,
)
from catalog.domain.services import create_customer
from catalog.events import publish
from catalog.models import Event, JourneyEnrollment
from tests.automations.engine.conftest import emit, make_rule, step
from tests.factories import CustomerFactory, JourneyFactory, ProductFactory
from tests.workers import QUEUES, celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "TYPEWIRE_PLUGIN_APPS": "tests.engine_plugin",
    "TYPEWIRE_EXECUTION_LEASE_SECONDS": "3",
    "TYPEWIRE_RETRY_BASE_SECONDS": "0.2",
    "TYPEWIRE_MAX_ATTEMPTS": "2",
    "TYPEWIRE_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
}
CUSTOMER = {"ref": "customer_id"}


@pytest.fixture(autouse=True)
def _empty_queues():
    """Start from empty queues: messages of earlier tests name rows that no longer exist."""
    with Connection(settings.CELERY_BROKER_URL) as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]


def _worker(name):
    return celery_worker(name=f"engine-{name}-{os.getpid()}", extra_env=WORKER_ENV)


def _sweep_until(predicate, timeout=30.0):
    """Send the sweeper task (as beat would) until ``predicate`` holds."""

    def check():
        if predicate():
            return True
        current_app.send_task("automations.sweep_executions")
        return False

    return wait_for(check, timeout, interval=0.5)


def _status(execution_id):
    return Execution.objects.get(pk=execution_id).status


def test_an_internal_chain_runs_end_to_end_through_a_worker(workspace):
    # given: a signup tags vip (rule A), a vip tag enrolls in the journey (rule B)
    journey = JourneyFactory.create(workspace=workspace, slug="vip-welcome")
    tag_rule = make_rule(
        workspace, "A", "customer_created", [step("t", "tag", customer_id=CUSTOMER, tag="vip")]
    )
    enroll = [step("j", "enroll_journey", customer_id=CUSTOMER, journey_id=journey.pk)]
    enroll_rule = make_rule(workspace, "B", "customer_tagged", enroll, config={"tag": "vip"})
    with _worker("chain"):
        # when
        with transaction.atomic():
            customer = create_customer(workspace=workspace, email="ann@example.com")
        # then
        enrollment = wait_for(lambda: JourneyEnrollment.objects.first(), 30)
        wait_for(lambda: Event.objects.filter(trigger_key="journey_enrolled").exists(), 30)
    assert enrollment.customer_id == customer.pk
    first = Execution.objects.get(rule=tag_rule)
    second = Execution.objects.get(rule=enroll_rule)
    assert (first.status, second.status) == (ExecutionStatus.SUCCEEDED, ExecutionStatus.SUCCEEDED)
    assert second.event.causation_execution_id == first.pk
    assert second.event.root_event_id == first.event_id
    assert second.event.depth == 1


def test_an_event_dispatched_six_times_yields_one_execution_per_rule(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    rules = [
        make_rule(
            workspace, name, "customer_tagged", [step("t", "tag", customer_id=CUSTOMER, tag=name)]
        )
        for name in ("one", "two")
    ]
    with _worker("redispatch"):
        # when the event is published once on commit and 5 more times
        event = emit(
            workspace,
            "customer_tagged",
            {"customer_id": customer.pk, "tag": "x", "action": "added"},
        )
        for _ in range(5):
            publish(event.pk)
        # a marker behind the duplicates on the same queue: once it is done, they are too
        make_rule(workspace, "marker", "customer_created", [])
        marker = emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": "x"},
        )
        wait_for(lambda: Execution.objects.filter(event=marker).exists(), 30)
        wait_for(
            lambda: (
                Execution.objects.filter(event=event, status=ExecutionStatus.SUCCEEDED).count() == 2
            ),
            30,
        )
    # then
    assert sorted(Execution.objects.filter(event=event).values_list("rule_id", flat=True)) == [
        rule.pk for rule in rules
    ]
    assert sorted(customer.tags.values_list("tag", flat=True)) == ["one", "two"]


def test_a_worker_killed_mid_step_is_resumed_and_applies_the_effect_once(workspace):
    # given a step that takes one unit of stock, then holds its transaction open for 4 s
    product = ProductFactory.create(workspace=workspace, inventory_quantity=10)
    steps = [step("take", "test_slow_decrement", product_id={"ref": "product_id"}, seconds=4)]
    make_rule(workspace, "Slow", "product_created", steps)
    with _worker("killed") as proc:
        emit(workspace, "product_created", {"product_id": product.pk, "title": "Tee", "type": "x"})
        running = wait_for(
            lambda: StepRun.objects.filter(status=StepStatus.RUNNING).first(), 30, interval=0.1
        )
        time.sleep(0.5)
        # when the whole worker dies mid-step
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    execution_id = running.execution_id
    product.refresh_from_db()
    assert product.inventory_quantity == 10  # the half-done effect was rolled back
    with _worker("after-kill"):
        _sweep_until(lambda: _status(execution_id) == ExecutionStatus.SUCCEEDED, 40)
    # then
    product.refresh_from_db()
    assert product.inventory_quantity == 9
    assert AppliedEffect.objects.count() == 1
    step_run = StepRun.objects.get(pk=running.pk)
    assert [(a.number, a.outcome) for a in step_run.attempt_log.all()] == [
        (1, AttemptOutcome.RETRYABLE),
        (2, AttemptOutcome.SUCCEEDED),
    ]
    assert Event.objects.filter(trigger_key="product_updated").count() == 1


def test_a_wait_survives_a_worker_restart_and_resumes(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    steps = [
        step("pause", "wait", duration="PT2S"),
        step("t", "tag", customer_id=CUSTOMER, tag="after-wait"),
    ]
    make_rule(workspace, "Wait", "customer_created", steps)
    with _worker("before-restart"):
        event = emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": "x"},
        )
        execution = wait_for(
            lambda: Execution.objects.filter(event=event, status=ExecutionStatus.WAITING).first(),
            30,
        )
    # when the worker is gone and another one starts
    assert execution.resume_at is not None
    assert not customer.tags.exists()
    with _worker("after-restart"):
        _sweep_until(lambda: _status(execution.pk) == ExecutionStatus.SUCCEEDED, 30)
    # then
    assert list(customer.tags.values_list("tag", flat=True)) == ["after-wait"]
    finished = Execution.objects.get(pk=execution.pk).finished_at
    assert finished is not None
    assert finished >= execution.resume_at


class _AlertHook(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []

    def do_POST(self) -> None:  # noqa: N802
        _AlertHook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def test_after_the_last_retry_the_execution_is_dead_and_the_alert_reaches_its_webhook(workspace):
    # given a step that always fails (retryably), 2 attempts allowed, alerts to a local webhook
    server = HTTPServer(("127.0.0.1", 0), _AlertHook)
    _AlertHook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    customer = CustomerFactory.create(workspace=workspace)
    steps = [step("t", "test_flaky_tag", customer_id=CUSTOMER, tag="x", fail_times=99)]
    alert_to = {"kind": "webhook", "target": f"http://127.0.0.1:{server.server_port}/alerts"}
    make_rule(workspace, "Doomed", "customer_created", steps, alert=alert_to)
    try:
        with _worker("dead-letter"):
            # when
            event = emit(
                workspace,
                "customer_created",
                {"customer_id": customer.pk, "email": customer.email, "source": "x"},
            )
            _sweep_until(lambda: Alert.objects.filter(status=AlertStatus.SENT).exists(), 40)
    finally:
        server.shutdown()
    # then
    execution = Execution.objects.get(event=event)
    assert execution.status == ExecutionStatus.DEAD
    assert execution.error == (
        "Step steps[0] (test_flaky_tag) failed: try 2 failed (gave up after 2 attempts)"
    )
    [body] = _AlertHook.received
    assert body["type"] == "typewire.execution.failed"
    assert body["rule"] == {"id": execution.rule_id, "name": "Doomed"}
    assert not customer.tags.exists()


def test_the_executions_of_a_wide_event_go_in_batches_and_all_run(workspace):
    # given seven rules on a signup, a worker that runs nothing inline and batches by three
    customer = CustomerFactory.create(workspace=workspace)
    names = [f"r{n}" for n in range(7)]
    for name in names:
        make_rule(
            workspace, name, "customer_created", [step("t", "tag", customer_id=CUSTOMER, tag=name)]
        )
    env = {**WORKER_ENV, "TYPEWIRE_INLINE_RUNS": "0", "TYPEWIRE_RUN_BATCH": "3"}
    with celery_worker(name=f"engine-batches-{os.getpid()}", extra_env=env):
        # when
        event = emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": "x"},
        )
        # then every execution runs, from three run_executions messages
        wait_for(
            lambda: (
                Execution.objects.filter(event=event, status=ExecutionStatus.SUCCEEDED).count() == 7
            ),
            30,
        )
    assert sorted(customer.tags.values_list("tag", flat=True)) == names
