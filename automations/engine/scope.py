"""A rule as the engine runs it: its draft, typed scope and compiled conditions, cached per version.

Dispatch and the step runner read a rule's conditions and branch conditions the same way dry-run
does (``automations.services.dry_run``): a :class:`PathScope` types the paths, a
:class:`PayloadResolver` reads values (payload, entities, earlier step outputs). Conditions are
compiled once per (rule, version) and kept in a small process-wide LRU; nothing is ``eval``-ed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accounts.models import Workspace
from automations.checker import PathScope
from automations.conditions import CompiledConditions, ConditionError, compile_conditions
from automations.draft import RuleDraft, parse_definition
from automations.dryrun import PayloadResolver
from automations.models import Execution, Rule, RuleVersion
from automations.services import custom_field_specs, declared_fields_for
from catalog.domain.snapshots import WorkspaceEntityLoader
from catalog.entities import ENTITY_TYPES, entity_type
from catalog.registry import UnknownEntryError, registry
from catalog.specs import TriggerSpec
from catalog.types import FieldSpec, ObjectType

CACHE_SIZE = 1024
# Actions a dispatching worker never runs itself (``CompiledRule.inline_safe``): they wait on
# another server (mail, a chained rule that may call out) and belong on the rules queue.
NOT_INLINE = frozenset({"run_rule", "send_transactional_email", "send_campaign"})


class RuleBroken(Exception):
    """A stored rule cannot run as saved (unknown trigger, a condition that does not compile).

    The checker refuses such rules at save time; this happens when a rule was written around
    it or the catalog changed under it.
    """


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One version of a rule, ready to match events and run steps."""

    rule_id: int
    version: int
    draft: RuleDraft
    trigger: TriggerSpec
    scope: PathScope
    entity_types: Mapping[str, ObjectType]
    conditions: CompiledConditions
    # The condition of every branch_by_condition step, by step path.
    branches: Mapping[str, CompiledConditions]
    # Every step is a known internal action (no HTTP, no mail, no chained rule): quick and
    # local, so the worker that dispatches the event may run it at once (dispatch.py).
    inline_safe: bool = False

    def resolver(
        self,
        payload: Mapping[str, Any],
        workspace_id: int,
        loader: WorkspaceEntityLoader | None = None,
    ) -> PayloadResolver:
        """Return a resolver over ``payload`` that loads the workspace's entities read-only.

        Pass ``loader`` to share its snapshots between rules matched against one event.
        """
        return PayloadResolver(
            payload,
            loader or WorkspaceEntityLoader(workspace_id),
            self.entity_types,
            payload_type=self.scope.root,
        )


_cache: OrderedDict[tuple[int, int], CompiledRule] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every compiled rule (tests that rewrite a rule without a new version)."""
    with _lock:
        _cache.clear()


def definition_of(rule: Rule, version: int) -> Any:
    """Return the definition JSON of ``version`` of ``rule`` (the current one when it is that)."""
    if version == rule.version:
        return rule.definition
    stored = RuleVersion.objects.filter(rule=rule, number=version).first()
    return stored.definition if stored is not None else rule.definition


def compiled_rule(rule: Rule, version: int | None = None) -> CompiledRule:
    """Return ``version`` (default: the current one) of ``rule``, compiled; cached per version.

    Raises RuleBroken when the stored definition cannot be compiled.
    """
    number = rule.version if version is None else version
    key = (rule.pk, number)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    compiled = _compile(rule, number)
    with _lock:
        _cache[key] = compiled
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def is_compiled(rule_id: int, version: int) -> bool:
    """Whether ``version`` of the rule is in this process's compiled-rule cache."""
    with _lock:
        return (rule_id, version) in _cache


def compiled_for(execution: Execution) -> CompiledRule:
    """Return the rule version an execution was created with, compiled."""
    return compiled_rule(execution.rule, execution.rule_version)


def _compile(rule: Rule, version: int) -> CompiledRule:
    draft, _ = parse_definition(definition_of(rule, version), name=rule.name)
    try:
        trigger = registry.get_trigger(draft.trigger.key or rule.trigger_key)
    except UnknownEntryError as exc:
        raise RuleBroken(str(exc)) from exc
    workspace: Workspace = rule.workspace
    custom = custom_field_specs(workspace)
    declared = declared_fields_for(workspace, draft)
    scope = PathScope.for_trigger(trigger, custom, declared or None)
    # Typed up front, as dry-run does: a branch may test a step of an arm that did not run.
    for _path, step in draft.walk_steps():
        if registry.has_action(step.action):
            outputs: Mapping[str, FieldSpec] = registry.get_action(step.action).outputs
            scope = scope.with_step(step.id, outputs, optional=True)
    try:
        conditions = compile_conditions(draft.conditions, scope.resolve)
        branches = {
            path: compile_conditions(step.condition, scope.resolve, prefix=f"{path}.condition")
            for path, step in draft.walk_steps()
            if step.action == "branch_by_condition"
        }
    except ConditionError as exc:
        raise RuleBroken(f"Rule '{rule.name}' has a condition that cannot run: {exc}") from exc
    return CompiledRule(
        rule_id=rule.pk,
        version=version,
        draft=draft,
        trigger=trigger,
        scope=scope,
        entity_types={**ENTITY_TYPES, "customer": entity_type("customer", custom)},
        conditions=conditions,
        branches=branches,
        inline_safe=all(
            registry.has_action(step.action)
            and not registry.get_action(step.action).is_http
            and step.action not in NOT_INLINE
            for _path, step in draft.walk_steps()
        ),
    )
