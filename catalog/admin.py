"""Django admin registrations (superusers and audits) for the merchant domain and events.

The admin is read-mostly: domain rows change through ``catalog.domain.services`` so that their
events are recorded, and events are never edited by hand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from catalog.models import (
    Campaign,
    Customer,
    CustomerTag,
    CustomFieldDefinition,
    Event,
    Journey,
    JourneyEnrollment,
    Message,
    Order,
    Product,
    Segment,
)


class ReadOnlyAdmin[M: Any](admin.ModelAdmin[M]):
    """An admin that lists and shows rows but cannot add, change or delete them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Writes go through the domain services, which record events."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        """Writes go through the domain services, which record events."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        """Writes go through the domain services, which record events."""
        return False


class CustomerTagInline(admin.TabularInline[CustomerTag, Customer]):
    """A customer's tags, shown on the customer page."""

    model = CustomerTag
    extra = 0
    can_delete = False
    readonly_fields = ["tag", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Customer | None = None) -> bool:
        """Tags change through tag_customer / untag_customer."""
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin[Customer]):
    """Customer360 profiles."""

    list_display = [
        "email",
        "first_name",
        "last_name",
        "lifecycle_stage",
        "order_count",
        "workspace",
    ]
    list_filter = ["lifecycle_stage", "workspace"]
    search_fields = ["email", "phone", "first_name", "last_name", "external_id"]
    inlines = [CustomerTagInline]


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(ReadOnlyAdmin[CustomFieldDefinition]):
    """Custom customer fields per workspace."""

    list_display = ["key", "label", "field_type", "workspace"]
    list_filter = ["field_type", "workspace"]


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin[Segment]):
    """Customer segments."""

    list_display = ["name", "workspace", "created_at"]
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin[Product]):
    """Products and their stock."""

    list_display = ["title", "sku", "price", "currency", "inventory_quantity", "is_hidden"]
    list_filter = ["is_hidden", "workspace"]
    search_fields = ["title", "sku", "external_id"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin[Order]):
    """Orders."""

    list_display = ["id", "customer", "total", "currency", "status", "placed_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["external_id", "customer__email"]


@admin.register(Journey)
class JourneyAdmin(ReadOnlyAdmin[Journey]):
    """Journeys."""

    list_display = ["name", "slug", "workspace"]


@admin.register(JourneyEnrollment)
class JourneyEnrollmentAdmin(ReadOnlyAdmin[JourneyEnrollment]):
    """Journey enrollments."""

    list_display = ["journey", "customer", "step", "status", "enrolled_at", "exited_at"]
    list_filter = ["status"]


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin[Campaign]):
    """Campaigns."""

    list_display = ["name", "status", "audience_size", "revenue", "currency", "launched_at"]
    list_filter = ["status", "workspace"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin[Message]):
    """Messages sent to customers."""

    list_display = ["id", "customer", "channel", "sent_at", "opened_at", "clicked_at"]
    list_filter = ["channel"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin[Event]):
    """The internal-event outbox, for audits."""

    list_display = ["id", "trigger_key", "source", "status", "depth", "occurred_at", "workspace"]
    list_filter = ["status", "source", "trigger_key"]
    search_fields = ["id", "trigger_key", "dedupe_key"]
    date_hierarchy = "recorded_at"
