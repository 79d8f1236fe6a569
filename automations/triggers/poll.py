"""poll_new_item: GET each enabled rule's JSON source when its interval is due; fire per new item.

The rule's configuration names the ``url``, the ``interval``, where the list of items is in
the answer (``items_path``, dotted; the answer itself when empty) and which field of an item
is its id (``id_field``, dotted). Seen ids are remembered per rule (``PollSeenItem``, unique per
rule and id) and each new one is recorded as one event keyed ``poll:<rule id>:<item id>``, so
two polls racing still fire once per item.

As in Zapier, the first poll of a source takes in the items already there as seen without
firing (otherwise switching a rule on would fire once per item of the feed's history); so does
the first poll after the rule's URL changed. A poll fires at most ``MAX_NEW_PER_POLL`` items;
the rest stay unseen and fire on the next poll.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from automations.models import Rule
from automations.trigger_models import PollSeenItem, PollState
from automations.triggers.fetch import SourceError, get_json
from catalog.events import DuplicateEventError, record_event
from catalog.models import Event, EventSource
from catalog.types import ValidationError, parse_duration

logger = logging.getLogger(__name__)

TRIGGER_KEY = "poll_new_item"
MAX_NEW_PER_POLL = 100
# Never poll a source more often than this, whatever the rule says.
MIN_INTERVAL = timedelta(minutes=1)
MAX_ID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class PollConfig:
    """A poll_new_item rule's configuration, parsed."""

    url: str
    interval: timedelta
    items_path: str
    id_field: str

    @classmethod
    def of_rule(cls, rule: Rule) -> PollConfig:
        """Return the configuration of a saved rule (validated by the checker on save)."""
        trigger = rule.definition.get("trigger", {}) if isinstance(rule.definition, dict) else {}
        config: dict[str, Any] = trigger.get("config") or {}
        interval = parse_duration(str(config.get("interval", ""))) or MIN_INTERVAL
        return cls(
            url=str(config.get("url", "")),
            interval=max(interval, MIN_INTERVAL),
            items_path=str(config.get("items_path") or ""),
            id_field=str(config.get("id_field") or "id"),
        )


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of one rule did."""

    rule_id: int
    items: int = 0
    seeded: int = 0
    events: list[Event] = field(default_factory=list)
    error: str = ""


def poll_due(*, now: datetime | None = None) -> list[PollResult]:
    """Poll every enabled poll_new_item rule whose interval has elapsed; return the results."""
    now = now or timezone.now()
    rules = Rule.objects.filter(trigger_key=TRIGGER_KEY, is_enabled=True).select_related(
        "workspace", "poll_state"
    )
    results: list[PollResult] = []
    for rule in rules:
        state: PollState | None = getattr(rule, "poll_state", None)
        config = PollConfig.of_rule(rule)
        if state is not None and state.polled_at and state.polled_at + config.interval > now:
            continue
        results.append(poll_rule(rule, now=now))
    return results


def poll_rule(rule: Rule, *, now: datetime | None = None) -> PollResult:
    """GET the rule's source once and record one event per item not seen before.

    A source that cannot be read, or whose answer has no list at ``items_path``, records the
    error on the rule's ``PollState`` and fires nothing.
    """
    now = now or timezone.now()
    config = PollConfig.of_rule(rule)
    PollState.objects.get_or_create(rule=rule, defaults={"url": config.url})
    try:
        items = _items(get_json(config.url).document, config.items_path)
    except SourceError as exc:
        logger.warning("poll of rule %s failed: %s", rule.pk, exc)
        PollState.objects.filter(rule=rule).update(polled_at=now, error=str(exc)[:2000])
        return PollResult(rule.pk, error=str(exc))
    identified = [(item_id, item) for item in items if (item_id := _item_id(item, config))]
    seeding = (
        PollState.objects.filter(rule=rule)
        .filter(Q(polled_at__isnull=True) | ~Q(url=config.url))
        .exists()
    )
    if seeding:
        with transaction.atomic():
            PollSeenItem.objects.bulk_create(
                [PollSeenItem(rule=rule, item_id=item_id) for item_id, _ in identified],
                ignore_conflicts=True,
            )
            PollState.objects.filter(rule=rule).update(url=config.url, polled_at=now, error="")
        return PollResult(rule.pk, items=len(items), seeded=len(identified))
    seen = set(
        PollSeenItem.objects.filter(
            rule=rule, item_id__in=[item_id for item_id, _ in identified]
        ).values_list("item_id", flat=True)
    )
    fresh = [(item_id, item) for item_id, item in identified if item_id not in seen]
    events = [
        event
        for item_id, item in fresh[:MAX_NEW_PER_POLL]
        if (event := _record_item(rule, config, item_id, item)) is not None
    ]
    PollState.objects.filter(rule=rule).update(polled_at=now, error="")
    return PollResult(rule.pk, items=len(items), events=events)


def _record_item(
    rule: Rule, config: PollConfig, item_id: str, item: dict[str, Any]
) -> Event | None:
    """Remember the item and record its event, in one transaction; None if it was seen."""
    try:
        with transaction.atomic():
            PollSeenItem.objects.bulk_create(
                [PollSeenItem(rule=rule, item_id=item_id)], ignore_conflicts=True
            )
            return record_event(
                workspace=rule.workspace,
                trigger_key=TRIGGER_KEY,
                payload={"source_url": config.url, "item_id": item_id, "item": item},
                source=EventSource.POLL,
                dedupe_key=f"poll:{rule.pk}:{item_id}",
            )
    except DuplicateEventError:
        return None  # another poll recorded it first
    except ValidationError as exc:
        # Remembered anyway: the same item would fail the same way on every poll.
        logger.warning("rule %s: item %s skipped: %s", rule.pk, item_id, exc.as_dict())
        PollSeenItem.objects.bulk_create(
            [PollSeenItem(rule=rule, item_id=item_id)], ignore_conflicts=True
        )
        return None


def _items(document: Any, path: str) -> list[Any]:
    """Return the list at the dotted ``path`` of the answer; raise SourceError if none."""
    found = _dig(document, path) if path else document
    if not isinstance(found, list):
        where = f"at {path!r}" if path else "at the top of the answer"
        raise SourceError(f"the answer has no list of items {where}")
    return found


def _item_id(item: Any, config: PollConfig) -> str:
    """Return an item's id as text ('' when it has none); overlong ids are hashed."""
    if not isinstance(item, dict):
        return ""
    value = _dig(item, config.id_field)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return ""
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        text = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text


def _dig(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document
