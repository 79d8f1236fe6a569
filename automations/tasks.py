"""Celery tasks of the execution engine: thin shells, by explicit name, around engine calls.

Each takes ids, calls one engine function and returns; the engine functions are safe to run
twice (conditional claims, idempotency keys), which ``acks_late`` redelivery relies on.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from automations.engine import alerts, dispatch, limits, run, sweep

logger = logging.getLogger(__name__)


@shared_task(
    name="automations.dispatch_event",
    queue=settings.QUEUE_INGEST,
    bind=True,
    acks_late=True,
    ignore_result=True,
)
def dispatch_event(self: Task[Any, Any], event_id: str) -> None:
    """Match one stored event against the enabled rules; create and enqueue their executions.

    The first few executions of quick internal rules run right here (``dispatch_and_run``).
    """
    dispatch.dispatch_and_run(event_id)


@shared_task(
    name="automations.dispatch_events",
    queue=settings.QUEUE_INGEST,
    bind=True,
    acks_late=True,
    ignore_result=True,
)
def dispatch_events(self: Task[Any, Any], event_ids: list[str]) -> None:
    """Dispatch a batch of stored events (one message from the event publisher), in order.

    One transaction for the batch; if it fails, each event is dispatched on its own, so one
    event that fails does not hold up the others: it stays pending for the sweeper.
    """
    try:
        dispatch.dispatch_and_run_many(event_ids)
    except Exception:
        logger.exception("a batch of %d events failed to dispatch; one by one", len(event_ids))
    else:
        return
    for event_id in event_ids:
        try:
            dispatch.dispatch_and_run(event_id)
        except Exception:
            logger.exception("event %s: dispatch failed; the sweeper will retry it", event_id)


@shared_task(
    name="automations.run_execution",
    queue=settings.QUEUE_RULES,
    bind=True,
    acks_late=True,
    ignore_result=True,
)
def run_execution(self: Task[Any, Any], execution_id: int) -> None:
    """Run or resume one execution; a duplicate message finds it claimed and does nothing."""
    run.run_execution(execution_id)


@shared_task(
    name="automations.run_executions",
    queue=settings.QUEUE_RULES,
    bind=True,
    acks_late=True,
    ignore_result=True,
)
def run_executions(self: Task[Any, Any], execution_ids: list[int]) -> None:
    """Run a batch of executions (one message from a dispatch), one after the other.

    One that fails does not hold up the others: it stays pending, or its lease expires, and
    the execution sweeper enqueues it again. A redelivered batch skips the finished ones.
    """
    for execution_id in execution_ids:
        try:
            run.run_execution(execution_id)
        except Exception:
            logger.exception("execution %s failed to run; the sweeper will retry it", execution_id)


@shared_task(
    name="automations.send_alert",
    queue=settings.QUEUE_OUTBOUND,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=4,
)
def send_alert(self: Task[Any, Any], alert_id: int) -> None:
    """Deliver one failure alert; a failed delivery is tried again within the minute."""
    try:
        alerts.deliver_alert(alert_id)
    except alerts.AlertNotDelivered as exc:
        # Short countdowns only (the alert is due within a minute): no long broker-held delays.
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc


@shared_task(
    name="automations.sweep_executions",
    queue=settings.QUEUE_PERIODIC,
    bind=True,
    acks_late=True,
    ignore_result=True,
)
def sweep_executions(self: Task[Any, Any]) -> int:
    """Enqueue due waits and retries, expired leases and lost publishes; return the count."""
    if settings.TYPEWIRE_FAULT_INJECT == "no-sweeper":  # a test-only broken build
        return 0
    return sweep.sweep().total


@shared_task(
    name="automations.check_rule_spikes",
    queue=settings.QUEUE_PERIODIC,
    bind=True,
    acks_late=True,
    ignore_result=True,
)
def check_rule_spikes(self: Task[Any, Any]) -> int:
    """Pause the rules firing far above their 7-day median per hour; return how many."""
    return len(limits.check_spikes())


# The trigger producers' tasks (schedules, metrics, anomalies, polls, backfill, reconciliation)
# live in their own module; importing it here lets Celery's autodiscovery register them.
from automations import trigger_tasks  # noqa: E402, F401
