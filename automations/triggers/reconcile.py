"""Reconciliation: events received against executions finished and dead-lettered, per rule and day.

:func:`daily_report` answers "did every event this rule should have seen turn into a finished
execution?" for a workspace; :func:`find_unprocessed` lists the events accepted but still
pending long after the sweeper should have dispatched them (SPEC 8.1: no accepted event is
lost), and :func:`reconcile` (the periodic task) logs and mails the operators about them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import mail_admins
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Workspace
from automations.models import Execution, ExecutionStatus, Rule
from automations.triggers import RULE_SCOPED_TRIGGERS, target_rule_id
from catalog.models import Event, EventStatus
from catalog.types import format_datetime

logger = logging.getLogger(__name__)

DEFAULT_UNPROCESSED_AFTER = timedelta(minutes=15)
UNFINISHED = (
    ExecutionStatus.PENDING,
    ExecutionStatus.RUNNING,
    ExecutionStatus.WAITING,
    ExecutionStatus.HELD,
)


@dataclass(frozen=True, slots=True)
class RuleDay:
    """One rule on one day (UTC): events of its trigger, and what became of its executions.

    ``events`` counts the workspace's events of the rule's trigger (for schedules, metrics and
    polls: the rule's own); ``executions`` the top-level executions started that day, of which
    ``succeeded``, ``dead`` (dead-lettered), ``loops`` and ``unfinished`` (pending, running,
    waiting or held).
    """

    day: date
    rule_id: int
    rule: str
    trigger_key: str
    events: int
    executions: int
    succeeded: int
    dead: int
    loops: int
    unfinished: int


@dataclass(frozen=True, slots=True)
class Unprocessed:
    """An event accepted but still not dispatched."""

    event_id: str
    workspace_id: int
    trigger_key: str
    recorded_at: datetime


def daily_report(workspace: Workspace, *, since: date, until: date) -> list[RuleDay]:
    """Return one row per rule and UTC day in [since, until], days without activity left out.

    Rows are ordered by day, then rule name.
    """
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    events = Event.objects.filter(workspace=workspace, recorded_at__gte=start, recorded_at__lt=end)
    by_trigger: Counter[tuple[date, str]] = Counter()
    by_rule: Counter[tuple[date, int]] = Counter()
    day_of = TruncDate("recorded_at", tzinfo=UTC)
    rows = events.annotate(day=day_of).values("day", "trigger_key").annotate(n=Count("id"))
    for row in rows:
        by_trigger[(row["day"], row["trigger_key"])] = row["n"]
    scoped = events.filter(trigger_key__in=RULE_SCOPED_TRIGGERS).annotate(day=day_of)
    for day, trigger_key, dedupe_key in scoped.values_list("day", "trigger_key", "dedupe_key"):
        rule_id = target_rule_id(trigger_key, dedupe_key)
        if rule_id is not None:
            by_rule[(day, rule_id)] += 1
    executions = (
        Execution.objects.filter(
            workspace=workspace, parent__isnull=True, created_at__gte=start, created_at__lt=end
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "rule_id")
        .annotate(
            total=Count("id"),
            succeeded=Count("id", filter=Q(status=ExecutionStatus.SUCCEEDED)),
            dead=Count("id", filter=Q(status=ExecutionStatus.DEAD)),
            loops=Count("id", filter=Q(status=ExecutionStatus.LOOP)),
            unfinished=Count("id", filter=Q(status__in=UNFINISHED)),
        )
    )
    runs: dict[tuple[date, int], dict[str, Any]] = {
        (row["day"], row["rule_id"]): dict(row) for row in executions
    }
    report: list[RuleDay] = []
    rules = list(Rule.objects.filter(workspace=workspace).order_by("name", "id"))
    day = since
    while day <= until:
        for rule in rules:
            if rule.trigger_key in RULE_SCOPED_TRIGGERS:
                received = by_rule[(day, rule.pk)]
            else:
                received = by_trigger[(day, rule.trigger_key)]
            run: dict[str, Any] = runs.get((day, rule.pk), {})
            if not received and not run:
                continue
            report.append(
                RuleDay(
                    day=day,
                    rule_id=rule.pk,
                    rule=rule.name,
                    trigger_key=rule.trigger_key,
                    events=received,
                    executions=run.get("total", 0),
                    succeeded=run.get("succeeded", 0),
                    dead=run.get("dead", 0),
                    loops=run.get("loops", 0),
                    unfinished=run.get("unfinished", 0),
                )
            )
        day += timedelta(days=1)
    return report


def find_unprocessed(
    older_than: timedelta, *, now: datetime | None = None, limit: int = 1000
) -> list[Unprocessed]:
    """Return the events still pending ``older_than`` after they were recorded, oldest first."""
    cutoff = (now or timezone.now()) - older_than
    # Served by the partial index event_pending_idx (status = pending, by recorded_at).
    pending = Event.objects.filter(status=EventStatus.PENDING, recorded_at__lt=cutoff).order_by(
        "recorded_at"
    )
    return [
        Unprocessed(str(pk), workspace_id, trigger_key, recorded_at)
        for pk, workspace_id, trigger_key, recorded_at in pending.values_list(
            "pk", "workspace_id", "trigger_key", "recorded_at"
        )[:limit]
    ]


def reconcile(*, now: datetime | None = None) -> list[Unprocessed]:
    """Alert the operators (error log and ``mail_admins``) about events never processed.

    Returns them. The threshold is ``TYPEWIRE_UNPROCESSED_AFTER_SECONDS`` (15 minutes by
    default: the sweeper re-dispatches after 30 seconds, so anything older is stuck).
    """
    seconds = getattr(settings, "TYPEWIRE_UNPROCESSED_AFTER_SECONDS", None)
    older_than = timedelta(seconds=seconds) if seconds else DEFAULT_UNPROCESSED_AFTER
    stuck = find_unprocessed(older_than, now=now)
    if not stuck:
        return stuck
    per_workspace = Counter(item.workspace_id for item in stuck)
    summary = ", ".join(f"workspace {ws}: {n}" for ws, n in sorted(per_workspace.items()))
    oldest = stuck[0]
    when = format_datetime(oldest.recorded_at)
    message = (
        f"{len(stuck)} accepted event(s) still not processed after {older_than} ({summary}); "
        f"the oldest, {oldest.event_id} ({oldest.trigger_key}), was recorded at {when}. "
        "Check the workers, the broker and the sweeper."
    )
    logger.error(message)
    mail_admins("Typewire: events not processed", message, fail_silently=True)
    return stuck
