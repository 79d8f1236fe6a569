"""The trigger tasks: registered by name on the periodic queue, each a thin shell."""

from __future__ import annotations

import pytest
from celery import current_app

from automations import trigger_tasks
from catalog.models import Event


@pytest.mark.parametrize(
    "name",
    [
        "automations.fire_schedule",
        "automations.evaluate_metrics",
        "automations.detect_anomalies",
        "automations.poll_sources",
        "automations.backfill_webhooks",
        "automations.backfill_endpoint",
        "automations.reconcile",
    ],
)
def test_each_trigger_task_is_registered_on_the_periodic_queue(name):
    assert trigger_tasks.__name__ == "automations.trigger_tasks"
    assert getattr(current_app.tasks[name], "queue", None) == "periodic"


def test_fire_schedule_records_the_tick_and_a_second_run_records_nothing(make_rule):
    # given: a yearly rule, so both runs fall in the same tick
    rule = make_rule("cron_schedule", {"cron": "@yearly", "timezone": "UTC"})

    # when
    first = trigger_tasks.fire_schedule(rule.pk)
    second = trigger_tasks.fire_schedule(rule.pk)

    # then
    event = Event.objects.get(trigger_key="cron_schedule")
    assert first == str(event.pk)
    assert second is None


def test_the_periodic_tasks_run_with_nothing_to_do(db):
    assert trigger_tasks.evaluate_metrics() == 0
    assert trigger_tasks.detect_anomalies() == 0
    assert trigger_tasks.poll_sources() == 0
    assert trigger_tasks.backfill_webhooks() == 0
    assert trigger_tasks.backfill_endpoint(999_999) == 0
    assert trigger_tasks.reconcile_events() == 0
