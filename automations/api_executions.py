"""The execution log (replay), emitting events, and webhook URLs disabled after a 410 Gone.

``/api/v1/executions/``, ``/api/v1/events/`` and ``/api/v1/disabled-targets/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import ADMIN_AREA, MARKETER_AREA, Access
from accounts.api import WorkspaceScopedMixin
from accounts.models import Role
from automations.engine.http import redact_url
from automations.engine.replay import NotReplayable, replay
from automations.engine.targets import enable_target
from automations.models import Alert, Attempt, DisabledTarget, Execution, ExecutionStatus, StepRun
from catalog.events import DuplicateEventError, record_event
from catalog.models import EventSource
from catalog.registry import UnknownEntryError, registry
from catalog.types import ValidationError as CatalogValidationError


class AttemptSerializer(serializers.ModelSerializer[Attempt]):
    """One try of a step; HTTP fields are set for HTTP actions (headers redacted, bodies capped)."""

    class Meta:
        model = Attempt
        fields = [
            "number",
            "started_at",
            "finished_at",
            "outcome",
            "error",
            "next_attempt_at",
            "http_method",
            "http_url",
            "request_headers",
            "request_body",
            "response_status",
            "response_body",
            "duration_ms",
        ]
        read_only_fields = fields


class StepRunSerializer(serializers.ModelSerializer[StepRun]):
    """One step of an execution with its resolved inputs, output and every attempt."""

    attempts_log = AttemptSerializer(source="attempt_log", many=True, read_only=True)

    class Meta:
        model = StepRun
        fields = [
            "path",
            "step_id",
            "action",
            "status",
            "idempotency_key",
            "inputs",
            "output",
            "attempts",
            "next_attempt_at",
            "error",
            "started_at",
            "finished_at",
            "attempts_log",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer[Alert]):
    """A failure alert and whether it reached its target."""

    class Meta:
        model = Alert
        fields = ["kind", "target", "reason", "status", "error", "created_at", "sent_at"]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer[Execution]):
    """One run of one rule for one event (the list view)."""

    rule_name = serializers.CharField(source="rule.name", read_only=True)
    event = serializers.UUIDField(source="event_id", read_only=True)
    trigger_key = serializers.CharField(source="event.trigger_key", read_only=True)

    class Meta:
        model = Execution
        fields = [
            "id",
            "rule",
            "rule_name",
            "rule_version",
            "event",
            "trigger_key",
            "parent",
            "parent_step",
            "status",
            "error",
            "resume_at",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ExecutionDetailSerializer(ExecutionSerializer):
    """An execution with its step runs, their attempts, and its alerts."""

    steps = StepRunSerializer(many=True, read_only=True)
    alerts = AlertSerializer(many=True, read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "steps", "alerts"]
        read_only_fields = fields


def _datetime_param(request: Request, name: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    parsed = parse_datetime(raw)
    if parsed is None or parsed.tzinfo is None:
        raise serializers.ValidationError(
            {name: ["Give an ISO 8601 datetime with a time zone (2025-03-01T09:00:00Z)."]}
        )
    return parsed


_FILTERS = [
    OpenApiParameter("rule", int),
    OpenApiParameter("status", str, enum=ExecutionStatus.values),
    OpenApiParameter("since", str, description="created at or after (ISO 8601)"),
    OpenApiParameter("until", str, description="created before (ISO 8601)"),
]


@extend_schema(parameters=_FILTERS)
class ExecutionViewSet(
    WorkspaceScopedMixin[Execution],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Execution],
):
    """Executions of the workspace's rules, newest first; every member reads, admins replay.

    Filters: ``?rule=<id>``, ``?status=<status>``, ``?since=`` / ``?until=`` (created time).
    """

    # Marketers see executions (SPEC 9); replay is checked separately: admins only.
    access: ClassVar[Access] = MARKETER_AREA
    queryset = Execution.objects.select_related("rule", "event").order_by("-created_at", "-id")

    def get_serializer_class(self) -> type[ExecutionSerializer]:
        """The list is light; the detail carries steps, attempts and alerts."""
        return ExecutionDetailSerializer if self.action != "list" else ExecutionSerializer

    def get_queryset(self) -> QuerySet[Execution]:
        """The workspace's executions, filtered by rule, status and time range."""
        queryset = super().get_queryset()
        params = self.request.query_params
        rule = params.get("rule")
        if rule is not None:
            if not rule.isdigit():
                raise serializers.ValidationError({"rule": ["Give a rule id."]})
            queryset = queryset.filter(rule_id=int(rule))
        wanted = params.get("status")
        if wanted is not None:
            if wanted not in ExecutionStatus.values:
                choices = ", ".join(ExecutionStatus.values)
                raise serializers.ValidationError({"status": [f"Use one of {choices}."]})
            queryset = queryset.filter(status=wanted)
        since, until = (
            _datetime_param(self.request, "since"),
            _datetime_param(self.request, "until"),
        )
        if since is not None:
            queryset = queryset.filter(created_at__gte=since)
        if until is not None:
            queryset = queryset.filter(created_at__lt=until)
        if self.action != "list":
            steps = StepRun.objects.prefetch_related("attempt_log").order_by("id")
            queryset = queryset.prefetch_related(Prefetch("steps", queryset=steps), "alerts")
        return queryset

    @extend_schema(request=None, responses={202: ExecutionSerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        """Resume a dead-lettered execution from its failed step (admins only); 409 otherwise."""
        if request.membership.role != Role.ADMIN:  # type: ignore[attr-defined]
            raise PermissionDenied("Only an admin can replay an execution.")
        execution = self.get_object()
        try:
            execution = replay(execution)
        except NotReplayable as exc:
            return Response(
                {"error": "not_replayable", "detail": str(exc)}, status=status.HTTP_409_CONFLICT
            )
        return Response(ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class EmitEventSerializer(serializers.Serializer[Any]):
    """An internal event: a trigger key of the catalog and its payload (validated against it)."""

    trigger = serializers.CharField(max_length=100)
    payload = serializers.JSONField()
    dedupe_key = serializers.CharField(max_length=255, required=False)

    def validate_trigger(self, value: str) -> str:
        """Refuse a trigger key the catalog does not know, suggesting the closest one."""
        if not registry.has_trigger(value):
            raise serializers.ValidationError(
                str(UnknownEntryError("trigger", value, [t.key for t in registry.triggers()]))
            )
        return value

    def validate_payload(self, value: Any) -> Any:
        """Require a JSON object."""
        if not isinstance(value, dict):
            raise serializers.ValidationError("The payload is a JSON object.")
        return value


class EventViewSet(viewsets.ViewSet):
    """``POST /api/v1/events/``: record an internal event, dispatched to the rules like any other.

    202 ``{"event_id"}`` once stored; 200 ``{"duplicate": true, "event_id"}`` for a
    ``dedupe_key`` seen before; 400 naming every field that does not fit the trigger.
    """

    access: ClassVar[Access] = ADMIN_AREA

    @extend_schema(request=EmitEventSerializer, responses={202: dict, 200: dict})
    def create(self, request: Request) -> Response:
        """Validate and store the event; it is dispatched once the transaction commits."""
        serializer = EmitEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            with transaction.atomic():
                event = record_event(
                    workspace=request.workspace,  # type: ignore[attr-defined]
                    trigger_key=data["trigger"],
                    payload=data["payload"],
                    source=EventSource.INTERNAL,
                    dedupe_key=data.get("dedupe_key"),
                )
        except CatalogValidationError as exc:
            return Response(
                {"error": "payload_invalid", "fields": exc.as_dict()},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except DuplicateEventError as exc:
            return Response({"duplicate": True, "event_id": str(exc.existing.pk)})
        return Response({"event_id": str(event.pk)}, status=status.HTTP_202_ACCEPTED)


class DisabledTargetSerializer(serializers.ModelSerializer[DisabledTarget]):
    """A webhook URL Typewire stopped calling (credentials in its query string hidden)."""

    url = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = DisabledTarget
        fields = [
            "id",
            "url",
            "reason",
            "rule",
            "execution",
            "disabled_at",
            "is_active",
            "enabled_at",
            "enabled_by",
        ]
        read_only_fields = fields

    def get_url(self, target: DisabledTarget) -> str:
        """The URL with user info and secret query values redacted."""
        return redact_url(target.url)


class DisabledTargetViewSet(
    WorkspaceScopedMixin[DisabledTarget],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[DisabledTarget],
):
    """Webhook URLs of the workspace that answered 410 Gone; ``fire_webhook`` skips them.

    Admins and auditors read; ``POST <id>/enable/`` (admins) lets rules call the URL again.
    ``?active=true`` lists only the URLs still disabled.
    """

    access: ClassVar[Access] = ADMIN_AREA
    queryset = DisabledTarget.objects.order_by("-disabled_at", "-id")
    serializer_class = DisabledTargetSerializer

    def get_queryset(self) -> QuerySet[DisabledTarget]:
        """The workspace's disabled targets, only the active ones with ``?active=true``."""
        queryset = super().get_queryset()
        active = self.request.query_params.get("active")
        if active is not None:
            if active not in ("true", "false"):
                raise serializers.ValidationError({"active": ["Use true or false."]})
            queryset = queryset.filter(enabled_at__isnull=active == "true")
        return queryset

    @extend_schema(request=None, responses=DisabledTargetSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str) -> Response:
        """Let rules call this URL again (admins only); enabling it twice changes nothing."""
        target = enable_target(self.get_object(), by=request.user)
        return Response(DisabledTargetSerializer(target).data)
