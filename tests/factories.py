"""factory_boy factories, one per model (Faker fields, SubFactory for foreign keys).

Factories write rows directly, without the domain services, so they record no events: use them
for the "given" of a test, and the services for its "when".
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from factory.declarations import LazyFunction, SelfAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory
from factory.faker import Faker

from accounts.models import Plan, Workspace
from catalog.models import (
    Campaign,
    Channel,
    Customer,
    CustomerTag,
    CustomFieldDefinition,
    CustomFieldType,
    Journey,
    Message,
    Order,
    Product,
    Segment,
    SegmentMembership,
)


class WorkspaceFactory(DjangoModelFactory[Workspace]):
    class Meta:
        model = Workspace
        django_get_or_create = ("slug",)

    slug = Sequence(lambda n: f"shop-{n}")
    name = Faker("company")
    plan = Plan.PRO


class CustomerFactory(DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    workspace = SubFactory(WorkspaceFactory)
    email = Sequence(lambda n: f"customer{n}@example.com")
    first_name = Faker("first_name")
    last_name = Faker("last_name")
    source = "shopify"


class CustomerTagFactory(DjangoModelFactory[CustomerTag]):
    class Meta:
        model = CustomerTag

    customer = SubFactory(CustomerFactory)
    tag = Sequence(lambda n: f"tag-{n}")


class SegmentFactory(DjangoModelFactory[Segment]):
    class Meta:
        model = Segment

    workspace = SubFactory(WorkspaceFactory)
    name = Sequence(lambda n: f"Segment {n}")


class SegmentMembershipFactory(DjangoModelFactory[SegmentMembership]):
    class Meta:
        model = SegmentMembership

    segment = SubFactory(SegmentFactory)
    customer = SubFactory(CustomerFactory, workspace=SelfAttribute("..segment.workspace"))


class CustomFieldDefinitionFactory(DjangoModelFactory[CustomFieldDefinition]):
    class Meta:
        model = CustomFieldDefinition

    workspace = SubFactory(WorkspaceFactory)
    key = Sequence(lambda n: f"field_{n}")
    label = Faker("sentence", nb_words=2)
    field_type = CustomFieldType.STRING


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product

    workspace = SubFactory(WorkspaceFactory)
    title = Faker("catch_phrase")
    product_type = "apparel"
    sku = Sequence(lambda n: f"SKU-{n:04d}")
    price = Decimal("20.00")
    currency = "EUR"
    inventory_quantity = 10
    low_stock_threshold = 0


class OrderFactory(DjangoModelFactory[Order]):
    class Meta:
        model = Order

    customer = SubFactory(CustomerFactory)
    workspace = SelfAttribute("customer.workspace")
    total = Decimal("40.00")
    currency = "EUR"
    payment_method = "card"
    placed_at = LazyFunction(timezone.now)


class JourneyFactory(DjangoModelFactory[Journey]):
    class Meta:
        model = Journey

    workspace = SubFactory(WorkspaceFactory)
    name = Sequence(lambda n: f"Journey {n}")
    slug = Sequence(lambda n: f"journey-{n}")


class CampaignFactory(DjangoModelFactory[Campaign]):
    class Meta:
        model = Campaign

    workspace = SubFactory(WorkspaceFactory)
    name = Sequence(lambda n: f"Campaign {n}")
    currency = "EUR"


class MessageFactory(DjangoModelFactory[Message]):
    class Meta:
        model = Message

    customer = SubFactory(CustomerFactory)
    workspace = SelfAttribute("customer.workspace")
    channel = Channel.EMAIL
    subject = Faker("sentence", nb_words=4)
