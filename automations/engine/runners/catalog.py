"""Runners of the catalog actions: price, inventory, visibility and SKU, through the services.

Internal actions (see ``automations.engine.runners.customer``); ``generate_alt_text`` calls the
AI provider and lives with the other AI runners.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from automations.engine.contract import PermanentError, StepContext
from automations.engine.runners.ai import generate_alt_text  # noqa: F401
from catalog.domain.services import DomainError, adjust_inventory, update_product
from catalog.models import Product


def product_of(ctx: StepContext) -> Product:
    """Return the step's ``product_id`` product; PermanentError when not in the workspace."""
    product_id = ctx.inputs["product_id"]
    product = Product.objects.filter(workspace=ctx.workspace, pk=product_id).first()
    if product is None:
        raise PermanentError(f"product {product_id} does not exist in this workspace")
    return product


def update_price(ctx: StepContext) -> dict[str, Any]:
    """Set the product's price and currency (emits ``product_updated`` when it changes)."""
    price = ctx.inputs["price"]
    try:
        update_product(
            product=product_of(ctx),
            price=Decimal(str(price["amount"])),
            currency=str(price["currency"]),
            causation=ctx.causation,
        )
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}


def update_inventory(ctx: StepContext) -> dict[str, Any]:
    """Set the stock to ``quantity`` or change it by ``delta`` (emits the stock events).

    Not idempotent by itself (a delta applied twice counts twice): the engine's applied-effect
    record is what makes a retried step apply it once.
    """
    try:
        adjust_inventory(
            product=product_of(ctx),
            quantity=ctx.inputs.get("quantity"),
            delta=ctx.inputs.get("delta"),
            causation=ctx.causation,
        )
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}


def hide_product(ctx: StepContext) -> dict[str, Any]:
    """Hide the product from the storefront (emits ``product_updated`` when it was visible)."""
    try:
        update_product(product=product_of(ctx), is_hidden=True, causation=ctx.causation)
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}


def change_sku(ctx: StepContext) -> dict[str, Any]:
    """Give the product a new SKU (emits ``product_updated`` when it changes)."""
    try:
        update_product(product=product_of(ctx), sku=str(ctx.inputs["sku"]), causation=ctx.causation)
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}
