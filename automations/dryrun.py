"""Dry-run: what a rule would do with a sample payload, step by step, without doing any of it.

Pure module. :func:`trace_rule` evaluates the rule's conditions, then walks its steps: it
resolves every input (literals, references with their defaults, rendered templates), says in
plain English what the step would do, follows the arm a branch would take (listing the other
arm as skipped) and stands in typed placeholder outputs for steps that produce results, so
later steps can refer to them. Nothing is sent, written or enqueued.

Values come through an injected ``resolve(path)``; :class:`PayloadResolver` is the standard
one: payload fields, list indexes, entities behind ``ref`` fields (loaded through an
:class:`EntityLoader`, which the database layer implements read-only) and step outputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from automations.conditions import ConditionResult, compile_conditions
from automations.draft import Binding, BindingKind, RuleDraft, Step
from automations.templating import MISSING, TemplateSyntaxError, format_value, parse, parse_path
from catalog.entities import ENTITY_TYPES, ref_alias
from catalog.specs import ActionSpec, TriggerSpec
from catalog.types import (
    BooleanType,
    DatetimeType,
    DateType,
    DecimalType,
    DurationType,
    EmailType,
    EnumType,
    FieldSpec,
    FieldType,
    IntegerType,
    ListType,
    MoneyType,
    ObjectType,
    PhoneType,
    RefType,
    TextType,
    UrlType,
    ValidationError,
    format_datetime,
    resolve_path,
)

__all__ = [
    "EntityLoader",
    "PayloadResolver",
    "StepTrace",
    "Trace",
    "describe_step",
    "placeholder_outputs",
    "trace_rule",
    "walk_json",
]

type Resolve = Callable[[str], Any]
type Branch = Literal["then", "else"]

_STEPS = "steps"
_TEXT_LIMIT = 80


class EntityLoader(Protocol):
    """Loads one entity as JSON (the shape of ``catalog.entities``), read-only; None if absent."""

    def load(self, entity: str, entity_id: int) -> Mapping[str, Any] | None:
        """Return the entity's fields as JSON, or None when there is no such entity."""
        ...


class CatalogLike(Protocol):
    """The part of :class:`catalog.registry.Registry` dry-run reads."""

    def has_action(self, key: str) -> bool:
        """Return whether action ``key`` exists."""
        ...

    def get_action(self, key: str) -> ActionSpec:
        """Return action ``key``."""
        ...

    def has_trigger(self, key: str) -> bool:
        """Return whether trigger ``key`` exists."""
        ...

    def get_trigger(self, key: str) -> TriggerSpec:
        """Return trigger ``key``."""
        ...


# ---------------------------------------------------------------------------------------------
# Resolving values


class PayloadResolver:
    """``resolve(path)`` over a payload: the JSON value at a path, or MISSING.

    - ``amount``, ``line_items[0].sku``: payload data;
    - ``order.total``: the entity behind the ref field ``order_id``, loaded with ``loader``
      (each entity at most once per resolver); ``order.customer.email`` goes on through the
      entity's own ref fields; ``order`` alone and ``order.customer_id`` give the ids;
    - ``steps.<id>.<output>``: outputs recorded with :meth:`set_outputs`.

    Which fields are refs comes from ``payload_type`` (the trigger's payload) and
    ``entity_types``; without a payload type, ``<name>_id`` fields holding an integer are
    taken as refs to ``<name>`` when that is an entity. Never raises for a path that leads
    nowhere: that is MISSING. Without a loader, entity fields are MISSING.
    """

    def __init__(
        self,
        payload: Mapping[str, Any],
        loader: EntityLoader | None = None,
        entity_types: Mapping[str, ObjectType] = ENTITY_TYPES,
        *,
        payload_type: ObjectType | None = None,
    ) -> None:
        """Resolve paths in ``payload``; see the class docstring."""
        self.payload = payload
        self.loader = loader
        self.entity_types = entity_types
        self.payload_type = payload_type
        self._outputs: dict[str, Mapping[str, Any]] = {}
        self._cache: dict[tuple[str, int], Mapping[str, Any] | None] = {}

    def set_outputs(self, step_id: str, outputs: Mapping[str, Any]) -> None:
        """Make ``steps.<step_id>.<output>`` resolve to ``outputs``."""
        self._outputs[step_id] = outputs

    def __call__(self, path: str) -> Any:
        """Return the JSON value at ``path``, or MISSING."""
        return self.resolve(path)

    def resolve(self, path: str) -> Any:
        """Return the JSON value at ``path``, or MISSING."""
        try:
            segments = parse_path(path)
        except ValueError:
            return MISSING
        if segments[0] == _STEPS and _STEPS not in self.payload:
            if len(segments) < 3 or not isinstance(segments[1], str):
                return MISSING
            outputs = self._outputs.get(segments[1])
            return MISSING if outputs is None else walk_json(outputs, segments[2:])
        return self._walk(self.payload, self.payload_type, segments)

    def _load(self, entity: str, entity_id: int) -> Mapping[str, Any] | None:
        key = (entity, entity_id)
        if key not in self._cache:
            self._cache[key] = self.loader.load(entity, entity_id) if self.loader else None
        return self._cache[key]

    def _entity_of(self, name: str, field_type: FieldType | None, value: Any) -> str | None:
        if isinstance(field_type, RefType):
            return field_type.entity
        if field_type is None and isinstance(value, int) and not isinstance(value, bool):
            alias = ref_alias(name)
            if alias in self.entity_types:
                return alias
        return None

    def _walk(self, data: Any, data_type: ObjectType | None, segments: Sequence[str | int]) -> Any:
        current: Any = data
        current_type: FieldType | None = data_type
        entity: str | None = None  # set when ``current`` is the id of this entity
        for segment in segments:
            if entity is not None:
                if isinstance(segment, int):
                    return MISSING
                loaded = self._load(entity, current)
                if loaded is None:
                    return MISSING
                current, current_type, entity = loaded, self.entity_types.get(entity), None
            if isinstance(segment, int):
                if not isinstance(current, list) or segment >= len(current):
                    return MISSING
                current = current[segment]
                current_type = current_type.item if isinstance(current_type, ListType) else None
                continue
            if not isinstance(current, Mapping):
                return MISSING
            found = _member(current, current_type, segment)
            if found is None:
                return MISSING
            name, current = found
            spec = current_type.field(name) if isinstance(current_type, ObjectType) else None
            current_type = spec.type if spec is not None else None
            if current is not None:
                entity = self._entity_of(name, current_type, current)
        return current


def _member(
    data: Mapping[str, Any], data_type: FieldType | None, name: str
) -> tuple[str, Any] | None:
    """Return ``(key, value)`` for ``name`` in ``data``, following the ``_id`` aliases."""
    if name in data:
        return name, data[name]
    # "order" names the ref "order_id"; "customer_id" names the entity's ref field "customer".
    for other in (f"{name}_id", name.removesuffix("_id") if name.endswith("_id") else ""):
        if other and other in data:
            spec = data_type.field(other) if isinstance(data_type, ObjectType) else None
            if spec is None or isinstance(spec.type, RefType):
                return other, data[other]
    return None


def walk_json(data: Any, segments: Sequence[str | int]) -> Any:
    """Return the value at ``segments`` inside plain JSON data, or MISSING."""
    current = data
    for segment in segments:
        if isinstance(segment, int):
            if not isinstance(current, list) or segment >= len(current):
                return MISSING
            current = current[segment]
        elif isinstance(current, Mapping) and segment in current:
            current = current[segment]
        else:
            return MISSING
    return current


# ---------------------------------------------------------------------------------------------
# Placeholder outputs


def _placeholder(name: str, spec: FieldSpec, now: dt.datetime) -> Any:
    field_type = spec.type
    words = (spec.label or name.replace("_", " ")).lower()
    match field_type:
        case TextType():
            return "(generated text)"
        case EmailType():
            return "someone@example.com"
        case PhoneType():
            return "+10000000000"
        case UrlType():
            return "https://example.com/"
        case EnumType():
            return field_type.values[0]
        case IntegerType():
            return 200 if name == "status_code" else max(field_type.minimum or 0, 0)
        case DecimalType():
            return "0"
        case MoneyType():
            return {"amount": "0.00", "currency": "EUR"}
        case BooleanType():
            return False
        case DatetimeType():
            return format_datetime(now)
        case DateType():
            return now.date().isoformat()
        case DurationType():
            return "PT0S"
        case ListType():
            return []
        case ObjectType():
            return {key: _placeholder(key, member, now) for key, member in field_type.members}
        case RefType():
            # No made-up id: it could name a real entity, and dry-run must not pretend it does.
            return None
        case _:
            return f"({words})"


def placeholder_outputs(spec: ActionSpec, now: dt.datetime | None = None) -> dict[str, Any]:
    """Return stand-in outputs for ``spec``, typed by its output declarations.

    Text becomes ``"(generated text)"``, other strings ``"(<label>)"``, numbers 0 (a webhook's
    ``status_code`` 200), money ``0.00 EUR``, lists empty, refs null (no invented ids).
    """
    moment = now or dt.datetime.now(dt.UTC)
    return {name: _placeholder(name, output, moment) for name, output in spec.outputs.items()}


# ---------------------------------------------------------------------------------------------
# The trace


@dataclass(frozen=True, slots=True)
class StepTrace:
    """One step of a dry-run.

    ``resolved_inputs`` holds the values the step would get (templates rendered, references
    resolved, defaults applied; inputs that resolve to nothing are left out and named in
    ``problems``). ``would`` says in plain English what would happen. ``branch_taken`` is set
    on branch steps that run. ``skipped`` steps would not run (conditions failed, other arm).
    ``outputs`` are the placeholder results later steps see.
    """

    path: str
    step_id: str
    action: str
    label: str
    resolved_inputs: dict[str, Any]
    would: str
    branch_taken: Branch | None = None
    skipped: bool = False
    problems: tuple[str, ...] = ()
    outputs: dict[str, Any] = field(default_factory=dict)
    condition: ConditionResult | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    """The outcome of a dry-run: the conditions, whether the rule fires, and every step."""

    trigger: str
    payload: Mapping[str, Any]
    conditions: ConditionResult
    fired: bool
    steps: list[StepTrace]


def _quote(value: Any) -> str:
    text = format_value(value)
    if len(text) > _TEXT_LIMIT:
        text = text[: _TEXT_LIMIT - 3] + "..."
    return f"'{text}'"


def _plain(value: Any) -> str:
    return format_value(value) or "(nothing)"


def _rule_words(rule_id: Any, rule_names: Mapping[int, str]) -> str:
    if isinstance(rule_id, int) and rule_id in rule_names:
        return f"rule '{rule_names[rule_id]}' (#{rule_id})"
    return f"rule #{_plain(rule_id)}"


def describe_step(
    action: str, label: str, inputs: Mapping[str, Any], rule_names: Mapping[int, str]
) -> str:
    """Return what a step would do with ``inputs``, in plain English (``Would tag ...``)."""
    get = inputs.get
    customer = f"customer {_plain(get('customer_id'))}"
    product = f"product {_plain(get('product_id'))}"
    match action:
        case "tag":
            return f"Would tag {customer} with {_quote(get('tag'))}"
        case "untag":
            return f"Would remove the tag {_quote(get('tag'))} from {customer}"
        case "update_field":
            return f"Would set {_plain(get('field'))} of {customer} to {_quote(get('value'))}"
        case "upsert_customer":
            return f"Would create or update the customer with the email {_plain(get('email'))}"
        case "enroll_journey":
            return f"Would enroll {customer} in journey {_plain(get('journey_id'))}"
        case "enroll_product_buyers":
            days = get("within_days")
            since = f" who ordered in the last {_plain(days)} days" if days else ""
            return (
                f"Would enroll the buyers of products {_plain(get('product_ids'))}{since} "
                f"in journey {_plain(get('journey_id'))}"
            )
        case "exit_journey":
            reason = f" (reason: {_quote(get('reason'))})" if get("reason") else ""
            return f"Would remove {customer} from journey {_plain(get('journey_id'))}{reason}"
        case "send_transactional_email":
            to = _plain(get("to")) if get("to") else customer
            return f"Would email {to} with the subject {_quote(get('subject'))}"
        case "send_campaign":
            return f"Would launch campaign {_plain(get('campaign_id'))}"
        case "sync_to_meta_audience" | "sync_to_google_audience":
            platform = "Meta" if action == "sync_to_meta_audience" else "Google"
            audience = _plain(get("audience_id"))
            return f"Would add {customer} to the {platform} audience {audience}"
        case "post_to_slack":
            return f"Would post to Slack {_plain(get('channel'))}: {_quote(get('text'))}"
        case "update_price":
            return f"Would set the price of {product} to {_plain(get('price'))}"
        case "update_inventory":
            if get("quantity") is not None:
                return f"Would set the inventory of {product} to {_plain(get('quantity'))}"
            return f"Would change the inventory of {product} by {_plain(get('delta'))}"
        case "hide_product":
            return f"Would hide {product}"
        case "change_sku":
            return f"Would change the SKU of {product} to {_quote(get('sku'))}"
        case "generate_alt_text":
            return f"Would write alt text for {product} with AI"
        case "fire_webhook":
            signed = "a signed" if get("signing_secret") else "an unsigned"
            return f"Would send {signed} webhook to {_plain(get('url'))}"
        case "post_zapier" | "post_to_make":
            target = "Zapier" if action == "post_zapier" else "Make"
            return f"Would send data to the {target} hook {_plain(get('hook_url'))}"
        case "create_airtable_row":
            return (
                f"Would add a row to the Airtable table {_quote(get('table'))} "
                f"in base {_plain(get('base'))}"
            )
        case "generate_copy":
            return "Would write copy with AI"
        case "suggest_segment":
            return f"Would ask AI for a segment for {_quote(get('goal'))}"
        case "predict_churn":
            return f"Would predict the churn risk of {customer} with AI"
        case "run_recommendation":
            return f"Would recommend products for {customer} with AI"
        case "wait":
            if get("until"):
                return f"Would wait until {_plain(get('until'))}"
            return f"Would wait {_plain(get('duration'))}"
        case "run_rule":
            return f"Would run {_rule_words(get('rule_id'), rule_names)}"
        case _:
            return f"Would {label[:1].lower()}{label[1:]}" if label else f"Would run {action}"


class _Runner:
    """Walks the steps of one dry-run, keeping the simulated outputs of the steps that ran."""

    def __init__(
        self,
        resolve: Resolve,
        type_of: Callable[[str], FieldSpec],
        catalog: CatalogLike,
        rule_names: Mapping[int, str],
        now: dt.datetime,
    ) -> None:
        self.base_resolve = resolve
        self.base_type_of = type_of
        self.catalog = catalog
        self.rule_names = rule_names
        self.now = now
        self.outputs: dict[str, dict[str, Any]] = {}
        self.output_types: dict[str, ObjectType] = {}

    def resolve(self, path: str) -> Any:
        try:
            segments = parse_path(path)
        except ValueError:
            return MISSING
        if segments[0] == _STEPS and len(segments) >= 3 and segments[1] in self.output_types:
            # A step that did not run (an arm not taken) has no results.
            outputs = self.outputs.get(str(segments[1]))
            return MISSING if outputs is None else walk_json(outputs, segments[2:])
        return self.base_resolve(path)

    def type_of(self, path: str) -> FieldSpec:
        head, _, rest = path.partition(".")
        step_id, _, tail = rest.partition(".")
        if head == _STEPS and tail and step_id in self.output_types:
            return resolve_path(self.output_types[step_id], tail)
        return self.base_type_of(path)

    def spec(self, step: Step) -> ActionSpec | None:
        return (
            self.catalog.get_action(step.action) if self.catalog.has_action(step.action) else None
        )

    def _input(self, name: str, binding: Binding, problems: list[str]) -> Any:
        if binding.kind is BindingKind.LITERAL:
            return binding.value
        if binding.kind is BindingKind.TEMPLATE:
            try:
                return parse(str(binding.value)).render(self.resolve)
            except TemplateSyntaxError as exc:
                problems.append(f"{name}: {exc.message}")
                return MISSING
        value = self.resolve(str(binding.value))
        if value is MISSING or value is None:
            if binding.has_default:
                return binding.default
            problems.append(f"{name}: {binding.value} has no value")
            return MISSING
        return value

    def inputs(self, step: Step, spec: ActionSpec | None) -> tuple[dict[str, Any], list[str]]:
        problems: list[str] = []
        resolved: dict[str, Any] = {}
        for name, binding in step.inputs.items():
            value = self._input(name, binding, problems)
            if value is not MISSING:
                resolved[name] = value
        if spec is not None and not problems:
            try:
                spec.validate_inputs({k: v for k, v in resolved.items() if v is not None})
            except ValidationError as exc:
                problems.extend(str(error) for error in exc.errors)
        return resolved, problems

    def steps(self, steps: Sequence[Step], prefix: str, *, skip: str = "") -> list[StepTrace]:
        traces: list[StepTrace] = []
        for index, step in enumerate(steps):
            traces.extend(self.step(step, f"{prefix}[{index}]", skip=skip))
        return traces

    def step(self, step: Step, path: str, *, skip: str) -> list[StepTrace]:
        spec = self.spec(step)
        label = spec.label if spec else step.action
        if skip:
            own = StepTrace(path, step.id, step.action, label, {}, skip, skipped=True)
            return [
                own,
                *self.steps(step.then, f"{path}.then", skip=skip),
                *self.steps(step.otherwise, f"{path}.else", skip=skip),
            ]
        if step.action == "branch_by_condition":
            return self.branch(step, path, label)
        resolved, problems = self.inputs(step, spec)
        outputs: dict[str, Any] = {}
        if spec is not None and spec.outputs:
            outputs = placeholder_outputs(spec, self.now)
            self.outputs[step.id] = outputs
        would = describe_step(step.action, label, resolved, self.rule_names)
        if spec is None:
            would = f"Would fail: there is no action called '{step.action}'"
        return [
            StepTrace(
                path,
                step.id,
                step.action,
                label,
                resolved,
                would,
                problems=tuple(problems),
                outputs=outputs,
            )
        ]

    def branch(self, step: Step, path: str, label: str) -> list[StepTrace]:
        compiled = compile_conditions(
            step.condition, self.type_of, prefix=f"{path}.condition", now=lambda: self.now
        )
        result = compiled.evaluate(self.resolve)
        taken: Branch = "then" if result.passed else "else"
        would = (
            "Would take the 'then' steps: the condition holds"
            if result.passed
            else "Would take the 'else' steps: the condition does not hold"
        )
        other = "Would not run: the branch takes the other way"
        own = StepTrace(path, step.id, step.action, label, {}, would, taken, condition=result)
        then = self.steps(step.then, f"{path}.then", skip="" if result.passed else other)
        otherwise = self.steps(step.otherwise, f"{path}.else", skip=other if result.passed else "")
        return [own, *then, *otherwise]


def trace_rule(
    draft: RuleDraft,
    payload: Mapping[str, Any],
    *,
    type_of: Callable[[str], FieldSpec],
    catalog: CatalogLike,
    resolve: Resolve | None = None,
    rule_names: Mapping[int, str] | None = None,
    now: dt.datetime | None = None,
) -> Trace:
    """Return what ``draft`` would do for ``payload``; has no side effects, ever.

    ``type_of(path)`` gives the FieldSpec of a path of the trigger's scope (PathScope.resolve);
    step outputs are typed here. ``resolve(path)`` gives values (default: a PayloadResolver
    over ``payload`` without entity loading); step outputs are layered on top. ``rule_names``
    names ``run_rule`` targets. Raises ConditionError when a condition cannot be compiled (an
    unknown field or operator: a draft the checker rejects).
    """
    moment = now or dt.datetime.now(dt.UTC)
    runner = _Runner(
        resolve or PayloadResolver(payload), type_of, catalog, rule_names or {}, moment
    )
    for _path, step in draft.walk_steps():
        # Typed up front: a later branch may test the result of a step in an arm not taken.
        spec = runner.spec(step)
        if spec is not None and spec.outputs:
            runner.output_types[step.id] = spec.outputs_type
    compiled = compile_conditions(draft.conditions, runner.type_of, now=lambda: moment)
    conditions = compiled.evaluate(runner.resolve)
    skip = "" if conditions.passed else "Would not run: the rule's conditions do not hold"
    steps = runner.steps(draft.steps, "steps", skip=skip)
    return Trace(draft.trigger.key, payload, conditions, conditions.passed, steps)
