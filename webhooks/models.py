"""Webhook endpoints, their encrypted secrets, the inbound delivery log and ordering state."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime

from django.db import connections, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import Workspace
from catalog.models import Event, Product
from catalog.types import FieldSpec
from ops import crypto
from webhooks.fields import parse_declared
from webhooks.verifiers import Scheme

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = MIB
MAX_BODY_BYTES_CEILING = 10 * MIB
MAX_TOLERANCE_SECONDS = 300  # the schemes' own window; an endpoint may only narrow it
TOKEN_PREFIX_LENGTH = 8  # what the delivery log keeps of a token that matched no endpoint


def new_token() -> str:
    """Return a fresh unguessable endpoint URL token (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(24)


class Preset(models.TextChoices):
    """Provider presets: signature scheme, event id/type extraction and declared payloads."""

    STRIPE = "stripe", "Stripe"
    SHOPIFY = "shopify", "Shopify"
    GITHUB = "github", "GitHub"
    ZAPIER = "zapier", "Zapier"
    STANDARD_WEBHOOKS = "standard_webhooks", "Standard Webhooks"
    GENERIC = "generic", "Custom (generic HMAC or bearer token)"


class SchemeChoice(models.TextChoices):
    """The signature schemes of ``webhooks.verifiers.Scheme`` as model choices."""

    STRIPE = Scheme.STRIPE.value, "Stripe-Signature"
    GITHUB = Scheme.GITHUB.value, "X-Hub-Signature-256"
    SHOPIFY = Scheme.SHOPIFY.value, "X-Shopify-Hmac-Sha256"
    STANDARD_WEBHOOKS = Scheme.STANDARD_WEBHOOKS.value, "Standard Webhooks"
    HMAC = Scheme.HMAC.value, "Generic HMAC"
    BEARER = Scheme.BEARER.value, "Bearer token"


# Every column of an endpoint the pipeline reads (``captured_sample`` and the timestamps are
# never read by it). A new column the pipeline starts to read belongs here.
FINGERPRINT_COLUMNS = (
    "id",
    "workspace_id",
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
    "ordering_key",
    "version_field",
)


def fingerprint_sql(alias: str, at: str = "%s") -> str:
    """Return the SQL of an endpoint row's fingerprint at the time ``at`` (a parameter by default).

    ``alias`` names the endpoint table in the surrounding query; ``at`` is an SQL expression of
    the time. The secrets part is the ids of the secrets active at that time, so a rotation or
    an expiry changes the fingerprint.
    """
    columns = ", ".join(f"{alias}.{column}" for column in FINGERPRINT_COLUMNS)
    secrets = (
        "ARRAY(SELECT s.id FROM webhooks_endpointsecret s"
        f" WHERE s.endpoint_id = {alias}.id AND (s.expires_at IS NULL OR s.expires_at > {at})"
        " ORDER BY s.id)"
    )
    return f"md5(ROW({columns}, {secrets})::text)"


class EndpointQuerySet(models.QuerySet["Endpoint"]):
    """Endpoint queries, with the hot path's secrets fetched in the same statement."""

    def with_active_secrets(self, now: datetime) -> EndpointQuerySet:
        """Annotate each endpoint with its active encrypted secrets at ``now`` (PostgreSQL).

        The delivery pipeline then finds the endpoint and its secrets in one query
        (``ARRAY(SELECT ...)``) instead of two. On other databases (the SQLite demo) nothing is
        annotated and ``Endpoint.active_secret_tokens`` queries the secrets itself.
        """
        if connections[self.db].vendor != "postgresql":
            return self
        from django.contrib.postgres.fields import ArrayField

        # Raw SQL: compiling the equivalent ArraySubquery costs more CPU than a second query.
        secrets = RawSQL(
            f"ARRAY(SELECT s.encrypted_secret FROM {EndpointSecret._meta.db_table} s"
            f" WHERE s.endpoint_id = {self.model._meta.db_table}.id"
            " AND (s.expires_at IS NULL OR s.expires_at > %s)"
            " ORDER BY s.created_at DESC, s.id DESC)",
            [now],
            output_field=ArrayField(models.TextField()),
        )
        # The fingerprint (``webhooks.fastpath``) of the row as it is now.
        fingerprint = RawSQL(
            fingerprint_sql(self.model._meta.db_table), [now], output_field=models.TextField()
        )
        return self.annotate(_active_secret_tokens=secrets, _fingerprint=fingerprint)


def _active_at(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


class Endpoint(models.Model):
    """A workspace's inbound webhook URL (``POST /hooks/<token>``) and how deliveries are checked.

    JSON columns hold validated data only (the API serializer checks them): ``scheme_options``
    the generic HMAC options, ``preset_options`` the preset's, ``ip_allowlist`` CIDR strings,
    ``declared_fields`` a declaration mapping of ``webhooks.fields``.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=120)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    preset = models.CharField(max_length=30, choices=Preset.choices, default=Preset.GENERIC)
    scheme = models.CharField(max_length=30, choices=SchemeChoice.choices)
    scheme_options = models.JSONField(default=dict, blank=True)
    # Options of the preset, e.g. Shopify {"currency": "EUR"} (product payloads carry none).
    preset_options = models.JSONField(default=dict, blank=True)
    tolerance_seconds = models.PositiveIntegerField(default=MAX_TOLERANCE_SECONDS)
    ip_allowlist = models.JSONField(default=list, blank=True)
    # 0 switches the limit off.
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    max_body_bytes = models.PositiveIntegerField(default=DEFAULT_MAX_BODY_BYTES)
    is_enabled = models.BooleanField(default=True)
    declared_fields = models.JSONField(default=dict, blank=True)
    capture_mode = models.BooleanField(default=False)
    captured_sample = models.JSONField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    # Out-of-order detection: dotted paths into the body (Shopify: "id" and "updated_at").
    ordering_key = models.CharField(max_length=100, blank=True)
    version_field = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        """Ordering and the invariants the database enforces."""

        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(preset__in=Preset.values), name="endpoint_preset_valid"
            ),
            models.CheckConstraint(
                condition=Q(scheme__in=SchemeChoice.values), name="endpoint_scheme_valid"
            ),
            models.CheckConstraint(
                condition=Q(tolerance_seconds__gte=1, tolerance_seconds__lte=MAX_TOLERANCE_SECONDS),
                name="endpoint_tolerance_range",
            ),
            models.CheckConstraint(
                condition=Q(max_body_bytes__gte=1, max_body_bytes__lte=MAX_BODY_BYTES_CEILING),
                name="endpoint_max_body_range",
            ),
            models.CheckConstraint(
                condition=(Q(ordering_key="") & Q(version_field=""))
                | (~Q(ordering_key="") & ~Q(version_field="")),
                name="endpoint_ordering_pair",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def trigger_key(self) -> str:
        """The trigger its events fire: ``zapier_event`` for Zapier, else webhook_received."""
        return "zapier_event" if self.preset == Preset.ZAPIER else "webhook_received"

    def declared_specs(self) -> dict[str, FieldSpec]:
        """Return the endpoint's own declared fields as FieldSpecs."""
        return parse_declared(self.declared_fields or {})

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Return the IP allowlist as networks (an empty list allows every address)."""
        return [ipaddress.ip_network(cidr, strict=False) for cidr in self.ip_allowlist or []]

    def active_secrets(self, now: datetime | None = None) -> list[EndpointSecret]:
        """Return the secrets that verify deliveries at ``now``, newest first."""
        now = now or timezone.now()
        return list(self.secrets.filter(_active_at(now)).order_by("-created_at", "-id"))

    def active_secret_tokens(self, now: datetime) -> list[str]:
        """Return the encrypted active secrets at ``now``, newest first (``crypto.decrypt`` them).

        Uses the annotation of ``Endpoint.objects.with_active_secrets(now)`` when the endpoint
        was loaded with it, else queries.
        """
        annotated: list[str] | None = getattr(self, "_active_secret_tokens", None)
        if annotated is not None:
            return list(annotated)
        return [secret.encrypted_secret for secret in self.active_secrets(now)]


class EndpointSecret(models.Model):
    """A signing secret of an endpoint, encrypted at rest (Fernet, ``ops.crypto``).

    After a rotation the old secret keeps verifying until ``expires_at`` (the grace period);
    a secret without ``expires_at`` is current.
    """

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="secrets")
    encrypted_secret = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        """Newest first."""

        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"secret {self.pk} of endpoint {self.endpoint_id}"

    @classmethod
    def build(cls, endpoint: Endpoint, plaintext: str) -> EndpointSecret:
        """Return an unsaved secret of ``endpoint`` holding ``plaintext`` encrypted."""
        return cls(endpoint=endpoint, encrypted_secret=crypto.encrypt(plaintext))

    def reveal(self) -> str:
        """Return the plaintext secret (for verification only; never for display)."""
        return crypto.decrypt(self.encrypted_secret)


class InboundDelivery(models.Model):
    """One request to ``/hooks/<token>`` and the answer it got, accepted or not (the audit log).

    Headers are stored with secrets redacted and the body is capped. A delivery to an unknown
    token has no endpoint and no workspace and keeps only the token's first characters.
    """

    # Both indexed by the listing indexes they lead (Meta.indexes), not by an index of their own:
    # every accepted delivery would write two more.
    endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,
    )
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,
    )
    token_prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField()
    error = models.CharField(max_length=50, blank=True)
    detail = models.TextField(blank=True)
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    is_duplicate = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True)
    body_size = models.PositiveIntegerField(default=0)
    is_body_truncated = models.BooleanField(default=False)
    provider_event_id = models.CharField(max_length=255, blank=True)
    event_type = models.CharField(max_length=255, blank=True)

    class Meta:
        """Newest first; indexed for the API's per-workspace and per-endpoint listings."""

        ordering = ["-received_at", "-id"]
        verbose_name_plural = "inbound deliveries"
        indexes = [
            models.Index(fields=["workspace", "-received_at"], name="delivery_ws_received_idx"),
            models.Index(fields=["endpoint", "-received_at"], name="delivery_ep_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.status_code} {self.error or 'ok'} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class OrderingState(models.Model):
    """The newest version applied per ordering key of an endpoint (out-of-order detection).

    Read and updated under ``SELECT ... FOR UPDATE`` in the ingest transaction, so two deliveries
    for one key serialise.
    """

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="ordering_states")
    key = models.CharField(max_length=255)
    version = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """One row per (endpoint, key)."""

        constraints = [
            models.UniqueConstraint(fields=["endpoint", "key"], name="ordering_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}@{self.version}"


class InventoryItemLink(models.Model):
    """Which product a provider's inventory item belongs to (Shopify ``inventory_item_id``).

    Written when a product webhook arrives, read by ``inventory_levels/update``, whose payload
    names only the inventory item.
    """

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="inventory_links")
    inventory_item_id = models.CharField(max_length=64)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")

    class Meta:
        """One product per inventory item of an endpoint."""

        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "inventory_item_id"], name="inventory_link_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inventory_item_id} -> product {self.product_id}"
