"""Accounts API: token log-in, the caller's workspaces, workspace members; shared API plumbing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts import services
from accounts.access import ADMIN_AREA, READ_ONLY_AREA, Access, mark_access, user_pk
from accounts.audit import filter_audit
from accounts.models import AuditEntry, AuditObject, Membership, Role, Workspace

if TYPE_CHECKING:
    from rest_framework.request import Request

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus a machine-readable ``error`` code beside the human ``detail``.

    A database that cannot be reached answers 503 with ``Retry-After`` (the caller's request
    was fine; nothing was stored), not a 500.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("API request not served: database unavailable (%s)", exc)
        retry_after = str(settings.TYPEWIRE_WEBHOOK_RETRY_AFTER_SECONDS)
        return Response(
            {"error": "unavailable", "detail": "The database is unavailable; retry later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": retry_after},
        )
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


class MemberInviteSerializer(serializers.Serializer[Any]):
    """Who to add: an existing username, or a new one with an e-mail address; and the role."""

    username = serializers.RegexField(r"^[\w.@+-]{1,150}$")
    email = serializers.EmailField(required=False, default="")
    role = serializers.ChoiceField(choices=Role.choices)


class MemberViewSet(
    WorkspaceScopedMixin[Membership],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Membership],
):
    """Workspace members (admin area: admins invite, change roles and remove; auditors read).

    Every change goes through ``accounts.services`` and lands in the audit log.
    """

    access = ADMIN_AREA
    serializer_class = MemberSerializer
    queryset = Membership.objects.select_related("user").order_by("user__username")

    @extend_schema(request=MemberInviteSerializer, responses={201: MemberSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Invite a member (the account is created, without a password, when it is new)."""
        serializer = MemberInviteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            membership = services.invite_member(
                workspace=request.workspace,  # type: ignore[attr-defined]
                actor=request.user,
                **serializer.validated_data,
            )
        except services.MembershipError as exc:
            raise exceptions.ValidationError({"error": "membership", "detail": str(exc)}) from exc
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: serializers.BaseSerializer[Membership]) -> None:
        """Change the member's role through the service."""
        role = serializer.validated_data.get("role")
        assert serializer.instance is not None
        if role is None:
            return
        try:
            serializer.instance = services.change_role(
                membership=serializer.instance, role=role, actor=self.request.user
            )
        except services.MembershipError as exc:
            raise exceptions.ValidationError({"error": "membership", "detail": str(exc)}) from exc

    def perform_destroy(self, instance: Membership) -> None:
        """Remove the member through the service."""
        try:
            services.remove_member(membership=instance, actor=self.request.user)
        except services.MembershipError as exc:
            raise exceptions.ValidationError({"error": "membership", "detail": str(exc)}) from exc


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    """One audit entry: who changed what, when, and the values that moved (never a secret)."""

    actor = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_label",
            "changes",
        ]
        read_only_fields = fields


class AuditEntryViewSet(
    WorkspaceScopedMixin[AuditEntry],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[AuditEntry],
):
    """The audit log of rules, endpoints and members (admins and auditors; read-only).

    ``?object_type=rule|endpoint|member``, ``?actor=<username>`` and ``?object_id=`` filter it.
    """

    access = ADMIN_AREA
    serializer_class = AuditEntrySerializer
    queryset = AuditEntry.objects.order_by("-created_at", "-id")

    @extend_schema(
        parameters=[
            OpenApiParameter("object_type", str, enum=AuditObject.values),
            OpenApiParameter("actor", str),
            OpenApiParameter("object_id", str),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """List the workspace's audit entries, newest first."""
        return super().list(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[AuditEntry]:
        """The workspace's entries, filtered by object type, actor and object id."""
        params = self.request.query_params
        object_type = params.get("object_type", "")
        if object_type and object_type not in AuditObject.values:
            raise exceptions.ValidationError(
                {"object_type": f"Choose one of {', '.join(AuditObject.values)}."}
            )
        return filter_audit(
            super().get_queryset(),
            object_type=object_type,
            actor=params.get("actor", ""),
            object_id=params.get("object_id", ""),
        )
