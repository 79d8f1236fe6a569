"""Shopify: ``X-Shopify-Hmac-Sha256``; topics upsert customers, orders and products.

The event id is ``X-Shopify-Event-Id`` (else ``X-Shopify-Webhook-Id``) and the type the
``X-Shopify-Topic``. Order, product, customer and inventory topics change the merchant domain
through the domain services, in the ingest transaction, so the internal events (order_created,
order_paid, product_sold_out...) are recorded with the webhook's own event. Entities are matched
by ``external_id`` ``shopify:<id>``; replays of a topic change nothing twice. Shopify sends
``updated_at`` on every resource, so an event older than the newest applied one for the same
resource is stale (``ordering``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime

from catalog.domain.models import LineItem
from catalog.domain.services import (
    DomainError,
    adjust_inventory,
    cancel_order,
    create_customer,
    create_order,
    create_product,
    fulfil_order,
    pay_order,
    refund_order,
    update_product,
)
from catalog.models import Customer, Event, Order, OrderStatus, Product
from catalog.types import (
    FieldSpec,
    datetime,
    decimal,
    email,
    fields,
    integer,
    list_of,
    object_of,
    optional,
    string,
)
from webhooks.models import InventoryItemLink
from webhooks.presets.base import Delivery, ProviderPreset, Version, header
from webhooks.verifiers import Scheme

DEFAULT_CURRENCY = "USD"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

_CUSTOMER = object_of(
    {
        "id": integer(),
        "email": optional(email()),
        "first_name": optional(string()),
        "last_name": optional(string()),
    },
    is_open=True,
)
_LINE_ITEM = object_of(
    {
        "product_id": optional(integer()),
        "sku": optional(string()),
        "title": string(),
        "quantity": integer(minimum=1),
        "price": decimal(),
    },
    is_open=True,
)
_ORDER = fields(
    id=integer(),
    email=optional(email()),
    created_at=datetime(),
    updated_at=datetime(),
    currency=string(),
    total_price=decimal(),
    financial_status=optional(string()),
    fulfillment_status=optional(string()),
    customer=optional(_CUSTOMER),
    line_items=list_of(_LINE_ITEM),
)
_VARIANT = object_of(
    {
        "sku": optional(string()),
        "price": decimal(),
        "inventory_item_id": optional(integer()),
        "inventory_quantity": optional(integer()),
    },
    is_open=True,
)
_PRODUCT = fields(
    id=integer(),
    title=string(),
    product_type=optional(string()),
    updated_at=datetime(),
    variants=list_of(_VARIANT),
)

EVENTS: dict[str, dict[str, FieldSpec]] = {
    "orders/create": _ORDER,
    "orders/updated": _ORDER,
    "orders/paid": _ORDER,
    "orders/fulfilled": _ORDER,
    "orders/cancelled": {**_ORDER, "cancel_reason": optional(string())},
    "refunds/create": fields(
        id=integer(),
        order_id=integer(),
        created_at=datetime(),
        note=optional(string()),
        transactions=list_of(
            object_of(
                {"amount": decimal(), "kind": string(), "status": optional(string())},
                is_open=True,
            )
        ),
    ),
    "products/create": _PRODUCT,
    "products/update": _PRODUCT,
    "inventory_levels/update": fields(
        inventory_item_id=integer(),
        location_id=optional(integer()),
        available=optional(integer()),
        updated_at=datetime(),
    ),
    "customers/create": fields(
        id=integer(),
        email=optional(email()),
        first_name=optional(string()),
        last_name=optional(string()),
        phone=optional(string()),
        updated_at=datetime(),
    ),
}


def ordering(delivery: Delivery) -> Version | None:
    """Key ``<resource>:<id>`` (``orders:450789``) and version ``updated_at``, when both exist."""
    body, topic = delivery.body, delivery.event_type or ""
    if not isinstance(body, dict) or "/" not in topic:
        return None
    resource = topic.split("/")[0]
    key = body.get("inventory_item_id") if resource == "inventory_levels" else body.get("id")
    version = body.get("updated_at")
    if key is None or not isinstance(version, str):
        return None
    return Version(key=f"{resource}:{key}", version=version)


# --- helpers ------------------------------------------------------------------------------


def _external(value: object) -> str:
    return f"shopify:{value}"


def _money(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise DomainError(f"{value!r} is not an amount") from exc


def _currency(delivery: Delivery) -> str:
    currency = delivery.endpoint.preset_options.get("currency", DEFAULT_CURRENCY)
    return str(currency)


def _customer(delivery: Delivery, data: Any, fallback_email: object = None) -> Customer:
    """Return the workspace customer for Shopify customer ``data``, creating it if new."""
    workspace = delivery.endpoint.workspace
    data = data if isinstance(data, dict) else {}
    external_id = _external(data["id"]) if data.get("id") is not None else ""
    address = data.get("email") or fallback_email or ""
    customers = Customer.objects.filter(workspace=workspace)
    found = customers.filter(external_id=external_id).first() if external_id else None
    if found is None and address:
        found = customers.filter(email__iexact=str(address)).first()
    if found is not None:
        return found
    phone = data.get("phone") or ""
    return create_customer(
        workspace=workspace,
        email=str(address),
        first_name=str(data.get("first_name") or ""),
        last_name=str(data.get("last_name") or ""),
        phone=phone if isinstance(phone, str) and _E164.match(phone) else "",
        source="shopify",
        external_id=external_id,
    )


def _product_for_line(delivery: Delivery, line: dict[str, Any], currency: str) -> Product | None:
    """Return the product a line item names, creating it from the line if it is new."""
    if line.get("product_id") is None:
        return None  # a custom line without a product: nothing to link
    external_id = _external(line["product_id"])
    workspace = delivery.endpoint.workspace
    found = Product.objects.filter(workspace=workspace, external_id=external_id).first()
    if found is not None:
        return found
    return create_product(
        workspace=workspace,
        title=str(line.get("title") or f"Shopify product {line['product_id']}"),
        sku=str(line.get("sku") or f"shopify-{line['product_id']}"),
        price=_money(line.get("price", "0")),
        currency=currency,
        external_id=external_id,
    )


def _order(delivery: Delivery) -> Order:
    """Return the order of an ``orders/*`` body, placing it first if it is new."""
    body = delivery.body
    workspace = delivery.endpoint.workspace
    external_id = _external(body["id"])
    found = Order.objects.filter(workspace=workspace, external_id=external_id).first()
    if found is not None:
        return found
    currency = str(body["currency"])
    customer = _customer(delivery, body.get("customer"), body.get("email"))
    lines: list[LineItem] = []
    for line in body.get("line_items") or []:
        product = _product_for_line(delivery, line, currency)
        if product is not None:
            lines.append(
                LineItem(
                    product_id=product.pk,
                    sku=product.sku,
                    quantity=int(line["quantity"]),
                    unit_price=_money(line["price"]),
                )
            )
    return create_order(
        customer=customer,
        total=_money(body["total_price"]),
        currency=currency,
        line_items=lines,
        payment_method=_gateway(body),
        placed_at=parse_datetime(str(body["created_at"])),
        external_id=external_id,
        source_updated_at=parse_datetime(str(body["updated_at"])),
    )


def _gateway(body: dict[str, Any]) -> str:
    names = body.get("payment_gateway_names") or []
    gateway = body.get("gateway") or (names[0] if names else "")
    return str(gateway)[:50]


def _tracking(body: dict[str, Any]) -> str:
    for fulfillment in body.get("fulfillments") or []:
        if isinstance(fulfillment, dict) and fulfillment.get("tracking_number"):
            return str(fulfillment["tracking_number"])
    return ""


# --- appliers -------------------------------------------------------------------------------


def apply_order_create(delivery: Delivery, event: Event) -> None:
    """Place the order (and its customer and unknown products); emits order_created."""
    _order(delivery)


def apply_order_paid(delivery: Delivery, event: Event) -> None:
    """Mark the order paid if it is pending; emits order_paid."""
    order = _order(delivery)
    if order.status == OrderStatus.PENDING:
        pay_order(order=order, payment_method=_gateway(delivery.body))


def apply_order_fulfilled(delivery: Delivery, event: Event) -> None:
    """Mark the order fulfilled if it is pending or paid; emits order_fulfilled."""
    order = _order(delivery)
    if order.status in (OrderStatus.PENDING, OrderStatus.PAID):
        fulfillment = str(delivery.body.get("fulfillment_status") or "fulfilled")
        fulfil_order(order=order, fulfillment=fulfillment, tracking=_tracking(delivery.body))


def apply_order_cancelled(delivery: Delivery, event: Event) -> None:
    """Cancel the order if it is pending or paid; emits order_cancelled."""
    order = _order(delivery)
    if order.status in (OrderStatus.PENDING, OrderStatus.PAID):
        reason = str(delivery.body.get("cancel_reason") or "other")
        cancel_order(order=order, reason=reason)


def apply_order_updated(delivery: Delivery, event: Event) -> None:
    """Bring the order's state up to Shopify's: paid, fulfilled or cancelled as reported."""
    body = delivery.body
    order = _order(delivery)
    if body.get("cancelled_at") and order.status in (OrderStatus.PENDING, OrderStatus.PAID):
        cancel_order(order=order, reason=str(body.get("cancel_reason") or "other"))
        return
    if body.get("financial_status") == "paid" and order.status == OrderStatus.PENDING:
        order = pay_order(order=order, payment_method=_gateway(body))
    if body.get("fulfillment_status") == "fulfilled" and order.status in (
        OrderStatus.PENDING,
        OrderStatus.PAID,
    ):
        fulfil_order(order=order, fulfillment="fulfilled", tracking=_tracking(body))


def apply_refund(delivery: Delivery, event: Event) -> None:
    """Refund the successful refund transactions' total; emits refund_created."""
    body = delivery.body
    workspace = delivery.endpoint.workspace
    order = Order.objects.filter(
        workspace=workspace, external_id=_external(body["order_id"])
    ).first()
    if order is None:
        raise DomainError(f"refund for unknown order {body['order_id']}")
    amount = sum(
        (
            _money(t["amount"])
            for t in body.get("transactions") or []
            if t.get("kind") == "refund" and t.get("status", "success") == "success"
        ),
        Decimal(0),
    )
    if amount > 0 and order.status in (OrderStatus.PAID, OrderStatus.FULFILLED):
        refund_order(order=order, amount=amount, reason=str(body.get("note") or "refund"))


def _link_inventory(delivery: Delivery, product: Product) -> None:
    for variant in delivery.body.get("variants") or []:
        if isinstance(variant, dict) and variant.get("inventory_item_id") is not None:
            InventoryItemLink.objects.update_or_create(
                endpoint=delivery.endpoint,
                inventory_item_id=str(variant["inventory_item_id"]),
                defaults={"product": product},
            )


def apply_product(delivery: Delivery, event: Event) -> None:
    """Create the product, or update its title, type, SKU and price; emits product_*."""
    body = delivery.body
    workspace = delivery.endpoint.workspace
    variants = [v for v in body.get("variants") or [] if isinstance(v, dict)]
    first = variants[0] if variants else {}
    sku = str(first.get("sku") or f"shopify-{body['id']}")
    price = _money(first.get("price", "0"))
    external_id = _external(body["id"])
    product = Product.objects.filter(workspace=workspace, external_id=external_id).first()
    if product is None:
        product = create_product(
            workspace=workspace,
            title=str(body["title"]),
            sku=sku,
            price=price,
            currency=_currency(delivery),
            product_type=str(body.get("product_type") or ""),
            inventory_quantity=max(0, int(first.get("inventory_quantity") or 0)),
            external_id=external_id,
        )
    else:
        product = update_product(
            product=product,
            title=str(body["title"]),
            product_type=str(body.get("product_type") or ""),
            sku=sku,
            price=price,
        )
    _link_inventory(delivery, product)


def apply_inventory(delivery: Delivery, event: Event) -> None:
    """Set the linked product's inventory to ``available``; emits sold-out/restock/low-stock."""
    body = delivery.body
    if body.get("available") is None:
        return
    link = (
        InventoryItemLink.objects.select_related("product")
        .filter(endpoint=delivery.endpoint, inventory_item_id=str(body["inventory_item_id"]))
        .first()
    )
    if link is None:
        raise DomainError(f"inventory item {body['inventory_item_id']} is linked to no product")
    adjust_inventory(product=link.product, quantity=max(0, int(body["available"])))


def apply_customer(delivery: Delivery, event: Event) -> None:
    """Create the customer if new; emits customer_created."""
    _customer(delivery, delivery.body)


PRESET = ProviderPreset(
    key="shopify",
    label="Shopify",
    scheme=Scheme.SHOPIFY,
    events=EVENTS,
    event_id=lambda headers, body: (
        headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    ),
    event_type=header("x-shopify-topic"),
    ordering=ordering,
    appliers={
        "orders/create": apply_order_create,
        "orders/updated": apply_order_updated,
        "orders/paid": apply_order_paid,
        "orders/fulfilled": apply_order_fulfilled,
        "orders/cancelled": apply_order_cancelled,
        "refunds/create": apply_refund,
        "products/create": apply_product,
        "products/update": apply_product,
        "inventory_levels/update": apply_inventory,
        "customers/create": apply_customer,
    },
)
