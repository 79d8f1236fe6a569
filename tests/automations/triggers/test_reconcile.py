"""Reconciliation: per rule and day, events against executions; stuck events raise an alert."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import transaction

from automations.models import Execution, ExecutionStatus
from automations.triggers.reconcile import (
    RuleDay,
    Unprocessed,
    daily_report,
    find_unprocessed,
    reconcile,
)
from catalog.events import record_event
from catalog.models import Event, EventStatus

DAY = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def event_at(workspace, trigger_key: str, payload, at: datetime, dedupe_key: str | None = None):
    with transaction.atomic():
        event = record_event(
            workspace=workspace, trigger_key=trigger_key, payload=payload, dedupe_key=dedupe_key
        )
    Event.objects.filter(pk=event.pk).update(recorded_at=at)
    return event


def execution(rule, event, status: str, at: datetime) -> Execution:
    run = Execution.objects.create(
        workspace=rule.workspace, rule=rule, rule_version=1, event=event, status=status
    )
    Execution.objects.filter(pk=run.pk).update(created_at=at)
    return run


def tagged(customer_id: int = 1) -> dict[str, object]:
    return {"customer_id": customer_id, "tag": "vip", "action": "added"}


def test_the_report_counts_events_and_executions_per_rule_and_day(workspace, make_rule):
    # given: three vip tags on day 1 (one succeeded, one dead, one still running), one on day 2
    rule = make_rule("customer_tagged", {}, name="VIP welcome")
    first = [event_at(workspace, "customer_tagged", tagged(n), DAY) for n in (1, 2, 3)]
    execution(rule, first[0], ExecutionStatus.SUCCEEDED, DAY)
    execution(rule, first[1], ExecutionStatus.DEAD, DAY)
    execution(rule, first[2], ExecutionStatus.RUNNING, DAY)
    second = event_at(workspace, "customer_tagged", tagged(4), DAY + timedelta(days=1))
    execution(rule, second, ExecutionStatus.SUCCEEDED, DAY + timedelta(days=1))

    # when
    report = daily_report(workspace, since=date(2025, 3, 1), until=date(2025, 3, 3))

    # then
    assert report == [
        RuleDay(date(2025, 3, 1), rule.pk, "VIP welcome", "customer_tagged", 3, 3, 1, 1, 0, 1),
        RuleDay(date(2025, 3, 2), rule.pk, "VIP welcome", "customer_tagged", 1, 1, 1, 0, 0, 0),
    ]


def test_the_report_counts_a_cron_rules_own_ticks_only(workspace, make_rule):
    # given: two cron rules; the first ticked twice, the second once
    daily = make_rule("cron_schedule", {"cron": "0 * * * *", "timezone": "UTC"}, name="Hourly")
    other = make_rule("cron_schedule", {"cron": "30 * * * *", "timezone": "UTC"}, name="Other")
    tick = {"scheduled_for": DAY, "fired_at": DAY}
    for n, rule in enumerate([daily, daily, other]):
        event_at(workspace, "cron_schedule", tick, DAY, dedupe_key=f"cron:{rule.pk}:{n}")

    # when
    report = daily_report(workspace, since=date(2025, 3, 1), until=date(2025, 3, 1))

    # then
    assert [(row.rule, row.events, row.executions) for row in report] == [
        ("Hourly", 2, 0),
        ("Other", 1, 0),
    ]


@pytest.mark.usefixtures("every_trigger_heard")
def test_find_unprocessed_lists_the_events_pending_too_long(workspace):
    # given: one event pending for an hour, one for a minute, one dispatched long ago
    stuck = event_at(workspace, "customer_tagged", tagged(1), DAY - timedelta(hours=1))
    event_at(workspace, "customer_tagged", tagged(2), DAY - timedelta(minutes=1))
    done = event_at(workspace, "customer_tagged", tagged(3), DAY - timedelta(hours=2))
    Event.objects.filter(pk=done.pk).update(status=EventStatus.DISPATCHED)

    # when
    found = find_unprocessed(timedelta(minutes=15), now=DAY)

    # then
    assert found == [
        Unprocessed(str(stuck.pk), workspace.pk, "customer_tagged", DAY - timedelta(hours=1))
    ]


@pytest.mark.usefixtures("every_trigger_heard")
def test_reconcile_alerts_the_operators_about_stuck_events(workspace, settings, caplog):
    # given
    settings.ADMINS = ["ops@example.com"]
    stuck = event_at(workspace, "customer_tagged", tagged(1), DAY - timedelta(hours=1))

    # when
    with caplog.at_level(logging.ERROR, logger="automations.triggers.reconcile"):
        found = reconcile(now=DAY)

    # then
    assert [item.event_id for item in found] == [str(stuck.pk)]
    expected = (
        f"1 accepted event(s) still not processed after 0:15:00 (workspace {workspace.pk}: 1); "
        f"the oldest, {stuck.pk} (customer_tagged), was recorded at 2025-03-01T09:00:00Z. "
        "Check the workers, the broker and the sweeper."
    )
    assert caplog.messages == [expected]
    assert [(m.subject, m.to, m.body) for m in mail.outbox] == [
        ("[Django] Typewire: events not processed", ["ops@example.com"], expected)
    ]


def test_reconcile_is_quiet_when_everything_was_processed(workspace, caplog):
    # given
    event_at(workspace, "customer_tagged", tagged(1), DAY - timedelta(minutes=5))

    # when
    with caplog.at_level(logging.ERROR, logger="automations.triggers.reconcile"):
        found = reconcile(now=DAY)

    # then
    assert found == []
    assert caplog.messages == []
    assert mail.outbox == []
