"""Engine test helpers: rules written straight to the database, events, and an inline drain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from automations.engine import scope
from automations.engine.dispatch import dispatch_event
from automations.engine.run import run_execution
from automations.models import Execution, ExecutionStatus, Rule, StepRun
from catalog.events import record_event
from catalog.models import Event, EventStatus
from catalog.registry import registry
from tests.engine_plugin import catalog_entries as plugin

OPS_ALERT = {"kind": "email", "target": "ops@example.com"}


@pytest.fixture(autouse=True)
def _fresh_rule_cache() -> Iterator[None]:
    scope.clear_cache()
    yield
    scope.clear_cache()


@pytest.fixture
def engine_plugin() -> Iterator[None]:
    """Register the test plug-in's actions for one test."""
    for spec in plugin.ACTIONS:
        registry.register_action(spec, plugin.__name__)
    yield
    for spec in plugin.ACTIONS:
        registry.unregister_action(spec.key)


def make_rule(
    workspace: Workspace,
    name: str,
    trigger: str,
    steps: list[dict[str, Any]],
    *,
    config: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    alert: dict[str, str] | None = OPS_ALERT,
    enabled: bool = True,
) -> Rule:
    """Write a rule straight to the database, without the checker (as a loop could slip by)."""
    definition = {
        "trigger": {"key": trigger, "config": config or {}},
        "conditions": conditions or [],
        "steps": steps,
        "alert": alert,
    }
    return Rule.objects.create(
        workspace=workspace,
        name=name,
        trigger_key=trigger,
        definition=definition,
        sentence=f"When {trigger} happens, then run {len(steps)} step(s).",
        is_enabled=enabled,
    )


def step(step_id: str, action: str, **inputs: Any) -> dict[str, Any]:
    """A step whose inputs are literals, or bindings when given as a dict with ref/template."""
    bindings = {
        name: value
        if isinstance(value, dict) and ({"ref", "template", "literal"} & value.keys())
        else {"literal": value}
        for name, value in inputs.items()
    }
    return {"id": step_id, "action": action, "inputs": bindings}


def emit(workspace: Workspace, trigger: str, payload: dict[str, Any]) -> Event:
    """Record an internal event (as a domain service would)."""
    with transaction.atomic():
        return record_event(workspace=workspace, trigger_key=trigger, payload=payload)


def make_due(execution: Execution) -> None:
    """Move an execution's due times (and its steps') into the past, as if time had passed."""
    past = timezone.now() - dt.timedelta(seconds=1)
    Execution.objects.filter(pk=execution.pk, resume_at__isnull=False).update(resume_at=past)
    StepRun.objects.filter(execution=execution, next_attempt_at__isnull=False).update(
        next_attempt_at=past
    )


def drain(rounds: int = 50) -> None:
    """Play the workers inline: dispatch pending events, run runnable executions, until idle."""
    for _ in range(rounds):
        progressed = False
        for event_id in Event.objects.filter(status=EventStatus.PENDING).values_list(
            "pk", flat=True
        ):
            progressed |= dispatch_event(event_id).dispatched
        runnable = Execution.objects.filter(
            Q(status=ExecutionStatus.PENDING)
            | Q(status=ExecutionStatus.WAITING, resume_at__lte=timezone.now()),
            parent__isnull=True,
        )
        for execution_id in runnable.values_list("pk", flat=True):
            progressed |= run_execution(execution_id) is not None
        if not progressed:
            return
    raise AssertionError(f"the engine did not settle within {rounds} rounds")
