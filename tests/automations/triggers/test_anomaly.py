"""anomaly_detected: a seeded refund spike fires once, with its severity and products."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from automations.trigger_models import KpiBaseline, MetricSample
from automations.triggers.anomaly import Kpi, detect_all, detect_workspace, judge
from catalog.events import record_event
from catalog.models import Event, EventSource, Order
from tests.factories import CustomerFactory, ProductFactory

START = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
HOURS = 48  # normal history before the spike


def seed_hour(workspace, customer, hour: datetime, products, refunds: int, orders: int = 10):
    """Place ``orders`` orders in the hour (one of each product in turn); refund the first ones."""
    placed = Order.objects.bulk_create(
        [
            Order(
                workspace=workspace,
                customer=customer,
                total=Decimal("40.00"),
                currency="EUR",
                status="paid",
                placed_at=hour + timedelta(minutes=n),
                line_items=[
                    {
                        "product_id": products[n % len(products)].pk,
                        "sku": products[n % len(products)].sku,
                        "quantity": 1,
                        "unit_price": {"amount": "40.00", "currency": "EUR"},
                    }
                ],
            )
            for n in range(orders)
        ]
    )
    with transaction.atomic():
        for order in placed[:refunds]:
            record_event(
                workspace=workspace,
                trigger_key="refund_created",
                payload={
                    "order_id": order.pk,
                    "refund_amount": {"amount": "40.00", "currency": "EUR"},
                    "reason": "damaged",
                },
                occurred_at=hour + timedelta(minutes=30),
            )


@pytest.fixture
def shop(workspace):
    """Two days of 10 orders an hour with a refund every other hour (a 5 % refund rate)."""
    customer = CustomerFactory(workspace=workspace)
    usual = [ProductFactory(workspace=workspace), ProductFactory(workspace=workspace)]
    for n in range(HOURS):
        seed_hour(workspace, customer, START + timedelta(hours=n), usual, refunds=n % 2)
    faulty = ProductFactory(workspace=workspace, title="Faulty kettle")
    return customer, usual, faulty


def anomalies() -> list[Event]:
    return list(Event.objects.filter(trigger_key="anomaly_detected").order_by("occurred_at"))


def test_a_refund_spike_fires_one_anomaly_with_severity_and_products(workspace, shop):
    # given: in hour 48, six orders of the faulty product are refunded
    customer, usual, faulty = shop
    spike = START + timedelta(hours=HOURS)
    seed_hour(workspace, customer, spike, [faulty], refunds=6)

    # when
    events = detect_workspace(workspace, now=spike + timedelta(hours=1, minutes=5))

    # then
    event = Event.objects.get(trigger_key="anomaly_detected")
    assert [e.pk for e in events] == [event.pk]
    assert event.payload["kpi"] == "refund_rate"
    assert event.payload["severity"] == "P1"
    assert event.payload["value"] == "0.6000"
    assert Decimal(event.payload["baseline"]) < Decimal("0.06")
    assert event.payload["product_ids"] == [faulty.pk]
    assert event.dedupe_key == "anomaly:refund_rate:2025-03-03T00:00:00Z"
    assert event.source == EventSource.MONITOR
    assert event.occurred_at == spike + timedelta(hours=1)


def test_running_detection_again_fires_nothing_new(workspace, shop):
    # given
    customer, usual, faulty = shop
    spike = START + timedelta(hours=HOURS)
    seed_hour(workspace, customer, spike, [faulty], refunds=6)
    detect_workspace(workspace, now=spike + timedelta(hours=1))

    # when
    again = detect_workspace(workspace, now=spike + timedelta(hours=1, minutes=30))

    # then
    assert again == []
    assert len(anomalies()) == 1


def test_an_anomaly_lasting_several_hours_is_one_episode(workspace, shop):
    # given: three bad hours in a row, then a normal one, then a new spike
    customer, usual, faulty = shop
    for n in range(3):
        seed_hour(workspace, customer, START + timedelta(hours=HOURS + n), [faulty], refunds=7)
    seed_hour(workspace, customer, START + timedelta(hours=HOURS + 3), usual, refunds=0)
    seed_hour(workspace, customer, START + timedelta(hours=HOURS + 4), [faulty], refunds=10)

    # when: one run per hour, as beat would
    for n in range(1, 6):
        detect_workspace(workspace, now=START + timedelta(hours=HOURS + n))

    # then
    assert [e.dedupe_key for e in anomalies()] == [
        "anomaly:refund_rate:2025-03-03T00:00:00Z",
        "anomaly:refund_rate:2025-03-03T04:00:00Z",
    ]


def test_steady_trade_fires_nothing_and_builds_the_baselines(workspace, shop):
    # when
    events = detect_all(now=START + timedelta(hours=HOURS))

    # then
    assert events == []
    baseline = KpiBaseline.objects.get(workspace=workspace, kpi="order_count")
    assert (baseline.samples, baseline.mean, baseline.episode_start) == (HOURS, 10.0, None)
    assert baseline.last_bucket == START + timedelta(hours=HOURS - 1)
    samples = MetricSample.objects.filter(workspace=workspace, name="kpi.refund_rate")
    assert samples.count() == HOURS


def test_nothing_is_called_anomalous_before_a_day_of_history(workspace):
    # given: a shop whose first hour is a refund disaster
    customer = CustomerFactory(workspace=workspace)
    product = ProductFactory(workspace=workspace)
    seed_hour(workspace, customer, START, [product], refunds=9)

    # when
    events = detect_workspace(workspace, now=START + timedelta(hours=1))

    # then
    assert events == []


@pytest.mark.parametrize(
    ("_case", "kpi", "value", "mean", "variance", "samples", "severity"),
    [
        ("normal", Kpi.ORDER_COUNT, 11.0, 10.0, 1.0, 48, None),
        ("3.5 deviations", Kpi.ORDER_COUNT, 13.5, 10.0, 1.0, 48, "P3"),
        ("5 deviations", Kpi.ORDER_COUNT, 15.0, 10.0, 1.0, 48, "P2"),
        ("7 deviations", Kpi.ORDER_COUNT, 17.0, 10.0, 1.0, 48, "P1"),
        ("a drop counts too", Kpi.ORDER_COUNT, 3.0, 10.0, 1.0, 48, "P1"),
        ("fewer refunds is no alarm", Kpi.REFUND_RATE, 0.0, 0.5, 0.0001, 48, None),
        ("too little history", Kpi.ORDER_COUNT, 17.0, 10.0, 1.0, 23, None),
        ("flat history has a floor", Kpi.REVENUE, 440.0, 400.0, 0.0, 48, None),
    ],
)
def test_judge(_case, kpi, value, mean, variance, samples, severity):
    assert judge(kpi, value, mean, variance, samples).severity == severity
