"""Product services: create and update products, and adjust their inventory."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from accounts.models import Workspace
from catalog.domain.models import Customer, Product
from catalog.domain.services.guards import (
    DomainError,
    lock,
    require_amount,
    require_currency,
    require_same_workspace,
)
from catalog.events import Causation, record_event

CENT = Decimal("0.01")


def create_product(
    *,
    workspace: Workspace,
    title: str,
    sku: str,
    price: Decimal,
    currency: str,
    product_type: str = "",
    inventory_quantity: int = 0,
    low_stock_threshold: int = 0,
    is_hidden: bool = False,
    alt_text: str = "",
    external_id: str = "",
    causation: Causation | None = None,
) -> Product:
    """Create a product and emit ``product_created`` (product_id, title, type).

    Raises ``DomainError`` for an empty title or SKU, a negative price or quantity, or a
    currency that is not an ISO 4217 code.
    """
    if not title.strip() or not sku.strip():
        raise DomainError("a product needs a title and a SKU")
    require_amount(price, what="price")
    require_currency(currency)
    if inventory_quantity < 0 or low_stock_threshold < 0:
        raise DomainError("inventory quantity and low-stock threshold must be at least 0")
    with transaction.atomic():
        product = Product.objects.create(
            workspace=workspace,
            title=title,
            sku=sku,
            price=price,
            currency=currency,
            product_type=product_type,
            inventory_quantity=inventory_quantity,
            low_stock_threshold=low_stock_threshold,
            is_hidden=is_hidden,
            alt_text=alt_text,
            external_id=external_id,
        )
        record_event(
            workspace=workspace,
            trigger_key="product_created",
            payload={"product_id": product.pk, "title": title, "type": product_type},
            causation=causation,
        )
    return product


def update_product(
    *,
    product: Product,
    title: str | None = None,
    product_type: str | None = None,
    sku: str | None = None,
    price: Decimal | None = None,
    currency: str | None = None,
    is_hidden: bool | None = None,
    alt_text: str | None = None,
    low_stock_threshold: int | None = None,
    causation: Causation | None = None,
) -> Product:
    """Change the given fields (None leaves a field as it is); return the updated product.

    Emits ``product_updated`` with the fields whose value really changed, in the order of
    this signature; nothing when none did. Backs the update_price, change_sku, hide_product
    and generate_alt_text actions. Inventory has its own service, ``adjust_inventory``.
    """
    if title is not None and not title.strip():
        raise DomainError("a product needs a title")
    if sku is not None and not sku.strip():
        raise DomainError("a product needs a SKU")
    if price is not None:
        require_amount(price, what="price")
        # Compare in the column's precision: 9.999 is stored as 10.00, and setting 9.999 again
        # must count as no change (rules that set a price on product_updated rely on it).
        price = price.quantize(CENT, rounding=ROUND_HALF_UP)
    if currency is not None:
        require_currency(currency)
    if low_stock_threshold is not None and low_stock_threshold < 0:
        raise DomainError("the low-stock threshold must be at least 0")
    wanted: dict[str, object] = {
        "title": title,
        "product_type": product_type,
        "sku": sku,
        "price": price,
        "currency": currency,
        "is_hidden": is_hidden,
        "alt_text": alt_text,
        "low_stock_threshold": low_stock_threshold,
    }
    with transaction.atomic():
        locked = lock(Product, product.pk)
        changed = [
            name
            for name, value in wanted.items()
            if value is not None and getattr(locked, name) != value
        ]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, wanted[name])
        locked.save(update_fields=[*changed, "updated_at"])
        _record(locked, "product_updated", {"changed_fields": changed}, causation)
    return locked


def adjust_inventory(
    *,
    product: Product,
    quantity: int | None = None,
    delta: int | None = None,
    last_buyer: Customer | None = None,
    causation: Causation | None = None,
) -> Product:
    """Set the stock to ``quantity``, or change it by ``delta``; return the updated product.

    Emits, in this order and only when the quantity changes: ``product_updated``
    (changed_fields ``["inventory_quantity"]``); ``product_sold_out`` when it reaches 0 from
    above (with ``last_buyer`` when given) or ``product_restocked`` when it leaves 0 (qty: the
    new quantity); ``low_stock_alert`` when it crosses from at or above the threshold to below
    it, so once per crossing, not on every change while low. Raises ``DomainError`` unless
    exactly one of quantity and delta is given, or when the stock would go below 0.
    """
    if (quantity is None) == (delta is None):
        raise DomainError("give either a quantity or a delta")
    if last_buyer is not None:
        require_same_workspace(product, last_buyer)
    with transaction.atomic():
        locked = lock(Product, product.pk)
        old = locked.inventory_quantity
        new = quantity if quantity is not None else old + (delta or 0)
        if new < 0:
            raise DomainError(f"{locked.sku} has {old} in stock; it cannot go to {new}")
        if new == old:
            return locked
        locked.inventory_quantity = new
        locked.save(update_fields=["inventory_quantity", "updated_at"])
        _record(locked, "product_updated", {"changed_fields": ["inventory_quantity"]}, causation)
        if old > 0 and new == 0:
            sold_out: dict[str, object] = {"sku": locked.sku}
            if last_buyer is not None:
                sold_out["last_buyer"] = last_buyer.pk
            _record(locked, "product_sold_out", sold_out, causation)
        elif old == 0 and new > 0:
            _record(locked, "product_restocked", {"sku": locked.sku, "qty": new}, causation)
        threshold = locked.low_stock_threshold
        if old >= threshold > new:
            _record(
                locked,
                "low_stock_alert",
                {"sku": locked.sku, "qty": new, "threshold": threshold},
                causation,
            )
    return locked


def _record(
    product: Product, trigger_key: str, fields: dict[str, object], causation: Causation | None
) -> None:
    """Record ``trigger_key`` for the product: ``product_id`` plus ``fields``."""
    record_event(
        workspace=product.workspace,
        trigger_key=trigger_key,
        payload={"product_id": product.pk, **fields},
        causation=causation,
    )
