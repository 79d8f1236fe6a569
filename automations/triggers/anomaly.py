"""anomaly_detected: hourly KPIs of each workspace against an EWMA baseline, one event per episode.

Every complete hour, per workspace, four KPIs are computed from the domain:

- ``order_count``: orders placed in the hour;
- ``revenue``: the totals of those orders, cancelled ones left out;
- ``average_order_value``: revenue divided by the orders not cancelled (0 without any);
- ``refund_rate``: refunds recorded in the hour (``refund_created`` events) per order placed
  in it (the refunds themselves when no order was placed).

Each KPI keeps an exponentially weighted mean and variance (``KpiBaseline``; anomalous hours are
folded in clipped, so a spike does not inflate the baseline). Once it has seen
``MIN_SAMPLES`` hours, a value further than ``K`` deviations from the mean is anomalous (the
deviation has a floor, so a flat history does not make every wobble an anomaly; a falling
refund rate is good news and never is). Severity grows with the distance: P3 from ``K``
deviations, P2 from 1.5 ``K``, P1 from 2 ``K``. Consecutive anomalous hours form one *episode*
and fire one event, keyed ``anomaly:<kpi>:<episode start>``; the episode ends with the first
normal hour. The event names the products involved: those of the refunded orders for the
refund rate, else the most frequent ones in the hour's orders.

The hourly values are also stored as metric samples named ``kpi.<kpi>`` so metric_threshold
rules can watch them ("refund rate above 0.2 for 2 hours").
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.models import Workspace
from automations.trigger_models import KpiBaseline
from automations.triggers.metrics import record_sample
from catalog.events import DuplicateEventError, record_event
from catalog.models import Event, EventSource, Order, OrderStatus
from catalog.types import format_datetime, format_decimal

logger = logging.getLogger(__name__)

TRIGGER_KEY = "anomaly_detected"
HOUR = timedelta(hours=1)
ALPHA = 0.1  # EWMA weight of the newest hour: about a day of memory
K = 3.0  # deviations from the mean that make an hour anomalous
MIN_SAMPLES = 24  # hours of history before anything is called anomalous
LOOKBACK = timedelta(days=7)  # history folded in on the first run (and the longest catch-up)
MAX_PRODUCTS = 20
# The deviation never counts as less than this fraction of the mean, nor this absolute floor.
RELATIVE_FLOOR = 0.1


class Kpi(StrEnum):
    """The KPIs watched for anomalies (catalog vocabulary ``KPIS``)."""

    REFUND_RATE = "refund_rate"
    ORDER_COUNT = "order_count"
    REVENUE = "revenue"
    AVERAGE_ORDER_VALUE = "average_order_value"


ABSOLUTE_FLOOR: Mapping[Kpi, float] = {
    Kpi.REFUND_RATE: 0.02,
    Kpi.ORDER_COUNT: 1.0,
    Kpi.REVENUE: 1.0,
    Kpi.AVERAGE_ORDER_VALUE: 1.0,
}
PLACES: Mapping[Kpi, Decimal] = {
    Kpi.REFUND_RATE: Decimal("0.0001"),
    Kpi.ORDER_COUNT: Decimal("1"),
    Kpi.REVENUE: Decimal("0.01"),
    Kpi.AVERAGE_ORDER_VALUE: Decimal("0.01"),
}


@dataclass(frozen=True, slots=True)
class HourFigures:
    """One hour of a workspace: its KPI values and the orders refunded in it."""

    start: datetime
    values: Mapping[Kpi, float]
    refunded_order_ids: list[int]


@dataclass(frozen=True, slots=True)
class Judgement:
    """How far an hour's value sits from the baseline, and the severity if it is anomalous."""

    deviation: float
    distance: float
    severity: str | None


def judge(kpi: Kpi, value: float, mean: float, variance: float, samples: int) -> Judgement:
    """Return the distance of ``value`` in deviations and its severity (None when normal)."""
    deviation = max(math.sqrt(max(variance, 0.0)), abs(mean) * RELATIVE_FLOOR, ABSOLUTE_FLOOR[kpi])
    distance = abs(value - mean) / deviation
    if samples < MIN_SAMPLES or distance <= K:
        return Judgement(deviation, distance, None)
    if kpi == Kpi.REFUND_RATE and value < mean:
        return Judgement(deviation, distance, None)  # fewer refunds than usual is no alarm
    if distance >= 2 * K:
        return Judgement(deviation, distance, "P1")
    if distance >= 1.5 * K:
        return Judgement(deviation, distance, "P2")
    return Judgement(deviation, distance, "P3")


def ewma(mean: float, variance: float, samples: int, value: float) -> tuple[float, float]:
    """Return the mean and variance after folding ``value`` in (the first value seeds both)."""
    if samples == 0:
        return value, 0.0
    delta = value - mean
    return mean + ALPHA * delta, (1 - ALPHA) * (variance + ALPHA * delta * delta)


def detect_all(*, now: datetime | None = None) -> list[Event]:
    """Fold every complete hour not yet seen into each workspace's baselines; return events."""
    now = now or timezone.now()
    events: list[Event] = []
    for workspace in Workspace.objects.filter(orders__isnull=False).distinct():
        events += detect_workspace(workspace, now=now)
    return events


def detect_workspace(workspace: Workspace, *, now: datetime | None = None) -> list[Event]:
    """Fold the workspace's complete hours up to ``now`` into its baselines; return events.

    One transaction with the baselines locked, so two runs at once fold each hour once.
    """
    now = now or timezone.now()
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    events: list[Event] = []
    with transaction.atomic():
        KpiBaseline.objects.bulk_create(
            [KpiBaseline(workspace=workspace, kpi=kpi.value) for kpi in Kpi], ignore_conflicts=True
        )
        baselines = {
            Kpi(b.kpi): b
            for b in KpiBaseline.objects.select_for_update().filter(workspace=workspace)
        }
        done = [b.last_bucket for b in baselines.values() if b.last_bucket is not None]
        start = min(done) + HOUR if done else _first_hour(workspace, end)
        start = max(start, end - LOOKBACK)
        for hour in hourly_figures(workspace, start, end):
            for kpi, baseline in baselines.items():
                if baseline.last_bucket is not None and baseline.last_bucket >= hour.start:
                    continue
                event = _fold(workspace, baseline, kpi, hour)
                if event is not None:
                    events.append(event)
            for kpi, value in hour.values.items():
                record_sample(
                    workspace=workspace,
                    name=f"kpi.{kpi.value}",
                    value=_rounded(kpi, value),
                    at=hour.start + HOUR,
                )
        for baseline in baselines.values():
            baseline.save()
    return events


def hourly_figures(workspace: Workspace, start: datetime, end: datetime) -> list[HourFigures]:
    """Return the KPI values of each hour in [start, end), empty hours included."""
    orders = Order.objects.filter(workspace=workspace, placed_at__gte=start, placed_at__lt=end)
    kept = ~Q(status=OrderStatus.CANCELLED)
    per_hour: dict[datetime, dict[str, Any]] = {
        row["hour"]: dict(row)
        for row in orders.annotate(hour=TruncHour("placed_at", tzinfo=UTC))
        .values("hour")
        .annotate(
            placed=Count("id"), kept=Count("id", filter=kept), revenue=Sum("total", filter=kept)
        )
    }
    refunds = Event.objects.filter(
        workspace=workspace,
        trigger_key="refund_created",
        occurred_at__gte=start,
        occurred_at__lt=end,
    )
    refunded_orders: dict[datetime, list[int]] = {}
    for occurred_at, payload in refunds.values_list("occurred_at", "payload"):
        hour = occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        refunded_orders.setdefault(hour, []).append(int(payload["order_id"]))
    figures: list[HourFigures] = []
    hour = start
    while hour < end:
        row: dict[str, Any] = per_hour.get(hour, {})
        placed, kept_count = int(row.get("placed", 0)), int(row.get("kept", 0))
        revenue = float(row.get("revenue") or 0)
        refund_ids = refunded_orders.get(hour, [])
        values = {
            Kpi.ORDER_COUNT: float(placed),
            Kpi.REVENUE: revenue,
            Kpi.AVERAGE_ORDER_VALUE: revenue / kept_count if kept_count else 0.0,
            Kpi.REFUND_RATE: len(refund_ids) / max(placed, 1),
        }
        figures.append(HourFigures(hour, values, refund_ids))
        hour += HOUR
    return figures


def products_involved(workspace: Workspace, hour: HourFigures, kpi: Kpi) -> list[int]:
    """Return the products behind an hour's KPI: of the refunded orders, else of all orders."""
    orders = Order.objects.filter(workspace=workspace)
    if kpi == Kpi.REFUND_RATE:
        orders = orders.filter(pk__in=hour.refunded_order_ids)
    else:
        orders = orders.filter(placed_at__gte=hour.start, placed_at__lt=hour.start + HOUR)
    return _top_products(orders.values_list("line_items", flat=True))


def _top_products(line_item_lists: Iterable[object]) -> list[int]:
    """Return the products of the orders' lines, most frequent first (ties by id)."""
    counts: Counter[int] = Counter()
    for lines in line_item_lists:
        for line in lines if isinstance(lines, list) else []:
            if isinstance(line, dict) and isinstance(line.get("product_id"), int):
                counts[line["product_id"]] += int(line.get("quantity") or 1)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [product_id for product_id, _ in ranked[:MAX_PRODUCTS]]


def _fold(workspace: Workspace, baseline: KpiBaseline, kpi: Kpi, hour: HourFigures) -> Event | None:
    """Judge one hour against the baseline, fire if it opens an episode, then fold it in.

    An anomalous value is folded in clipped to ``K`` deviations from the mean (a winsorised
    EWMA): a spike barely moves the baseline, while a lasting shift still becomes the new
    normal within a day or two.
    """
    value = hour.values[kpi]
    verdict = judge(kpi, value, baseline.mean, baseline.variance, baseline.samples)
    event: Event | None = None
    folded = value
    if verdict.severity is None:
        baseline.episode_start = None
    else:
        limit = K * verdict.deviation
        folded = min(max(value, baseline.mean - limit), baseline.mean + limit)
        if baseline.episode_start is None:
            baseline.episode_start = hour.start
            event = _fire(workspace, kpi, verdict.severity, value, baseline.mean, hour)
    baseline.mean, baseline.variance = ewma(
        baseline.mean, baseline.variance, baseline.samples, folded
    )
    baseline.samples += 1
    baseline.last_bucket = hour.start
    baseline.last_value = value
    return event


def _fire(
    workspace: Workspace, kpi: Kpi, severity: str, value: float, mean: float, hour: HourFigures
) -> Event | None:
    try:
        with transaction.atomic():
            return record_event(
                workspace=workspace,
                trigger_key=TRIGGER_KEY,
                payload={
                    "kpi": kpi.value,
                    "severity": severity,
                    "value": format_decimal(_rounded(kpi, value)),
                    "baseline": format_decimal(_rounded(kpi, mean)),
                    "product_ids": products_involved(workspace, hour, kpi),
                },
                source=EventSource.MONITOR,
                occurred_at=hour.start + HOUR,
                dedupe_key=f"anomaly:{kpi.value}:{format_datetime(hour.start)}",
            )
    except DuplicateEventError:
        return None


def _rounded(kpi: Kpi, value: float) -> Decimal:
    return Decimal(repr(value)).quantize(PLACES[kpi])


def _first_hour(workspace: Workspace, end: datetime) -> datetime:
    """The hour of the workspace's first order: no baseline is built from before its history."""
    first = Order.objects.filter(workspace=workspace).order_by("placed_at").first()
    if first is None:
        return end
    return first.placed_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
