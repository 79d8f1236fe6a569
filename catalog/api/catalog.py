"""``/api/v1/catalog/``: every trigger and action, with field types as JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import READ_ONLY_AREA
from catalog.registry import UnknownEntryError, all_actions, all_triggers, get_action, get_trigger
from catalog.specs import ActionSpec, FieldSpec, TriggerSpec
from catalog.types import object_of


def fields_schema(fields: Mapping[str, FieldSpec]) -> dict[str, Any]:
    """Return the JSON Schema of an object with these fields."""
    return object_of(fields).json_schema()


def trigger_to_json(spec: TriggerSpec) -> dict[str, Any]:
    """Return a trigger's public description."""
    return {
        "key": spec.key,
        "category": spec.category.value,
        "label": spec.label,
        "description": spec.description,
        "plan": spec.plan.value,
        "source": spec.source,
        "payload": fields_schema(spec.payload),
        "config": fields_schema(spec.config),
        "example": spec.example,
        "example_config": spec.example_config,
        "payload_declared_per_endpoint": spec.payload_from_endpoint,
    }


def action_to_json(spec: ActionSpec) -> dict[str, Any]:
    """Return an action's public description."""
    return {
        "key": spec.key,
        "category": spec.category.value,
        "kind": spec.kind.value,
        "label": spec.label,
        "description": spec.description,
        "plan": spec.plan.value,
        "inputs": fields_schema(spec.inputs),
        "outputs": fields_schema(spec.outputs),
        "emits": list(spec.emits),
        "example_inputs": spec.example_inputs,
        "has_side_effects": spec.has_side_effects,
        "is_http": spec.is_http,
    }


_ENTRY_FIELDS: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "key": serializers.CharField(),
    "category": serializers.CharField(),
    "label": serializers.CharField(),
    "description": serializers.CharField(),
    "plan": serializers.CharField(),
}
_ENTRY = inline_serializer("CatalogEntry", fields=_ENTRY_FIELDS)
_ENTRIES = inline_serializer("CatalogEntryList", fields=_ENTRY_FIELDS, many=True)


class TriggerCatalogViewSet(viewsets.ViewSet):
    """The triggers a rule can start from (any member may read)."""

    access = READ_ONLY_AREA
    lookup_field = "key"
    lookup_value_regex = "[a-z0-9_]+"

    @extend_schema(responses=_ENTRIES)
    def list(self, request: Request) -> Response:
        """List every trigger, in catalog order."""
        return Response([trigger_to_json(t) for t in all_triggers()])

    @extend_schema(responses=_ENTRY)
    def retrieve(self, request: Request, key: str) -> Response:
        """Describe one trigger."""
        try:
            return Response(trigger_to_json(get_trigger(key)))
        except UnknownEntryError as exc:
            raise NotFound(str(exc)) from exc


class ActionCatalogViewSet(viewsets.ViewSet):
    """The actions a rule's steps can take (any member may read)."""

    access = READ_ONLY_AREA
    lookup_field = "key"
    lookup_value_regex = "[a-z0-9_]+"

    @extend_schema(responses=_ENTRIES)
    def list(self, request: Request) -> Response:
        """List every action, in catalog order."""
        return Response([action_to_json(a) for a in all_actions()])

    @extend_schema(responses=_ENTRY)
    def retrieve(self, request: Request, key: str) -> Response:
        """Describe one action."""
        try:
            return Response(action_to_json(get_action(key)))
        except UnknownEntryError as exc:
            raise NotFound(str(exc)) from exc
