"""Built-in monitoring triggers: KPI anomalies and metric thresholds."""

from __future__ import annotations

from catalog.builtin.vocabulary import KPIS, SEVERITIES
from catalog.specs import Category, TriggerSpec
from catalog.types import (
    datetime,
    decimal,
    duration,
    enum_of,
    fields,
    list_of,
    optional,
    ref,
    required,
    string,
)

_DIRECTION = enum_of("above", "below")

ANOMALY_DETECTED = TriggerSpec(
    key="anomaly_detected",
    category=Category.MONITORING,
    label="Anomaly detected",
    description=(
        "Fires when a key figure of your store (refund rate, order count, revenue or average "
        "order value) moves unusually far from its normal level. It says how severe the change "
        "is and which products are involved, so you can alert the right people fast."
    ),
    payload=fields(
        kpi=KPIS,
        severity=SEVERITIES,
        value=decimal(),
        baseline=decimal(),
        product_ids=list_of(ref("product")),
    ),
    config=fields(
        kpi=optional(KPIS, "KPI", "Only fire for this KPI."),
        severity=optional(SEVERITIES, "Severity", "Only fire for this severity."),
    ),
    example={
        "kpi": "refund_rate",
        "severity": "P1",
        "value": "0.18",
        "baseline": "0.04",
        "product_ids": [501, 502],
    },
    example_config={"kpi": "refund_rate", "severity": "P1"},
    source="anomaly detection",
)

METRIC_THRESHOLD = TriggerSpec(
    key="metric_threshold",
    category=Category.MONITORING,
    label="Metric crossed a threshold",
    description=(
        "Fires when a metric goes above or below the threshold you set and stays there for the "
        "time you choose, such as CPU above 90% for 5 minutes. It fires once per crossing, not "
        "again until the metric has come back."
    ),
    payload=fields(
        metric=string(),
        value=decimal(),
        threshold=decimal(),
        direction=_DIRECTION,
        since=datetime(),
    ),
    config=fields(
        metric=required(string(), "Metric", "The metric name, e.g. cpu."),
        threshold=required(decimal(), "Threshold"),
        direction=required(_DIRECTION, "Direction", "Fire when the metric is above or below."),
        duration=optional(
            duration(), "For at least", "How long the metric must stay past the threshold."
        ),
    ),
    example={
        "metric": "cpu",
        "value": "93.5",
        "threshold": "90",
        "direction": "above",
        "since": "2025-03-01T09:00:00Z",
    },
    example_config={"metric": "cpu", "threshold": "90", "direction": "above", "duration": "PT5M"},
    source="metrics",
)

TRIGGERS: list[TriggerSpec] = [ANOMALY_DETECTED, METRIC_THRESHOLD]
"""Monitoring triggers, in catalog order."""
