"""Blast-radius limits of a rule: a rate cap, a circuit breaker, a spike check, pause and resume.

- **Rate cap** (``Rule.rate_limit_per_minute``): dispatch (and ``run_rule``, for the rule it
  chains) lets at most that many executions of the rule through per clock minute (counted by
  ``Execution.admitted_at``); the rest are created held, and the sweeper releases them, oldest
  first, as later minutes have room.
- **Circuit breaker** (``Rule.breaker_threshold``, ``Rule.breaker_failure_ratio``): after the
  given number of consecutive dead-lettered executions, or when the share of dead ones among the
  last ``TYPEWIRE_BREAKER_RATIO_WINDOW`` settled executions reaches the ratio, the rule is paused.
- **Spike check** (``automations.check_rule_spikes``): a rule that fired in the last hour more
  than ``TYPEWIRE_SPIKE_FACTOR`` times its 7-day median per hour (and at least
  ``TYPEWIRE_SPIKE_MIN_EXECUTIONS`` times) is paused.

A paused rule still matches events: their executions are created held, so nothing is lost.
Pausing also holds the rule's executions that were pending or waiting, and tells the rule's
alert target and owner. :func:`resume_rule` clears the pause and releases the held executions
(within the rate cap; the sweeper releases the rest). The decisions are pure functions of plain
values; the functions below them only read and write rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.audit import record_change
from accounts.models import AuditObject
from automations.engine.alerts import send_pause_alerts
from automations.engine.queue import enqueue_runs
from automations.models import Execution, ExecutionStatus, Rule

logger = logging.getLogger(__name__)

WINDOW = dt.timedelta(minutes=1)
SPIKE_HISTORY = dt.timedelta(days=7)
HOUR = dt.timedelta(hours=1)
# Executions a pause holds: nothing of a paused rule starts or resumes until it is resumed.
HOLDABLE = (ExecutionStatus.PENDING, ExecutionStatus.WAITING)
SETTLED = (ExecutionStatus.SUCCEEDED, ExecutionStatus.DEAD)


class PauseCause(StrEnum):
    """Why Typewire paused a rule."""

    BREAKER = "breaker"
    SPIKE = "spike"


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


# ---------------------------------------------------------------------------------------------
# Pure decisions


def window_start(moment: dt.datetime) -> dt.datetime:
    """Return the start of the clock minute holding ``moment`` (the rate cap's window)."""
    return moment.replace(second=0, microsecond=0)


def room(cap: int | None, admitted_in_window: int) -> int | None:
    """Return how many more executions the window lets through; None when there is no cap."""
    if cap is None:
        return None
    return max(cap - admitted_in_window, 0)


def admission(
    *, is_paused: bool, cap: int | None, admitted_in_window: int, has_backlog: bool
) -> ExecutionStatus:
    """Return the status a new execution of a rule is created with: pending or held.

    Held when the rule is paused, or when it has a cap and either the window is full or older
    executions are still held (new ones queue behind them, so held events run in order).
    """
    if is_paused:
        return ExecutionStatus.HELD
    free = room(cap, admitted_in_window)
    if free is None:
        return ExecutionStatus.PENDING
    if has_backlog or free == 0:
        return ExecutionStatus.HELD
    return ExecutionStatus.PENDING


def consecutive_failures(statuses_newest_first: Iterable[str]) -> int:
    """Return how many dead-lettered executions come before the latest success."""
    count = 0
    for status in statuses_newest_first:
        if status != ExecutionStatus.DEAD:
            break
        count += 1
    return count


def breaker_verdict(
    statuses_newest_first: Sequence[str],
    *,
    threshold: int | None,
    ratio: float | None,
    ratio_window: int,
) -> str | None:
    """Return why the breaker trips (plain English), or None when it holds.

    ``statuses_newest_first`` are the rule's settled executions (succeeded or dead), newest
    first. The ratio only applies once ``ratio_window`` of them exist.
    """
    if threshold is not None:
        streak = consecutive_failures(statuses_newest_first[:threshold])
        if streak >= threshold:
            return (
                f"its last {streak} executions were dead-lettered "
                f"(the breaker trips at {threshold} in a row)"
            )
    if ratio is not None and len(statuses_newest_first) >= ratio_window:
        recent = statuses_newest_first[:ratio_window]
        dead = sum(1 for status in recent if status == ExecutionStatus.DEAD)
        if dead / ratio_window >= ratio:
            return (
                f"{dead} of its last {ratio_window} executions were dead-lettered "
                f"(the breaker trips at {ratio:.0%})"
            )
    return None


@dataclass(frozen=True, slots=True)
class Spike:
    """A rule firing far above its usual rate: executions in the last hour against its median."""

    current: int
    median: float
    factor: float

    def describe(self) -> str:
        """Plain English, for the pause reason and the alert."""
        return (
            f"it fired {self.current} times in the last hour, over {self.factor:g}x its usual "
            f"{self.median:g} per hour (the median of the last 7 days)"
        )


def spike_verdict(
    current: int,
    hourly: Sequence[int],
    *,
    factor: float,
    min_count: int,
    min_hours: int,
) -> Spike | None:
    """Return the spike when ``current`` is over ``factor`` times the median of ``hourly``.

    ``hourly`` holds one count per past hour (zeros included). No verdict below ``min_count``
    executions (tiny rules do not alert) or with fewer than ``min_hours`` hours of history
    (a new rule has no usual rate yet).
    """
    if current < min_count or len(hourly) < min_hours:
        return None
    median = float(statistics.median(hourly))
    if current > factor * median:
        return Spike(current=current, median=median, factor=factor)
    return None


# ---------------------------------------------------------------------------------------------
# Dispatch: pending or held


def _admitted_in_window(rule_id: int, now: dt.datetime) -> int:
    start = window_start(now)
    # execution_admitted_idx
    return Execution.objects.filter(
        rule_id=rule_id, admitted_at__gte=start, admitted_at__lt=start + WINDOW
    ).count()


def _has_backlog(rule_id: int) -> bool:
    # execution_held_idx
    return Execution.objects.filter(rule_id=rule_id, status=ExecutionStatus.HELD).exists()


def admit(rules: Sequence[Rule], *, now: dt.datetime) -> dict[int, ExecutionStatus]:
    """Return, per rule id, the status of its new execution (pending or held).

    Call inside the dispatch transaction, which then creates the executions: the rows of rules
    with a cap are locked (in id order) so that concurrent dispatches count each other.
    """
    capped = sorted(r.pk for r in rules if r.rate_limit_per_minute is not None and not r.is_paused)
    locked = (
        {
            rule.pk: rule
            for rule in Rule.objects.select_for_update().filter(pk__in=capped).order_by("pk")
        }
        if capped
        else {}
    )
    decisions: dict[int, ExecutionStatus] = {}
    for given in rules:
        rule = locked.get(given.pk, given)
        cap = rule.rate_limit_per_minute if rule.pk in locked else None
        decisions[rule.pk] = admission(
            is_paused=rule.is_paused,
            cap=cap,
            admitted_in_window=_admitted_in_window(rule.pk, now) if cap is not None else 0,
            has_backlog=_has_backlog(rule.pk) if cap is not None else False,
        )
    return decisions


# ---------------------------------------------------------------------------------------------
# Releasing held executions


def release_held(rule_id: int, *, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Release the rule's oldest held executions the window has room for; return their ids.

    Nothing is released while the rule is paused. Released executions become pending, are
    admitted now (they count against this minute's cap) and are enqueued after the commit.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None or rule.is_paused:
            return []
        free = room(rule.rate_limit_per_minute, _admitted_in_window(rule.pk, moment))
        count = limit if free is None else min(free, limit)
        if count == 0:
            return []
        ids = list(
            Execution.objects.filter(rule_id=rule.pk, status=ExecutionStatus.HELD)
            .order_by("created_at", "id")
            .values_list("pk", flat=True)[:count]
        )
        Execution.objects.filter(pk__in=ids, status=ExecutionStatus.HELD).update(
            status=ExecutionStatus.PENDING, admitted_at=moment
        )
        enqueue_runs(ids)
    return ids


def release_all_held(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Release held executions of every unpaused rule, within each cap; return how many.

    At most ``limit`` in all; the next call carries on.
    """
    moment = now or timezone.now()
    rule_ids = list(
        Execution.objects.filter(status=ExecutionStatus.HELD, rule__paused_at__isnull=True)
        .order_by()
        .values_list("rule_id", flat=True)
        .distinct()
    )
    released = 0
    for rule_id in sorted(rule_ids):
        if released >= limit:
            break
        released += len(release_held(rule_id, now=moment, limit=limit - released))
    return released


# ---------------------------------------------------------------------------------------------
# Pausing and resuming


def pause_rule(
    rule_id: int,
    *,
    cause: PauseCause,
    reason: str,
    execution: Execution | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Pause a rule that is not paused yet; return whether this call paused it.

    Holds the rule's pending and waiting top-level executions and records alerts to its alert
    target and owner (sent once the transaction commits). ``execution`` is the one that tripped
    the breaker, named in the alert. A rule paused already is left alone (no second alert).
    """
    moment = now or timezone.now()
    text = f"Paused by Typewire ({cause.value}): {reason}."
    with transaction.atomic():
        paused = Rule.objects.filter(pk=rule_id, paused_at__isnull=True).update(
            paused_at=moment, paused_reason=text[:500]
        )
        if not paused:
            return False
        held = Execution.objects.filter(
            rule_id=rule_id, parent__isnull=True, status__in=HOLDABLE
        ).update(status=ExecutionStatus.HELD, resume_at=None, admitted_at=None)
        rule = Rule.objects.select_related("owner").get(pk=rule_id)
        record_change(
            workspace=rule.workspace_id,
            actor=None,
            action="paused",
            object_type=AuditObject.RULE,
            object_id=rule.pk,
            object_label=rule.name,
            changes={"cause": cause.value, "reason": text, "held": held},
        )
        logger.warning("rule %s paused (%s): %s; %s held", rule_id, cause, reason, held)
        send_pause_alerts(rule, text, execution=execution)
    return True


@dataclass(frozen=True, slots=True)
class ResumeResult:
    """A resumed rule and the held executions released at once (the sweeper does the rest)."""

    rule: Rule
    released: list[int]


def resume_rule(*, rule: Rule, now: dt.datetime | None = None) -> ResumeResult:
    """Clear the rule's pause and release its held executions (within its rate cap).

    Safe to call on a rule that is not paused: held executions (over the cap) are released
    as the window allows. The breaker and the spike check count from now on.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Rule.objects.select_for_update().get(pk=rule.pk)
        if locked.is_paused:
            locked.paused_at = None
            locked.paused_reason = ""
            locked.resumed_at = moment
            locked.save(update_fields=["paused_at", "paused_reason", "resumed_at", "updated_at"])
        released = release_held(locked.pk, now=moment)
    return ResumeResult(rule=locked, released=released)


# ---------------------------------------------------------------------------------------------
# The breaker


def ratio_window() -> int:
    """How many settled executions the failure ratio reads (``TYPEWIRE_BREAKER_RATIO_WINDOW``)."""
    return max(int(_setting("TYPEWIRE_BREAKER_RATIO_WINDOW", 20)), 1)


def recent_settled(rule: Rule, count: int) -> list[str]:
    """Return the statuses of the rule's last ``count`` settled executions, newest first.

    Executions chained by ``run_rule`` count too. Only those that finished since the rule was
    last resumed: a resume starts a fresh count.
    """
    settled = Execution.objects.filter(
        workspace_id=rule.workspace_id,
        rule_id=rule.pk,
        status__in=SETTLED,
    )
    if rule.resumed_at is not None:
        settled = settled.filter(finished_at__gte=rule.resumed_at)
    # Newest by creation, as execution_rule_idx is ordered.
    return list(settled.order_by("-created_at", "-id").values_list("status", flat=True)[:count])


def check_breaker(execution: Execution) -> bool:
    """After ``execution`` was dead-lettered: pause its rule if the breaker trips; return whether.

    Call in the transaction that dead-letters it. An execution chained by ``run_rule`` counts
    for its own rule (the chained one); its parent then counts for the parent's rule.
    """
    rule = Rule.objects.get(pk=execution.rule_id)
    threshold, ratio = rule.breaker_threshold, rule.breaker_failure_ratio
    if rule.is_paused or (threshold is None and ratio is None):
        return False
    window = ratio_window()
    statuses = recent_settled(rule, max(threshold or 0, window if ratio is not None else 0))
    why = breaker_verdict(statuses, threshold=threshold, ratio=ratio, ratio_window=window)
    if why is None:
        return False
    return pause_rule(rule.pk, cause=PauseCause.BREAKER, reason=why, execution=execution)


# ---------------------------------------------------------------------------------------------
# The spike check


def _floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def hourly_counts(rule: Rule, *, now: dt.datetime) -> list[int]:
    """Return the rule's executions per clock hour (UTC) in the 7 days before the last hour.

    Hours before the rule existed (or before it was last resumed) are left out; hours without
    executions count as zero.
    """
    end = _floor_hour(now - HOUR)
    start = end - SPIKE_HISTORY
    since = max(filter(None, [rule.created_at, rule.resumed_at]))
    # Only whole hours of the rule's life: the hour it was created in is partial.
    if _floor_hour(since) + HOUR > start:
        start = _floor_hour(since) + HOUR
    if start >= end:
        return []
    rows = (
        Execution.objects.filter(
            workspace_id=rule.workspace_id,
            rule_id=rule.pk,
            parent__isnull=True,
            created_at__gte=start,
            created_at__lt=end,
        )
        .annotate(hour=TruncHour("created_at", tzinfo=dt.UTC))
        .order_by()
        .values("hour")
        .annotate(n=Count("id"))
    )
    by_hour = {row["hour"]: row["n"] for row in rows}
    hours = int((end - start) / HOUR)
    return [by_hour.get(start + i * HOUR, 0) for i in range(hours)]


def check_spikes(*, now: dt.datetime | None = None) -> list[int]:
    """Pause every enabled, unpaused rule that fires far above its usual rate; return their ids.

    Settings: ``TYPEWIRE_SPIKE_FACTOR`` (10), ``TYPEWIRE_SPIKE_MIN_EXECUTIONS`` (100 in the last
    hour) and ``TYPEWIRE_SPIKE_MIN_HISTORY_HOURS`` (24 hours of history before judging).
    """
    moment = now or timezone.now()
    factor = _setting("TYPEWIRE_SPIKE_FACTOR", 10.0)
    min_count = int(_setting("TYPEWIRE_SPIKE_MIN_EXECUTIONS", 100))
    min_hours = int(_setting("TYPEWIRE_SPIKE_MIN_HISTORY_HOURS", 24))
    # One grouped query finds the rules busy enough to judge; a resume restarts the count.
    busy = (
        Execution.objects.filter(
            parent__isnull=True,
            created_at__gt=moment - HOUR,
            created_at__lte=moment,
            rule__is_enabled=True,
            rule__paused_at__isnull=True,
        )
        .filter(Q(rule__resumed_at__isnull=True) | Q(created_at__gte=F("rule__resumed_at")))
        .order_by()
        .values("rule_id")
        .annotate(n=Count("id"))
        .filter(n__gte=min_count)
    )
    current = {row["rule_id"]: row["n"] for row in busy}
    paused: list[int] = []
    for rule in Rule.objects.filter(pk__in=current).order_by("pk"):
        spike = spike_verdict(
            current[rule.pk],
            hourly_counts(rule, now=moment),
            factor=factor,
            min_count=min_count,
            min_hours=min_hours,
        )
        if spike is None:
            continue
        if pause_rule(rule.pk, cause=PauseCause.SPIKE, reason=spike.describe(), now=moment):
            paused.append(rule.pk)
    return paused
