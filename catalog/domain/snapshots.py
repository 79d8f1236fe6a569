"""Entities rendered as JSON in the shape rules see them (``catalog.entities``).

Dry-run, the engine and the entity API all read entities through these functions, so a path
such as ``order.customer.email`` means the same thing everywhere.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection, models
from django.db.models import OuterRef, QuerySet

from catalog.domain.models import (
    Campaign,
    Customer,
    CustomerTag,
    Journey,
    Message,
    Order,
    Product,
    Segment,
    SegmentMembership,
)
from catalog.domain.money import money_payload
from catalog.types import format_datetime


def _dt(value: Any) -> str | None:
    return format_datetime(value) if value is not None else None


def with_labels(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """``customers`` with their tags and segments read by the same query (PostgreSQL).

    Each customer gets ``tag_names`` and ``segment_ids``, which ``customer_to_json`` prefers to
    two more queries. Elsewhere (the SQLite demo) they are prefetched.
    """
    if connection.vendor != "postgresql":
        return customers.prefetch_related("tags", "segments")
    tags = CustomerTag.objects.filter(customer=OuterRef("pk")).order_by().values("tag")
    segments = (
        SegmentMembership.objects.filter(customer=OuterRef("pk")).order_by().values("segment_id")
    )
    return customers.annotate(tag_names=ArraySubquery(tags), segment_ids=ArraySubquery(segments))


def customer_to_json(customer: Customer) -> dict[str, Any]:
    """Return the customer's fields, custom fields included (``catalog.entities.CUSTOMER``)."""
    data: dict[str, Any] = dict(customer.custom_values or {})
    # Read with the customer (``with_labels``), else through .all(): a list that prefetched
    # tags and segments reads them without a query.
    tag_names = getattr(customer, "tag_names", None)
    if tag_names is None:
        tag_names = [tag.tag for tag in customer.tags.all()]
    segment_ids = getattr(customer, "segment_ids", None)
    if segment_ids is None:
        segment_ids = [segment.pk for segment in customer.segments.all()]
    data.update(
        id=customer.pk,
        email=customer.email or None,
        phone=customer.phone or None,
        first_name=customer.first_name,
        last_name=customer.last_name,
        source=customer.source,
        lifecycle_stage=customer.lifecycle_stage,
        tags=sorted(tag_names),
        email_opt_in=customer.email_opt_in,
        sms_opt_in=customer.sms_opt_in,
        whatsapp_opt_in=customer.whatsapp_opt_in,
        segments=sorted(segment_ids),
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
        """Return the entity's JSON snapshot, or None when it does not exist in the workspace.

        One query (a customer's tags and segments included), compiled once per process.
        """
        key = (entity, pk)
        if key not in self._cache:
            model, render = SNAPSHOTS[entity]
            sql, order = _snapshot_query(entity, connection.vendor)
            values = {"pk": model._meta.pk.get_prep_value(pk), "workspace": self.workspace_id}
            row = next(
                iter(model._default_manager.raw(sql, [values[name] for name in order])), None
            )
            self._cache[key] = render(row) if row is not None else None
        return self._cache[key]


# Stand-ins for the parameters of the compiled snapshot query, found back by value.
_PK, _WORKSPACE = -101, -102


@cache
def _snapshot_query(entity: str, vendor: str) -> tuple[str, tuple[str, ...]]:
    """The SQL reading one entity of one workspace, and which parameter goes where.

    The ORM builds it once per process (per database vendor): the queryset's compilation costs
    a few times the query itself, and the engine reads an entity for nearly every event whose
    rule conditions name one.
    """
    model, _ = SNAPSHOTS[entity]
    rows = model._default_manager.filter(pk=_PK, workspace_id=_WORKSPACE).order_by()
    if model is Customer:
        rows = with_labels(rows)  # type: ignore[arg-type]
    sql, params = rows[:1].query.sql_with_params()
    names = {_PK: "pk", _WORKSPACE: "workspace"}
    return sql, tuple(names[param] for param in params)
