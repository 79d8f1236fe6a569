"""The merchant entities a store system syncs with: customers, products, orders, custom fields.

Every write goes through the domain services, so an API change emits exactly the events the same
change made by a rule would (customer_created, order_paid, product_sold_out...). Responses use the
entity shapes rules see (``catalog.domain.snapshots``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import ADMIN_AREA, MARKETER_AREA
from accounts.api import WorkspaceScopedMixin
from catalog.domain import services
from catalog.domain.models import Customer, CustomFieldDefinition, LineItem, Order, Product
from catalog.domain.snapshots import customer_to_json, order_to_json, product_to_json
from catalog.types import ValidationError as CatalogValidationError


class Conflict(APIException):
    """The change is not possible in the entity's current state."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The change is not possible in the entity's current state."


def call_service[T](service: Callable[..., T], **kwargs: Any) -> T:
    """Run a domain service, turning its errors into clear 4xx answers.

    A type error in a value answers 400 naming each field; an impossible state transition
    (paying a paid order) 409; any other domain rule 400 with its sentence.
    """
    try:
        return service(**kwargs)
    except CatalogValidationError as exc:
        raise ValidationError({"error": "invalid", "fields": exc.as_dict()}) from exc
    except services.InvalidTransitionError as exc:
        raise Conflict(str(exc)) from exc
    except services.DomainError as exc:
        raise ValidationError({"error": "invalid", "detail": str(exc)}) from exc
    except IntegrityError as exc:
        raise Conflict("Another record already uses one of these unique values.") from exc


class EntitySerializer(serializers.Serializer[Any]):
    """An entity as rules see it (``catalog.domain.snapshots``); further fields vary by kind."""

    id = serializers.IntegerField(read_only=True)


# Responses are the snapshots (custom fields at the top level), not the write serializers.
entity_responses = extend_schema(responses=EntitySerializer)


# --- customers -------------------------------------------------------------------------------


class CustomerWriteSerializer(serializers.Serializer[Any]):
    """The fields a store system sets on a customer; custom fields go in ``custom``."""

    email = serializers.CharField(required=False)
    phone = serializers.CharField(required=False, allow_blank=True)
    first_name = serializers.CharField(required=False, allow_blank=True)
    last_name = serializers.CharField(required=False, allow_blank=True)
    # DRF moves declared fields out of the class, so "source" does not shadow Field.source.
    source = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]
    lifecycle_stage = serializers.CharField(required=False)
    email_opt_in = serializers.BooleanField(required=False)
    sms_opt_in = serializers.BooleanField(required=False)
    whatsapp_opt_in = serializers.BooleanField(required=False)
    external_id = serializers.CharField(required=False, allow_blank=True)
    custom = serializers.DictField(required=False)


class TagSerializer(serializers.Serializer[Any]):
    """A tag to add."""

    tag = serializers.CharField(max_length=100)


@entity_responses
class CustomerViewSet(WorkspaceScopedMixin[Customer], viewsets.GenericViewSet[Customer]):
    """Customers: list, read, create, change fields, tag and untag (each change emits events)."""

    access = MARKETER_AREA
    queryset = Customer.objects.prefetch_related("tags", "segments").order_by("-id")
    serializer_class = CustomerWriteSerializer

    def list(self, request: Request) -> Response:
        """List the workspace's customers, newest first (``?email=`` filters)."""
        qs: QuerySet[Customer] = self.get_queryset()
        if email := request.query_params.get("email"):
            qs = qs.filter(email__iexact=email)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response([customer_to_json(c) for c in page or []])

    def retrieve(self, request: Request, pk: str) -> Response:
        """Show one customer."""
        return Response(customer_to_json(self.get_object()))

    def create(self, request: Request) -> Response:
        """Create a customer (emits customer_created)."""
        data = self._validated(request)
        if not data.get("email"):
            raise ValidationError({"email": ["An e-mail address is required."]})
        custom = data.pop("custom", {})
        customer = call_service(
            services.create_customer,
            workspace=request.workspace,  # type: ignore[attr-defined]
            custom_values=custom,
            **data,
        )
        return Response(customer_to_json(customer), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        """Change profile or custom fields, one event batch per changed field."""
        customer = self.get_object()
        data = self._validated(request)
        changes: dict[str, Any] = {**data.pop("custom", {}), **data}
        for field, value in changes.items():
            customer = call_service(
                services.update_customer_field, customer=customer, field=field, value=value
            )
        return Response(customer_to_json(customer))

    @extend_schema(request=TagSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], url_path="tags")
    def add_tag(self, request: Request, pk: str) -> Response:
        """Tag the customer (emits customer_tagged once; tagging again changes nothing)."""
        customer = self.get_object()
        serializer = TagSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changed = call_service(
            services.tag_customer, customer=customer, tag=serializer.validated_data["tag"]
        )
        customer.refresh_from_db()
        return Response(
            {"changed": changed, "customer": customer_to_json(customer)},
            status=status.HTTP_201_CREATED if changed else status.HTTP_200_OK,
        )

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["delete"], url_path=r"tags/(?P<tag>[^/]+)")
    def remove_tag(self, request: Request, pk: str, tag: str) -> Response:
        """Remove a tag (emits customer_tagged with action removed, if it was there)."""
        customer = self.get_object()
        changed = call_service(services.untag_customer, customer=customer, tag=tag)
        return Response({"changed": changed})

    def _validated(self, request: Request) -> dict[str, Any]:
        serializer = CustomerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


# --- products --------------------------------------------------------------------------------


class ProductWriteSerializer(serializers.Serializer[Any]):
    """A product's fields."""

    title = serializers.CharField(required=False)
    sku = serializers.CharField(required=False)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    currency = serializers.CharField(required=False, min_length=3, max_length=3)
    product_type = serializers.CharField(required=False, allow_blank=True)
    inventory_quantity = serializers.IntegerField(required=False, min_value=0)
    low_stock_threshold = serializers.IntegerField(required=False, min_value=0)
    is_hidden = serializers.BooleanField(required=False)
    alt_text = serializers.CharField(required=False, allow_blank=True)
    external_id = serializers.CharField(required=False, allow_blank=True)


class InventorySerializer(serializers.Serializer[Any]):
    """A new stock level, or a change to it: exactly one of the two."""

    quantity = serializers.IntegerField(required=False, min_value=0)
    delta = serializers.IntegerField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Require exactly one of quantity and delta."""
        if ("quantity" in attrs) == ("delta" in attrs):
            raise serializers.ValidationError("Give either quantity or delta, not both.")
        return attrs


@entity_responses
class ProductViewSet(WorkspaceScopedMixin[Product], viewsets.GenericViewSet[Product]):
    """Products: list, read, create, update, and set or adjust inventory."""

    access = MARKETER_AREA
    queryset = Product.objects.order_by("-id")
    serializer_class = ProductWriteSerializer

    def list(self, request: Request) -> Response:
        """List the workspace's products (``?sku=`` filters)."""
        qs: QuerySet[Product] = self.get_queryset()
        if sku := request.query_params.get("sku"):
            qs = qs.filter(sku=sku)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response([product_to_json(p) for p in page or []])

    def retrieve(self, request: Request, pk: str) -> Response:
        """Show one product."""
        return Response(product_to_json(self.get_object()))

    def create(self, request: Request) -> Response:
        """Create a product (emits product_created)."""
        serializer = ProductWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        missing = [f for f in ("title", "sku", "price", "currency") if f not in data]
        if missing:
            raise ValidationError({f: ["This field is required."] for f in missing})
        product = call_service(
            services.create_product,
            workspace=request.workspace,  # type: ignore[attr-defined]
            **data,
        )
        return Response(product_to_json(product), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        """Change fields (emits product_updated with the fields that really changed)."""
        product = self.get_object()
        serializer = ProductWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        quantity = data.pop("inventory_quantity", None)
        data.pop("external_id", None)
        product = call_service(services.update_product, product=product, **data)
        if quantity is not None:
            product = call_service(services.adjust_inventory, product=product, quantity=quantity)
        return Response(product_to_json(product))

    @extend_schema(request=InventorySerializer)
    @action(detail=True, methods=["post"])
    def inventory(self, request: Request, pk: str) -> Response:
        """Set or adjust stock (product_updated, product_sold_out, product_restocked...)."""
        product = self.get_object()
        serializer = InventorySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = call_service(services.adjust_inventory, product=product, **serializer.data)
        return Response(product_to_json(product))


# --- orders ----------------------------------------------------------------------------------


class LineItemSerializer(serializers.Serializer[Any]):
    """One order line."""

    product_id = serializers.IntegerField(min_value=1)
    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderCreateSerializer(serializers.Serializer[Any]):
    """A new order."""

    customer_id = serializers.IntegerField(min_value=1)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(min_length=3, max_length=3)
    line_items = LineItemSerializer(many=True, required=False)
    payment_method = serializers.CharField(required=False, allow_blank=True)
    external_id = serializers.CharField(required=False, allow_blank=True)


class OrderTransitionSerializer(serializers.Serializer[Any]):
    """Details of a state change; which fields apply depends on the change."""

    payment_method = serializers.CharField(required=False, allow_blank=True)
    fulfillment = serializers.CharField(required=False)
    tracking = serializers.CharField(required=False, allow_blank=True)
    reason = serializers.CharField(required=False)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    refund_amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)


@entity_responses
class OrderViewSet(WorkspaceScopedMixin[Order], viewsets.GenericViewSet[Order]):
    """Orders: create, read, pay, fulfil, cancel, refund (each emits its order event)."""

    access = MARKETER_AREA
    queryset = Order.objects.order_by("-id")
    serializer_class = OrderCreateSerializer

    def list(self, request: Request) -> Response:
        """List the workspace's orders, newest first (``?customer=`` filters)."""
        qs: QuerySet[Order] = self.get_queryset()
        if customer := request.query_params.get("customer"):
            qs = qs.filter(customer_id=customer if customer.isdigit() else 0)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response([order_to_json(o) for o in page or []])

    def retrieve(self, request: Request, pk: str) -> Response:
        """Show one order."""
        return Response(order_to_json(self.get_object()))

    def create(self, request: Request) -> Response:
        """Place an order for a customer of the workspace (emits order_created...)."""
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        customer = Customer.objects.filter(
            pk=data.pop("customer_id"),
            workspace=request.workspace,  # type: ignore[attr-defined]
        ).first()
        if customer is None:
            raise ValidationError({"customer_id": ["No such customer in this workspace."]})
        items = [LineItem(**item) for item in data.pop("line_items", [])]
        order = call_service(services.create_order, customer=customer, line_items=items, **data)
        return Response(order_to_json(order), status=status.HTTP_201_CREATED)

    def _transition(
        self, request: Request, service: Callable[..., Order], *fields: str
    ) -> Response:
        order = self.get_object()
        serializer = OrderTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        given = {k: v for k, v in serializer.validated_data.items() if k in fields}
        return Response(order_to_json(call_service(service, order=order, **given)))

    @extend_schema(request=OrderTransitionSerializer)
    @action(detail=True, methods=["post"])
    def pay(self, request: Request, pk: str) -> Response:
        """Capture payment (order_paid)."""
        return self._transition(request, services.pay_order, "payment_method")

    @extend_schema(request=OrderTransitionSerializer)
    @action(detail=True, methods=["post"])
    def fulfil(self, request: Request, pk: str) -> Response:
        """Ship the order (order_fulfilled); needs ``fulfillment``."""
        if "fulfillment" not in request.data:
            raise ValidationError({"fulfillment": ["Say how the order was fulfilled."]})
        return self._transition(request, services.fulfil_order, "fulfillment", "tracking")

    @extend_schema(request=OrderTransitionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel the order (order_cancelled); needs ``reason``."""
        if "reason" not in request.data:
            raise ValidationError({"reason": ["Give a reason for the cancellation."]})
        return self._transition(request, services.cancel_order, "reason", "refund_amount")

    @extend_schema(request=OrderTransitionSerializer)
    @action(detail=True, methods=["post"])
    def refund(self, request: Request, pk: str) -> Response:
        """Refund part or all of the order (refund_created); needs ``amount`` and ``reason``."""
        missing = [f for f in ("amount", "reason") if f not in request.data]
        if missing:
            raise ValidationError({f: ["This field is required."] for f in missing})
        return self._transition(request, services.refund_order, "amount", "reason")


# --- custom fields ---------------------------------------------------------------------------


class CustomFieldSerializer(serializers.ModelSerializer[CustomFieldDefinition]):
    """A typed custom field of the workspace's customers."""

    class Meta:
        model = CustomFieldDefinition
        fields = ["id", "key", "label", "field_type", "enum_values"]
        read_only_fields = ["id"]


class CustomFieldViewSet(
    WorkspaceScopedMixin[CustomFieldDefinition],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[CustomFieldDefinition],
):
    """Custom customer fields (admins define them; everyone may read them)."""

    access = ADMIN_AREA
    queryset = CustomFieldDefinition.objects.order_by("key")
    serializer_class = CustomFieldSerializer

    def create(self, request: Request) -> Response:
        """Define a custom field (key, label, field_type, enum_values)."""
        serializer = CustomFieldSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        definition = call_service(
            services.define_custom_field,
            workspace=request.workspace,  # type: ignore[attr-defined]
            key=data["key"],
            label=data["label"],
            field_type=data["field_type"],
            enum_values=data.get("enum_values") or (),
        )
        return Response(CustomFieldSerializer(definition).data, status=status.HTTP_201_CREATED)
