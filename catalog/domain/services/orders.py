"""Order services: place, pay, fulfil, cancel and refund orders, keeping Customer360 totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.domain.models import (
    Customer,
    LifecycleStage,
    LineItem,
    Order,
    OrderStatus,
    Product,
)
from catalog.domain.money import money_payload, quantize
from catalog.domain.services.guards import (
    DomainError,
    InvalidTransitionError,
    lock,
    relock,
    require_amount,
    require_currency,
)
from catalog.events import Causation, record_event

# Stages that placing an order moves on (first_purchase on the first order, repeat after it);
# a VIP stays a VIP.
_STAGES_MOVED_BY_ORDERS = frozenset(
    {
        LifecycleStage.LEAD,
        LifecycleStage.PROSPECT,
        LifecycleStage.FIRST_PURCHASE,
        LifecycleStage.AT_RISK,
        LifecycleStage.CHURNED,
    }
)


def create_order(
    *,
    customer: Customer,
    total: Decimal,
    currency: str,
    line_items: Sequence[LineItem] = (),
    payment_method: str = "",
    placed_at: datetime | None = None,
    external_id: str = "",
    source_updated_at: datetime | None = None,
    causation: Causation | None = None,
) -> Order:
    """Place a pending order for the customer and update their order count, spend and stage.

    Emits ``order_created``; then ``lifecycle_changed`` when the order moves the customer to
    first_purchase (first order) or repeat (a later one) from lead, prospect, first_purchase,
    at_risk or churned; then ``repeat_order_milestone`` with the new order_count, on every
    order (the rule's trigger configuration picks its N). Raises ``DomainError`` for a
    negative total, a bad currency, a currency other than the customer's, or line items
    that are malformed or name products of another workspace.
    """
    require_amount(total, what="total")
    require_currency(currency)
    placed_at = placed_at or timezone.now()
    with transaction.atomic():
        locked = relock(customer)
        if locked.currency and locked.currency != currency:
            raise DomainError(
                f"the customer's totals are in {locked.currency}; an order in {currency} "
                "cannot be added to them"
            )
        _check_line_items(locked, line_items)
        order = Order.objects.create(
            workspace_id=locked.workspace_id,
            customer=locked,
            total=quantize(total),
            currency=currency,
            line_items=[item.to_json(currency) for item in line_items],
            payment_method=payment_method,
            placed_at=placed_at,
            external_id=external_id,
            source_updated_at=source_updated_at,
        )
        old_stage = locked.lifecycle_stage
        locked.order_count += 1
        locked.total_spent += quantize(total)
        locked.currency = currency
        if locked.last_order_at is None or placed_at > locked.last_order_at:
            locked.last_order_at = placed_at
        if old_stage in _STAGES_MOVED_BY_ORDERS:
            first = locked.order_count == 1
            locked.lifecycle_stage = (
                LifecycleStage.FIRST_PURCHASE if first else LifecycleStage.REPEAT
            )
        locked.save(
            update_fields=[
                "order_count",
                "total_spent",
                "currency",
                "last_order_at",
                "lifecycle_stage",
                "updated_at",
            ]
        )
        workspace = locked.workspace
        record_event(
            workspace=workspace,
            trigger_key="order_created",
            payload={
                "order_id": order.pk,
                "customer_id": locked.pk,
                "total": money_payload(order.total, currency),
                "line_items": order.line_items,
            },
            occurred_at=placed_at,
            causation=causation,
        )
        if locked.lifecycle_stage != old_stage:
            record_event(
                workspace=workspace,
                trigger_key="lifecycle_changed",
                payload={
                    "customer_id": locked.pk,
                    "from_stage": old_stage,
                    "to_stage": locked.lifecycle_stage,
                },
                causation=causation,
            )
        record_event(
            workspace=workspace,
            trigger_key="repeat_order_milestone",
            payload={"customer_id": locked.pk, "order_count": locked.order_count},
            causation=causation,
        )
    return order


def pay_order(
    *, order: Order, payment_method: str = "", causation: Causation | None = None
) -> Order:
    """Mark a pending order paid; return it. Emits ``order_paid`` with the order total.

    ``payment_method`` replaces the stored one when given. Raises ``InvalidTransitionError``
    unless the order is pending.
    """
    with transaction.atomic():
        locked = lock(Order, order.pk)
        _require_status(locked, "pay", OrderStatus.PENDING)
        locked.status = OrderStatus.PAID
        locked.payment_method = payment_method or locked.payment_method
        locked.save(update_fields=["status", "payment_method", "updated_at"])
        _record(
            locked,
            "order_paid",
            {
                "payment_method": locked.payment_method,
                "amount": money_payload(locked.total, locked.currency),
            },
            causation,
        )
    return locked


def fulfil_order(
    *,
    order: Order,
    fulfillment: str,
    tracking: str = "",
    causation: Causation | None = None,
) -> Order:
    """Mark a pending or paid order fulfilled (shipped); return it. Emits ``order_fulfilled``.

    ``tracking`` is left out of the payload when empty. Raises ``InvalidTransitionError`` for
    an order that is fulfilled, cancelled or refunded already.
    """
    with transaction.atomic():
        locked = lock(Order, order.pk)
        _require_status(locked, "fulfil", OrderStatus.PENDING, OrderStatus.PAID)
        locked.status = OrderStatus.FULFILLED
        locked.fulfillment = fulfillment
        locked.tracking = tracking
        locked.save(update_fields=["status", "fulfillment", "tracking", "updated_at"])
        payload: dict[str, object] = {"fulfillment": fulfillment}
        if tracking:
            payload["tracking"] = tracking
        _record(locked, "order_fulfilled", payload, causation)
    return locked


def cancel_order(
    *,
    order: Order,
    reason: str,
    refund_amount: Decimal | None = None,
    causation: Causation | None = None,
) -> Order:
    """Cancel a pending or paid order, refunding ``refund_amount``; return it.

    The refund defaults to what is left of a paid order's total and 0 for a pending one; it is
    taken off the customer's total_spent. Emits ``order_cancelled`` (reason, refund_amount);
    no separate ``refund_created``. Raises ``InvalidTransitionError`` for a fulfilled,
    cancelled or refunded order and ``DomainError`` for a refund above the total.
    """
    with transaction.atomic():
        customer = lock(Customer, order.customer_id)
        locked = lock(Order, order.pk)
        _require_status(locked, "cancel", OrderStatus.PENDING, OrderStatus.PAID)
        if refund_amount is None:
            paid = locked.status == OrderStatus.PAID
            refund_amount = locked.total - locked.refunded_amount if paid else Decimal(0)
        _apply_refund(customer, locked, refund_amount, positive=False)
        locked.status = OrderStatus.CANCELLED
        locked.save(update_fields=["status", "refunded_amount", "updated_at"])
        _record(
            locked,
            "order_cancelled",
            {"reason": reason, "refund_amount": money_payload(refund_amount, locked.currency)},
            causation,
        )
    return locked


def refund_order(
    *,
    order: Order,
    amount: Decimal,
    reason: str,
    causation: Causation | None = None,
) -> Order:
    """Refund part or all of a paid or fulfilled order; return it. Emits ``refund_created``.

    The order becomes ``refunded`` once the refunds reach its total; the amount is taken off
    the customer's total_spent. Raises ``InvalidTransitionError`` for a pending, cancelled or
    fully refunded order and ``DomainError`` for an amount that is not positive or exceeds
    what is left to refund.
    """
    with transaction.atomic():
        customer = lock(Customer, order.customer_id)
        locked = lock(Order, order.pk)
        _require_status(locked, "refund", OrderStatus.PAID, OrderStatus.FULFILLED)
        _apply_refund(customer, locked, amount, positive=True)
        if locked.refunded_amount == locked.total:
            locked.status = OrderStatus.REFUNDED
        locked.save(update_fields=["status", "refunded_amount", "updated_at"])
        _record(
            locked,
            "refund_created",
            {"refund_amount": money_payload(amount, locked.currency), "reason": reason},
            causation,
        )
    return locked


def _check_line_items(customer: Customer, line_items: Sequence[LineItem]) -> None:
    """Raise DomainError unless every line is well-formed and names a workspace product."""
    for index, item in enumerate(line_items):
        if item.quantity < 1 or item.unit_price < 0 or not item.sku:
            raise DomainError(
                f"line_items[{index}]: needs a SKU, a quantity of at least 1 and a unit price "
                "of at least 0"
            )
    wanted = {item.product_id for item in line_items}
    found = set(
        Product.objects.filter(workspace_id=customer.workspace_id, pk__in=wanted).values_list(
            "pk", flat=True
        )
    )
    if missing := sorted(wanted - found):
        raise DomainError(f"line items name unknown products: {missing}")


def _apply_refund(customer: Customer, order: Order, amount: Decimal, *, positive: bool) -> None:
    """Add ``amount`` to the order's refunds and take it off the customer's total_spent."""
    require_amount(amount, what="the refund amount", positive=positive)
    amount = quantize(amount)
    left = order.total - order.refunded_amount
    if amount > left:
        raise DomainError(f"only {left} {order.currency} of order {order.pk} is left to refund")
    order.refunded_amount += amount
    if amount:
        # total_spent is net of refunds; never below 0 (orders placed before a currency change).
        customer.total_spent = max(customer.total_spent - amount, Decimal("0.00"))
        customer.save(update_fields=["total_spent", "updated_at"])


def _require_status(order: Order, verb: str, *allowed: OrderStatus) -> None:
    if order.status not in allowed:
        raise InvalidTransitionError(f"cannot {verb} order {order.pk}: it is {order.status}")


def _record(
    order: Order, trigger_key: str, fields: dict[str, object], causation: Causation | None
) -> None:
    """Record ``trigger_key`` for the order: ``order_id`` plus ``fields``."""
    record_event(
        workspace=order.workspace,
        trigger_key=trigger_key,
        payload={"order_id": order.pk, **fields},
        causation=causation,
    )
