"""Accounts pages: log-in and log-out, the workspace switcher, members."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.access import (
    ADMIN_AREA,
    OWN_SESSION,
    SESSION_WORKSPACE_KEY,
    WorkspaceRequest,
    public_view,
    user_pk,
    workspace_view,
)
from accounts.forms import MemberInviteForm, MemberRoleForm
from accounts.models import Membership

login = public_view(
    auth_views.LoginView.as_view(
        template_name="accounts/login.html", redirect_authenticated_user=True
    )
)
logout = public_view(auth_views.LogoutView.as_view())


@require_POST
@workspace_view(OWN_SESSION)
def switch_workspace(request: WorkspaceRequest) -> HttpResponse:
    """Make another of the user's workspaces the current one (a session setting, not a change)."""
    slug = request.POST.get("workspace", "")
    if not Membership.objects.filter(user_id=user_pk(request), workspace__slug=slug).exists():
        raise Http404("No such workspace.")
    request.session[SESSION_WORKSPACE_KEY] = slug
    return redirect("ops:home")


@require_http_methods(["GET", "POST"])
@workspace_view(ADMIN_AREA)
def member_list(request: WorkspaceRequest) -> HttpResponse:
    """List the workspace's members and their roles; admins add members."""
    form = MemberInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.invite_member(
                workspace=request.workspace, actor=request.user, **form.cleaned_data
            )
        except services.MembershipError as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(
                request,
                f"{membership.user.username} joined as {membership.get_role_display()}.",
            )
            return redirect("accounts:member-list")
    members = request.workspace.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "accounts/member_list.html",
        {"members": members, "form": form, "can_change": _is_admin(request)},
    )


def _is_admin(request: WorkspaceRequest) -> bool:
    return ADMIN_AREA.allows(request.membership.role, "POST")


@require_http_methods(["GET", "POST"])
@workspace_view(ADMIN_AREA)
def member_edit(request: WorkspaceRequest, member_id: int) -> HttpResponse:
    """Show a member and, for admins, change their role or remove them."""
    member = get_object_or_404(
        Membership.objects.select_related("user"), pk=member_id, workspace=request.workspace
    )
    form = MemberRoleForm(request.POST or None, instance=member)
    if request.method == "POST" and request.POST.get("op") == "remove":
        try:
            services.remove_member(membership=member, actor=request.user)
        except services.MembershipError as exc:
            messages.error(request, str(exc))
            return redirect("accounts:member-edit", member.pk)
        messages.success(request, f"{member.user.username} was removed from the workspace.")
        return redirect("accounts:member-list")
    if request.method == "POST" and form.is_valid():
        try:
            member = services.change_role(
                membership=member, role=form.cleaned_data["role"], actor=request.user
            )
        except services.MembershipError as exc:
            form.add_error("role", str(exc))
        else:
            messages.success(request, f"{member.user.username} is now {member.get_role_display()}.")
            return redirect("accounts:member-list")
    return render(request, "accounts/member_edit.html", {"member": member, "form": form})
