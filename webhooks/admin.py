"""Django admin registrations (superusers and audits): endpoints and the inbound delivery log.

Secrets are never shown: the secret inline lists dates only. Deliveries are read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.audit import field_changes, record_change
from accounts.models import AuditObject
from webhooks import services
from webhooks.models import Endpoint, EndpointSecret, InboundDelivery


class SecretInline(admin.TabularInline[EndpointSecret, Endpoint]):
    """An endpoint's secrets, by date only (the encrypted value stays hidden)."""

    model = EndpointSecret
    fields = ["created_at", "expires_at"]
    readonly_fields = ["created_at", "expires_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Endpoint | None = None) -> bool:
        """Secrets are created through the API (shown once there), never here."""
        return False


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin[Endpoint]):
    """Endpoints across workspaces."""

    list_display = ["name", "workspace", "preset", "scheme", "is_enabled", "created_at"]
    list_filter = ["preset", "is_enabled"]
    search_fields = ["name", "workspace__slug"]
    readonly_fields = ["token", "captured_sample", "captured_at", "created_at", "updated_at"]
    inlines = [SecretInline]

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        """Save, recording the change in the workspace's audit log (never a secret)."""
        before: dict[str, Any] = {}
        if change:
            stored = Endpoint.objects.get(pk=obj.pk)
            before = {name: getattr(stored, name) for name in services.AUDITED_FIELDS}
        super().save_model(request, obj, form, change)
        after = {name: getattr(obj, name) for name in services.AUDITED_FIELDS}
        record_change(
            workspace=obj.workspace_id,
            actor=request.user,
            action="updated" if change else "created",
            object_type=AuditObject.ENDPOINT,
            object_id=obj.pk,
            object_label=obj.name,
            changes=field_changes(before, after),
        )

    def delete_model(self, request: HttpRequest, obj: Endpoint) -> None:
        """Delete through the service (audited)."""
        services.delete_endpoint(endpoint=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        """Delete each selected endpoint through the service (one audit entry each)."""
        for endpoint in queryset:
            services.delete_endpoint(endpoint=endpoint, actor=request.user)


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(admin.ModelAdmin[InboundDelivery]):
    """The delivery log, read-only (including deliveries to unknown tokens)."""

    list_display = [
        "received_at",
        "endpoint",
        "token_prefix",
        "status_code",
        "error",
        "is_duplicate",
        "latency_ms",
    ]
    list_filter = ["status_code", "error", "is_duplicate"]
    search_fields = ["provider_event_id", "token_prefix"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Deliveries are written by the pipeline only."""
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: InboundDelivery | None = None
    ) -> bool:
        """Read-only."""
        return False
