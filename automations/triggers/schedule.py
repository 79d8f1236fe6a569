"""cron_schedule: one django-celery-beat periodic task per enabled cron rule, one event per tick.

:func:`sync_rule_schedule` keeps the ``PeriodicTask`` named ``typewire-rule-<id>`` in step with
the rule (call it in the transaction that saves, enables or disables the rule), and beat sends
``automations.fire_schedule`` on each tick. :func:`fire_tick` records the tick as a
``cron_schedule`` event keyed ``cron:<rule id>:<scheduled instant>``: the instant is computed
from the rule's cron and time zone (the latest one at or before now), not taken from the
message, so two beats, a restarted beat or a redelivered task record each tick once.

A tick whose task runs after the next tick's instant (a long queue backlog) is merged into that
next tick: missed ticks are not replayed, as with cron itself.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from automations.models import Rule
from catalog.events import DuplicateEventError, record_event
from catalog.models import Event, EventSource
from catalog.types import format_datetime

logger = logging.getLogger(__name__)

TRIGGER_KEY = "cron_schedule"
TASK_NAME = "automations.fire_schedule"
# Beat's host and a worker's clock may disagree slightly: a tick run a moment "before" its
# instant by the worker's clock still belongs to that instant, not to the previous one.
CLOCK_SKEW = timedelta(seconds=5)
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class ScheduleInvalid(ValueError):
    """A cron expression or time zone that cannot be scheduled; the message says why."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule: five cron fields and an IANA time zone."""

    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str
    zone: ZoneInfo

    @property
    def expression(self) -> str:
        """The five fields as one cron expression."""
        return " ".join(
            (self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week)
        )

    @classmethod
    def parse(cls, cron: str, zone_name: str) -> Schedule:
        """Return the schedule of ``cron`` in ``zone_name``; raise ScheduleInvalid if unusable.

        Accepts five-field expressions and the ``@daily``-style aliases; seconds fields are
        refused (beat ticks by the minute).
        """
        expression = ALIASES.get(cron.strip().lower(), cron.strip())
        parts = expression.split()
        if len(parts) != 5:
            raise ScheduleInvalid(
                f"{cron!r} is not a cron expression of five fields (minute hour day month weekday)."
            )
        if not croniter.is_valid(expression):
            raise ScheduleInvalid(f"{cron!r} is not a valid cron expression.")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ScheduleInvalid(f"{zone_name!r} is not an IANA time zone.") from exc
        minute, hour, day_of_month, month_of_year, day_of_week = parts
        try:
            # Beat's own parser must agree: it is what decides when the task is sent.
            crontab(
                minute=minute,
                hour=hour,
                day_of_week=day_of_week,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
            )
        except ValueError as exc:
            raise ScheduleInvalid(f"{cron!r} cannot be scheduled: {exc}.") from exc
        return cls(minute, hour, day_of_month, month_of_year, day_of_week, zone)

    @classmethod
    def of_rule(cls, rule: Rule) -> Schedule:
        """Return the schedule in a cron rule's trigger configuration."""
        config = _trigger_config(rule)
        return cls.parse(str(config.get("cron", "")), str(config.get("timezone", "")))

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """Return the latest scheduled instant at or before ``moment``, in UTC."""
        local = moment.astimezone(self.zone).replace(microsecond=0) + timedelta(seconds=1)
        instant: datetime = croniter(self.expression, local).get_prev(datetime)
        return instant.astimezone(UTC)


def validate_schedule(cron: str, zone_name: str) -> str | None:
    """Return why a cron expression and time zone cannot be scheduled, or None if they can.

    For the save-time checker: the catalog only knows both settings as strings.
    """
    try:
        Schedule.parse(cron, zone_name)
    except ScheduleInvalid as exc:
        return str(exc)
    return None


def task_name(rule_id: int) -> str:
    """Return the name of a rule's periodic task."""
    return f"typewire-rule-{rule_id}"


def tick_dedupe_key(rule_id: int, instant: datetime) -> str:
    """Return the dedupe key of a rule's tick at ``instant`` (canonical UTC ISO form)."""
    return f"cron:{rule_id}:{format_datetime(instant)}"


def sync_rule_schedule(rule: Rule) -> PeriodicTask | None:
    """Create, update or remove the rule's periodic task to match the rule; return the task.

    An enabled ``cron_schedule`` rule with a valid schedule gets a task running
    ``automations.fire_schedule`` on a ``CrontabSchedule`` in the rule's time zone; any other
    rule (disabled, another trigger, an unusable schedule, which is logged) has none. Call it
    in the transaction that changed the rule, so the task and the rule commit together.
    """
    name = task_name(rule.pk)
    if not rule.is_enabled or rule.trigger_key != TRIGGER_KEY:
        remove_rule_schedule(rule.pk)
        return None
    try:
        schedule = Schedule.of_rule(rule)
    except ScheduleInvalid as exc:
        logger.error("rule %s has no schedule: %s", rule.pk, exc)
        remove_rule_schedule(rule.pk)
        return None
    previous = PeriodicTask.objects.filter(name=name).values_list("crontab_id", flat=True).first()
    crontab_row, _ = CrontabSchedule.objects.get_or_create(
        minute=schedule.minute,
        hour=schedule.hour,
        day_of_month=schedule.day_of_month,
        month_of_year=schedule.month_of_year,
        day_of_week=schedule.day_of_week,
        timezone=schedule.zone,
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": TASK_NAME,
            "crontab": crontab_row,
            "interval": None,
            "kwargs": json.dumps({"rule_id": rule.pk}),
            "queue": settings.QUEUE_PERIODIC,
            "enabled": True,
            "description": f"cron_schedule of rule {rule.pk} ({rule.name})"[:200],
        },
    )
    if previous is not None and previous != crontab_row.pk:
        _drop_if_unused(previous)
    return task


def remove_rule_schedule(rule_id: int) -> None:
    """Remove a rule's periodic task, if any (disabled or deleted rule). Idempotent."""
    # Deleted one by one so django-celery-beat's signals tell beat the schedule changed.
    for task in PeriodicTask.objects.filter(name=task_name(rule_id)):
        task.delete()
        _drop_if_unused(task.crontab_id)


def sync_all_schedules() -> tuple[int, int]:
    """Make the periodic tasks match the rules: every enabled cron rule has one, no one else.

    Returns (tasks kept or created, orphans removed). Repairs rules changed without the
    services (bulk updates, restored backups).
    """
    kept = 0
    wanted: set[str] = set()
    for rule in Rule.objects.filter(trigger_key=TRIGGER_KEY, is_enabled=True):
        with transaction.atomic():
            if sync_rule_schedule(rule) is not None:
                kept += 1
                wanted.add(task_name(rule.pk))
    orphans = PeriodicTask.objects.filter(name__startswith="typewire-rule-").exclude(
        name__in=wanted
    )
    removed = 0
    for task in orphans:
        task.delete()
        _drop_if_unused(task.crontab_id)
        removed += 1
    return kept, removed


def _drop_if_unused(crontab_id: int | None) -> None:
    """Delete a crontab row a rule's task left behind, unless another task still uses it."""
    if crontab_id is not None:
        CrontabSchedule.objects.filter(pk=crontab_id, periodictask__isnull=True).delete()


def fire_tick(rule_id: int, *, now: datetime | None = None) -> Event | None:
    """Record the rule's tick for the latest scheduled instant; return the event, or None.

    None when the tick was already recorded (another beat or a redelivery got there first),
    or when the rule is gone, disabled or no longer on a schedule (its periodic task is then
    removed, should it have outlived the rule).
    """
    now = now or timezone.now()
    rule = Rule.objects.select_related("workspace").filter(pk=rule_id).first()
    if rule is None or not rule.is_enabled or rule.trigger_key != TRIGGER_KEY:
        with transaction.atomic():
            if rule is None:
                remove_rule_schedule(rule_id)
            else:
                sync_rule_schedule(rule)
        return None
    try:
        schedule = Schedule.of_rule(rule)
    except ScheduleInvalid as exc:
        logger.error("rule %s: tick skipped: %s", rule_id, exc)
        return None
    instant = schedule.latest_at_or_before(now + CLOCK_SKEW)
    try:
        with transaction.atomic():
            return record_event(
                workspace=rule.workspace,
                trigger_key=TRIGGER_KEY,
                payload={"scheduled_for": instant, "fired_at": now},
                source=EventSource.SCHEDULE,
                occurred_at=instant,
                dedupe_key=tick_dedupe_key(rule.pk, instant),
            )
    except DuplicateEventError:
        logger.info("rule %s: tick %s already recorded", rule_id, format_datetime(instant))
        return None


def _trigger_config(rule: Rule) -> dict[str, Any]:
    """Return the trigger configuration of a saved rule (validated when it was saved)."""
    trigger = rule.definition.get("trigger") if isinstance(rule.definition, dict) else None
    config = trigger.get("config") if isinstance(trigger, dict) else None
    return config if isinstance(config, dict) else {}
