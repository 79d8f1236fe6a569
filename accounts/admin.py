"""Django admin registrations (superusers only) for workspaces and memberships."""

from __future__ import annotations

from django.contrib import admin

from accounts.models import Membership, Workspace


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
