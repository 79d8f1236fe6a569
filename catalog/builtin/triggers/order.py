"""Built-in order triggers: created, paid, fulfilled, cancelled, refunded, repeat milestones."""

from __future__ import annotations

from catalog.builtin.vocabulary import CUSTOMER_ID, ORDER_ID
from catalog.specs import Category, TriggerSpec
from catalog.types import fields, integer, list_of, money, object_of, optional, ref, string

LINE_ITEM = object_of(
    product_id=ref("product"),
    sku=string(),
    quantity=integer(minimum=1),
    unit_price=money(),
)
"""One line of an order."""

ORDER_CREATED = TriggerSpec(
    key="order_created",
    category=Category.ORDER,
    label="Order created",
    description=(
        "Fires when a customer places a new order, before payment is necessarily captured. It "
        "carries the order total and every line item with its product, SKU, quantity and unit "
        "price, so you can send a confirmation, update stock or notify the warehouse."
    ),
    payload=fields(
        order_id=ORDER_ID,
        customer_id=CUSTOMER_ID,
        total=money(),
        line_items=list_of(LINE_ITEM),
    ),
    example={
        "order_id": 1042,
        "customer_id": 101,
        "total": {"amount": "120.00", "currency": "EUR"},
        "line_items": [
            {
                "product_id": 501,
                "sku": "TEE-BLK-M",
                "quantity": 2,
                "unit_price": {"amount": "35.00", "currency": "EUR"},
            },
            {
                "product_id": 502,
                "sku": "CAP-RED",
                "quantity": 1,
                "unit_price": {"amount": "50.00", "currency": "EUR"},
            },
        ],
    },
)

ORDER_PAID = TriggerSpec(
    key="order_paid",
    category=Category.ORDER,
    label="Order paid",
    description=(
        "Fires when the payment for an order is captured. This is the moment the sale is real: "
        "thank the customer, tag big spenders or post large orders to your team channel."
    ),
    payload=fields(order_id=ORDER_ID, payment_method=string(), amount=money()),
    example={
        "order_id": 1042,
        "payment_method": "card",
        "amount": {"amount": "120.00", "currency": "EUR"},
    },
)

ORDER_FULFILLED = TriggerSpec(
    key="order_fulfilled",
    category=Category.ORDER,
    label="Order fulfilled",
    description=(
        "Fires when an order is shipped. It says how it was fulfilled and, when the carrier gives "
        "one, the tracking number, so you can send the customer a shipping notice."
    ),
    payload=fields(order_id=ORDER_ID, fulfillment=string(), tracking=optional(string())),
    example={"order_id": 1042, "fulfillment": "dhl_parcel", "tracking": "JJD000390007782"},
)

ORDER_CANCELLED = TriggerSpec(
    key="order_cancelled",
    category=Category.ORDER,
    label="Order cancelled",
    description=(
        "Fires when an order is cancelled, with the reason and the amount refunded. Use it to "
        "ask for feedback, restock items or alert the team when cancellations pile up."
    ),
    payload=fields(order_id=ORDER_ID, reason=string(), refund_amount=money()),
    example={
        "order_id": 1042,
        "reason": "customer_request",
        "refund_amount": {"amount": "120.00", "currency": "EUR"},
    },
)

REFUND_CREATED = TriggerSpec(
    key="refund_created",
    category=Category.ORDER,
    label="Refund created",
    description=(
        "Fires when a refund is processed for an order, in full or in part. Use it to confirm "
        "the refund to the customer or to watch for products that keep coming back."
    ),
    payload=fields(order_id=ORDER_ID, refund_amount=money(), reason=string()),
    example={
        "order_id": 1042,
        "refund_amount": {"amount": "35.00", "currency": "EUR"},
        "reason": "damaged",
    },
)

REPEAT_ORDER_MILESTONE = TriggerSpec(
    key="repeat_order_milestone",
    category=Category.ORDER,
    label="Repeat order milestone",
    description=(
        "Fires when a customer places their Nth order, with N set on the trigger: their second "
        "order, their tenth. Use it to celebrate loyal customers with a thank-you or a reward."
    ),
    payload=fields(customer_id=CUSTOMER_ID, order_count=integer(minimum=1)),
    config=fields(n=integer(minimum=1)),
    example={"customer_id": 101, "order_count": 3},
    example_config={"n": 3},
)

TRIGGERS: list[TriggerSpec] = [
    ORDER_CREATED,
    ORDER_PAID,
    ORDER_FULFILLED,
    ORDER_CANCELLED,
    REFUND_CREATED,
    REPEAT_ORDER_MILESTONE,
]
"""Order triggers, in catalog order."""
