"""Built-in product triggers: created, updated, sold out, restocked, low stock."""

from __future__ import annotations

from catalog.builtin.vocabulary import PRODUCT_ID
from catalog.specs import Category, TriggerSpec
from catalog.types import fields, integer, list_of, optional, ref, string

PRODUCT_CREATED = TriggerSpec(
    key="product_created",
    category=Category.PRODUCT,
    label="Product created",
    description=(
        "Fires when a new product is added to your catalog. Use it to generate alt text, "
        "announce the new arrival to subscribers or add it to a collection."
    ),
    payload=fields(product_id=PRODUCT_ID, title=string(), type=string()),
    example={"product_id": 501, "title": "Organic cotton tee", "type": "apparel"},
)

PRODUCT_UPDATED = TriggerSpec(
    key="product_updated",
    category=Category.PRODUCT,
    label="Product updated",
    description=(
        "Fires when a product's details change, such as its price, SKU, stock or visibility. It "
        "lists the fields that changed so a rule can react to price changes only, for example."
    ),
    payload=fields(product_id=PRODUCT_ID, changed_fields=list_of(string())),
    example={"product_id": 501, "changed_fields": ["price"]},
)

PRODUCT_SOLD_OUT = TriggerSpec(
    key="product_sold_out",
    category=Category.PRODUCT,
    label="Product sold out",
    description=(
        "Fires when a product's stock reaches zero. It names the SKU and, when known, the "
        "customer who bought the last one. Use it to hide the product, tell purchasing or start "
        "a back-in-stock waiting list."
    ),
    payload=fields(product_id=PRODUCT_ID, sku=string(), last_buyer=optional(ref("customer"))),
    example={"product_id": 501, "sku": "TEE-BLK-M", "last_buyer": 101},
)

PRODUCT_RESTOCKED = TriggerSpec(
    key="product_restocked",
    category=Category.PRODUCT,
    label="Product restocked",
    description=(
        "Fires when a sold-out product gets stock again, with the new quantity. Use it to "
        "notify customers who were waiting for it or to show the product again."
    ),
    payload=fields(product_id=PRODUCT_ID, sku=string(), qty=integer(minimum=1)),
    example={"product_id": 501, "sku": "TEE-BLK-M", "qty": 40},
)

LOW_STOCK_ALERT = TriggerSpec(
    key="low_stock_alert",
    category=Category.PRODUCT,
    label="Low stock",
    description=(
        "Fires when a product's stock falls below its low-stock threshold. Use it to reorder in "
        'time, warn the team in Slack or push a "last few left" message.'
    ),
    payload=fields(product_id=PRODUCT_ID, sku=string(), qty=integer(), threshold=integer()),
    example={"product_id": 501, "sku": "TEE-BLK-M", "qty": 4, "threshold": 5},
)

TRIGGERS: list[TriggerSpec] = [
    PRODUCT_CREATED,
    PRODUCT_UPDATED,
    PRODUCT_SOLD_OUT,
    PRODUCT_RESTOCKED,
    LOW_STOCK_ALERT,
]
"""Product triggers, in catalog order."""
