"""cron_schedule: the periodic task follows the rule, and each tick is recorded once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from automations.services import set_enabled
from automations.triggers import target_rule_id
from automations.triggers.schedule import (
    fire_tick,
    remove_rule_schedule,
    sync_all_schedules,
    sync_rule_schedule,
    validate_schedule,
)
from catalog.models import Event, EventSource

BERLIN = {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}
EVERY_MINUTE = {"cron": "*/1 * * * *", "timezone": "UTC"}


def test_enabling_a_cron_rule_creates_its_periodic_task_in_the_rules_time_zone(make_rule):
    # given
    rule = make_rule("cron_schedule", BERLIN, enabled=False)

    # when
    rule = set_enabled(rule=rule, enabled=True)
    sync_rule_schedule(rule)

    # then
    task = PeriodicTask.objects.get(name=f"typewire-rule-{rule.pk}")
    assert task.task == "automations.fire_schedule"
    assert json.loads(task.kwargs) == {"rule_id": rule.pk}
    assert task.queue == "periodic"
    assert task.enabled is True
    assert task.interval is None
    crontab = task.crontab
    assert (
        crontab.minute,
        crontab.hour,
        crontab.day_of_month,
        crontab.month_of_year,
        crontab.day_of_week,
    ) == ("0", "9", "*", "*", "1-5")
    assert str(crontab.timezone) == "Europe/Berlin"
    # What beat evaluates: a crontab aware of the rule's zone (09:00 Berlin, DST included).
    assert str(crontab.schedule.tz) == "Europe/Berlin"


def test_disabling_a_cron_rule_removes_its_periodic_task_and_crontab(make_rule):
    # given
    rule = make_rule("cron_schedule", BERLIN)
    sync_rule_schedule(rule)

    # when
    rule = set_enabled(rule=rule, enabled=False)
    sync_rule_schedule(rule)

    # then
    assert not PeriodicTask.objects.filter(name=f"typewire-rule-{rule.pk}").exists()
    assert not CrontabSchedule.objects.filter(hour="9", day_of_week="1-5").exists()


def test_changing_the_cron_moves_the_task_to_the_new_crontab(make_rule):
    # given
    rule = make_rule("cron_schedule", BERLIN)
    sync_rule_schedule(rule)
    rule.definition["trigger"]["config"] = {"cron": "@hourly", "timezone": "America/New_York"}

    # when
    sync_rule_schedule(rule)

    # then
    task = PeriodicTask.objects.get(name=f"typewire-rule-{rule.pk}")
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == (
        "0",
        "*",
        "America/New_York",
    )
    assert CrontabSchedule.objects.filter(hour="9", day_of_week="1-5").count() == 0


def test_a_deleted_rule_loses_its_periodic_task(make_rule):
    # given
    rule = make_rule("cron_schedule", EVERY_MINUTE)
    sync_rule_schedule(rule)
    rule_id = rule.pk
    rule.delete()

    # when
    remove_rule_schedule(rule_id)

    # then
    assert PeriodicTask.objects.filter(name__startswith="typewire-rule-").count() == 0


def test_a_rule_on_another_trigger_gets_no_periodic_task(make_rule):
    # given
    rule = make_rule("customer_created", {})

    # when
    task = sync_rule_schedule(rule)

    # then
    assert task is None
    assert PeriodicTask.objects.filter(name__startswith="typewire-rule-").count() == 0


def test_a_tick_records_the_latest_scheduled_instant_in_the_rules_time_zone(make_rule):
    # given: 09:00 in Berlin is 07:00 UTC in summer; the task runs 30 s late
    rule = make_rule("cron_schedule", BERLIN)
    now = datetime(2025, 7, 1, 7, 0, 30, tzinfo=UTC)

    # when
    event = fire_tick(rule.pk, now=now)

    # then
    assert event is not None
    stored = Event.objects.get(trigger_key="cron_schedule")
    assert stored.payload == {
        "scheduled_for": "2025-07-01T07:00:00Z",
        "fired_at": "2025-07-01T07:00:30Z",
    }
    assert stored.dedupe_key == f"cron:{rule.pk}:2025-07-01T07:00:00Z"
    assert stored.source == EventSource.SCHEDULE
    assert stored.occurred_at == datetime(2025, 7, 1, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("_case", "now", "scheduled_for"),
    [
        (
            "winter: 09:00 Berlin is 08:00 UTC",
            datetime(2025, 1, 15, 8, 0, 10),
            "2025-01-15T08:00:00Z",
        ),
        (
            "summer: 09:00 Berlin is 07:00 UTC",
            datetime(2025, 7, 15, 7, 0, 10),
            "2025-07-15T07:00:00Z",
        ),
        ("a weekend tick belongs to Friday", datetime(2025, 3, 2, 12, 0), "2025-02-28T08:00:00Z"),
    ],
)
def test_the_scheduled_instant_follows_the_rules_time_zone(make_rule, _case, now, scheduled_for):
    # given
    rule = make_rule("cron_schedule", BERLIN)

    # when
    event = fire_tick(rule.pk, now=now.replace(tzinfo=UTC))

    # then
    assert event is not None
    assert event.payload["scheduled_for"] == scheduled_for


def test_a_tick_run_a_moment_early_by_the_workers_clock_still_belongs_to_its_instant(make_rule):
    # given: beat sent the 07:01 tick; the worker's clock is 2 s behind
    rule = make_rule("cron_schedule", EVERY_MINUTE)

    # when
    event = fire_tick(rule.pk, now=datetime(2025, 7, 1, 7, 0, 58, tzinfo=UTC))

    # then
    assert event is not None
    assert event.payload["scheduled_for"] == "2025-07-01T07:01:00Z"


def test_the_same_tick_fired_twice_records_one_event(make_rule):
    # given: two beats send the 07:01 tick of a rule on */1
    rule = make_rule("cron_schedule", EVERY_MINUTE)

    # when
    first = fire_tick(rule.pk, now=datetime(2025, 7, 1, 7, 1, 0, 100, tzinfo=UTC))
    second = fire_tick(rule.pk, now=datetime(2025, 7, 1, 7, 1, 2, tzinfo=UTC))

    # then
    assert first is not None
    assert second is None
    assert Event.objects.filter(trigger_key="cron_schedule").count() == 1


def test_each_minute_tick_of_an_every_minute_rule_records_one_event(make_rule):
    # given: two beats, each sending every tick of three minutes
    rule = make_rule("cron_schedule", EVERY_MINUTE)
    sent = [
        datetime(2025, 7, 1, 7, minute, second, tzinfo=UTC)
        for minute in (1, 2, 3)
        for second in (0, 1)
    ]

    # when
    for moment in sent:
        fire_tick(rule.pk, now=moment)

    # then
    keys = sorted(str(e.dedupe_key) for e in Event.objects.all())
    assert keys == [
        f"cron:{rule.pk}:2025-07-01T07:01:00Z",
        f"cron:{rule.pk}:2025-07-01T07:02:00Z",
        f"cron:{rule.pk}:2025-07-01T07:03:00Z",
    ]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ticks_for_the_same_instant_record_one_event(make_rule):
    # given: two beats' tasks for the 07:01 tick run at the same moment on two workers
    rule = make_rule("cron_schedule", EVERY_MINUTE)
    barrier = threading.Barrier(2)
    results: list[object] = []
    errors: list[BaseException] = []

    def tick(second: int) -> None:
        try:
            barrier.wait(timeout=5)
            results.append(fire_tick(rule.pk, now=datetime(2025, 7, 1, 7, 1, second, tzinfo=UTC)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick, args=(second,)) for second in (0, 1)]

    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    # then
    assert errors == []
    assert sorted(result is None for result in results) == [False, True]
    assert Event.objects.filter(dedupe_key=f"cron:{rule.pk}:2025-07-01T07:01:00Z").count() == 1


def test_a_tick_of_a_disabled_rule_records_nothing_and_removes_its_task(make_rule):
    # given: the rule was switched off by a bulk update that left its task behind
    rule = make_rule("cron_schedule", EVERY_MINUTE)
    sync_rule_schedule(rule)
    type(rule).objects.filter(pk=rule.pk).update(is_enabled=False)

    # when
    event = fire_tick(rule.pk, now=datetime(2025, 7, 1, 7, 1, tzinfo=UTC))

    # then
    assert event is None
    assert Event.objects.count() == 0
    assert not PeriodicTask.objects.filter(name=f"typewire-rule-{rule.pk}").exists()


def test_sync_all_schedules_repairs_missing_and_orphaned_tasks(make_rule):
    # given: one enabled cron rule without its task, and a task whose rule is gone
    rule = make_rule("cron_schedule", EVERY_MINUTE)
    gone = make_rule("cron_schedule", BERLIN, name="Gone")
    sync_rule_schedule(gone)
    gone.delete()

    # when
    with transaction.atomic():
        kept, removed = sync_all_schedules()

    # then
    assert (kept, removed) == (1, 1)
    names = list(
        PeriodicTask.objects.filter(name__startswith="typewire-rule-").values_list(
            "name", flat=True
        )
    )
    assert names == [f"typewire-rule-{rule.pk}"]


@pytest.mark.parametrize(
    ("_case", "cron", "zone", "expected"),
    [
        ("five fields", "0 9 * * 1-5", "Europe/Berlin", None),
        ("alias", "@daily", "UTC", None),
        ("day of month and month names", "30 8 15 jan-jun *", "America/New_York", None),
        (
            "seconds field",
            "0 0 9 * * *",
            "UTC",
            "'0 0 9 * * *' is not a cron expression of five fields "
            "(minute hour day month weekday).",
        ),
        (
            "minute out of range",
            "61 * * * *",
            "UTC",
            "'61 * * * *' is not a valid cron expression.",
        ),
        ("unknown zone", "0 9 * * *", "Mars/Olympus", "'Mars/Olympus' is not an IANA time zone."),
    ],
)
def test_validate_schedule(_case, cron, zone, expected):
    assert validate_schedule(cron, zone) == expected


@pytest.mark.parametrize(
    ("_case", "trigger_key", "dedupe_key", "expected"),
    [
        ("cron tick", "cron_schedule", "cron:12:2025-07-01T07:01:00Z", 12),
        ("metric crossing", "metric_threshold", "metric:7:2025-07-01T07:01:00Z", 7),
        ("poll item", "poll_new_item", "poll:3:rev_1", 3),
        ("anomaly is for every rule", "anomaly_detected", "anomaly:refund_rate:2025", None),
        ("webhook", "webhook_received", "hook:4:evt_1", None),
        ("no key", "cron_schedule", None, None),
    ],
)
def test_target_rule_id(_case, trigger_key, dedupe_key, expected):
    assert target_rule_id(trigger_key, dedupe_key) == expected
