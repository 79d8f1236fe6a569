"""Does an event's payload fit a rule's trigger configuration? (pure)

A configuration value filters the payload field of the same name (``customer_tagged`` with
``{"tag": "vip"}`` only fires for the tag ``vip``); a few settings filter a differently named
field (a milestone's ``n`` is the payload's ``order_count``). Settings that are not filters
(a cron expression, a metric's threshold) are ignored here: those triggers produce their own
events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.templating import format_value

# (trigger key, config key) -> the payload field it filters, where the names differ.
RENAMED_FILTERS: dict[tuple[str, str], str] = {
    ("repeat_order_milestone", "n"): "order_count",
}
# Settings that are not filters on the payload.
NOT_FILTERS: frozenset[str] = frozenset(
    {"cron", "timezone", "threshold", "direction", "duration", "metric", "url", "interval"}
)


def config_mismatch(
    trigger_key: str, config: Mapping[str, Any], payload: Mapping[str, Any]
) -> str | None:
    """Return why ``payload`` does not fit ``config`` (plain English), or None when it does."""
    for key, wanted in config.items():
        if key in NOT_FILTERS or wanted is None or wanted == "":
            continue
        field = RENAMED_FILTERS.get((trigger_key, key), key)
        if field not in payload:
            continue
        actual = payload[field]
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if actual not in allowed:
            return (
                f"The trigger is set to {field} = {format_value(wanted)}, "
                f"but this event has {field} = {format_value(actual)}."
            )
    return None
