"""Rule services: save (checked, versioned), enable, roll back, dry-run. One transaction each.

The same checker runs behind the API, the forms and the admin: nothing reaches the rules table
without passing :func:`automations.checker.check_rule`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from accounts.audit import field_changes, record_change
from accounts.models import AuditObject, Workspace
from automations.checker import CheckContext, EndpointInfo, PathScope, Problem, check_rule
from automations.checker.cycles import RuleGraphNode, node_from_draft
from automations.draft import RuleDraft, parse_definition
from automations.dryrun import PayloadResolver, trace_rule
from automations.matching import config_mismatch
from automations.models import CatalogCheck, Rule, RuleVersion
from automations.sentence import describe_rule
from automations.templating import MISSING
from automations.triggers.schedule import remove_rule_schedule, sync_rule_schedule
from automations.versions import diff_definitions
from catalog.domain.custom_fields import custom_field_type
from catalog.domain.models import CustomFieldDefinition
from catalog.domain.services import delete_custom_field
from catalog.domain.snapshots import WorkspaceEntityLoader
from catalog.entities import ENTITY_TYPES, entity_type
from catalog.models import Event
from catalog.registry import registry
from catalog.types import FieldSpec, optional
from catalog.types import ValidationError as CatalogValidationError

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from automations.engine.limits import ResumeResult
    from webhooks.models import Endpoint

    type Author = User | AnonymousUser | None


class RuleInvalid(Exception):
    """The definition did not pass the checker; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = list(problems)

    def as_list(self) -> list[dict[str, str]]:
        """Return the problems as ``{code, path, message, hint}`` dicts."""
        return [p.as_dict() for p in self.problems]


def custom_field_specs(workspace: Workspace) -> dict[str, FieldSpec]:
    """Return the workspace's custom customer fields as (optional) typed fields."""
    definitions = CustomFieldDefinition.objects.filter(workspace=workspace)
    return {d.key: optional(custom_field_type(d), d.label) for d in definitions}


def endpoint_infos(workspace: Workspace) -> dict[int, EndpointInfo]:
    """Return the workspace's webhook endpoints with their declared payload fields."""
    from webhooks.models import Endpoint  # automations reads endpoints; webhooks never imports us

    return {
        e.pk: EndpointInfo(
            id=e.pk, name=e.name, url=f"/hooks/{e.token}", declared_fields=e.declared_specs()
        )
        for e in Endpoint.objects.filter(workspace=workspace)
    }


def build_context(
    workspace: Workspace, *, rule: Rule | None = None, name: str = ""
) -> CheckContext:
    """Return the checker's pure inputs for a rule of ``workspace`` (``rule`` when editing one).

    Other enabled rules become cycle-detection nodes; the rule being edited is left out of them
    (its new shape replaces it).
    """
    base = CheckContext(
        registry=registry,
        plan=workspace.plan,
        custom_fields=custom_field_specs(workspace),
        endpoints=endpoint_infos(workspace),
        rules=dict(Rule.objects.filter(workspace=workspace).values_list("id", "name")),
        rule_id=rule.pk if rule else None,
        rule_name=name or (rule.name if rule else ""),
    )
    others: list[RuleGraphNode] = []
    enabled = Rule.objects.filter(workspace=workspace, is_enabled=True)
    if rule is not None:
        enabled = enabled.exclude(pk=rule.pk)
    for other in enabled.only("id", "name", "definition"):
        draft, _ = parse_definition(other.definition, name=other.name)
        others.append(node_from_draft(other.pk, other.name, draft, base))
    return CheckContext(
        registry=base.registry,
        plan=base.plan,
        custom_fields=base.custom_fields,
        endpoints=base.endpoints,
        rules=base.rules,
        others=others,
        rule_id=base.rule_id,
        rule_name=base.rule_name,
    )


@dataclass(frozen=True, slots=True)
class CheckedDraft:
    """A definition that passed the checker, with its sentence."""

    draft: RuleDraft
    definition: dict[str, Any]
    sentence: str


def check_definition(
    workspace: Workspace, definition: Any, *, name: str, rule: Rule | None = None
) -> CheckedDraft:
    """Parse and check a definition; return it normalised, or raise RuleInvalid listing all."""
    draft, structure = parse_definition(definition, name=name)
    context = build_context(workspace, rule=rule, name=name)
    problems = check_rule(draft, context, structure)
    if problems:
        raise RuleInvalid(problems)
    return CheckedDraft(draft, draft.to_json(), describe_rule(draft, context))


def _user(author: Author) -> User | None:
    """Return the author as a saved user, or None (anonymous or missing)."""
    from django.contrib.auth.models import User

    return author if isinstance(author, User) and author.pk else None


def _store_version(rule: Rule, author: Author, note: str) -> RuleVersion:
    return RuleVersion.objects.create(
        rule=rule,
        number=rule.version,
        name=rule.name,
        definition=rule.definition,
        author=_user(author),
        note=note,
    )


def _record_rule(rule: Rule, actor: Author, action: str, changes: dict[str, Any]) -> None:
    record_change(
        workspace=rule.workspace_id,
        actor=actor,
        action=action,
        object_type=AuditObject.RULE,
        object_id=rule.pk,
        object_label=rule.name,
        changes=changes,
    )


def _rule_facts(rule: Rule) -> dict[str, Any]:
    return {"name": rule.name, "description": rule.description, "is_enabled": rule.is_enabled}


@transaction.atomic
def save_rule(
    *,
    workspace: Workspace,
    author: Author,
    name: str,
    definition: Any,
    description: str = "",
    rule: Rule | None = None,
    is_enabled: bool | None = None,
    note: str = "",
    audit_action: str = "",
) -> Rule:
    """Create or update a rule after the checker passed it, storing a new version.

    Raises RuleInvalid (nothing saved) when any problem is found, the name included. Records
    one audit entry: ``audit_action``, else ``created`` or ``updated``.
    """
    if not name.strip():
        from automations.checker import ProblemCode

        raise RuleInvalid([Problem(ProblemCode.STRUCTURE, "name", "Give the rule a name.")])
    checked = check_definition(workspace, definition, name=name.strip(), rule=rule)
    before: dict[str, Any] = {}
    old_definition: Any = {}
    if rule is None:
        rule = Rule(workspace=workspace, owner=_user(author), version=1)
    else:
        rule = Rule.objects.select_for_update().get(pk=rule.pk, workspace=workspace)
        before, old_definition = _rule_facts(rule), rule.definition
        rule.version += 1
    rule.name = name.strip()
    rule.description = description
    rule.definition = checked.definition
    rule.trigger_key = checked.draft.trigger.key
    rule.sentence = checked.sentence
    if is_enabled is not None:
        rule.is_enabled = is_enabled
        rule.disabled_reason = ""
    rule.save()
    _store_version(rule, author, note)
    sync_rule_schedule(rule)
    changes: dict[str, Any] = {"version": rule.version, **field_changes(before, _rule_facts(rule))}
    definition_changes = [c.as_dict() for c in diff_definitions(old_definition, rule.definition)]
    if before:
        changes["definition"] = definition_changes
    if note:
        changes["note"] = note
    _record_rule(rule, author, audit_action or ("updated" if before else "created"), changes)
    return rule


@transaction.atomic
def set_enabled(*, rule: Rule, enabled: bool, actor: Author = None) -> Rule:
    """Switch a rule on (after re-running the checker, cycles included) or off.

    Records an audit entry when the switch really moves.
    """
    locked = Rule.objects.select_for_update().get(pk=rule.pk)
    if enabled and not locked.is_enabled:
        check_definition(locked.workspace, locked.definition, name=locked.name, rule=locked)
    was = locked.is_enabled
    locked.is_enabled = enabled
    locked.disabled_reason = ""
    locked.save(update_fields=["is_enabled", "disabled_reason", "updated_at"])
    sync_rule_schedule(locked)
    if was != enabled:
        _record_rule(locked, actor, "enabled" if enabled else "disabled", {})
    return locked


def rollback(*, rule: Rule, number: int, author: Author) -> Rule:
    """Restore version ``number`` as a new version (re-checked: the workspace may have moved on)."""
    version = RuleVersion.objects.get(rule=rule, number=number)
    return save_rule(
        workspace=rule.workspace,
        author=author,
        name=version.name,
        definition=version.definition,
        description=rule.description,
        rule=rule,
        note=f"Rolled back to version {number}",
        audit_action="rolled_back",
    )


def duplicate_rule(*, rule: Rule, author: Author) -> Rule:
    """Copy a rule (switched off) as a new rule; raises RuleInvalid when the copy fails checks."""
    return save_rule(
        workspace=rule.workspace,
        author=author,
        name=f"Copy of {rule.name}"[:200],
        description=rule.description,
        definition=rule.definition,
        is_enabled=False,
        note=f"Copied from '{rule.name}'",
        audit_action="duplicated",
    )


@transaction.atomic
def delete_rule(*, rule: Rule, actor: Author) -> None:
    """Delete a rule with its versions, executions and schedule; the audit log keeps a trace."""
    _record_rule(
        rule,
        actor,
        "deleted",
        {"version": rule.version, "trigger_key": rule.trigger_key, "was_enabled": rule.is_enabled},
    )
    remove_rule_schedule(rule.pk)
    rule.delete()


LIMIT_FIELDS = ("rate_limit_per_minute", "breaker_threshold", "breaker_failure_ratio")


@transaction.atomic
def set_rule_limits(*, rule: Rule, limits: Mapping[str, Any], actor: Author) -> Rule:
    """Store the blast-radius limits given in ``limits`` (the others stay); audited.

    Limits are settings, not part of the definition: they make no new version.
    """
    given = {name: limits[name] for name in LIMIT_FIELDS if name in limits}
    if not given:
        return rule
    locked = Rule.objects.select_for_update().get(pk=rule.pk)
    before = {name: getattr(locked, name) for name in given}
    for name, value in given.items():
        setattr(locked, name, value)
    locked.save(update_fields=[*given, "updated_at"])
    if changes := field_changes(before, given):
        _record_rule(locked, actor, "limits_changed", changes)
    return locked


def resume_rule(*, rule: Rule, actor: Author) -> ResumeResult:
    """Lift a pause (breaker or spike) and release the held executions; audited when paused.

    Returns the engine's ``ResumeResult`` (the rule and the executions released at once).
    """
    from automations.engine import limits

    with transaction.atomic():
        reason = Rule.objects.select_for_update().get(pk=rule.pk).paused_reason
        result = limits.resume_rule(rule=rule)
        if reason:
            _record_rule(
                result.rule,
                actor,
                "resumed",
                {"paused_reason": reason, "released": len(result.released)},
            )
    return result


def declared_fields_for(workspace: Workspace, draft: RuleDraft) -> Mapping[str, FieldSpec]:
    """Return the fields the draft's endpoint declares (webhook triggers), else nothing."""
    endpoint_id = draft.trigger.config.get("endpoint_id")
    if not isinstance(endpoint_id, int):
        return {}
    info = endpoint_infos(workspace).get(endpoint_id)
    return info.declared_fields if info else {}


class PayloadInvalid(Exception):
    """A dry-run payload does not fit the trigger; ``fields`` maps each path to its messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(str(fields))
        self.fields = fields


def to_jsonable(value: Any) -> Any:
    """Return ``value`` (dataclasses, enums, decimals, datetimes...) as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if value is MISSING:
        return None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def dry_run(
    *,
    workspace: Workspace,
    definition: Any,
    payload: Any = None,
    name: str = "",
    rule: Rule | None = None,
) -> dict[str, Any]:
    """Return the trace of a definition run on ``payload`` (the trigger's example when None).

    ``rule`` is the saved rule the definition is a draft of (left out of the cycle check).
    Reads entities, writes nothing. Raises RuleInvalid when the definition fails the checker
    and PayloadInvalid when the payload does not fit the trigger.
    """
    checked = check_definition(workspace, definition, name=name or "Dry run", rule=rule)
    trigger = registry.get_trigger(checked.draft.trigger.key)
    declared = declared_fields_for(workspace, checked.draft)
    if payload is None:
        payload = dict(trigger.example)
    try:
        clean = trigger.validate_payload(payload, declared or None)
    except CatalogValidationError as exc:
        raise PayloadInvalid(exc.as_dict()) from exc
    custom = custom_field_specs(workspace)
    scope = PathScope.for_trigger(trigger, custom, declared or None)
    entity_types = {**ENTITY_TYPES, "customer": entity_type("customer", custom)}
    resolver = PayloadResolver(
        clean,
        WorkspaceEntityLoader(workspace.pk),
        entity_types,
        payload_type=scope.root,
    )
    trace = trace_rule(
        checked.draft,
        clean,
        type_of=scope.resolve,
        catalog=registry,
        resolve=resolver.resolve,
        rule_names=dict(Rule.objects.filter(workspace=workspace).values_list("id", "name")),
    )
    return {"sentence": checked.sentence, **to_jsonable(trace)}


def _explain(trace: Any) -> str:
    """Return the first failing condition of a trace, with the value the event really had."""
    for leaf in trace.conditions.trace:
        if not leaf.passed:
            actual = "nothing (the field is not set)" if leaf.missing else repr(leaf.actual)
            expected = "" if leaf.expected is None else f" {leaf.expected!r}"
            return (
                f"Condition {leaf.path} failed: {leaf.field} {leaf.operator}{expected}, "
                f"but the value was {actual}."
            )
    return "The conditions do not hold."


def evaluate_event(
    workspace: Workspace, checked: CheckedDraft, event: Event
) -> tuple[bool, str, dict[str, Any] | None]:
    """Return (would fire, why not, trace) for one stored event; reads only."""
    draft = checked.draft
    if event.trigger_key != draft.trigger.key:
        return (
            False,
            (f"The rule starts on {draft.trigger.key}, but this event is {event.trigger_key}."),
            None,
        )
    mismatch = config_mismatch(draft.trigger.key, draft.trigger.config, event.payload)
    if mismatch:
        return False, mismatch, None
    trigger = registry.get_trigger(draft.trigger.key)
    declared = declared_fields_for(workspace, draft)
    custom = custom_field_specs(workspace)
    scope = PathScope.for_trigger(trigger, custom, declared or None)
    entity_types = {**ENTITY_TYPES, "customer": entity_type("customer", custom)}
    resolver = PayloadResolver(
        event.payload, WorkspaceEntityLoader(workspace.pk), entity_types, payload_type=scope.root
    )
    trace = trace_rule(
        draft, event.payload, type_of=scope.resolve, catalog=registry, resolve=resolver.resolve
    )
    if not trace.fired:
        return False, _explain(trace), to_jsonable(trace)
    return True, "", to_jsonable(trace)


@dataclass(frozen=True, slots=True)
class Backtest:
    """How a draft would have fared over stored events."""

    events: int
    would_fire: int
    samples: list[dict[str, Any]]
    not_fired: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON."""
        return dataclasses.asdict(self)


def backtest(
    *, workspace: Workspace, definition: Any, days: int = 7, name: str = "", limit: int = 5000
) -> Backtest:
    """Run a draft over the workspace's events of the last ``days`` days, without side effects.

    Counts the events that would have fired, keeps up to 5 rendered samples, and says for each
    event that would not fire which condition (or trigger setting) failed, with the actual value.
    """
    checked = check_definition(workspace, definition, name=name or "Backtest")
    since = timezone.now() - dt.timedelta(days=days)
    events = Event.objects.filter(
        workspace=workspace, trigger_key=checked.draft.trigger.key, occurred_at__gte=since
    ).order_by("occurred_at", "id")[:limit]
    fired, total = 0, 0
    samples: list[dict[str, Any]] = []
    not_fired: list[dict[str, str]] = []
    for event in events:
        total += 1
        would, why, trace = evaluate_event(workspace, checked, event)
        if would:
            fired += 1
            if len(samples) < 5 and trace is not None:
                samples.append({"event_id": str(event.pk), "steps": trace["steps"]})
        else:
            not_fired.append({"event_id": str(event.pk), "reason": why})
    return Backtest(total, fired, samples, not_fired)


def why_not_fired(*, rule: Rule, event: Event) -> dict[str, Any]:
    """Explain whether ``rule`` fires for ``event``, and if not, why (reads only)."""
    reasons: list[str] = []
    if rule.workspace_id != event.workspace_id:
        reasons.append("The event belongs to another workspace.")
    if not rule.is_enabled:
        reasons.append(
            "The rule is switched off"
            + (f" ({rule.disabled_reason})." if rule.disabled_reason else ".")
        )
    if rule.created_at > event.recorded_at:
        reasons.append("The rule was created after this event arrived.")
    draft, _ = parse_definition(rule.definition, name=rule.name)
    checked = CheckedDraft(draft, rule.definition, "")
    would, why, trace = evaluate_event(rule.workspace, checked, event)
    if not would:
        reasons.append(why)
    return {"fires": not reasons, "reasons": reasons, "trace": trace}


@dataclass(frozen=True, slots=True)
class Impact:
    """A rule that a vocabulary change would break, and the problems it would then have."""

    rule: Rule
    problems: list[Problem]

    def as_dict(self) -> dict[str, Any]:
        """Return the impact as JSON."""
        return {
            "rule_id": self.rule.pk,
            "rule": self.rule.name,
            "is_enabled": self.rule.is_enabled,
            "problems": [p.as_dict() for p in self.problems],
        }


def impact_of(
    workspace: Workspace, context: CheckContext, baseline: CheckContext | None = None
) -> list[Impact]:
    """Return the workspace's rules that fail the checker under ``context`` (a changed vocabulary).

    With ``baseline`` (the vocabulary before the change), rules that already failed under it
    are left out: the change did not break them. Cycles are not re-examined (a vocabulary change
    removes fields, it adds no edges).
    """
    impacts: list[Impact] = []
    for rule in Rule.objects.filter(workspace=workspace).order_by("name", "id"):
        draft, structure = parse_definition(rule.definition, name=rule.name)
        problems = check_rule(draft, dataclasses.replace(context, rule_id=rule.pk), structure)
        if problems and baseline is not None:
            before = dataclasses.replace(baseline, rule_id=rule.pk, others=())
            if check_rule(draft, before, structure):
                continue
        if problems:
            impacts.append(Impact(rule, problems))
    return impacts


def disable_broken(impacts: Sequence[Impact], reason: str) -> list[Rule]:
    """Switch off every impacted rule that is on, recording ``reason``; return them."""
    disabled = []
    for impact in impacts:
        first = impact.problems[0].message
        detail = f"{reason}: {first}"[:500]
        updated = Rule.objects.filter(pk=impact.rule.pk, is_enabled=True).update(
            is_enabled=False, disabled_reason=detail, updated_at=timezone.now()
        )
        if updated:
            remove_rule_schedule(impact.rule.pk)
            _record_rule(impact.rule, None, "disabled", {"reason": detail})
            disabled.append(impact.rule)
    return disabled


def custom_field_removal_impact(definition: CustomFieldDefinition) -> list[Impact]:
    """Return the rules that deleting this custom field would break."""
    workspace = definition.workspace
    base = build_context(workspace)
    remaining = {k: v for k, v in base.custom_fields.items() if k != definition.key}
    changed = dataclasses.replace(base, custom_fields=remaining, others=())
    return impact_of(workspace, changed, baseline=base)


@transaction.atomic
def remove_custom_field(*, definition: CustomFieldDefinition) -> list[Rule]:
    """Delete a custom field and switch off, with the reason, every rule it breaks."""
    impacts = custom_field_removal_impact(definition)
    disabled = disable_broken(impacts, f"Custom field '{definition.key}' was deleted")
    delete_custom_field(definition=definition)
    return disabled


def recheck_rules(*, apply: bool) -> list[Impact]:
    """Re-check every rule against today's catalog (after a plug-in changed its declarations).

    Returns the broken rules; with ``apply``, switches off those that are on, with the reason.
    """
    impacts: list[Impact] = []
    for workspace in Workspace.objects.filter(rules__isnull=False).distinct():
        found = impact_of(workspace, dataclasses.replace(build_context(workspace), others=()))
        if apply:
            disable_broken(found, "The catalog changed")
        impacts += found
    return impacts


def endpoint_fields_impact(endpoint: Endpoint, declared: Mapping[str, str]) -> list[Impact]:
    """Return the rules that replacing the endpoint's declared fields with ``declared`` breaks."""
    from webhooks.fields import parse_declared

    workspace = endpoint.workspace
    base = build_context(workspace)
    endpoints = dict(base.endpoints)
    current = endpoints[endpoint.pk]
    endpoints[endpoint.pk] = dataclasses.replace(current, declared_fields=parse_declared(declared))
    changed = dataclasses.replace(base, endpoints=endpoints, others=())
    return impact_of(workspace, changed, baseline=base)


def catalog_fingerprint() -> str:
    """Return a digest of every registered trigger and action declaration."""
    parts = [repr(spec) for spec in (*registry.triggers(), *registry.actions())]
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def recheck_if_catalog_changed() -> list[Impact] | None:
    """Re-check every rule (switching broken ones off) when the catalog changed since last time.

    Returns the impacts when a re-check ran, None when the catalog is the one already checked.
    The first call on a fresh installation records the fingerprint and checks nothing.
    """
    fingerprint = catalog_fingerprint()
    with transaction.atomic():
        state, created = CatalogCheck.objects.select_for_update().get_or_create(
            name="catalog", defaults={"fingerprint": fingerprint}
        )
        if created or state.fingerprint == fingerprint:
            return None
        impacts = recheck_rules(apply=True)
        state.fingerprint = fingerprint
        state.save(update_fields=["fingerprint", "checked_at"])
    return impacts
