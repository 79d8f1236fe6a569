"""Entities rendered as JSON in the shape rules see them (``catalog.entities``).

Dry-run, the engine and the entity API all read entities through these functions, so a path
such as ``order.customer.email`` means the same thing everywhere.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from catalog.domain.models import (
    Campaign,
    Customer,
    Journey,
    Message,
    Order,
    Product,
    Segment,
)
from catalog.domain.money import money_payload
from catalog.types import format_datetime


def _dt(value: Any) -> str | None:
    return format_datetime(value) if value is not None else None


def customer_to_json(customer: Customer) -> dict[str, Any]:
    """Return the customer's fields, custom fields included (``catalog.entities.CUSTOMER``)."""
    data: dict[str, Any] = dict(customer.custom_values or {})
    data.update(
        id=customer.pk,
        email=customer.email or None,
        phone=customer.phone or None,
        first_name=customer.first_name,
        last_name=customer.last_name,
        source=customer.source,
        lifecycle_stage=customer.lifecycle_stage,
        # Through .all(): a list that prefetched tags and segments reads them without a query.
        tags=sorted(tag.tag for tag in customer.tags.all()),
        email_opt_in=customer.email_opt_in,
        sms_opt_in=customer.sms_opt_in,
        whatsapp_opt_in=customer.whatsapp_opt_in,
        segments=sorted(segment.pk for segment in customer.segments.all()),
        order_count=customer.order_count,
        total_spent=money_payload(customer.total_spent, customer.currency or "XXX"),
        last_order_at=_dt(customer.last_order_at),
        created_at=_dt(customer.created_at),
    )
    return data


def product_to_json(product: Product) -> dict[str, Any]:
    """Return the product's fields (``catalog.entities.PRODUCT``)."""
    return {
        "id": product.pk,
        "title": product.title,
        "type": product.product_type,
        "sku": product.sku,
        "price": money_payload(product.price, product.currency),
        "inventory_quantity": product.inventory_quantity,
        "low_stock_threshold": product.low_stock_threshold,
        "hidden": product.is_hidden,
        "alt_text": product.alt_text,
    }


def order_to_json(order: Order) -> dict[str, Any]:
    """Return the order's fields (``catalog.entities.ORDER``)."""
    return {
        "id": order.pk,
        "customer": order.customer_id,
        "total": money_payload(order.total, order.currency),
        "currency": order.currency,
        "line_items": list(order.line_items),
        "payment_method": order.payment_method,
        "status": order.status,
        "fulfillment": order.fulfillment,
        "tracking": order.tracking or None,
        "created_at": _dt(order.placed_at),
    }


def segment_to_json(segment: Segment) -> dict[str, Any]:
    """Return the segment's fields."""
    return {"id": segment.pk, "name": segment.name}


def journey_to_json(journey: Journey) -> dict[str, Any]:
    """Return the journey's fields."""
    return {"id": journey.pk, "name": journey.name, "slug": journey.slug}


def campaign_to_json(campaign: Campaign) -> dict[str, Any]:
    """Return the campaign's fields."""
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "audience_size": campaign.audience_size,
        "revenue": (
            money_payload(campaign.revenue, campaign.currency) if campaign.currency else None
        ),
        "lift": str(campaign.lift),
    }


def message_to_json(message: Message) -> dict[str, Any]:
    """Return the message's fields."""
    return {
        "id": message.pk,
        "customer": message.customer_id,
        "campaign": message.campaign_id,
        "channel": message.channel,
        "opened": message.opened_at is not None,
        "clicked": message.clicked_at is not None,
        "last_link": message.last_link or None,
    }


SNAPSHOTS: dict[str, tuple[type[models.Model], Any]] = {
    "customer": (Customer, customer_to_json),
    "product": (Product, product_to_json),
    "order": (Order, order_to_json),
    "segment": (Segment, segment_to_json),
    "journey": (Journey, journey_to_json),
    "campaign": (Campaign, campaign_to_json),
    "message": (Message, message_to_json),
}


class WorkspaceEntityLoader:
    """Read-only entity lookups for one workspace (dry-run and the engine's path resolution)."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self._cache: dict[tuple[str, int], dict[str, Any] | None] = {}

    def load(self, entity: str, pk: int) -> dict[str, Any] | None:
        """Return the entity's JSON snapshot, or None when it does not exist in the workspace."""
        key = (entity, pk)
        if key not in self._cache:
            model, render = SNAPSHOTS[entity]
            row = model._default_manager.filter(pk=pk, workspace_id=self.workspace_id).first()
            self._cache[key] = render(row) if row is not None else None
        return self._cache[key]
