"""Dispatch: one stored event to one Execution per matching enabled rule, exactly once.

The event row is locked while it is matched, the executions are inserted under the
(event, rule) unique constraint and the event is marked dispatched in the same transaction, so
a redelivered or re-published dispatch of the same event creates nothing new and enqueues
nothing twice. An execution of a paused rule, or of a rule over its rate cap, is created held
and not enqueued (see ``automations.engine.limits``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from automations.engine.limits import admit
from automations.engine.queue import enqueue_run
from automations.engine.scope import RuleBroken, compiled_rule
from automations.matching import config_mismatch
from automations.models import Execution, ExecutionStatus, Rule
from automations.triggers import target_rule_id
from catalog.events import mark_event
from catalog.models import Event, EventStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What one dispatch did: executions enqueued and held, and why rules were left out."""

    event_id: str
    dispatched: bool
    execution_ids: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    held_ids: list[int] = field(default_factory=list)


def matches(rule: Rule, event: Event) -> str | None:
    """Return why ``rule`` does not fire for ``event`` (plain English), or None when it does."""
    try:
        compiled = compiled_rule(rule)
    except RuleBroken as exc:
        logger.warning("rule %s cannot run: %s", rule.pk, exc)
        return str(exc)
    mismatch = config_mismatch(rule.trigger_key, compiled.draft.trigger.config, event.payload)
    if mismatch:
        return mismatch
    resolver = compiled.resolver(event.payload, event.workspace_id)
    if not compiled.conditions.matches(resolver.resolve):
        return "The rule's conditions do not hold."
    return None


def dispatch_event(event_id: uuid.UUID | str, *, now: dt.datetime | None = None) -> DispatchResult:
    """Match a pending event against the enabled rules of its trigger; create their executions.

    Returns what was done. An event that is no longer pending (already dispatched, stale,
    skipped) or does not exist is left alone: nothing is created or enqueued. Each new
    execution records the rule's version and is enqueued after the commit, unless its rule is
    paused or over its rate cap (``now`` says which minute): then it is created held.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        # The row lock serialises two dispatchers of one event; the loser finds it dispatched.
        event = (
            Event.objects.select_for_update()
            .filter(pk=event_id, status=EventStatus.PENDING)
            .first()
        )
        if event is None:
            return DispatchResult(str(event_id), dispatched=False)
        # One indexed query (rule_enabled_trigger_idx), never a scan of every rule.
        candidates = Rule.objects.select_related("workspace").filter(
            workspace_id=event.workspace_id, trigger_key=event.trigger_key, is_enabled=True
        )
        # A schedule tick, a metric crossing or a polled item belongs to the one rule it was
        # recorded for: another cron rule must not fire on this rule's tick.
        target = target_rule_id(event.trigger_key, event.dedupe_key)
        if target is not None:
            candidates = candidates.filter(pk=target)
        rules = list(candidates)
        skipped: dict[int, str] = {}
        matching: list[Rule] = []
        for rule in rules:
            why = matches(rule, event)
            if why is None:
                matching.append(rule)
            else:
                skipped[rule.pk] = why
        admitted = admit(matching, now=moment)
        Execution.objects.bulk_create(
            [
                Execution(
                    workspace_id=event.workspace_id,
                    rule=rule,
                    rule_version=rule.version,
                    event=event,
                    status=admitted[rule.pk],
                    admitted_at=moment if admitted[rule.pk] == ExecutionStatus.PENDING else None,
                )
                for rule in matching
            ],
            ignore_conflicts=True,
        )
        created = Execution.objects.filter(
            event=event,
            parent__isnull=True,
            status__in=[ExecutionStatus.PENDING, ExecutionStatus.HELD],
        ).order_by("id")
        execution_ids: list[int] = []
        held_ids: list[int] = []
        for execution_id, status in created.values_list("pk", "status"):
            (held_ids if status == ExecutionStatus.HELD else execution_ids).append(execution_id)
        detail = f"{len(matching)} of {len(rules)} enabled rule(s) matched"
        if held_ids:
            detail += f", {len(held_ids)} held (paused or over the rate cap)"
        mark_event(event.pk, status=EventStatus.DISPATCHED, detail=detail)
        for execution_id in execution_ids:
            enqueue_run(execution_id)
    return DispatchResult(str(event.pk), True, execution_ids, skipped, held_ids)
