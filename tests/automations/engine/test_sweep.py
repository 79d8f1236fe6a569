"""The sweeper enqueues due waits and retries, expired leases and lost publishes, nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import Connection

from automations.engine.sweep import sweep
from automations.models import Execution, ExecutionStatus
from tests.automations.engine.conftest import emit, make_rule
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

RULES_QUEUE = "rules"  # where CELERY_TASK_ROUTES sends automations.run_*


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
