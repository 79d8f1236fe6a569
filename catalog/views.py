"""Catalog pages: every trigger and action with its description, typed fields, example and plan."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import READ_ONLY_AREA, WorkspaceRequest, workspace_view
from catalog.registry import all_actions, all_triggers
from catalog.specs import ActionSpec, Category, PlanTier, TriggerSpec
from catalog.types import FieldSpec


def _fields(specs: Mapping[str, FieldSpec]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": spec.type.label,
            "is_optional": spec.optional,
            "label": spec.label,
            "description": spec.description,
        }
        for name, spec in specs.items()
    ]


def _entry(spec: TriggerSpec | ActionSpec, plan: PlanTier) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": spec.key,
        "label": spec.label,
        "description": spec.description,
        "plan": plan.value.capitalize(),
        "is_free": plan is PlanTier.FREE,
    }
    if isinstance(spec, TriggerSpec):
        entry.update(
            kind="trigger",
            fields=_fields(spec.payload),
            config=_fields(spec.config),
            example=json.dumps(dict(spec.example), indent=2),
            source=spec.source,
            declared_elsewhere=spec.payload_from_endpoint or spec.payload_from_config,
        )
    else:
        entry.update(
            kind="action",
            fields=_fields(spec.inputs),
            outputs=_fields(spec.outputs),
            example=json.dumps(dict(spec.example_inputs), indent=2),
            emits=spec.emits,
        )
    return entry


def _grouped(specs: list[TriggerSpec] | list[ActionSpec]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[Category, list[dict[str, Any]]] = {}
    for spec in specs:
        groups.setdefault(spec.category, []).append(_entry(spec, PlanTier(spec.plan)))
    order = list(Category)
    return [
        (category.value.capitalize() if category is not Category.AI else "AI", entries)
        for category, entries in sorted(groups.items(), key=lambda item: order.index(item[0]))
    ]


@require_GET
@workspace_view(READ_ONLY_AREA)
def catalog_index(request: WorkspaceRequest) -> HttpResponse:
    """Every trigger and action, grouped by category."""
    return render(
        request,
        "catalog/catalog.html",
        {
            "trigger_groups": _grouped(list(all_triggers())),
            "action_groups": _grouped(list(all_actions())),
        },
    )
