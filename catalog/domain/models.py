"""Merchant-domain models: the entities that triggers describe and actions change (SPEC 3).

The models hold data and invariants only. Every write goes through ``catalog.domain.services``,
which records the matching internal event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q

from accounts.models import Workspace

ZERO = Decimal("0.00")


def _money_field(**kwargs: Any) -> models.DecimalField[Decimal, Decimal]:
    """Return the amount column of a money value (paired with a ``currency`` char(3) column)."""
    return models.DecimalField(max_digits=12, decimal_places=2, **kwargs)


def _currency_field(**kwargs: Any) -> models.CharField[str, str]:
    """Return an ISO 4217 currency code column."""
    return models.CharField(max_length=3, **kwargs)


class LifecycleStage(models.TextChoices):
    """Where a customer stands in the relationship (SPEC 3, Customer.lifecycle_stage)."""

    LEAD = "lead", "Lead"
    PROSPECT = "prospect", "Prospect"
    FIRST_PURCHASE = "first_purchase", "First purchase"
    REPEAT = "repeat", "Repeat"
    VIP = "vip", "VIP"
    AT_RISK = "at_risk", "At risk"
    CHURNED = "churned", "Churned"


class Channel(models.TextChoices):
    """A messaging channel: customers opt in per channel, and messages go out on one."""

    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"


class Segment(models.Model):
    """A named group of customers; membership changes emit customer_segment_joined/left."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="segment_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """The Customer360 profile: identity, lifecycle, consent, order totals and custom fields."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="customers")
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=100, blank=True)
    lifecycle_stage = models.CharField(
        max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    email_opt_in = models.BooleanField(default=False)
    sms_opt_in = models.BooleanField(default=False)
    whatsapp_opt_in = models.BooleanField(default=False)
    segments = models.ManyToManyField(
        Segment, through="SegmentMembership", related_name="customers", blank=True
    )
    order_count = models.PositiveIntegerField(default=0)
    # Net of refunds, in ``currency`` (set by the customer's first order).
    total_spent = _money_field(default=ZERO)
    currency = _currency_field(blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    # Validated values of the workspace's CustomFieldDefinitions, keyed by definition key, in
    # their JSON form (a date is "2025-01-31"). Written only by update_customer_field.
    custom_values = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=~Q(email=""),
                name="customer_unique_email",
            ),
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=~Q(external_id=""),
                name="customer_unique_external_id",
            ),
            models.CheckConstraint(
                condition=Q(lifecycle_stage__in=LifecycleStage.values),
                name="customer_lifecycle_stage_valid",
            ),
            models.CheckConstraint(
                condition=Q(total_spent__gte=0), name="customer_total_spent_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.phone or f"customer {self.pk}"

    def opt_in_for(self, channel: str) -> bool:
        """Return whether the customer opted in to ``channel`` (a ``Channel`` value)."""
        return bool(getattr(self, f"{Channel(channel).value}_opt_in"))


class CustomerTag(models.Model):
    """One tag on one customer; the unique pair makes "tag once" a database fact."""

    # Indexed by customer_tag_unique, which it leads.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="tags", db_index=False
    )
    tag = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["tag"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_unique"),
            models.CheckConstraint(condition=~Q(tag=""), name="customer_tag_not_empty"),
        ]

    def __str__(self) -> str:
        return self.tag


class SegmentMembership(models.Model):
    """A customer's membership of a segment."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_memberships"
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["segment", "customer"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "customer"], name="segment_membership_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class CustomFieldType(models.TextChoices):
    """The catalog field types a custom customer field may have (SPEC 2, scalar types only)."""

    STRING = "string", "String"
    TEXT = "text", "Text"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    URL = "url", "URL"
    INTEGER = "integer", "Integer"
    DECIMAL = "decimal", "Decimal"
    BOOLEAN = "boolean", "Boolean"
    DATETIME = "datetime", "Date and time"
    DATE = "date", "Date"
    ENUM = "enum", "Choice"


class CustomFieldDefinition(models.Model):
    """A typed custom field on the workspace's customers (``app_install_date: date``)."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="custom_field_definitions"
    )
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=120)
    field_type = models.CharField(max_length=20, choices=CustomFieldType.choices)
    # The allowed values of an enum field, in display order; empty for every other type.
    enum_values = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="custom_field_unique_key"),
            models.CheckConstraint(
                condition=Q(field_type__in=CustomFieldType.values),
                name="custom_field_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(field_type=CustomFieldType.ENUM) | Q(enum_values=[]),
                name="custom_field_enum_values_only_for_enum",
            ),
            models.CheckConstraint(
                condition=~Q(field_type=CustomFieldType.ENUM) | ~Q(enum_values=[]),
                name="custom_field_enum_has_values",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.field_type}"


class Product(models.Model):
    """A product in the merchant's catalog, with its stock level and low-stock threshold."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="products")
    title = models.CharField(max_length=255)
    product_type = models.CharField(max_length=100, blank=True)
    sku = models.CharField(max_length=100)
    price = _money_field(default=ZERO)
    currency = _currency_field()
    inventory_quantity = models.IntegerField(default=0)
    # low_stock_alert fires when the quantity crosses from >= threshold to < threshold.
    low_stock_threshold = models.PositiveIntegerField(default=0)
    is_hidden = models.BooleanField(default=False)
    alt_text = models.TextField(blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "sku"], name="product_unique_sku"),
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=~Q(external_id=""),
                name="product_unique_external_id",
            ),
            models.CheckConstraint(condition=~Q(sku=""), name="product_sku_not_empty"),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=Q(inventory_quantity__gte=0), name="product_inventory_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.sku})"


class OrderStatus(models.TextChoices):
    """An order's state: pending -> paid -> fulfilled; cancelled or refunded on the side."""

    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    FULFILLED = "fulfilled", "Fulfilled"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line of an order: which product, how many, at what unit price (order currency)."""

    product_id: int
    sku: str
    quantity: int
    unit_price: Decimal

    def to_json(self, currency: str) -> dict[str, Any]:
        """Return the JSON form stored in ``Order.line_items`` and carried by order_created."""
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "quantity": self.quantity,
            "unit_price": {
                "amount": str(self.unit_price.quantize(Decimal("0.01"))),
                "currency": currency,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LineItem:
        """Parse the stored JSON form back into a LineItem."""
        return cls(
            product_id=int(data["product_id"]),
            sku=str(data["sku"]),
            quantity=int(data["quantity"]),
            unit_price=Decimal(str(data["unit_price"]["amount"])),
        )


class Order(models.Model):
    """A customer's order. ``line_items`` holds validated ``LineItem`` dicts only."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="orders")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    total = _money_field()
    currency = _currency_field()
    # [{"product_id": 7, "sku": "TEE-S", "quantity": 2, "unit_price": {"amount": "20.00",
    # "currency": "EUR"}}] (order_created's form), written by create_order from LineItem values.
    line_items = models.JSONField(default=list, blank=True)
    payment_method = models.CharField(max_length=50, blank=True)
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    fulfillment = models.CharField(max_length=100, blank=True)
    tracking = models.CharField(max_length=255, blank=True)
    refunded_amount = _money_field(default=ZERO)
    external_id = models.CharField(max_length=255, blank=True)
    # The provider's last-modified time of the data we hold: a webhook older than this is stale
    # and is recorded but not applied (SPEC 8.4).
    source_updated_at = models.DateTimeField(null=True, blank=True)
    placed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=~Q(external_id=""),
                name="order_unique_external_id",
            ),
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values), name="order_status_valid"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("total")),
                name="order_refund_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"

    def get_line_items(self) -> list[LineItem]:
        """Return the order's lines as typed values."""
        return [LineItem.from_json(item) for item in self.line_items]


class Journey(models.Model):
    """A multi-step customer journey (a sequence) that customers are enrolled in."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="journeys")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="journey_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class EnrollmentStatus(models.TextChoices):
    """Whether an enrollment is running or over."""

    ACTIVE = "active", "Active"
    EXITED = "exited", "Exited"


class JourneyEnrollment(models.Model):
    """One pass of a customer through a journey; at most one active per (journey, customer)."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="journey_enrollments"
    )
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="journey_enrollments"
    )
    step = models.CharField(max_length=100)
    status = models.CharField(
        max_length=20, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    exit_reason = models.CharField(max_length=255, blank=True)
    enrolled_at = models.DateTimeField(auto_now_add=True)
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer"],
                condition=Q(status=EnrollmentStatus.ACTIVE),
                name="journey_enrollment_one_active",
            ),
            models.CheckConstraint(
                condition=Q(status__in=EnrollmentStatus.values),
                name="journey_enrollment_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status=EnrollmentStatus.ACTIVE, exited_at__isnull=True)
                | Q(status=EnrollmentStatus.EXITED, exited_at__isnull=False),
                name="journey_enrollment_exited_at_iff_exited",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.journey_id} ({self.status})"


class CampaignStatus(models.TextChoices):
    """A campaign's state: draft -> live -> completed."""

    DRAFT = "draft", "Draft"
    LIVE = "live", "Live"
    COMPLETED = "completed", "Completed"


class Campaign(models.Model):
    """A marketing campaign sent to an audience segment, with its attributed revenue and lift."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=120)
    status = models.CharField(
        max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    audience_segment = models.ForeignKey(
        Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns"
    )
    audience_size = models.PositiveIntegerField(default=0)
    revenue = _money_field(default=ZERO)
    currency = _currency_field()
    # Relative uplift against the holdout, as a fraction (0.12 is +12%).
    lift = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"))
    launched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(revenue__gte=0), name="campaign_revenue_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """A message sent to a customer on one channel, with its first open and click."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="messages")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    subject = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    last_link = models.URLField(max_length=2000, blank=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["-sent_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="message_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} message {self.pk}"
