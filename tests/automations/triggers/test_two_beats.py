"""Two real beat processes (the DatabaseScheduler of the Procfile's beat) fire each tick once.

Both beats send every minute tick of a ``*/1 * * * *`` rule; the worker records the first as the
tick's event and drops the second by its dedupe key, so each tick has one event and one
execution. Takes up to about 80 s: it waits for the first minute tick after both beats are up.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from kombu import Connection

from accounts.models import Workspace
from automations.models import Execution, ExecutionStatus
from automations.services import save_rule
from automations.triggers.schedule import task_name, tick_dedupe_key
from catalog.models import Event
from tests.workers import QUEUES, celery_beat, celery_worker, log_path, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _sends(beat: str, task: str) -> int:
    """How many times the beat logged sending ``task``."""
    log = log_path("beat", beat).read_text(errors="replace")
    return len(
        re.findall(rf"Sending due task {re.escape(task)} \(automations\.fire_schedule\)", log)
    )


def test_two_beats_fire_each_minute_tick_of_a_cron_rule_once(workspace: Workspace) -> None:
    # given an enabled rule on every minute, and nothing queued from earlier tests
    with Connection(settings.CELERY_BROKER_URL) as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]
    rule = save_rule(
        workspace=workspace,
        author=None,
        name="Every minute",
        definition={
            "trigger": {
                "key": "cron_schedule",
                "config": {"cron": "*/1 * * * *", "timezone": "UTC"},
            },
            "conditions": [],
            "steps": [
                {
                    "id": "ping",
                    "action": "send_transactional_email",
                    "inputs": {
                        "to": {"literal": "ops@example.com"},
                        "subject": {"template": "Tick {{ scheduled_for }}"},
                        "body": {"literal": "Still here."},
                    },
                }
            ],
        },
        is_enabled=True,
    )
    ticks = Event.objects.filter(
        trigger_key="cron_schedule", dedupe_key__startswith=f"cron:{rule.pk}:"
    )
    names = [f"a-{os.getpid()}", f"b-{os.getpid()}"]

    # when a worker and two beats run until the first minute tick after both are up
    with celery_worker(name=f"beats-{os.getpid()}"):
        with celery_beat(name=names[0]), celery_beat(name=names[1]):
            up = datetime.now(UTC)
            tick = (up + timedelta(seconds=1)).replace(second=0, microsecond=0) + timedelta(
                minutes=1
            )
            key = tick_dedupe_key(rule.pk, tick)
            wait_for(lambda: ticks.filter(dedupe_key=key).exists(), timeout=90, interval=0.5)
            # both beats have sent this tick (each logs its send before the worker sees it)
            task = task_name(rule.pk)
            wait_for(lambda: all(_sends(n, task) >= 1 for n in names), timeout=15)
        # the beats are stopped; let the worker finish what they sent
        wait_for(
            lambda: (
                not Execution.objects.exclude(status=ExecutionStatus.SUCCEEDED).exists()
                and Execution.objects.filter(rule=rule).count() == ticks.count()
            ),
            timeout=30,
        )
        sends = [_sends(n, task) for n in names]

    # then: the tick is one event with one execution, though both beats sent it
    [event] = ticks.filter(dedupe_key=key)
    assert event.payload["scheduled_for"] == tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert Execution.objects.filter(event=event).count() == 1
    # every tick seen (an earlier one too, if a beat was up before the other) is recorded once
    recorded = sorted(e.payload["scheduled_for"] for e in ticks)
    assert len(recorded) == len(set(recorded)) >= 1
    assert all(s >= 1 for s in sends)
    assert sum(sends) > len(recorded), (sends, recorded)
    assert sorted(Execution.objects.filter(rule=rule).values_list("status", flat=True)) == [
        ExecutionStatus.SUCCEEDED
    ] * len(recorded)
