"""Built-in time triggers: cron schedules in a time zone."""

from __future__ import annotations

from catalog.specs import Category, TriggerSpec
from catalog.types import datetime, fields, required, string

CRON_SCHEDULE = TriggerSpec(
    key="cron_schedule",
    category=Category.TIME,
    label="On a schedule",
    description=(
        "Fires on a schedule you choose, such as every day at 9 AM or every Monday at noon, in "
        "your own time zone so daylight saving time does not shift it. Use it for daily sales "
        "summaries, weekly digests or recurring clean-ups."
    ),
    payload=fields(scheduled_for=datetime(), fired_at=datetime()),
    config=fields(
        cron=required(string(), "Schedule", "A cron expression, e.g. 0 9 * * * for 9 AM daily."),
        timezone=required(string(), "Time zone", "An IANA time zone, e.g. Europe/Berlin."),
    ),
    example={"scheduled_for": "2025-03-01T08:00:00Z", "fired_at": "2025-03-01T08:00:02Z"},
    example_config={"cron": "0 9 * * *", "timezone": "Europe/Berlin"},
    source="the scheduler",
)

TRIGGERS: list[TriggerSpec] = [CRON_SCHEDULE]
"""Time triggers, in catalog order."""
