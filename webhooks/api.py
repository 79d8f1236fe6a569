"""Webhook API: endpoints (admins change, auditors read) and the inbound delivery log.

A secret is in exactly two responses: the one creating the endpoint and the one rotating its
secret. Nothing else ever returns it; it is stored encrypted (``ops.crypto``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import ADMIN_AREA, Access
from accounts.api import WorkspaceScopedMixin
from webhooks import services
from webhooks.capture import infer_declaration
from webhooks.fields import DeclarationError, parse_declared
from webhooks.models import (
    MAX_BODY_BYTES_CEILING,
    MAX_TOLERANCE_SECONDS,
    Endpoint,
    EndpointSecret,
    InboundDelivery,
)
from webhooks.presets import get_preset
from webhooks.verifiers import VerifierConfigError, get_verifier

MAX_GRACE = timedelta(days=7)
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class SecretSummarySerializer(serializers.ModelSerializer[EndpointSecret]):
    """A secret's dates, never its value."""

    class Meta:
        model = EndpointSecret
        fields = ["id", "created_at", "expires_at"]


class EndpointSerializer(serializers.ModelSerializer[Endpoint]):
    """An endpoint; ``secret`` is write-only (bring your own, e.g. Stripe's whsec_...)."""

    url = serializers.SerializerMethodField()
    secrets = SecretSummarySerializer(many=True, read_only=True)
    secret = serializers.CharField(
        write_only=True, required=False, min_length=8, max_length=500, trim_whitespace=True
    )
    scheme = serializers.CharField(required=False, max_length=30)

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "name",
            "url",
            "token",
            "preset",
            "scheme",
            "scheme_options",
            "preset_options",
            "tolerance_seconds",
            "ip_allowlist",
            "rate_limit_per_minute",
            "max_body_bytes",
            "is_enabled",
            "declared_fields",
            "capture_mode",
            "captured_sample",
            "captured_at",
            "ordering_key",
            "version_field",
            "secrets",
            "secret",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["token", "captured_sample", "captured_at", "created_at", "updated_at"]

    def get_url(self, endpoint: Endpoint) -> str:
        """Return the absolute URL senders post to."""
        path = reverse("webhook-receive", args=[endpoint.token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def validate_tolerance_seconds(self, value: int) -> int:
        """Between 1 s and the schemes' own 300 s window."""
        if not 1 <= value <= MAX_TOLERANCE_SECONDS:
            raise serializers.ValidationError(f"Give 1 to {MAX_TOLERANCE_SECONDS} seconds.")
        return value

    def validate_max_body_bytes(self, value: int) -> int:
        """Between 1 byte and 10 MiB."""
        if not 1 <= value <= MAX_BODY_BYTES_CEILING:
            raise serializers.ValidationError(f"Give 1 to {MAX_BODY_BYTES_CEILING} bytes.")
        return value

    def validate_ip_allowlist(self, value: Any) -> list[str]:
        """A list of CIDR blocks (``203.0.113.0/24``, ``2001:db8::/32``) or single addresses."""
        if not isinstance(value, list):
            raise serializers.ValidationError("Give a list of CIDR blocks.")
        networks: list[str] = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(str(item), strict=False)))
            except ValueError as exc:
                raise serializers.ValidationError(f"{item!r} is not a CIDR block.") from exc
        return networks

    def validate_declared_fields(self, value: Any) -> dict[str, str]:
        """A mapping of field name to type name (``webhooks.fields``)."""
        try:
            parse_declared(value)
        except DeclarationError as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return dict(value)

    def validate_preset_options(self, value: Any) -> dict[str, str]:
        """Shopify's product ``currency``; for backfill, ``api_key_env`` and ``shop_url``."""
        allowed = {"currency", "api_key_env", "shop_url"}
        if not isinstance(value, dict) or set(value) - allowed:
            raise serializers.ValidationError(
                "Preset options may only be: currency, api_key_env (the name of the environment "
                "variable holding the provider API key) and shop_url."
            )
        if not all(isinstance(v, str) for v in value.values()):
            raise serializers.ValidationError("Preset options are text values.")
        if "currency" in value and not _CURRENCY_RE.match(str(value["currency"])):
            raise serializers.ValidationError("currency must be an ISO 4217 code such as EUR.")
        return dict(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Check the scheme fits the preset, its options, and the ordering pair."""
        instance = self.instance
        preset_key = attrs.get("preset", instance.preset if instance else "generic")
        preset = get_preset(preset_key)
        scheme = attrs.get("scheme") or (
            instance.scheme if instance and instance.preset == preset_key else preset.scheme.value
        )
        if scheme not in [s.value for s in preset.allowed_schemes]:
            allowed = ", ".join(s.value for s in preset.allowed_schemes)
            raise serializers.ValidationError(
                {"scheme": f"The {preset.label} preset uses {allowed}."}
            )
        options = attrs.get("scheme_options", instance.scheme_options if instance else {})
        try:
            get_verifier(scheme, options or None)
        except VerifierConfigError as exc:
            raise serializers.ValidationError({"scheme_options": str(exc)}) from exc
        attrs["scheme"] = scheme
        key = attrs.get("ordering_key", instance.ordering_key if instance else "")
        version = attrs.get("version_field", instance.version_field if instance else "")
        if bool(key) != bool(version):
            raise serializers.ValidationError(
                {"ordering_key": "Give both ordering_key and version_field, or neither."}
            )
        return attrs


class RotateSecretSerializer(serializers.Serializer[Any]):
    """Input of ``rotate-secret``: how long the old secret keeps verifying; an optional secret."""

    grace_seconds = serializers.IntegerField(
        min_value=0, max_value=int(MAX_GRACE.total_seconds()), default=24 * 3600
    )
    secret = serializers.CharField(required=False, min_length=8, max_length=500)


class CaptureSerializer(serializers.Serializer[Any]):
    """Input of ``capture`` (POST): the fields to declare; the inferred ones when left out."""

    declared_fields = serializers.JSONField(required=False)

    def validate_declared_fields(self, value: Any) -> dict[str, str]:
        """A valid declaration mapping."""
        try:
            parse_declared(value)
        except DeclarationError as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return dict(value)


class EndpointViewSet(WorkspaceScopedMixin[Endpoint], viewsets.ModelViewSet[Endpoint]):
    """Webhook endpoints of the workspace (admin area)."""

    access: ClassVar[Access] = ADMIN_AREA
    serializer_class = EndpointSerializer
    queryset = Endpoint.objects.prefetch_related("secrets").order_by("name", "id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create an endpoint; the response carries its secret, this once."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        secret = data.pop("secret", None)
        revealed = services.create_endpoint(
            workspace=request.workspace,  # type: ignore[attr-defined]
            secret=secret,
            actor=request.user,
            **data,
        )
        body = {**self.get_serializer(revealed.endpoint).data, "secret": revealed.secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def guard_declared_fields(
        self, endpoint: Endpoint, declared: dict[str, str] | None
    ) -> Callable[[], None]:
        """Hook run before the declared fields change; returns what to do once they have.

        Webhooks knows nothing of rules; the rules side overrides this to list (and, confirmed,
        switch off) the rules a change breaks.
        """
        return lambda: None

    def perform_update(self, serializer: serializers.BaseSerializer[Endpoint]) -> None:
        """Save the changes; a secret can only change through ``rotate-secret``."""
        serializer.validated_data.pop("secret", None)
        with transaction.atomic():
            after = self.guard_declared_fields(
                self.get_object(), serializer.validated_data.get("declared_fields")
            )
            serializer.instance = services.update_endpoint(
                endpoint=self.get_object(),
                changes=serializer.validated_data,
                actor=self.request.user,
            )
            after()

    def perform_destroy(self, instance: Endpoint) -> None:
        """Delete the endpoint through the service (audited)."""
        services.delete_endpoint(endpoint=instance, actor=self.request.user)

    @extend_schema(request=RotateSecretSerializer, responses=EndpointSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        """Start using a new secret; the old one verifies for ``grace_seconds`` more."""
        endpoint = self.get_object()
        serializer = RotateSecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        revealed = services.rotate_secret(
            endpoint=endpoint,
            grace=timedelta(seconds=serializer.validated_data["grace_seconds"]),
            secret=serializer.validated_data.get("secret"),
            actor=request.user,
        )
        fresh = self.get_queryset().get(pk=revealed.endpoint.pk)
        return Response({**self.get_serializer(fresh).data, "secret": revealed.secret})

    @extend_schema(request=CaptureSerializer)
    @action(detail=True, methods=["get", "post"])
    def capture(self, request: Request, pk: str | None = None) -> Response:
        """GET: the captured sample and the fields inferred from it. POST: accept them."""
        endpoint = self.get_object()
        sample = endpoint.captured_sample
        inferred = infer_declaration(sample) if isinstance(sample, dict) else {}
        if request.method == "GET":
            return Response(
                {
                    "capture_mode": endpoint.capture_mode,
                    "captured_at": endpoint.captured_at,
                    "sample": sample,
                    "inferred_fields": inferred,
                }
            )
        serializer = CaptureSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        declared = serializer.validated_data.get("declared_fields")
        if declared is None and not inferred:
            return Response(
                {"error": "no_sample", "detail": "No sample has been captured yet."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        accepted = declared if declared is not None else inferred
        with transaction.atomic():
            after = self.guard_declared_fields(endpoint, accepted)
            updated = services.accept_capture(
                endpoint=endpoint, declared=accepted, actor=request.user
            )
            after()
        fresh = self.get_queryset().get(pk=updated.pk)
        return Response(self.get_serializer(fresh).data)


class DeliverySerializer(serializers.ModelSerializer[InboundDelivery]):
    """One logged delivery (headers already redacted, body capped)."""

    class Meta:
        model = InboundDelivery
        fields = [
            "id",
            "endpoint",
            "received_at",
            "remote_ip",
            "status_code",
            "error",
            "detail",
            "event",
            "is_duplicate",
            "latency_ms",
            "provider_event_id",
            "event_type",
            "headers",
            "body",
            "body_size",
            "is_body_truncated",
        ]
        read_only_fields = fields


class DeliveryViewSet(
    WorkspaceScopedMixin[InboundDelivery],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[InboundDelivery],
):
    """The inbound delivery log (admin area, read-only); ``?endpoint=``, ``?status=`` filter."""

    access: ClassVar[Access] = ADMIN_AREA
    serializer_class = DeliverySerializer
    queryset = InboundDelivery.objects.order_by("-received_at", "-id")

    def get_queryset(self) -> QuerySet[InboundDelivery]:
        """The workspace's deliveries, filtered by endpoint id, status code and error code."""
        queryset = super().get_queryset()
        params = self.request.query_params
        for param, lookup in (("endpoint", "endpoint_id"), ("status", "status_code")):
            value = params.get(param)
            if value is not None:
                if not value.isdigit():
                    raise serializers.ValidationError({param: "Give a number."})
                queryset = queryset.filter(**{lookup: int(value)})
        if error := params.get("error"):
            queryset = queryset.filter(error=error)
        return queryset
