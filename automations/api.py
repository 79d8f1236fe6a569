"""``/api/v1/rules/``: rules CRUD through the checker, versions, rollback, enable, resume..."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import MARKETER_AREA
from accounts.api import WorkspaceScopedMixin
from automations import services
from automations.models import Rule, RuleVersion
from automations.versions import diff_definitions
from catalog.api import entities as entities_api
from catalog.models import Event
from webhooks import api as webhooks_api
from webhooks.models import Endpoint

LIMIT_FIELDS = services.LIMIT_FIELDS


class RuleSerializer(serializers.ModelSerializer[Rule]):
    """A rule with its definition (see ``automations.draft``), sentence and blast-radius limits.

    The limits (``rate_limit_per_minute``, ``breaker_threshold``, ``breaker_failure_ratio``;
    null switches one off) are settings of the rule, not part of its versioned definition.
    ``paused_at`` and ``paused_reason`` say whether Typewire paused it (``.../resume/`` lifts it).
    """

    definition = serializers.JSONField()
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=1_000_000, allow_null=True, required=False
    )
    breaker_threshold = serializers.IntegerField(
        min_value=1, max_value=10_000, allow_null=True, required=False
    )
    breaker_failure_ratio = serializers.FloatField(
        min_value=0.01, max_value=1.0, allow_null=True, required=False
    )

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "description",
            "is_enabled",
            "trigger_key",
            "definition",
            "sentence",
            "version",
            "owner",
            "disabled_reason",
            *LIMIT_FIELDS,
            "paused_at",
            "paused_reason",
            "resumed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "trigger_key",
            "sentence",
            "version",
            "owner",
            "disabled_reason",
            "paused_at",
            "paused_reason",
            "resumed_at",
            "created_at",
            "updated_at",
        ]


class RuleVersionSerializer(serializers.ModelSerializer[RuleVersion]):
    """One saved version of a rule."""

    author = serializers.CharField(source="author.username", read_only=True, default=None)

    class Meta:
        model = RuleVersion
        fields = ["number", "name", "definition", "author", "note", "created_at"]


class DryRunSerializer(serializers.Serializer[Any]):
    """A payload to try the rule on: given here, or the trigger's example when omitted."""

    payload = serializers.JSONField(required=False)
    definition = serializers.JSONField(required=False)


class BacktestSerializer(serializers.Serializer[Any]):
    """A draft definition (the rule's own when omitted) and how many days of events to replay."""

    definition = serializers.JSONField(required=False)
    days = serializers.IntegerField(min_value=1, max_value=90, default=7)


class RollbackSerializer(serializers.Serializer[Any]):
    """The version to restore."""

    version = serializers.IntegerField(min_value=1)


def _invalid(exc: services.RuleInvalid) -> ValidationError:
    return ValidationError({"error": "rule_invalid", "problems": exc.as_list()})


class RuleViewSet(WorkspaceScopedMixin[Rule], viewsets.ModelViewSet[Rule]):
    """Rules of the workspace. Every save runs the checker; a failing rule answers 400."""

    access = MARKETER_AREA
    queryset = Rule.objects.select_related("owner").order_by("name", "id")
    serializer_class = RuleSerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Rule]) -> None:
        """Check and save a new rule (version 1)."""
        data = serializer.validated_data
        try:
            with transaction.atomic():
                rule = services.save_rule(
                    workspace=self.request.workspace,
                    author=self.request.user,
                    name=data["name"],
                    description=data.get("description", ""),
                    definition=data["definition"],
                    is_enabled=data.get("is_enabled", False),
                )
                rule = services.set_rule_limits(rule=rule, limits=data, actor=self.request.user)
        except services.RuleInvalid as exc:
            raise _invalid(exc) from exc
        serializer.instance = rule

    def perform_destroy(self, instance: Rule) -> None:
        """Delete the rule and its schedule (cron rules) together."""
        services.delete_rule(rule=instance, actor=self.request.user)

    def perform_update(self, serializer: serializers.BaseSerializer[Rule]) -> None:
        """Check and save a new version of the rule (changing only its limits makes no version)."""
        rule = self.get_object()
        data = serializer.validated_data
        if data and set(data) <= set(LIMIT_FIELDS):
            # Limits are settings, not part of the definition: no new version for them alone.
            serializer.instance = services.set_rule_limits(
                rule=rule, limits=data, actor=self.request.user
            )
            return
        try:
            with transaction.atomic():
                saved = services.save_rule(
                    workspace=self.request.workspace,
                    author=self.request.user,
                    name=data.get("name", rule.name),
                    description=data.get("description", rule.description),
                    definition=data.get("definition", rule.definition),
                    is_enabled=data.get("is_enabled"),
                    rule=rule,
                )
                saved = services.set_rule_limits(rule=saved, limits=data, actor=self.request.user)
        except services.RuleInvalid as exc:
            raise _invalid(exc) from exc
        serializer.instance = saved

    @extend_schema(responses=RuleVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str) -> Response:
        """List the rule's versions, newest first; ``?from=1&to=2`` adds the changes between two."""
        rule = self.get_object()
        versions = list(rule.versions.select_related("author").order_by("-number"))
        body: dict[str, Any] = {"versions": RuleVersionSerializer(versions, many=True).data}
        first, second = request.query_params.get("from"), request.query_params.get("to")
        if first and second:
            by_number = {str(v.number): v for v in versions}
            if first not in by_number or second not in by_number:
                raise NotFound("No such version of this rule.")
            changes = diff_definitions(
                {"name": by_number[first].name, **by_number[first].definition},
                {"name": by_number[second].name, **by_number[second].definition},
            )
            body["changes"] = [c.as_dict() for c in changes]
        return Response(body)

    @extend_schema(request=RollbackSerializer, responses=RuleSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str) -> Response:
        """Restore an earlier version as a new version."""
        rule = self.get_object()
        serializer = RollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        number = serializer.validated_data["version"]
        if not rule.versions.filter(number=number).exists():
            raise NotFound(f"Rule {rule.pk} has no version {number}.")
        try:
            rule = services.rollback(rule=rule, number=number, author=request.user)
        except services.RuleInvalid as exc:
            raise _invalid(exc) from exc
        return Response(RuleSerializer(rule).data)

    @extend_schema(request=None, responses=RuleSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str) -> Response:
        """Switch the rule on (the checker runs again, cycles included)."""
        try:
            rule = services.set_enabled(rule=self.get_object(), enabled=True, actor=request.user)
        except services.RuleInvalid as exc:
            raise _invalid(exc) from exc
        return Response(RuleSerializer(rule).data)

    @extend_schema(request=None, responses=RuleSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str) -> Response:
        """Switch the rule off."""
        rule = services.set_enabled(rule=self.get_object(), enabled=False, actor=request.user)
        return Response(RuleSerializer(rule).data)

    @extend_schema(request=None, responses=RuleSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """Lift a pause (breaker or spike) and run the held executions (within the rate cap)."""
        result = services.resume_rule(rule=self.get_object(), actor=request.user)
        body = dict(RuleSerializer(result.rule).data)
        body["released"] = len(result.released)
        return Response(body)

    @extend_schema(request=BacktestSerializer)
    @action(detail=True, methods=["post"])
    def backtest(self, request: Request, pk: str) -> Response:
        """Replay stored events of the last N days through the rule or a draft; no side effects."""
        rule = self.get_object()
        serializer = BacktestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                result = services.backtest(
                    workspace=request.workspace,  # type: ignore[attr-defined]
                    definition=serializer.validated_data.get("definition", rule.definition),
                    days=serializer.validated_data["days"],
                    name=rule.name,
                )
                transaction.set_rollback(True)
        except services.RuleInvalid as exc:
            raise _invalid(exc) from exc
        return Response(result.as_dict())

    @extend_schema(parameters=[OpenApiParameter("event", str, required=True)])
    @action(detail=True, methods=["get"])
    def why(self, request: Request, pk: str) -> Response:
        """Explain why the rule did (or did not) fire for a stored event: ``?event=<id>``."""
        rule = self.get_object()
        event_id = request.query_params.get("event", "")
        try:
            uuid.UUID(event_id)
        except ValueError as exc:
            raise ValidationError({"event": ["Give the id of a stored event."]}) from exc
        event = Event.objects.filter(pk=event_id, workspace=rule.workspace).first()
        if event is None:
            raise NotFound("No such event in this workspace.")
        return Response(services.why_not_fired(rule=rule, event=event))

    @extend_schema(request=DryRunSerializer)
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request: Request, pk: str) -> Response:
        """Run the rule (or a draft ``definition``) on a payload without side effects."""
        rule = self.get_object()
        serializer = DryRunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition = serializer.validated_data.get("definition", rule.definition)
        payload = serializer.validated_data.get("payload")
        try:
            # Nothing a dry-run does may persist: roll back whatever a bug might write.
            with transaction.atomic():
                trace = services.dry_run(
                    workspace=request.workspace,  # type: ignore[attr-defined]
                    definition=definition,
                    payload=payload,
                    name=rule.name,
                )
                transaction.set_rollback(True)
        except services.RuleInvalid as exc:
            raise _invalid(exc) from exc
        except services.PayloadInvalid as exc:
            raise ValidationError({"error": "payload_invalid", "fields": exc.fields}) from exc
        return Response(trace, status=status.HTTP_200_OK)


class CustomFieldViewSet(entities_api.CustomFieldViewSet):
    """Custom fields, with deletion guarded by the rules it would break (admin area).

    ``GET .../<id>/impact/`` lists the rules a deletion breaks; ``DELETE .../<id>/`` answers 409
    with that list unless ``?confirm=true``, which deletes the field and switches those rules off
    with the reason.
    """

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def impact(self, request: Request, pk: str) -> Response:
        """List the rules that deleting this field would break."""
        impacts = services.custom_field_removal_impact(self.get_object())
        return Response({"rules": [i.as_dict() for i in impacts]})

    @extend_schema(parameters=[OpenApiParameter("confirm", bool)])
    def destroy(self, request: Request, pk: str) -> Response:
        """Delete the field once the caller has seen (and confirmed) the rules it breaks."""
        definition = self.get_object()
        confirmed = request.query_params.get("confirm", "").lower() in ("1", "true", "yes")
        impacts = services.custom_field_removal_impact(definition)
        if impacts and not confirmed:
            return Response(
                {
                    "error": "rules_affected",
                    "detail": f"Deleting '{definition.key}' breaks {len(impacts)} rule(s); "
                    "they will be switched off. Repeat with ?confirm=true to go ahead.",
                    "rules": [i.as_dict() for i in impacts],
                },
                status=status.HTTP_409_CONFLICT,
            )
        disabled = services.remove_custom_field(definition=definition)
        return Response(
            {"deleted": definition.key, "disabled_rules": [r.pk for r in disabled]},
            status=status.HTTP_200_OK,
        )


class RulesAffected(APIException):
    """A vocabulary change would break rules and was not confirmed."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "rules_affected"


def _guard_declared_fields(
    request: Request, endpoint: Endpoint, declared: dict[str, str] | None
) -> list[services.Impact]:
    """Return the rules a change of declared fields breaks; refuse (409) unless confirmed."""
    if declared is None or declared == (endpoint.declared_fields or {}):
        return []
    impacts = services.endpoint_fields_impact(endpoint, declared)
    confirmed = request.query_params.get("confirm", "").lower() in ("1", "true", "yes")
    if impacts and not confirmed:
        raise RulesAffected(
            {
                "error": "rules_affected",
                "detail": f"These fields break {len(impacts)} rule(s) of '{endpoint.name}'; "
                "they will be switched off. Repeat with ?confirm=true to go ahead.",
                "rules": [i.as_dict() for i in impacts],
            }
        )
    return impacts


class EndpointViewSet(webhooks_api.EndpointViewSet):
    """Webhook endpoints, with changes of declared fields guarded by the rules they break."""

    def guard_declared_fields(
        self, endpoint: Endpoint, declared: dict[str, str] | None
    ) -> Callable[[], None]:
        """Refuse (409) a change that breaks rules unless confirmed; then switch them off."""
        impacts = _guard_declared_fields(self.request, endpoint, declared)

        def after() -> None:
            services.disable_broken(impacts, f"Endpoint '{endpoint.name}' changed its fields")

        return after
