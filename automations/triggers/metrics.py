"""metric_threshold: samples in, one event per crossing that lasts the rule's duration.

A rule watches one metric ("cpu above 90 for 5 minutes"). The samples decide everything: the
current *crossing* starts at the first sample past the threshold after the latest sample that
was not past it, and it fires once its age reaches the duration while the latest sample is
still past the threshold. The event's dedupe key is ``metric:<rule id>:<crossing start>``, so
one crossing fires once however many samples or evaluations follow (hysteresis: only a sample
back across the threshold starts a new crossing). Samples arriving out of order, or two
evaluations racing, change nothing of that.

``MetricState`` caches each rule's standing for the periodic evaluation
(``automations.evaluate_metrics``), which fires crossings whose duration elapsed while no new
sample came in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Workspace
from automations.models import Rule
from automations.trigger_models import MetricSample, MetricState
from catalog.events import DuplicateEventError, record_event
from catalog.models import Event, EventSource
from catalog.types import format_datetime, format_decimal, parse_decimal, parse_duration

logger = logging.getLogger(__name__)

TRIGGER_KEY = "metric_threshold"
MAX_NAME_LENGTH = 100
# Sample values are stored with 6 decimal places and at most 18 digits before the point.
MAX_ABS_VALUE = Decimal("1e18")


class Direction(StrEnum):
    """Which side of the threshold fires."""

    ABOVE = "above"
    BELOW = "below"


@dataclass(frozen=True, slots=True)
class ThresholdConfig:
    """A metric_threshold rule's configuration, parsed."""

    metric: str
    threshold: Decimal
    direction: Direction
    duration: timedelta

    @classmethod
    def of_rule(cls, rule: Rule) -> ThresholdConfig:
        """Return the configuration of a saved rule (validated by the checker on save)."""
        trigger = rule.definition.get("trigger", {}) if isinstance(rule.definition, dict) else {}
        config: dict[str, Any] = trigger.get("config") or {}
        threshold = parse_decimal(config.get("threshold"))
        if threshold is None:
            raise ValueError(f"rule {rule.pk}: threshold {config.get('threshold')!r} is no number")
        duration = parse_duration(str(config["duration"])) if config.get("duration") else None
        return cls(
            metric=str(config.get("metric", "")),
            threshold=threshold,
            direction=Direction(config.get("direction", Direction.ABOVE)),
            duration=duration or timedelta(0),
        )

    def is_past(self, value: Decimal) -> bool:
        """Return whether ``value`` is past the threshold (strictly above, or strictly below)."""
        if self.direction == Direction.ABOVE:
            return value > self.threshold
        return value < self.threshold

    def past_filter(self) -> Q:
        """The samples past the threshold, as a query filter."""
        if self.direction == Direction.ABOVE:
            return Q(value__gt=self.threshold)
        return Q(value__lt=self.threshold)


@dataclass(frozen=True, slots=True)
class Recorded:
    """A stored sample and the metric_threshold events it fired (usually none)."""

    sample: MetricSample
    fired: list[Event] = field(default_factory=list)


class SampleInvalid(ValueError):
    """A sample that cannot be stored: empty or overlong name, or a value that is no number."""


def clean_value(value: object) -> Decimal:
    """Return ``value`` as a storable Decimal; raise SampleInvalid when it is not a number."""
    number = parse_decimal(value)
    if number is None:
        raise SampleInvalid(f"{value!r} is not a number.")
    if abs(number) >= MAX_ABS_VALUE:
        raise SampleInvalid(f"{value!r} is too large (at most 18 digits before the point).")
    return number.quantize(Decimal("0.000001"))


def record_sample(
    *, workspace: Workspace, name: str, value: object, at: datetime | None = None
) -> Recorded:
    """Store one sample of metric ``name`` and evaluate the enabled rules watching it.

    ``at`` is when the value was measured (now by default). Returns the sample and the events
    it fired; raises SampleInvalid for a bad name or value. One transaction: the sample and
    the events it causes commit together.
    """
    if not name or len(name) > MAX_NAME_LENGTH:
        raise SampleInvalid(f"A metric name has 1 to {MAX_NAME_LENGTH} characters.")
    number = clean_value(value)
    at = at or timezone.now()
    with transaction.atomic():
        sample = MetricSample.objects.create(
            workspace=workspace, name=name, value=number, recorded_at=at
        )
        # A late sample (older than the newest) is judged with the newest one in view.
        newest = _series(workspace, name).order_by("-recorded_at", "-id").first()
        as_of = max(at, newest.recorded_at) if newest else at
        fired = [
            event
            for rule in watching_rules(workspace, name)
            if (event := evaluate_rule(rule, as_of=as_of)) is not None
        ]
    return Recorded(sample, fired)


def watching_rules(workspace: Workspace, name: str) -> QuerySet[Rule]:
    """Return the workspace's enabled metric_threshold rules on metric ``name``."""
    return Rule.objects.filter(
        workspace=workspace,
        trigger_key=TRIGGER_KEY,
        is_enabled=True,
        definition__trigger__config__metric=name,
    ).select_related("workspace")


def evaluate_rule(rule: Rule, *, as_of: datetime) -> Event | None:
    """Judge the rule's metric as of ``as_of``; record and return its event if it fires now.

    Returns None when the metric is not past the threshold, when the crossing is younger than
    the duration, or when this crossing already fired. Updates the rule's ``MetricState``.
    Call inside ``transaction.atomic()``.
    """
    config = ThresholdConfig.of_rule(rule)
    series = _series(rule.workspace, config.metric).filter(recorded_at__lte=as_of)
    latest = series.order_by("-recorded_at", "-id").first()
    if latest is None or not config.is_past(latest.value):
        _store_state(rule, config, as_of, since=None, fired=False, latest=latest)
        return None
    last_back = series.exclude(config.past_filter()).order_by("-recorded_at", "-id").first()
    crossing = series.filter(config.past_filter())
    if last_back is not None:
        crossing = crossing.filter(recorded_at__gt=last_back.recorded_at)
    start = crossing.order_by("recorded_at", "id").first() or latest
    since = start.recorded_at
    if as_of - since < config.duration:
        _store_state(rule, config, as_of, since=since, fired=False, latest=latest)
        return None
    event = _fire(rule, config, latest.value, since)
    _store_state(rule, config, as_of, since=since, fired=True, latest=latest)
    return event


def evaluate_due(*, now: datetime | None = None) -> list[Event]:
    """Fire the crossings whose duration elapsed without a new sample; return the events.

    Reads the ``MetricState`` rows past their threshold and not fired yet (a partial index).
    """
    now = now or timezone.now()
    waiting = MetricState.objects.filter(
        is_past=True,
        fired=False,
        rule__is_enabled=True,
        rule__trigger_key=TRIGGER_KEY,
    ).select_related("rule__workspace")
    fired: list[Event] = []
    for state in waiting:
        try:
            if ThresholdConfig.of_rule(state.rule).metric != state.metric:
                state.delete()  # the rule now watches another metric
                continue
            with transaction.atomic():
                event = evaluate_rule(state.rule, as_of=now)
        except ValueError:
            logger.exception("rule %s: metric evaluation failed", state.rule_id)
            continue
        if event is not None:
            fired.append(event)
    return fired


def _series(workspace: Workspace, name: str) -> QuerySet[MetricSample]:
    return MetricSample.objects.filter(workspace=workspace, name=name)


def _fire(rule: Rule, config: ThresholdConfig, value: Decimal, since: datetime) -> Event | None:
    """Record the crossing's event; None when it was recorded before (the same crossing)."""
    try:
        return record_event(
            workspace=rule.workspace,
            trigger_key=TRIGGER_KEY,
            payload={
                "metric": config.metric,
                "value": format_decimal(value.normalize()),
                "threshold": format_decimal(config.threshold),
                "direction": config.direction.value,
                "since": since,
            },
            source=EventSource.MONITOR,
            dedupe_key=f"metric:{rule.pk}:{format_datetime(since)}",
        )
    except DuplicateEventError:
        return None


def _store_state(
    rule: Rule,
    config: ThresholdConfig,
    as_of: datetime,
    *,
    since: datetime | None,
    fired: bool,
    latest: MetricSample | None,
) -> None:
    """Write the rule's standing, unless a later evaluation already wrote a newer one."""
    MetricState.objects.bulk_create(
        [MetricState(rule=rule, metric=config.metric)], ignore_conflicts=True
    )
    MetricState.objects.filter(rule=rule, metric=config.metric).filter(
        Q(evaluated_at__isnull=True) | Q(evaluated_at__lte=as_of)
    ).update(
        is_past=since is not None,
        since=since,
        fired=fired,
        last_value=latest.value if latest else None,
        evaluated_at=as_of,
    )
