"""Trigger sources beyond webhooks and domain events: schedules, metrics, anomalies, polls.

Each source records events through ``catalog.events.record_event`` with a dedupe key, so a
source that runs twice (two beats, a retried task, concurrent samples) records one event.

Schedules, metric thresholds and polls belong to one rule each: their dedupe keys start with
``<kind>:<rule id>:``, and :func:`target_rule_id` reads the rule back so that dispatch matches
such an event against that rule only (two cron rules of a workspace must not fire on each
other's ticks).
"""

from __future__ import annotations

import re

# Triggers whose events are recorded for one rule, and the dedupe-key form that names it.
RULE_SCOPED_TRIGGERS = frozenset({"cron_schedule", "metric_threshold", "poll_new_item"})
RULE_SCOPED_KEY = re.compile(r"^(?:cron|metric|poll):(?P<rule_id>\d+):")


def target_rule_id(trigger_key: str, dedupe_key: str | None) -> int | None:
    """Return the id of the one rule an event is meant for, or None for a workspace event.

    ``cron_schedule``, ``metric_threshold`` and ``poll_new_item`` events are recorded for one
    rule; every other event (anomalies included) goes to all matching rules of the workspace.
    """
    if trigger_key not in RULE_SCOPED_TRIGGERS or not dedupe_key:
        return None
    match = RULE_SCOPED_KEY.match(dedupe_key)
    return int(match["rule_id"]) if match else None
