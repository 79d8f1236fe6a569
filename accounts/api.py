"""Accounts API: token log-in, the caller's workspaces, workspace members; shared API plumbing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.access import ADMIN_AREA, READ_ONLY_AREA, Access, mark_access, user_pk
from accounts.models import Membership, Workspace

if TYPE_CHECKING:
    from rest_framework.request import Request


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus a machine-readable ``error`` code beside the human ``detail``."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "error" not in response.data:
        code = getattr(exc, "default_code", "error")
        response.data = {"error": code, **response.data}
    return response


class WorkspaceScopedMixin[M: Model]:
    """Limit a viewset to the request's workspace; new objects are created in it.

    Another workspace's objects are simply not in the queryset, so they answer 404.
    """

    request: Any  # a DRF Request carrying .workspace (set by WorkspaceRolePermission)
    queryset: QuerySet[M]

    def get_queryset(self) -> QuerySet[M]:
        """Return the view's queryset filtered to the caller's workspace."""
        return self.queryset.filter(workspace=self.request.workspace)

    def perform_create(self, serializer: serializers.BaseSerializer[M]) -> None:
        """Save a new object in the caller's workspace."""
        serializer.save(workspace=self.request.workspace)


class TokenView(ObtainAuthToken):
    """``POST /api/v1/auth/token/``: username and password in, an API token out."""

    access = None
    permission_classes = (AllowAny,)


mark_access(TokenView, None)


class WorkspaceSerializer(serializers.ModelSerializer[Workspace]):
    """A workspace the caller belongs to, with the caller's role in it."""

    role = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["slug", "name", "plan", "role"]

    def get_role(self, workspace: Workspace) -> str:
        """Return the caller's role in this workspace."""
        roles: dict[int, str] = self.context["roles"]
        return roles[workspace.pk]


class WorkspaceViewSet(viewsets.GenericViewSet[Workspace]):
    """The workspaces the caller belongs to (no workspace header needed)."""

    access: ClassVar[Access | None] = None
    permission_classes = (IsAuthenticated,)
    serializer_class = WorkspaceSerializer
    pagination_class = None

    @extend_schema(responses=WorkspaceSerializer(many=True))
    def list(self, request: Request) -> Response:
        """List the caller's workspaces and role in each."""
        memberships = Membership.objects.filter(user_id=user_pk(request)).select_related(
            "workspace"
        )
        roles = {m.workspace_id: m.role for m in memberships}
        workspaces = [m.workspace for m in memberships]
        data = WorkspaceSerializer(workspaces, many=True, context={"roles": roles}).data
        return Response(data)


mark_access(WorkspaceViewSet, READ_ONLY_AREA)


class MemberSerializer(serializers.ModelSerializer[Membership]):
    """A member of the workspace: username, e-mail and role (only the role can change)."""

    username = serializers.CharField(source="user.username", read_only=True)
    # Django's User.email may be blank (createsuperuser, SSO): not always a valid address.
    email = serializers.CharField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class MemberViewSet(
    WorkspaceScopedMixin[Membership],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Membership],
):
    """Workspace members (admin area: admins change roles, auditors read)."""

    access = ADMIN_AREA
    serializer_class = MemberSerializer
    queryset = Membership.objects.select_related("user").order_by("user__username")
