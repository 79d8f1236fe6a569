"""The sweeper enqueues due waits and retries, expired leases and lost publishes, nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import Connection

from automations.engine.sweep import sweep
from automations.models import Execution, ExecutionStatus
from catalog.models import Event, EventStatus
from catalog.tasks import sweep_pending
from tests.automations.engine.conftest import emit, make_rule
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

RULES_QUEUE = "rules"  # where CELERY_TASK_ROUTES sends automations.run_*
DISPATCH_QUEUE = "ingest"  # and automations.dispatch_*


def _run_messages() -> list[int]:
    """Drain the rules queue of the real broker; return the execution ids it carried."""
    ids = []
    with Connection(settings.CELERY_BROKER_URL) as conn:
        queue = conn.SimpleQueue(RULES_QUEUE)
        try:
            while True:
                try:
                    message = queue.get(block=True, timeout=1)
                except queue.Empty:
                    break
                if message.headers.get("task") == "automations.run_execution":
                    args, _kwargs, _embed = message.decode()
                    ids.append(args[0])
                message.ack()
        finally:
            queue.close()
    return ids


def test_sweep_enqueues_due_expired_and_stale_executions_only(workspace):
    # given one execution in each state
    _run_messages()
    customer = CustomerFactory.create(workspace=workspace)
    rule = make_rule(workspace, "R", "customer_created", [])
    now = timezone.now()
    earlier, later = now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=5)
    states: dict[str, dict[str, object]] = {
        "due wait": {"status": ExecutionStatus.WAITING, "resume_at": earlier},
        "future wait": {"status": ExecutionStatus.WAITING, "resume_at": later},
        "expired lease": {"status": ExecutionStatus.RUNNING, "lease_until": earlier},
        "live lease": {"status": ExecutionStatus.RUNNING, "lease_until": later},
        "stale pending": {"status": ExecutionStatus.PENDING},
        "fresh pending": {"status": ExecutionStatus.PENDING},
        "dead": {"status": ExecutionStatus.DEAD},
    }
    ids = {}
    for name, fields in states.items():
        event = emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": name},
        )
        execution = Execution(workspace=workspace, rule=rule, rule_version=1, event=event)
        for field, value in fields.items():
            setattr(execution, field, value)
        execution.save()
        ids[name] = execution.pk
    Execution.objects.filter(pk__in=[ids["stale pending"], ids["dead"]]).update(created_at=earlier)
    # when
    result = sweep(now=now)
    # then
    assert (result.resumed, result.expired, result.pending) == (1, 1, 1)
    # (only this test's executions count: a message another test published late may share the
    # queue of the real broker)
    mine = set(ids.values())
    assert sorted(i for i in _run_messages() if i in mine) == sorted(
        [ids["due wait"], ids["expired lease"], ids["stale pending"]]
    )


def test_sweep_sends_each_execution_once_per_sweep_interval(workspace, settings):
    # given a due wait and a stale pending execution, waiting in a backed-up queue
    settings.TYPEWIRE_SWEEP_AFTER_SECONDS = 30
    _run_messages()
    customer = CustomerFactory.create(workspace=workspace)
    rule = make_rule(workspace, "R", "customer_created", [])
    now = timezone.now()
    earlier = now - dt.timedelta(minutes=5)
    ids = []
    for fields in ({"status": ExecutionStatus.WAITING, "resume_at": earlier}, {}):
        event = emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": "api"},
        )
        execution = Execution(workspace=workspace, rule=rule, rule_version=1, event=event, **fields)
        execution.save()
        ids.append(execution.pk)
    Execution.objects.filter(pk__in=ids).update(created_at=earlier)
    # when the sweeper runs every second, then once the interval has passed
    first = sweep(now=now)
    soon = [sweep(now=now + dt.timedelta(seconds=s)) for s in (1, 2, 29)]
    later = sweep(now=now + dt.timedelta(seconds=31))
    # then each was sent once by the first sweep, not by the next ones, and again after 30 s;
    # the due wait is pending (queued) since it was sent
    assert (first.resumed, first.pending) == (1, 1)
    assert [each.total for each in soon] == [0, 0, 0]
    assert (later.resumed, later.pending) == (0, 2)
    assert set(Execution.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        ExecutionStatus.PENDING
    }
    mine = set(ids)
    assert sorted(i for i in _run_messages() if i in mine) == sorted(ids * 2)


def test_event_sweeper_sends_each_pending_event_once_per_interval(workspace):
    # given an event pending for 10 minutes, never published, and one published 10 s ago
    old = timezone.now() - dt.timedelta(minutes=10)
    customer = CustomerFactory.create(workspace=workspace)
    lost, queued = (
        emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": "api"},
        )
        for _ in range(2)
    )
    pending = {"status": EventStatus.PENDING, "dispatched_at": None, "recorded_at": old}
    Event.objects.filter(pk=lost.pk).update(published_at=None, **pending)
    Event.objects.filter(pk=queued.pk).update(
        published_at=timezone.now() - dt.timedelta(seconds=10), **pending
    )
    try:
        # when the sweeper runs twice in a row
        first = sweep_pending(older_than=dt.timedelta(minutes=1), batch_size=100)
        second = sweep_pending(older_than=dt.timedelta(minutes=1), batch_size=100)
        # then the lost one is sent once, the recently published one not at all
        assert (first, second) == (1, 0)
        published = Event.objects.get(pk=lost.pk).published_at
        assert published is not None
        assert published > old
        # and once the interval has passed, the still pending ones are sent again
        assert sweep_pending(older_than=dt.timedelta(0), batch_size=100) == 2
    finally:
        with Connection(settings.CELERY_BROKER_URL) as conn:
            queue = conn.SimpleQueue(DISPATCH_QUEUE)
            queue.clear()
            queue.close()
