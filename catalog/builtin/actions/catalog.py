"""Built-in catalog actions: prices, inventory, visibility, SKUs, AI alt text."""

from __future__ import annotations

from catalog.builtin.vocabulary import PRODUCT_ID
from catalog.specs import ActionSpec, Category, PlanTier
from catalog.types import fields, integer, money, optional, required, string, text

_RUNNERS = "automations.engine.runners.catalog"

UPDATE_PRICE = ActionSpec(
    key="update_price",
    category=Category.CATALOG,
    label="Update price",
    description=(
        "Sets a product's price, for example to start or end a sale. Rules watching product "
        "updates will see the change."
    ),
    inputs=fields(product_id=PRODUCT_ID, price=required(money(), "New price")),
    runner=f"{_RUNNERS}.update_price",
    example_inputs={"product_id": 501, "price": {"amount": "29.90", "currency": "EUR"}},
    emits=("product_updated",),
    # update_product emits product_updated only for a value that really changed.
    is_idempotent_setter=True,
)

UPDATE_INVENTORY = ActionSpec(
    key="update_inventory",
    category=Category.CATALOG,
    label="Update inventory",
    description=(
        "Changes a product's stock, either to an exact quantity after a count or by a number "
        "of units up or down after a sale or a delivery. Reaching zero marks the product sold "
        "out; falling below its threshold raises a low-stock alert."
    ),
    inputs=fields(
        product_id=PRODUCT_ID,
        quantity=optional(integer(minimum=0), "Set quantity to", "Give this or a change."),
        delta=optional(integer(), "Change by", "Units to add (or remove, when negative)."),
    ),
    runner=f"{_RUNNERS}.update_inventory",
    example_inputs={"product_id": 501, "delta": -2},
    emits=("product_updated", "product_sold_out", "product_restocked", "low_stock_alert"),
    exactly_one_of=(("quantity", "delta"),),
)

HIDE_PRODUCT = ActionSpec(
    key="hide_product",
    category=Category.CATALOG,
    label="Hide product",
    description=(
        "Hides a product from your storefront without deleting it, for example when it sells "
        "out or while its listing is being fixed."
    ),
    inputs=fields(product_id=PRODUCT_ID),
    runner=f"{_RUNNERS}.hide_product",
    example_inputs={"product_id": 501},
    emits=("product_updated",),
    # update_product emits product_updated only for a value that really changed.
    is_idempotent_setter=True,
)

CHANGE_SKU = ActionSpec(
    key="change_sku",
    category=Category.CATALOG,
    label="Change SKU",
    description=(
        "Gives a product a new SKU, the stock-keeping code your warehouse and suppliers use to "
        "identify it."
    ),
    inputs=fields(product_id=PRODUCT_ID, sku=required(string(), "New SKU")),
    runner=f"{_RUNNERS}.change_sku",
    example_inputs={"product_id": 501, "sku": "TEE-BLK-M-2025"},
    emits=("product_updated",),
    # update_product emits product_updated only for a value that really changed.
    is_idempotent_setter=True,
)

GENERATE_ALT_TEXT = ActionSpec(
    key="generate_alt_text",
    category=Category.CATALOG,
    label="Generate alt text (AI)",
    description=(
        "Writes a short description of the product's image with AI and saves it as the image's "
        "alt text, which helps shoppers using screen readers and your search ranking."
    ),
    inputs=fields(product_id=PRODUCT_ID),
    outputs=fields(alt_text=required(text(), "Alt text")),
    runner=f"{_RUNNERS}.generate_alt_text",
    example_inputs={"product_id": 501},
    emits=("product_updated",),
    plan=PlanTier.PRO,
    is_http=True,
)

ACTIONS: list[ActionSpec] = [
    UPDATE_PRICE,
    UPDATE_INVENTORY,
    HIDE_PRODUCT,
    CHANGE_SKU,
    GENERATE_ALT_TEXT,
]
"""Catalog actions, in catalog order."""
