"""Django admin registrations (superusers only) for workspaces and memberships."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import BaseInlineFormSet
from django.http import HttpRequest

from accounts import services
from accounts.models import AuditEntry, Membership, Workspace


class MembershipInline(admin.TabularInline[Membership, Workspace]):
    """Members shown on their workspace's admin page."""

    model = Membership
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin[Workspace]):
    """Workspaces, with their members inline."""

    list_display = ["slug", "name", "plan", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def save_formset(
        self,
        request: HttpRequest,
        form: Any,
        formset: BaseInlineFormSet[Any, Any, Any],
        change: bool,
    ) -> None:
        """Save member changes through the services, so each lands in the audit log."""
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        workspace = form.instance
        # What the admin's change message reads (ModelAdmin.construct_change_message).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline in formset.forms:
            deleted = formset.can_delete and bool(inline.cleaned_data.get("DELETE"))
            if not inline.has_changed() and not deleted:
                continue
            member: Membership = inline.instance
            if deleted:
                if member.pk:
                    services.remove_member(membership=member, actor=request.user)
                    formset.deleted_objects.append(member)
            elif not member.pk:
                formset.new_objects.append(
                    services.add_member(
                        workspace=workspace, user=member.user, role=member.role, actor=request.user
                    )
                )
            else:
                role = inline.cleaned_data["role"]
                member.role = Membership.objects.get(pk=member.pk).role
                services.change_role(membership=member, role=role, actor=request.user)
                formset.changed_objects.append((member, list(inline.changed_data)))


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """The audit log, read-only: entries are written by the services only."""

    list_display = [
        "created_at",
        "workspace",
        "actor_name",
        "action",
        "object_type",
        "object_label",
    ]
    list_filter = ["object_type", "action"]
    search_fields = ["object_label", "actor_name", "workspace__slug"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Entries are written by the services only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        """History is never edited."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        """History is never deleted."""
        return False
