"""Domain services: each emits exactly its documented events, in its own transaction."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext

from catalog.domain import services
from catalog.domain.models import LineItem
from catalog.domain.services import DomainError, InvalidTransitionError, WorkspaceMismatchError
from catalog.models import (
    Campaign,
    CampaignStatus,
    Customer,
    CustomerTag,
    CustomFieldDefinition,
    CustomFieldType,
    EnrollmentStatus,
    Event,
    Journey,
    JourneyEnrollment,
    LifecycleStage,
    Message,
    Order,
    OrderStatus,
    Product,
    Segment,
    SegmentMembership,
)
from catalog.registry import get_trigger
from catalog.types import ValidationError
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    CustomerTagFactory,
    CustomFieldDefinitionFactory,
    JourneyFactory,
    MessageFactory,
    OrderFactory,
    ProductFactory,
    SegmentFactory,
    SegmentMembershipFactory,
)

pytestmark = pytest.mark.django_db

DOMAIN_MODELS: tuple[type[models.Model], ...] = (
    Customer,
    CustomerTag,
    CustomFieldDefinition,
    Segment,
    SegmentMembership,
    Product,
    Order,
    Journey,
    JourneyEnrollment,
    Campaign,
    Message,
)
PLACED_AT = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def emitted(workspace) -> list[tuple[str, dict[str, Any]]]:
    """The workspace's events as (trigger key, payload), in the order they were recorded."""
    return [
        (event.trigger_key, event.payload)
        for event in Event.objects.filter(workspace=workspace).order_by("recorded_at")
    ]


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every domain row, to show that nothing changed."""
    return {m.__name__: list(m._default_manager.order_by("pk").values()) for m in DOMAIN_MODELS}


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


class Rollback(Exception):
    """Raised inside an outer atomic block to force a rollback."""


def act_then_roll_back(case: Case, context: dict[str, Any]) -> None:
    """Run the service inside an outer transaction, then roll that transaction back."""
    with transaction.atomic():
        case.act(context)
        raise Rollback


@dataclass(frozen=True)
class Case:
    """A service call: arrange the rows (no events), act, and the events it must emit."""

    arrange: Callable[[Any], dict[str, Any]]
    act: Callable[[dict[str, Any]], Any]
    expected: Callable[[dict[str, Any], Any], list[tuple[str, dict[str, Any]]]]


def _customer(ws, **fields) -> dict[str, Any]:
    return {"customer": CustomerFactory.create(workspace=ws, **fields)}


def _order(ws, status=OrderStatus.PENDING, **fields) -> dict[str, Any]:
    customer = CustomerFactory.create(
        workspace=ws, order_count=1, total_spent=Decimal("40.00"), currency="EUR"
    )
    return {
        "order": OrderFactory.create(customer=customer, status=status, **fields),
        "customer": customer,
    }


def _product(ws, **fields) -> dict[str, Any]:
    return {"product": ProductFactory.create(workspace=ws, **fields)}


def _first_order(ws) -> dict[str, Any]:
    customer = CustomerFactory.create(workspace=ws, lifecycle_stage=LifecycleStage.PROSPECT)
    return {"customer": customer, "product": ProductFactory.create(workspace=ws, sku="TEE-M")}


def _place_first_order(c: dict[str, Any]) -> Order:
    line = LineItem(c["product"].pk, "TEE-M", 2, Decimal("20"))
    return services.create_order(
        customer=c["customer"],
        total=Decimal("40"),
        currency="EUR",
        line_items=[line],
        placed_at=PLACED_AT,
    )


def _journey(ws, enrolled: bool) -> dict[str, Any]:
    customer, journey = CustomerFactory.create(workspace=ws), JourneyFactory.create(workspace=ws)
    if enrolled:
        JourneyEnrollment.objects.create(
            workspace=ws, journey=journey, customer=customer, step="entry"
        )
    return {"customer": customer, "journey": journey}


def _campaign(ws, status: CampaignStatus) -> dict[str, Any]:
    segment = SegmentFactory.create(workspace=ws)
    SegmentMembershipFactory.create_batch(2, segment=segment)
    return {
        "campaign": CampaignFactory.create(workspace=ws, audience_segment=segment, status=status)
    }


SERVICE_CASES: list[tuple[str, Case]] = [
    (
        "create_customer",
        Case(
            arrange=lambda ws: {"workspace": ws},
            act=lambda c: services.create_customer(
                workspace=c["workspace"],
                email="Ada@Example.COM",
                phone="+49 151 1234 5678",
                source="stripe",
            ),
            expected=lambda c, customer: [
                (
                    "customer_created",
                    {
                        "customer_id": customer.pk,
                        "email": "Ada@example.com",
                        "phone": "+4915112345678",
                        "source": "stripe",
                    },
                )
            ],
        ),
    ),
    (
        "update_customer_field: first_name",
        Case(
            arrange=lambda ws: _customer(ws, first_name="Ada"),
            act=lambda c: services.update_customer_field(
                customer=c["customer"], field="first_name", value="Grace"
            ),
            expected=lambda c, _: [
                (
                    "customer_updated",
                    {
                        "customer_id": c["customer"].pk,
                        "changed_fields": ["first_name"],
                        "old_values": {"first_name": "Ada"},
                        "new_values": {"first_name": "Grace"},
                    },
                )
            ],
        ),
    ),
    (
        "update_customer_field: lifecycle_stage",
        Case(
            arrange=lambda ws: _customer(ws, lifecycle_stage=LifecycleStage.REPEAT),
            act=lambda c: services.update_customer_field(
                customer=c["customer"], field="lifecycle_stage", value="vip"
            ),
            expected=lambda c, _: [
                (
                    "customer_updated",
                    {
                        "customer_id": c["customer"].pk,
                        "changed_fields": ["lifecycle_stage"],
                        "old_values": {"lifecycle_stage": "repeat"},
                        "new_values": {"lifecycle_stage": "vip"},
                    },
                ),
                (
                    "lifecycle_changed",
                    {"customer_id": c["customer"].pk, "from_stage": "repeat", "to_stage": "vip"},
                ),
            ],
        ),
    ),
    (
        "update_customer_field: sms_opt_in",
        Case(
            arrange=lambda ws: _customer(ws),
            act=lambda c: services.update_customer_field(
                customer=c["customer"], field="sms_opt_in", value=True
            ),
            expected=lambda c, _: [
                (
                    "customer_updated",
                    {
                        "customer_id": c["customer"].pk,
                        "changed_fields": ["sms_opt_in"],
                        "old_values": {"sms_opt_in": False},
                        "new_values": {"sms_opt_in": True},
                    },
                ),
                (
                    "opt_in_changed",
                    {"customer_id": c["customer"].pk, "channel": "sms", "action": "opted_in"},
                ),
            ],
        ),
    ),
    (
        "update_customer_field: custom date",
        Case(
            arrange=lambda ws: {
                **_customer(ws),
                "field": CustomFieldDefinitionFactory.create(
                    workspace=ws, key="app_install_date", field_type=CustomFieldType.DATE
                ),
            },
            act=lambda c: services.update_customer_field(
                customer=c["customer"], field="app_install_date", value="2025-03-01"
            ),
            expected=lambda c, _: [
                (
                    "customer_updated",
                    {
                        "customer_id": c["customer"].pk,
                        "changed_fields": ["app_install_date"],
                        "old_values": {"app_install_date": None},
                        "new_values": {"app_install_date": "2025-03-01"},
                    },
                )
            ],
        ),
    ),
    (
        "change_lifecycle_stage",
        Case(
            arrange=lambda ws: _customer(ws),
            act=lambda c: services.change_lifecycle_stage(customer=c["customer"], stage="at_risk"),
            expected=lambda c, _: [
                (
                    "customer_updated",
                    {
                        "customer_id": c["customer"].pk,
                        "changed_fields": ["lifecycle_stage"],
                        "old_values": {"lifecycle_stage": "lead"},
                        "new_values": {"lifecycle_stage": "at_risk"},
                    },
                ),
                (
                    "lifecycle_changed",
                    {"customer_id": c["customer"].pk, "from_stage": "lead", "to_stage": "at_risk"},
                ),
            ],
        ),
    ),
    (
        "set_opt_in",
        Case(
            arrange=lambda ws: _customer(ws, whatsapp_opt_in=True),
            act=lambda c: services.set_opt_in(
                customer=c["customer"], channel="whatsapp", opted_in=False
            ),
            expected=lambda c, _: [
                (
                    "customer_updated",
                    {
                        "customer_id": c["customer"].pk,
                        "changed_fields": ["whatsapp_opt_in"],
                        "old_values": {"whatsapp_opt_in": True},
                        "new_values": {"whatsapp_opt_in": False},
                    },
                ),
                (
                    "opt_in_changed",
                    {
                        "customer_id": c["customer"].pk,
                        "channel": "whatsapp",
                        "action": "opted_out",
                    },
                ),
            ],
        ),
    ),
    (
        "tag_customer",
        Case(
            arrange=lambda ws: _customer(ws),
            act=lambda c: services.tag_customer(customer=c["customer"], tag=" vip "),
            expected=lambda c, _: [
                (
                    "customer_tagged",
                    {"customer_id": c["customer"].pk, "tag": "vip", "action": "added"},
                )
            ],
        ),
    ),
    (
        "untag_customer",
        Case(
            arrange=lambda ws: {
                "customer": CustomerTagFactory.create(customer__workspace=ws, tag="vip").customer
            },
            act=lambda c: services.untag_customer(customer=c["customer"], tag="vip"),
            expected=lambda c, _: [
                (
                    "customer_tagged",
                    {"customer_id": c["customer"].pk, "tag": "vip", "action": "removed"},
                )
            ],
        ),
    ),
    (
        "join_segment",
        Case(
            arrange=lambda ws: {**_customer(ws), "segment": SegmentFactory.create(workspace=ws)},
            act=lambda c: services.join_segment(segment=c["segment"], customer=c["customer"]),
            expected=lambda c, _: [
                (
                    "customer_segment_joined",
                    {"customer_id": c["customer"].pk, "segment_id": c["segment"].pk},
                )
            ],
        ),
    ),
    (
        "leave_segment",
        Case(
            arrange=lambda ws: (lambda m: {"customer": m.customer, "segment": m.segment})(
                SegmentMembershipFactory.create(segment__workspace=ws)
            ),
            act=lambda c: services.leave_segment(segment=c["segment"], customer=c["customer"]),
            expected=lambda c, _: [
                (
                    "customer_segment_left",
                    {"customer_id": c["customer"].pk, "segment_id": c["segment"].pk},
                )
            ],
        ),
    ),
    (
        "create_order: first order",
        Case(
            arrange=_first_order,
            act=_place_first_order,
            expected=lambda c, order: [
                (
                    "order_created",
                    {
                        "order_id": order.pk,
                        "customer_id": c["customer"].pk,
                        "total": eur("40.00"),
                        "line_items": [
                            {
                                "product_id": c["product"].pk,
                                "sku": "TEE-M",
                                "quantity": 2,
                                "unit_price": eur("20.00"),
                            }
                        ],
                    },
                ),
                (
                    "lifecycle_changed",
                    {
                        "customer_id": c["customer"].pk,
                        "from_stage": "prospect",
                        "to_stage": "first_purchase",
                    },
                ),
                ("repeat_order_milestone", {"customer_id": c["customer"].pk, "order_count": 1}),
            ],
        ),
    ),
    (
        "pay_order",
        Case(
            arrange=lambda ws: _order(ws),
            act=lambda c: services.pay_order(order=c["order"], payment_method="paypal"),
            expected=lambda c, _: [
                (
                    "order_paid",
                    {"order_id": c["order"].pk, "payment_method": "paypal", "amount": eur("40.00")},
                )
            ],
        ),
    ),
    (
        "fulfil_order",
        Case(
            arrange=lambda ws: _order(ws, status=OrderStatus.PAID),
            act=lambda c: services.fulfil_order(
                order=c["order"], fulfillment="dhl", tracking="JD0123"
            ),
            expected=lambda c, _: [
                (
                    "order_fulfilled",
                    {"order_id": c["order"].pk, "fulfillment": "dhl", "tracking": "JD0123"},
                )
            ],
        ),
    ),
    (
        "cancel_order",
        Case(
            arrange=lambda ws: _order(ws, status=OrderStatus.PAID),
            act=lambda c: services.cancel_order(order=c["order"], reason="customer request"),
            expected=lambda c, _: [
                (
                    "order_cancelled",
                    {
                        "order_id": c["order"].pk,
                        "reason": "customer request",
                        "refund_amount": eur("40.00"),
                    },
                )
            ],
        ),
    ),
    (
        "refund_order",
        Case(
            arrange=lambda ws: _order(ws, status=OrderStatus.FULFILLED),
            act=lambda c: services.refund_order(
                order=c["order"], amount=Decimal("15"), reason="damaged"
            ),
            expected=lambda c, _: [
                (
                    "refund_created",
                    {"order_id": c["order"].pk, "refund_amount": eur("15.00"), "reason": "damaged"},
                )
            ],
        ),
    ),
    (
        "create_product",
        Case(
            arrange=lambda ws: {"workspace": ws},
            act=lambda c: services.create_product(
                workspace=c["workspace"],
                title="Linen shirt",
                product_type="apparel",
                sku="LIN-01",
                price=Decimal("49.90"),
                currency="EUR",
            ),
            expected=lambda c, product: [
                (
                    "product_created",
                    {"product_id": product.pk, "title": "Linen shirt", "type": "apparel"},
                )
            ],
        ),
    ),
    (
        "update_product",
        Case(
            arrange=lambda ws: _product(ws, price=Decimal("20.00"), sku="A-1"),
            act=lambda c: services.update_product(
                product=c["product"], price=Decimal("25.00"), sku="A-1", is_hidden=True
            ),
            expected=lambda c, _: [
                (
                    "product_updated",
                    {"product_id": c["product"].pk, "changed_fields": ["price", "is_hidden"]},
                )
            ],
        ),
    ),
    (
        "adjust_inventory: sold out",
        Case(
            arrange=lambda ws: {**_product(ws, inventory_quantity=3, sku="S-1"), **_customer(ws)},
            act=lambda c: services.adjust_inventory(
                product=c["product"], delta=-3, last_buyer=c["customer"]
            ),
            expected=lambda c, _: [
                (
                    "product_updated",
                    {"product_id": c["product"].pk, "changed_fields": ["inventory_quantity"]},
                ),
                (
                    "product_sold_out",
                    {"product_id": c["product"].pk, "sku": "S-1", "last_buyer": c["customer"].pk},
                ),
            ],
        ),
    ),
    (
        "adjust_inventory: restocked",
        Case(
            arrange=lambda ws: _product(ws, inventory_quantity=0, sku="S-1"),
            act=lambda c: services.adjust_inventory(product=c["product"], quantity=5),
            expected=lambda c, _: [
                (
                    "product_updated",
                    {"product_id": c["product"].pk, "changed_fields": ["inventory_quantity"]},
                ),
                ("product_restocked", {"product_id": c["product"].pk, "sku": "S-1", "qty": 5}),
            ],
        ),
    ),
    (
        "adjust_inventory: low stock",
        Case(
            arrange=lambda ws: _product(
                ws, inventory_quantity=10, low_stock_threshold=5, sku="S-1"
            ),
            act=lambda c: services.adjust_inventory(product=c["product"], quantity=4),
            expected=lambda c, _: [
                (
                    "product_updated",
                    {"product_id": c["product"].pk, "changed_fields": ["inventory_quantity"]},
                ),
                (
                    "low_stock_alert",
                    {"product_id": c["product"].pk, "sku": "S-1", "qty": 4, "threshold": 5},
                ),
            ],
        ),
    ),
    (
        "enroll_journey",
        Case(
            arrange=lambda ws: _journey(ws, enrolled=False),
            act=lambda c: services.enroll_journey(journey=c["journey"], customer=c["customer"]),
            expected=lambda c, _: [
                (
                    "journey_enrolled",
                    {
                        "journey_id": c["journey"].pk,
                        "customer_id": c["customer"].pk,
                        "step": "entry",
                    },
                )
            ],
        ),
    ),
    (
        "exit_journey",
        Case(
            arrange=lambda ws: _journey(ws, enrolled=True),
            act=lambda c: services.exit_journey(
                journey=c["journey"], customer=c["customer"], reason="purchased"
            ),
            expected=lambda c, _: [
                (
                    "journey_exited",
                    {
                        "journey_id": c["journey"].pk,
                        "customer_id": c["customer"].pk,
                        "exit_reason": "purchased",
                    },
                )
            ],
        ),
    ),
    (
        "launch_campaign",
        Case(
            arrange=lambda ws: _campaign(ws, CampaignStatus.DRAFT),
            act=lambda c: services.launch_campaign(campaign=c["campaign"]),
            expected=lambda c, _: [
                ("campaign_launched", {"campaign_id": c["campaign"].pk, "audience_size": 2})
            ],
        ),
    ),
    (
        "complete_campaign",
        Case(
            arrange=lambda ws: _campaign(ws, CampaignStatus.LIVE),
            act=lambda c: services.complete_campaign(
                campaign=c["campaign"], revenue=Decimal("1234.5"), lift=Decimal("0.12")
            ),
            expected=lambda c, _: [
                (
                    "campaign_completed",
                    {
                        "campaign_id": c["campaign"].pk,
                        "revenue": eur("1234.50"),
                        "lift": "0.12",
                    },
                )
            ],
        ),
    ),
    (
        "record_message_open",
        Case(
            arrange=lambda ws: {
                "message": MessageFactory.create(customer__workspace=ws, channel="sms")
            },
            act=lambda c: services.record_message_open(message=c["message"]),
            expected=lambda c, _: [
                (
                    "message_opened",
                    {
                        "message_id": c["message"].pk,
                        "customer_id": c["message"].customer_id,
                        "channel": "sms",
                    },
                )
            ],
        ),
    ),
    (
        "record_message_click",
        Case(
            arrange=lambda ws: {"message": MessageFactory.create(customer__workspace=ws)},
            act=lambda c: services.record_message_click(
                message=c["message"], link="https://shop.example.com/sale"
            ),
            expected=lambda c, _: [
                (
                    "message_opened",
                    {
                        "message_id": c["message"].pk,
                        "customer_id": c["message"].customer_id,
                        "channel": "email",
                    },
                ),
                (
                    "message_clicked",
                    {
                        "message_id": c["message"].pk,
                        "customer_id": c["message"].customer_id,
                        "channel": "email",
                        "link": "https://shop.example.com/sale",
                    },
                ),
            ],
        ),
    ),
]


@pytest.mark.parametrize(("_case", "case"), SERVICE_CASES)
def test_service_emits_exactly_its_documented_events(workspace, _case, case):
    # given
    context = case.arrange(workspace)
    # when
    result = case.act(context)
    # then
    events = emitted(workspace)
    assert events == case.expected(context, result)
    for trigger_key, payload in events:
        assert get_trigger(trigger_key).validate_payload(payload) == payload


@pytest.mark.parametrize(("_case", "case"), SERVICE_CASES)
def test_rolled_back_service_call_leaves_neither_change_nor_event(workspace, _case, case):
    # given
    context = case.arrange(workspace)
    before = snapshot()
    # when
    with pytest.raises(Rollback):
        act_then_roll_back(case, context)
    # then
    assert Event.objects.count() == 0
    assert snapshot() == before


@pytest.mark.usefixtures("every_trigger_heard")
@pytest.mark.parametrize(("_case", "case"), SERVICE_CASES)
def test_service_schedules_dispatch_on_commit_only(
    workspace, django_capture_on_commit_callbacks, _case, case
):
    # given
    context = case.arrange(workspace)
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        case.act(context)
    # then
    event_ids = list(Event.objects.order_by("recorded_at").values_list("id", flat=True))
    assert [(cb.func.__name__, cb.args) for cb in callbacks] == [
        ("publish", (event_id,)) for event_id in event_ids
    ]


@pytest.mark.parametrize(("_case", "case"), SERVICE_CASES)
def test_rolled_back_service_call_schedules_no_dispatch(
    workspace, django_capture_on_commit_callbacks, _case, case
):
    # given
    context = case.arrange(workspace)
    # when
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Rollback):
        act_then_roll_back(case, context)
    # then
    assert callbacks == []


# --- Services that change nothing emit nothing --------------------------------------------


NO_OP_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    (
        "tag an already tagged customer",
        lambda ws: services.tag_customer(
            customer=CustomerTagFactory.create(customer__workspace=ws, tag="vip").customer,
            tag="vip",
        ),
    ),
    (
        "untag a customer without the tag",
        lambda ws: services.untag_customer(
            customer=CustomerFactory.create(workspace=ws), tag="vip"
        ),
    ),
    (
        "join a segment twice",
        lambda ws: (lambda m: services.join_segment(segment=m.segment, customer=m.customer))(
            SegmentMembershipFactory.create(segment__workspace=ws)
        ),
    ),
    (
        "leave a segment one is not in",
        lambda ws: services.leave_segment(
            segment=SegmentFactory.create(workspace=ws),
            customer=CustomerFactory.create(workspace=ws),
        ),
    ),
    (
        "enroll an active customer again",
        lambda ws: (
            lambda c: services.enroll_journey(journey=c["journey"], customer=c["customer"])
        )(_journey(ws, enrolled=True)),
    ),
    (
        "exit a journey one is not in",
        lambda ws: (
            lambda c: services.exit_journey(
                journey=c["journey"], customer=c["customer"], reason="done"
            )
        )(_journey(ws, enrolled=False)),
    ),
    (
        "open a message twice",
        lambda ws: services.record_message_open(
            message=MessageFactory.create(customer__workspace=ws, opened_at=PLACED_AT)
        ),
    ),
]


@pytest.mark.parametrize(("_case", "call"), NO_OP_CASES)
def test_idempotent_service_returns_false_and_changes_nothing(workspace, _case, call):
    # given (inside call: the rows already in the target state)
    # when
    changed = call(workspace)
    # then
    assert changed is False
    assert Event.objects.count() == 0


UNCHANGED_VALUE_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    (
        "same first name",
        lambda ws: services.update_customer_field(
            customer=CustomerFactory.create(workspace=ws, first_name="Ada"),
            field="first_name",
            value="Ada",
        ),
    ),
    (
        "same lifecycle stage",
        lambda ws: services.change_lifecycle_stage(
            customer=CustomerFactory.create(workspace=ws, lifecycle_stage="vip"), stage="vip"
        ),
    ),
    (
        "same opt-in",
        lambda ws: services.set_opt_in(
            customer=CustomerFactory.create(workspace=ws, email_opt_in=True),
            channel="email",
            opted_in=True,
        ),
    ),
    (
        "same product fields",
        lambda ws: services.update_product(
            product=ProductFactory.create(workspace=ws, price=Decimal("20.00"), sku="A-1"),
            price=Decimal("20"),
            sku="A-1",
        ),
    ),
    (
        "same inventory quantity",
        lambda ws: services.adjust_inventory(
            product=ProductFactory.create(workspace=ws, inventory_quantity=4), quantity=4
        ),
    ),
    (
        "zero inventory delta",
        lambda ws: services.adjust_inventory(
            product=ProductFactory.create(workspace=ws, inventory_quantity=4), delta=0
        ),
    ),
]


@pytest.mark.parametrize(("_case", "call"), UNCHANGED_VALUE_CASES)
def test_setting_the_current_value_emits_nothing(workspace, _case, call):
    # given (inside call: the row already holds the value)
    # when
    call(workspace)
    # then
    assert Event.objects.count() == 0


def test_services_without_a_trigger_emit_nothing(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    # when
    segment = services.create_segment(workspace=workspace, name="VIPs")
    journey = services.create_journey(workspace=workspace, name="VIP welcome", slug="vip-welcome")
    campaign = services.create_campaign(
        workspace=workspace, name="Spring", currency="EUR", audience_segment=segment
    )
    message = services.create_message(customer=customer, channel="email", campaign=campaign)
    definition = services.define_custom_field(
        workspace=workspace, key="shoe_size", label="Shoe size", field_type="integer"
    )
    # then
    assert (segment.name, journey.slug, campaign.status) == ("VIPs", "vip-welcome", "draft")
    assert (message.workspace_id, message.channel) == (workspace.pk, "email")
    assert (definition.key, definition.field_type) == ("shoe_size", "integer")
    assert Event.objects.count() == 0


# --- Orders ---------------------------------------------------------------------------------


def test_third_order_emits_repeat_order_milestone_with_order_count_3(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    for _ in range(2):
        services.create_order(customer=customer, total=Decimal("10"), currency="EUR")
    Event.objects.all().delete()
    # when
    order = services.create_order(customer=customer, total=Decimal("30"), currency="EUR")
    # then
    assert emitted(workspace) == [
        (
            "order_created",
            {
                "order_id": order.pk,
                "customer_id": customer.pk,
                "total": eur("30.00"),
                "line_items": [],
            },
        ),
        ("repeat_order_milestone", {"customer_id": customer.pk, "order_count": 3}),
    ]
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (3, Decimal("50.00"))
    assert customer.lifecycle_stage == LifecycleStage.REPEAT


def test_second_order_moves_first_purchase_customer_to_repeat(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    services.create_order(customer=customer, total=Decimal("10"), currency="EUR")
    Event.objects.all().delete()
    # when
    services.create_order(customer=customer, total=Decimal("10"), currency="EUR")
    # then
    assert [key for key, _ in emitted(workspace)] == [
        "order_created",
        "lifecycle_changed",
        "repeat_order_milestone",
    ]
    assert emitted(workspace)[1][1] == {
        "customer_id": customer.pk,
        "from_stage": "first_purchase",
        "to_stage": "repeat",
    }


def test_order_of_a_vip_keeps_the_stage(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace, lifecycle_stage=LifecycleStage.VIP)
    # when
    services.create_order(customer=customer, total=Decimal("10"), currency="EUR")
    # then
    assert [key for key, _ in emitted(workspace)] == ["order_created", "repeat_order_milestone"]
    customer.refresh_from_db()
    assert customer.lifecycle_stage == LifecycleStage.VIP


def test_create_order_updates_customer_totals(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    # when
    services.create_order(
        customer=customer, total=Decimal("12.5"), currency="EUR", placed_at=PLACED_AT
    )
    # then
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent, customer.currency) == (
        1,
        Decimal("12.50"),
        "EUR",
    )
    assert customer.last_order_at == PLACED_AT


def test_order_in_another_currency_is_refused_and_changes_nothing(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace, currency="EUR", order_count=1)
    before = snapshot()
    # when
    with pytest.raises(DomainError, match="customer's totals are in EUR"):
        services.create_order(customer=customer, total=Decimal("10"), currency="USD")
    # then
    assert snapshot() == before
    assert Event.objects.count() == 0


def test_order_with_a_product_of_another_workspace_is_refused(workspace, other_workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    foreign = ProductFactory.create(workspace=other_workspace)
    line = LineItem(foreign.pk, foreign.sku, 1, Decimal("5"))
    # when
    with pytest.raises(DomainError, match=rf"unknown products: \[{foreign.pk}\]"):
        services.create_order(
            customer=customer, total=Decimal("5"), currency="EUR", line_items=[line]
        )
    # then
    assert Order.objects.count() == 0
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("_case", "status", "call"),
    [
        ("pay a paid order", OrderStatus.PAID, lambda o: services.pay_order(order=o)),
        (
            "fulfil a cancelled order",
            OrderStatus.CANCELLED,
            lambda o: services.fulfil_order(order=o, fulfillment="dhl"),
        ),
        (
            "cancel a fulfilled order",
            OrderStatus.FULFILLED,
            lambda o: services.cancel_order(order=o, reason="late"),
        ),
        (
            "refund a pending order",
            OrderStatus.PENDING,
            lambda o: services.refund_order(order=o, amount=Decimal("1"), reason="x"),
        ),
    ],
)
def test_invalid_order_transition_is_refused_and_changes_nothing(workspace, _case, status, call):
    # given
    order = _order(workspace, status=status)["order"]
    before = snapshot()
    # when
    with pytest.raises(InvalidTransitionError, match=f"it is {status}"):
        call(order)
    # then
    assert snapshot() == before
    assert Event.objects.count() == 0


def test_refunds_up_to_the_total_mark_the_order_refunded(workspace):
    # given
    context = _order(workspace, status=OrderStatus.PAID)
    order, customer = context["order"], context["customer"]
    services.refund_order(order=order, amount=Decimal("15"), reason="damaged")
    # when
    refunded = services.refund_order(order=order, amount=Decimal("25"), reason="damaged")
    # then
    assert (refunded.status, refunded.refunded_amount) == (OrderStatus.REFUNDED, Decimal("40.00"))
    customer.refresh_from_db()
    assert customer.total_spent == Decimal("0.00")
    assert [key for key, _ in emitted(workspace)] == ["refund_created", "refund_created"]


def test_refund_above_what_is_left_is_refused(workspace):
    # given
    order = _order(workspace, status=OrderStatus.PAID, refunded_amount=Decimal("30"))["order"]
    before = snapshot()
    # when
    with pytest.raises(DomainError, match="only 10.00 EUR"):
        services.refund_order(order=order, amount=Decimal("10.01"), reason="x")
    # then
    assert snapshot() == before
    assert Event.objects.count() == 0


def test_cancelling_a_pending_order_refunds_nothing(workspace):
    # given
    order = _order(workspace)["order"]
    # when
    cancelled = services.cancel_order(order=order, reason="fraud")
    # then
    assert (cancelled.status, cancelled.refunded_amount) == (OrderStatus.CANCELLED, Decimal(0))
    assert emitted(workspace) == [
        (
            "order_cancelled",
            {"order_id": order.pk, "reason": "fraud", "refund_amount": eur("0.00")},
        )
    ]


# --- Products -------------------------------------------------------------------------------


def test_inventory_3_to_0_to_5_emits_sold_out_once_and_restocked_once(workspace):
    # given
    product = ProductFactory.create(workspace=workspace, inventory_quantity=3, sku="MUG")
    # when
    services.adjust_inventory(product=product, delta=-3)
    services.adjust_inventory(product=product, quantity=0)
    services.adjust_inventory(product=product, quantity=5)
    # then
    assert [key for key, _ in emitted(workspace)] == [
        "product_updated",
        "product_sold_out",
        "product_updated",
        "product_restocked",
    ]
    assert emitted(workspace)[1][1] == {"product_id": product.pk, "sku": "MUG"}
    assert emitted(workspace)[3][1] == {"product_id": product.pk, "sku": "MUG", "qty": 5}


def test_low_stock_alert_fires_once_per_crossing_of_the_threshold(workspace):
    # given
    product = ProductFactory.create(
        workspace=workspace, inventory_quantity=10, low_stock_threshold=5, sku="MUG"
    )
    alerts_after: list[int] = []
    # when
    for quantity in (4, 3, 8, 2):
        services.adjust_inventory(product=product, quantity=quantity)
        alerts_after.append(Event.objects.filter(trigger_key="low_stock_alert").count())
    # then
    assert alerts_after == [1, 1, 1, 2]
    assert [payload for key, payload in emitted(workspace) if key == "low_stock_alert"] == [
        {"product_id": product.pk, "sku": "MUG", "qty": 4, "threshold": 5},
        {"product_id": product.pk, "sku": "MUG", "qty": 2, "threshold": 5},
    ]


def test_reaching_the_threshold_exactly_is_not_low_stock(workspace):
    # given
    product = ProductFactory.create(
        workspace=workspace, inventory_quantity=10, low_stock_threshold=5
    )
    # when
    services.adjust_inventory(product=product, quantity=5)
    # then
    assert [key for key, _ in emitted(workspace)] == ["product_updated"]


def test_selling_out_from_above_the_threshold_emits_sold_out_and_low_stock(workspace):
    # given
    product = ProductFactory.create(
        workspace=workspace, inventory_quantity=10, low_stock_threshold=5, sku="MUG"
    )
    # when
    services.adjust_inventory(product=product, quantity=0)
    # then
    assert [key for key, _ in emitted(workspace)] == [
        "product_updated",
        "product_sold_out",
        "low_stock_alert",
    ]


def test_inventory_below_zero_is_refused_and_changes_nothing(workspace):
    # given
    product = ProductFactory.create(workspace=workspace, inventory_quantity=2, sku="MUG")
    # when
    with pytest.raises(DomainError, match="MUG has 2 in stock; it cannot go to -1"):
        services.adjust_inventory(product=product, delta=-3)
    # then
    product.refresh_from_db()
    assert product.inventory_quantity == 2
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("_case", "kwargs"), [("neither", {}), ("both", {"quantity": 1, "delta": 1})]
)
def test_adjust_inventory_needs_exactly_one_of_quantity_and_delta(workspace, _case, kwargs):
    # given
    product = ProductFactory.create(workspace=workspace, inventory_quantity=2)
    # when
    with pytest.raises(DomainError, match="give either a quantity or a delta"):
        services.adjust_inventory(product=product, **kwargs)
    # then
    assert Event.objects.count() == 0


# --- Customers, segments, journeys, campaigns, messages --------------------------------------


def test_tagging_twice_records_one_tag_and_one_event(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    # when
    first = services.tag_customer(customer=customer, tag="vip")
    second = services.tag_customer(customer=customer, tag="vip")
    # then
    assert (first, second) == (True, False)
    assert list(customer.tags.values_list("tag", flat=True)) == ["vip"]
    assert [key for key, _ in emitted(workspace)] == ["customer_tagged"]


def test_a_service_given_a_reference_locks_the_row_only_in_the_workspace_named(
    workspace, other_workspace
):
    # given references (an id and a workspace, nothing read) to one tagged customer
    customer = CustomerFactory.create(workspace=workspace)
    CustomerTag.objects.create(customer=customer, tag="vip")
    right = Customer(pk=customer.pk, workspace=workspace)
    wrong = Customer(pk=customer.pk, workspace=other_workspace)
    # when the reference names another workspace, the service finds no customer
    with pytest.raises(Customer.DoesNotExist), transaction.atomic():
        services.untag_customer(customer=wrong, tag="vip")
    assert CustomerTag.objects.count() == 1
    # and with its own workspace the tag is removed, after one locked read of the row
    with CaptureQueriesContext(connection) as queries:
        assert services.untag_customer(customer=right, tag="vip") is True
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "catalog_customer"' in q["sql"]]
    assert len(reads) == 1
    assert "FOR UPDATE" in reads[0]
    assert '"catalog_customer"."workspace_id" =' in reads[0]
    assert not customer.tags.exists()


def test_tagging_a_reference_locks_the_customer_in_its_workspace_and_tags_in_one_statement(
    workspace, other_workspace
):
    # given references (an id and a workspace, nothing read) to one customer
    customer = CustomerFactory.create(workspace=workspace)
    right = Customer(pk=customer.pk, workspace=workspace)
    wrong = Customer(pk=customer.pk, workspace=other_workspace)
    # when the reference names another workspace, the service finds no customer
    with pytest.raises(Customer.DoesNotExist), transaction.atomic():
        services.tag_customer(customer=wrong, tag="vip")
    assert not CustomerTag.objects.exists()
    assert not Event.objects.exists()
    # and with its own workspace the lock and the tag are one statement, no row read
    with CaptureQueriesContext(connection) as queries:
        assert services.tag_customer(customer=right, tag="vip") is True
    touching = [q["sql"] for q in queries.captured_queries if "catalog_customer" in q["sql"]]
    assert len(touching) == 1
    (statement,) = touching
    assert "FOR UPDATE" in statement
    assert "INSERT INTO" in statement
    assert "email" not in statement
    assert list(customer.tags.values_list("tag", flat=True)) == ["vip"]
    assert Event.objects.get().trigger_key == "customer_tagged"
    # and tagging again adds nothing and records nothing
    assert services.tag_customer(customer=right, tag="vip") is False
    assert Event.objects.count() == 1


def test_tagging_off_postgresql_gives_the_same_answers(workspace, other_workspace, monkeypatch):
    # given the path other databases take (the SQLite demo): relock, then the insert
    monkeypatch.setattr(connection, "vendor", "sqlite")
    customer = CustomerFactory.create(workspace=workspace)
    # when / then: another workspace's reference finds no customer, then new, then known
    with pytest.raises(Customer.DoesNotExist), transaction.atomic():
        services.tag_customer(customer=Customer(pk=customer.pk, workspace=other_workspace), tag="a")
    right = Customer(pk=customer.pk, workspace=workspace)
    assert services.tag_customer(customer=right, tag="vip") is True
    assert services.tag_customer(customer=right, tag="vip") is False
    assert list(customer.tags.values_list("tag", flat=True)) == ["vip"]
    assert Event.objects.filter(trigger_key="customer_tagged").count() == 1


def test_create_customer_with_a_taken_email_is_refused(workspace):
    # given
    CustomerFactory.create(workspace=workspace, email="ada@example.com")
    # when
    with pytest.raises(ValidationError) as raised:
        services.create_customer(workspace=workspace, email="ada@example.com")
    # then
    assert [str(error) for error in raised.value.errors] == [
        "email: a customer with this email already exists"
    ]
    assert Customer.objects.count() == 1
    assert Event.objects.count() == 0


def test_create_customer_lists_every_bad_field(workspace):
    # given
    before = snapshot()
    # when
    with pytest.raises(ValidationError) as raised:
        services.create_customer(
            workspace=workspace, email="not-an-email", phone="0151", lifecycle_stage="gold"
        )
    # then
    assert [error.path for error in raised.value.errors] == ["email", "phone", "lifecycle_stage"]
    assert snapshot() == before
    assert Event.objects.count() == 0


def test_enrollment_after_exit_starts_a_new_one(workspace):
    # given
    context = _journey(workspace, enrolled=True)
    services.exit_journey(journey=context["journey"], customer=context["customer"], reason="done")
    # when
    enrolled = services.enroll_journey(journey=context["journey"], customer=context["customer"])
    # then
    assert enrolled is True
    assert list(
        JourneyEnrollment.objects.order_by("enrolled_at").values_list("status", flat=True)
    ) == [EnrollmentStatus.EXITED, EnrollmentStatus.ACTIVE]


@pytest.mark.parametrize(
    ("_case", "call"),
    [
        (
            "join a segment of another workspace",
            lambda ws, other: services.join_segment(
                segment=SegmentFactory.create(workspace=other),
                customer=CustomerFactory.create(workspace=ws),
            ),
        ),
        (
            "enroll in a journey of another workspace",
            lambda ws, other: services.enroll_journey(
                journey=JourneyFactory.create(workspace=other),
                customer=CustomerFactory.create(workspace=ws),
            ),
        ),
        (
            "sell out to a buyer of another workspace",
            lambda ws, other: services.adjust_inventory(
                product=ProductFactory.create(workspace=ws, inventory_quantity=1),
                quantity=0,
                last_buyer=CustomerFactory.create(workspace=other),
            ),
        ),
    ],
)
def test_objects_of_another_workspace_are_refused(workspace, other_workspace, _case, call):
    # given (inside call)
    # when
    with pytest.raises(WorkspaceMismatchError):
        call(workspace, other_workspace)
    # then
    assert Event.objects.count() == 0
    assert SegmentMembership.objects.count() == JourneyEnrollment.objects.count() == 0


def test_launching_a_live_campaign_is_refused(workspace):
    # given
    campaign = _campaign(workspace, CampaignStatus.LIVE)["campaign"]
    # when
    with pytest.raises(InvalidTransitionError, match="it is live"):
        services.launch_campaign(campaign=campaign)
    # then
    assert Event.objects.count() == 0


def test_every_click_is_an_event_but_only_the_first_sets_clicked_at(workspace):
    # given
    message = MessageFactory.create(customer__workspace=workspace, opened_at=PLACED_AT)
    later = PLACED_AT + dt.timedelta(hours=1)
    # when
    services.record_message_click(message=message, link="https://a.example/1", clicked_at=PLACED_AT)
    clicked = services.record_message_click(
        message=message, link="https://a.example/2", clicked_at=later
    )
    # then
    assert (clicked.clicked_at, clicked.last_link) == (PLACED_AT, "https://a.example/2")
    assert [key for key, _ in emitted(workspace)] == ["message_clicked", "message_clicked"]


# --- Concurrency ------------------------------------------------------------------------------


def _run_concurrently(call: Callable[[], Any], times: int) -> list[Any]:
    """Run ``call`` in ``times`` threads at once, each on its own database connection."""
    barrier = threading.Barrier(times)

    def worker() -> Any:
        try:
            barrier.wait()
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=times) as pool:
        return [future.result() for future in [pool.submit(worker) for _ in range(times)]]


@pytest.mark.django_db(transaction=True)
def test_concurrent_sales_serialise_and_sell_out_once(workspace):
    # given
    product = ProductFactory.create(workspace=workspace, inventory_quantity=5, sku="MUG")
    # when
    _run_concurrently(lambda: services.adjust_inventory(product=product, delta=-1), times=5)
    # then
    product.refresh_from_db()
    assert product.inventory_quantity == 0
    assert Event.objects.filter(trigger_key="product_updated").count() == 5
    assert Event.objects.filter(trigger_key="product_sold_out").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_tagging_adds_the_tag_once(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    # when
    results = _run_concurrently(
        lambda: services.tag_customer(customer=customer, tag="vip"), times=5
    )
    # then
    assert sorted(results) == [False, False, False, False, True]
    assert CustomerTag.objects.filter(customer=customer).count() == 1
    assert Event.objects.filter(trigger_key="customer_tagged").count() == 1


def test_changing_email_to_a_taken_one_is_refused(workspace):
    # given
    CustomerFactory.create(workspace=workspace, email="ada@example.com")
    customer = CustomerFactory.create(workspace=workspace, email="grace@example.com")
    # when
    with pytest.raises(ValidationError) as raised:
        services.update_customer_field(customer=customer, field="email", value="ada@example.com")
    # then
    assert [str(error) for error in raised.value.errors] == [
        "email: a customer with this email already exists"
    ]
    customer.refresh_from_db()
    assert customer.email == "grace@example.com"
    assert Event.objects.count() == 0


def test_setting_a_price_twice_emits_once_even_past_the_stored_precision(workspace):
    # given a product; the price column keeps cents, so 9.999 is stored as 10.00
    product = ProductFactory.create(workspace=workspace, price=Decimal("20.00"), currency="EUR")
    # when the same price is set twice (a rule setting it on product_updated runs again)
    first = services.update_product(product=product, price=Decimal("9.999"), currency="EUR")
    services.update_product(product=first, price=Decimal("9.999"), currency="EUR")
    # then only the first call changed something and emitted product_updated
    assert emitted(workspace) == [
        ("product_updated", {"product_id": product.pk, "changed_fields": ["price"]})
    ]
    first.refresh_from_db()
    assert first.price == Decimal("10.00")
