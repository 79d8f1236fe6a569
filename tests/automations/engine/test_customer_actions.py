"""upsert_customer and enroll_product_buyers through the engine: events, outputs, applied once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from automations.models import Execution, ExecutionStatus, StepRun
from catalog.models import Customer, Event, JourneyEnrollment, Order
from tests.automations.engine.conftest import drain, emit, make_rule, step
from tests.factories import CustomerFactory, JourneyFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _cron_tick(workspace):
    return emit(
        workspace,
        "cron_schedule",
        {"scheduled_for": "2025-03-03T08:00:00Z", "fired_at": "2025-03-03T08:00:01Z"},
    )


def test_upsert_creates_then_updates_by_email_in_any_case_and_feeds_later_steps(workspace):
    # given a rule that upserts a payer, then tags the customer it got
    steps = [
        step("payer", "upsert_customer", email="Nina@Example.com", first_name="Nina"),
        step("t", "tag", customer_id={"ref": "steps.payer.customer_id"}, tag="payer"),
    ]
    make_rule(workspace, "Payers", "cron_schedule", steps)
    # when it runs twice, the second time with a new first name and opt-in
    _cron_tick(workspace)
    drain()
    nina = Customer.objects.get(workspace=workspace)
    Execution.objects.all().delete()
    rule = nina.workspace.rules.get()
    rule.definition["steps"][0]["inputs"]["email"] = {"literal": "nina@EXAMPLE.com"}
    rule.definition["steps"][0]["inputs"]["first_name"] = {"literal": "Nina-Marie"}
    rule.definition["steps"][0]["inputs"]["accepts_marketing"] = {"literal": True}
    rule.version += 1
    rule.save()
    emit(
        workspace,
        "cron_schedule",
        {"scheduled_for": "2025-03-03T08:01:00Z", "fired_at": "2025-03-03T08:01:01Z"},
    )
    drain()
    # then one customer, created once and updated once, tagged by the later step
    nina.refresh_from_db()
    assert Customer.objects.filter(workspace=workspace).count() == 1
    assert (nina.email, nina.first_name, nina.email_opt_in) == (
        "Nina@example.com",
        "Nina-Marie",
        True,
    )
    assert list(nina.tags.values_list("tag", flat=True)) == ["payer"]
    [created] = Event.objects.filter(trigger_key="customer_created")
    [updated] = Event.objects.filter(trigger_key="customer_updated")
    [opted] = Event.objects.filter(trigger_key="opt_in_changed")
    assert created.payload["customer_id"] == nina.pk
    assert updated.payload["changed_fields"] == ["first_name", "email_opt_in"]
    assert updated.payload["old_values"] == {"first_name": "Nina", "email_opt_in": False}
    assert (opted.payload["channel"], opted.payload["action"]) == ("email", "opted_in")
    assert StepRun.objects.get(step_id="payer").output == {
        "customer_id": nina.pk,
        "created": False,
    }


def test_an_upsert_that_changes_nothing_emits_nothing(workspace):
    CustomerFactory.create(workspace=workspace, email="jo@example.com", first_name="Jo")
    make_rule(
        workspace,
        "Same",
        "cron_schedule",
        [step("u", "upsert_customer", email="jo@example.com", first_name="Jo", source="x")],
    )
    _cron_tick(workspace)
    drain()
    assert not Event.objects.filter(trigger_key__startswith="customer_").exists()
    assert StepRun.objects.get().status == "succeeded"


def test_an_upsert_with_a_bad_phone_fails_for_good(workspace):
    make_rule(
        workspace,
        "Bad",
        "cron_schedule",
        [step("u", "upsert_customer", email="jo@example.com", phone="12")],
    )
    _cron_tick(workspace)
    drain()
    execution = Execution.objects.get()
    assert execution.status == ExecutionStatus.DEAD
    assert "phone" in execution.error
    assert not Customer.objects.exists()


def _order(workspace, customer, product, *, status="paid", days_ago=1):
    return Order.objects.create(
        workspace=workspace,
        customer=customer,
        total=Decimal("20.00"),
        currency="EUR",
        status=status,
        placed_at=timezone.now() - dt.timedelta(days=days_ago),
        line_items=[
            {
                "product_id": product.pk,
                "sku": product.sku,
                "quantity": 1,
                "unit_price": {"amount": "20.00", "currency": "EUR"},
            }
        ],
    )


def test_enroll_product_buyers_enrolls_each_recent_buyer_once(workspace):
    # given buyers of a kettle (one twice), an old buyer, a cancelled order, a toaster buyer
    kettle, toaster = (ProductFactory.create(workspace=workspace) for _ in range(2))
    twice, once, old, cancelled, other = (
        CustomerFactory.create(workspace=workspace) for _ in range(5)
    )
    _order(workspace, twice, kettle)
    _order(workspace, twice, kettle, status="refunded")
    _order(workspace, once, kettle, status="fulfilled")
    _order(workspace, old, kettle, days_ago=40)
    _order(workspace, cancelled, kettle, status="cancelled")
    _order(workspace, other, toaster)
    journey = JourneyFactory.create(workspace=workspace)
    make_rule(
        workspace,
        "Apologise",
        "cron_schedule",
        [
            step(
                "e",
                "enroll_product_buyers",
                product_ids=[kettle.pk],
                journey_id=journey.pk,
                within_days=30,
            )
        ],
    )
    # when
    _cron_tick(workspace)
    drain()
    # then
    enrolled = JourneyEnrollment.objects.filter(journey=journey)
    assert sorted(enrolled.values_list("customer_id", flat=True)) == sorted([twice.pk, once.pk])
    assert Event.objects.filter(trigger_key="journey_enrolled").count() == 2
    step_run = StepRun.objects.get()
    assert step_run.output == {"buyers": 2, "enrolled": 2}
    # when the step's effect is replayed under the same key (a redelivery), nothing is redone
    execution = Execution.objects.get()
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.PENDING)
    StepRun.objects.filter(pk=step_run.pk).update(status="running")
    drain()
    assert enrolled.count() == 2
    assert Event.objects.filter(trigger_key="journey_enrolled").count() == 2
