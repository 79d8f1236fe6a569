"""Who may do what: workspace resolution and role checks for every view and API call.

Every view declares an :class:`Access` policy, through :func:`workspace_view` for pages or the
``access`` attribute of an API view (read by :class:`WorkspaceRolePermission`). Pages that need no
workspace are marked with :func:`public_view`. A test walks the URL conf and fails on any view
without a declared policy, so a new view cannot forget its check.

Objects of another workspace answer 404, never 403: callers learn nothing about other tenants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, Protocol, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions, permissions

from accounts.models import Membership, Role, Workspace

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WORKSPACE_HEADER = "X-Workspace"
SESSION_WORKSPACE_KEY = "typewire_workspace"


@dataclass(frozen=True, slots=True)
class Access:
    """A view's policy: the roles that may read (safe methods) and change (unsafe methods)."""

    read: frozenset[str]
    change: frozenset[str]
    name: str

    def allows(self, role: str, method: str) -> bool:
        """Return whether a member with ``role`` may use ``method`` under this policy."""
        allowed = self.read if method.upper() in SAFE_METHODS else self.change
        return role in allowed


ALL_ROLES = frozenset(Role.values)
# Marketers build and switch rules; admins do everything; auditors read everything.
MARKETER_AREA = Access(
    read=ALL_ROLES, change=frozenset({Role.MARKETER, Role.ADMIN}), name="marketer"
)
# Endpoints, secrets, members, plan, the delivery log: admins change, auditors read.
ADMIN_AREA = Access(
    read=frozenset({Role.ADMIN, Role.AUDITOR}), change=frozenset({Role.ADMIN}), name="admin"
)
# Anything a member may read, nobody may change through it (catalog, own workspaces).
READ_ONLY_AREA = Access(read=ALL_ROLES, change=frozenset(), name="read-only")
# POSTs that change only the caller's own session (the workspace switcher): every member.
OWN_SESSION = Access(read=ALL_ROLES, change=ALL_ROLES, name="own-session")


class WorkspaceRequest(HttpRequest):
    """An HttpRequest after :func:`workspace_view` has resolved the workspace and role."""

    workspace: Workspace
    membership: Membership


class WorkspaceNotChosen(Exception):
    """The user belongs to several workspaces and the request did not name one."""


def user_pk(request: HttpRequest) -> int:
    """Return the primary key of the request's (authenticated) user."""
    pk = request.user.pk
    if pk is None:
        raise PermissionDenied("Log in first.")
    return int(pk)


def resolve_membership(request: HttpRequest, slug: str | None) -> Membership | None:
    """Return the user's membership for ``slug``, or their first workspace when ``slug`` is None.

    Returns None when the user is not a member of the named workspace or of any workspace.
    """
    memberships = Membership.objects.select_related("workspace").filter(user_id=user_pk(request))
    if slug:
        return memberships.filter(workspace__slug=slug).first()
    return memberships.order_by("workspace__name").first()


def mark_access(view: Any, access: Access | None) -> None:
    """Record a view's policy on the view object (None = public), for the URL-conf audit test."""
    view.typewire_access = access if access is not None else "public"


def public_view[F: Callable[..., Any]](view: F) -> F:
    """Mark a page that needs no workspace (login, health checks, the inbound webhook)."""
    mark_access(view, None)
    return view


class _View(Protocol):
    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse: ...


def workspace_view(access: Access) -> Callable[[_View], _View]:
    """Decorate a page view: log-in required, workspace resolved, role checked against ``access``.

    The workspace comes from the session (set by the workspace switcher), else the user's first
    workspace. A user with no workspace, or whose role the policy does not allow for the request's
    method, gets 403.
    """

    def decorator(view: _View) -> _View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = resolve_membership(request, request.session.get(SESSION_WORKSPACE_KEY))
            if membership is None:
                membership = resolve_membership(request, None)
            if membership is None:
                raise PermissionDenied("You are not a member of any workspace.")
            if not access.allows(membership.role, request.method or "GET"):
                raise PermissionDenied(
                    f"Your role ({membership.get_role_display()}) cannot do this here."
                )
            ws_request = cast(WorkspaceRequest, request)
            ws_request.workspace = membership.workspace
            ws_request.membership = membership
            return view(ws_request, *args, **kwargs)

        mark_access(wrapped, access)
        return cast(_View, wrapped)

    return decorator


class WorkspaceRolePermission(permissions.BasePermission):
    """DRF permission: authenticated, member of the workspace, role allowed by ``view.access``.

    The workspace is the one named by the ``X-Workspace`` header (its slug); a user with a single
    workspace need not name it. On success ``request.workspace`` and ``request.membership`` are set.
    Views without an ``access`` attribute are treated as the admin area (the strictest default).
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        """Resolve the workspace and check the role for the request's method."""
        access: Access | None = getattr(view, "access", ADMIN_AREA)
        if access is None:  # a public API view, such as the token endpoint
            return True
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        slug = request.headers.get(WORKSPACE_HEADER)
        if not slug:
            count = Membership.objects.filter(user_id=user_pk(request)).count()
            if count > 1:
                raise exceptions.ValidationError(
                    {
                        "error": "workspace_required",
                        "detail": f"You belong to {count} workspaces: name one with the "
                        f"{WORKSPACE_HEADER} header (its slug).",
                    }
                )
        membership = resolve_membership(request, slug)
        if membership is None:
            raise exceptions.NotFound(
                f"No workspace '{slug}' for this user." if slug else "You are not in any workspace."
            )
        if not access.allows(membership.role, request.method or "GET"):
            raise exceptions.PermissionDenied(
                f"Your role ({membership.get_role_display()}) cannot {request.method} here."
            )
        request.workspace = membership.workspace  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        return True
