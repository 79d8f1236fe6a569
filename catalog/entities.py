"""The typed fields of each merchant entity, as rules see them (pure, no database).

A payload field of type ``ref(<entity>)`` lets conditions, bindings and templates reach the
entity's fields: ``order_id`` opens ``order.<field>``, and an entity field that is itself a
``ref`` opens the next one (``order.customer.email``). A workspace's typed custom fields are
customer fields too (``customer.app_install_date``), given by :func:`entity_type`.

The domain models in ``catalog.domain`` store these fields; ``entity_to_json`` there renders a
row in exactly this shape for dry-run and the engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from catalog.builtin.vocabulary import CHANNELS, LIFECYCLE_STAGES
from catalog.types import (
    FieldSpec,
    ObjectType,
    boolean,
    datetime,
    decimal,
    email,
    enum_of,
    integer,
    list_of,
    money,
    object_of,
    optional,
    phone,
    ref,
    required,
    string,
    url,
)

ORDER_STATUSES = enum_of("pending", "paid", "fulfilled", "cancelled", "refunded")

CUSTOMER = object_of(
    id=required(ref("customer"), "Customer"),
    email=optional(email(), "E-mail"),
    phone=optional(phone(), "Phone"),
    first_name=required(string(), "First name"),
    last_name=required(string(), "Last name"),
    source=required(string(), "Source"),
    lifecycle_stage=required(LIFECYCLE_STAGES, "Lifecycle stage"),
    tags=required(list_of(string()), "Tags"),
    email_opt_in=required(boolean(), "E-mail opt-in"),
    sms_opt_in=required(boolean(), "SMS opt-in"),
    whatsapp_opt_in=required(boolean(), "WhatsApp opt-in"),
    segments=required(list_of(ref("segment")), "Segments"),
    order_count=required(integer(), "Number of orders"),
    total_spent=required(money(), "Total spent"),
    last_order_at=optional(datetime(), "Last order"),
    created_at=required(datetime(), "Created"),
)

SEGMENT = object_of(
    id=required(ref("segment"), "Segment"),
    name=required(string(), "Name"),
)

PRODUCT = object_of(
    id=required(ref("product"), "Product"),
    title=required(string(), "Title"),
    type=required(string(), "Product type"),
    sku=required(string(), "SKU"),
    price=required(money(), "Price"),
    inventory_quantity=required(integer(), "Inventory"),
    low_stock_threshold=required(integer(), "Low-stock threshold"),
    hidden=required(boolean(), "Hidden"),
    alt_text=required(string(), "Image alt text"),
)

LINE_ITEM = object_of(
    product_id=required(ref("product"), "Product"),
    sku=required(string(), "SKU"),
    quantity=required(integer(), "Quantity"),
    unit_price=required(money(), "Unit price"),
)

ORDER = object_of(
    id=required(ref("order"), "Order"),
    customer=required(ref("customer"), "Customer"),
    total=required(money(), "Total"),
    currency=required(string(), "Currency"),
    line_items=required(list_of(LINE_ITEM), "Line items"),
    payment_method=required(string(), "Payment method"),
    status=required(ORDER_STATUSES, "Status"),
    fulfillment=required(string(), "Fulfilment"),
    tracking=optional(string(), "Tracking number"),
    created_at=required(datetime(), "Placed"),
)

JOURNEY = object_of(
    id=required(ref("journey"), "Journey"),
    name=required(string(), "Name"),
    slug=required(string(), "Slug"),
)

CAMPAIGN = object_of(
    id=required(ref("campaign"), "Campaign"),
    name=required(string(), "Name"),
    status=required(enum_of("draft", "live", "completed"), "Status"),
    audience_size=required(integer(), "Audience size"),
    revenue=optional(money(), "Revenue"),
    lift=optional(decimal(), "Lift"),
)

MESSAGE = object_of(
    id=required(ref("message"), "Message"),
    customer=required(ref("customer"), "Customer"),
    campaign=optional(ref("campaign"), "Campaign"),
    channel=required(CHANNELS, "Channel"),
    opened=required(boolean(), "Opened"),
    clicked=required(boolean(), "Clicked"),
    last_link=optional(url(), "Last link clicked"),
)

ENTITY_TYPES: dict[str, ObjectType] = {
    "customer": CUSTOMER,
    "segment": SEGMENT,
    "product": PRODUCT,
    "order": ORDER,
    "journey": JOURNEY,
    "campaign": CAMPAIGN,
    "message": MESSAGE,
}
"""The fields of every entity a ``ref(...)`` can point at."""

PROFILE_FIELDS: tuple[str, ...] = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "source",
    "lifecycle_stage",
    "email_opt_in",
    "sms_opt_in",
    "whatsapp_opt_in",
)
"""Customer fields that ``update_field`` may change (custom fields come on top)."""


def entity_type(entity: str, custom_fields: Mapping[str, FieldSpec] | None = None) -> ObjectType:
    """Return the entity's object type; customers gain the workspace's custom fields.

    Raises KeyError for an unknown entity. Custom fields never replace built-in fields.
    """
    base = ENTITY_TYPES[entity]
    if entity != "customer" or not custom_fields:
        return base
    extra = {k: v for k, v in custom_fields.items() if base.field(k) is None}
    return base.with_fields(extra)


def ref_alias(field_name: str) -> str:
    """Return the path name that opens the entity behind a ref field (``order_id`` → ``order``)."""
    return field_name.removesuffix("_id")
