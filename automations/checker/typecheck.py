"""The save-time checks of SPEC 6 over a rule draft: every problem, in document order (pure).

:func:`check_rule` reads a :class:`~automations.draft.RuleDraft` against the catalog and the
workspace (a :class:`~automations.checker.context.CheckContext`) and reports, as
:class:`~automations.checker.problems.Problem` values with paths into the definition JSON:

- unknown trigger and action keys, with "did you mean";
- trigger configuration: the spec's own validation, cron syntax, IANA time zones, the N of a
  milestone, and that a webhook endpoint exists;
- conditions (top level and in branches): the field exists, the operator suits its type, the
  value has the operand's type, and operators without a value have none;
- step inputs: unknown names, required inputs missing (saying which trigger would carry the
  missing entity), literals of the wrong type, references that do not exist or do not fit,
  optional fields used where a value is required without an ``is set`` guard or a default,
  template syntax and placeholders; ``update_field``'s ``value`` takes the type of the field it
  sets; outputs of a step are visible to later steps only;
- workflow steps: ``run_rule`` targets an existing rule, ``wait`` has a duration or a moment;
- plan tiers: a trigger's or action's tier, custom-field conditions (Starter) and multi-step
  chains (Pro: on Free and Starter a rule has at most one *action* step; ``wait`` and
  ``branch_by_condition`` do not count, ``run_rule`` needs Pro anyway);
- cycles through other rules, by :func:`automations.checker.cycles.find_cycle`, once every
  trigger and action key is known.

An ``is set`` guard counts when it is a leaf of the top-level conditions (or of an ``all``
group among them), or of a branch's condition for the steps of its ``then`` arm, on the very
path the binding uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from zoneinfo import available_timezones

from croniter import croniter

from automations.checker.context import CheckContext
from automations.checker.cycles import find_cycle, node_from_draft
from automations.checker.paths import PathNotFound, PathScope
from automations.checker.problems import Problem, ProblemCode
from automations.checker.suggest import did_you_mean
from automations.checker.wording import (
    OPERATOR_WORDS,
    article,
    example_value,
    field_label,
    humanize,
    plan_name,
    type_noun,
    value_phrase,
)
from automations.draft import (
    AlertKind,
    Binding,
    BindingKind,
    Condition,
    ConditionGroup,
    ConditionNode,
    Match,
    RuleDraft,
    Step,
    StructureProblem,
)
from automations.templating import TemplateSyntaxError, parse
from catalog.entities import ENTITY_TYPES, PROFILE_FIELDS
from catalog.specs import ActionKind, ActionSpec, PlanTier, TriggerSpec
from catalog.types import (
    AnyType,
    EmailType,
    EnumType,
    FieldSpec,
    FieldType,
    ListType,
    Operator,
    RefType,
    StringType,
    UrlType,
    ValidationError,
    describe_value,
)

__all__ = ["CheckContext", "check_rule"]

BRANCH = "branch_by_condition"
RUN_RULE = "run_rule"
PRESENCE = (Operator.IS_SET, Operator.IS_NOT_SET)
_BOUND_RE = re.compile(r"^must be (at (?:least|most) -?\d+), got (-?\d+)$")


def check_rule(
    draft: RuleDraft,
    context: CheckContext,
    structure_problems: Iterable[StructureProblem] = (),
) -> list[Problem]:
    """Return every problem of ``draft``, in document order; an empty list means it can be saved.

    ``structure_problems`` (from :func:`automations.draft.parse_definition`) come first, as
    ``structure`` problems. Never raises for any draft: what cannot be read is reported.
    """
    problems = [Problem(ProblemCode.STRUCTURE, p.path, p.message) for p in structure_problems]
    problems.extend(_Checker(draft, context).run())
    return problems


class _Checker:
    """One check of one draft; collects problems while walking the draft in document order."""

    def __init__(self, draft: RuleDraft, context: CheckContext) -> None:
        self.draft = draft
        self.context = context
        self.registry = context.registry
        self.tier = context.plan_tier
        self.problems: list[Problem] = []
        self.trigger: TriggerSpec | None = None
        self.all_keys_known = True
        self.action_steps = 0

    def add(self, code: ProblemCode, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(code, path, message, hint))

    def run(self) -> list[Problem]:
        scope = self.check_trigger()
        guards = self.check_conditions(self.draft.conditions, "conditions", scope)
        self.check_steps(self.draft.steps, "steps", scope, guards)
        self.check_cycle()
        self.check_alert()
        return self.problems

    # -- plan ---------------------------------------------------------------------------------

    def require_plan(self, needed: PlanTier, path: str, what: str, hint: str) -> None:
        if self.tier.includes(needed):
            return
        self.add(
            ProblemCode.PLAN_REQUIRED,
            path,
            f"{what} needs the {plan_name(needed)} plan; "
            f"this workspace is on {plan_name(self.tier)}.",
            hint,
        )

    # -- trigger ------------------------------------------------------------------------------

    def check_trigger(self) -> PathScope | None:
        key = self.draft.trigger.key
        if not key:
            self.all_keys_known = False  # parse_definition already asked for a trigger
            return None
        if not self.registry.has_trigger(key):
            self.all_keys_known = False
            self.add(
                ProblemCode.UNKNOWN_TRIGGER,
                "trigger.key",
                f"There is no trigger called '{key}'.",
                did_you_mean(key, [t.key for t in self.registry.triggers()]),
            )
            return None
        spec = self.registry.get_trigger(key)
        self.trigger = spec
        self.require_plan(
            spec.plan, "trigger.key", f"'{spec.label}'", f"Upgrade to {plan_name(spec.plan)}."
        )
        declared = self.check_config(spec, self.draft.trigger.config)
        return PathScope.for_trigger(spec, self.context.custom_fields, declared)

    def check_config(
        self, spec: TriggerSpec, config: Mapping[str, object]
    ) -> Mapping[str, FieldSpec]:
        """Report configuration problems; return the fields declared by the chosen endpoint."""
        invalid: set[str] = set()
        try:
            spec.validate_config(config)
        except ValidationError as exc:
            for error in exc.errors:
                name = error.path.split(".", 1)[0].split("[", 1)[0]
                invalid.add(name)
                self.config_error(spec, name, error.path, error.message, config.get(name))
        declared: Mapping[str, FieldSpec] = {}
        for name in spec.config:
            value = config.get(name)
            if name in invalid or value is None:
                continue
            path = f"trigger.config.{name}"
            if name == "cron" and isinstance(value, str) and not croniter.is_valid(value):
                self.add(
                    ProblemCode.TRIGGER_CONFIG,
                    path,
                    f"'{value}' is not a schedule: write five parts, minute hour day month "
                    "weekday.",
                    "For every day at 9 AM, write 0 9 * * *; for Mondays at noon, 0 12 * * 1.",
                )
            elif name == "timezone" and isinstance(value, str) and not _is_time_zone(value):
                self.add(
                    ProblemCode.TRIGGER_CONFIG,
                    path,
                    f"'{value}' is not a time zone: use a name like Europe/Berlin.",
                    did_you_mean(value, sorted(available_timezones())),
                )
            elif name == "n" and isinstance(value, int) and value < 1:
                self.add(
                    ProblemCode.TRIGGER_CONFIG,
                    path,
                    f"The order number must be 1 or more, not {value}.",
                    "2 means a customer's second order.",
                )
            elif name == "endpoint_id" and isinstance(value, int):
                endpoint = self.context.endpoints.get(value)
                if endpoint is None:
                    names = [f"{e.name} (#{e.id})" for e in self.context.endpoints.values()]
                    self.add(
                        ProblemCode.UNKNOWN_ENDPOINT,
                        path,
                        f"This workspace has no webhook endpoint #{value}.",
                        ("Pick one of: " + ", ".join(names) + ".")
                        if names
                        else "Create an endpoint first.",
                    )
                else:
                    declared = endpoint.declared_fields
        return declared

    def config_error(
        self, spec: TriggerSpec, name: str, error_path: str, detail: str, value: object
    ) -> None:
        path = f"trigger.config.{error_path}" if error_path else "trigger.config"
        field_spec = spec.config.get(name)
        if field_spec is None:
            self.add(
                ProblemCode.TRIGGER_CONFIG,
                path,
                f"'{spec.label}' has no setting '{name}'.",
                did_you_mean(name, spec.config),
            )
            return
        # The milestone's N has no label in the catalog; "N" alone reads like a typo.
        label = field_spec.label or ("The order number N" if name == "n" else humanize(name))
        hint = _value_hint(field_spec.type, value)
        if detail == "required field is missing":
            message = f"'{spec.label}' needs the {label.removeprefix('The ').lower()} setting."
            hint = field_spec.description or hint
        elif bound := _BOUND_RE.match(detail):
            message = f"{label} must be {bound[1]}; it is {bound[2]}."
            hint = "2 means a customer's second order." if name == "n" else ""
        else:
            message = _mismatch(label, field_spec.type, field_spec.type, value)
        self.add(ProblemCode.TRIGGER_CONFIG, path, message, hint)

    # -- conditions ---------------------------------------------------------------------------

    def check_conditions(
        self, nodes: Sequence[ConditionNode], prefix: str, scope: PathScope | None
    ) -> frozenset[str]:
        """Check every node; return the paths these conditions guarantee are set."""
        for index, node in enumerate(nodes):
            self.check_node(node, f"{prefix}[{index}]", scope)
        return frozenset(_guarded_paths(nodes))

    def check_node(self, node: ConditionNode, path: str, scope: PathScope | None) -> None:
        if isinstance(node, ConditionGroup):
            for index, child in enumerate(node.children):
                self.check_node(child, f"{path}.children[{index}]", scope)
            return
        if scope is None or not node.field:
            return
        try:
            resolved = scope.resolve_detail(node.field)
        except PathNotFound as exc:
            self.add(ProblemCode.UNKNOWN_FIELD, f"{path}.field", exc.reason, exc.hint)
            return
        if resolved.uses_custom_field:
            self.require_plan(
                PlanTier.STARTER,
                f"{path}.field",
                "A condition on a custom field",
                "Upgrade to Starter, or use a standard customer field.",
            )
        spec = resolved.spec
        if node.operator:
            self.check_comparison(node, path, spec)

    def check_comparison(self, node: Condition, path: str, spec: FieldSpec) -> None:
        label = field_label(node.field, spec)
        allowed = spec.operators
        allowed_words = ", ".join(dict.fromkeys(OPERATOR_WORDS[op] for op in allowed))
        hint = f"You can use: {allowed_words}." if allowed else ""
        operator = _operator(node.operator)
        if operator is None:
            suggestion = did_you_mean(node.operator, [op.value for op in allowed])
            self.add(
                ProblemCode.OPERATOR_NOT_ALLOWED,
                f"{path}.operator",
                f"'{node.operator}' is not a way to compare {label}.",
                suggestion or hint,
            )
            return
        if operator not in allowed:
            words = OPERATOR_WORDS[operator]
            if operator in PRESENCE:
                message = f"{label} is always there, so '{words}' does not apply."
            else:
                message = f"{label} is {type_noun(spec.type)}: it cannot be '{words}' something."
            self.add(ProblemCode.OPERATOR_NOT_ALLOWED, f"{path}.operator", message, hint)
            return
        self.check_operand(node, path, spec, operator, label)
        if (
            node.field == "changed_fields"
            and self.trigger
            and self.trigger.key.startswith("customer_")
        ):
            names = node.value if isinstance(node.value, list) else [node.value]
            if any(isinstance(n, str) and n in self.context.custom_fields for n in names):
                self.require_plan(
                    PlanTier.STARTER,
                    f"{path}.value",
                    "Reacting to a custom field",
                    "Upgrade to Starter, or watch a standard customer field.",
                )

    def check_operand(
        self, node: Condition, path: str, spec: FieldSpec, operator: Operator, label: str
    ) -> None:
        words = OPERATOR_WORDS[operator]
        operand = None if operator in PRESENCE else spec.type.operand_type(operator)
        value_path = f"{path}.value"
        if operand is None:
            if node.has_value and node.value is not None:
                self.add(
                    ProblemCode.UNEXPECTED_VALUE,
                    value_path,
                    f"'{label} {words}' takes no value.",
                    "Remove the value.",
                )
            return
        if not node.has_value or node.value is None:
            self.add(
                ProblemCode.MISSING_VALUE,
                value_path,
                f"Say what {label} {words}.",
                f"Write {example_value(operand)}.",
            )
            return
        try:
            operand.validate(node.value)
        except ValidationError:
            self.add(
                ProblemCode.VALUE_TYPE_MISMATCH,
                value_path,
                _mismatch(label, spec.type, operand, node.value),
                _value_hint(operand, node.value),
            )

    # -- steps --------------------------------------------------------------------------------

    def check_steps(
        self,
        steps: Sequence[Step],
        prefix: str,
        scope: PathScope | None,
        guards: frozenset[str],
    ) -> PathScope | None:
        """Check ``steps`` in order; return the scope after them (with their outputs)."""
        for index, step in enumerate(steps):
            scope = self.check_step(step, f"{prefix}[{index}]", scope, guards)
        return scope

    def check_step(
        self, step: Step, path: str, scope: PathScope | None, guards: frozenset[str]
    ) -> PathScope | None:
        if not step.action:
            self.all_keys_known = False  # parse_definition already asked for an action
            return scope
        if not self.registry.has_action(step.action):
            self.all_keys_known = False
            self.add(
                ProblemCode.UNKNOWN_ACTION,
                f"{path}.action",
                f"There is no action called '{step.action}'.",
                did_you_mean(step.action, [a.key for a in self.registry.actions()]),
            )
            return scope
        spec = self.registry.get_action(step.action)
        if spec.kind is ActionKind.ACTION:
            self.action_steps += 1
            if self.action_steps == 2:
                self.require_plan(
                    PlanTier.PRO,
                    path,
                    "A rule with more than one action",
                    "Upgrade to Pro, or split the actions into separate rules.",
                )
        self.require_plan(spec.plan, f"{path}.action", f"'{spec.label}'", _upgrade_hint(spec))
        self.check_inputs(step, spec, path, scope, guards)
        if spec.key != BRANCH:
            if step.then or step.otherwise:
                self.add(
                    ProblemCode.STRUCTURE,
                    f"{path}.then" if step.then else f"{path}.else",
                    f"Only a Branch step has steps of its own; '{spec.label}' does not.",
                    "Move these steps after it.",
                )
            return scope.with_step(step.id, spec.outputs) if scope else None
        return self.check_branch(step, path, scope, guards)

    def check_branch(
        self, step: Step, path: str, scope: PathScope | None, guards: frozenset[str]
    ) -> PathScope | None:
        if not step.condition:
            self.add(
                ProblemCode.MISSING_INPUT,
                f"{path}.condition",
                "Branch needs a condition: when should it take the first set of steps?",
            )
        arm_guards = self.check_conditions(step.condition, f"{path}.condition", scope)
        after_then = self.check_steps(step.then, f"{path}.then", scope, guards | arm_guards)
        after_else = self.check_steps(step.otherwise, f"{path}.else", scope, guards)
        if scope is None:
            return None
        # Only one arm runs: its steps' outputs may be missing after the branch.
        known = {s.step_id for s in scope.steps}
        for arm in (after_then, after_else):
            for outputs in arm.steps if arm else ():
                if outputs.step_id not in known:
                    scope = scope.with_step(outputs.step_id, outputs.outputs.fields, optional=True)
        return scope

    def check_inputs(
        self,
        step: Step,
        spec: ActionSpec,
        path: str,
        scope: PathScope | None,
        guards: frozenset[str],
    ) -> None:
        # A branch's condition lives in the step's "condition", not among its inputs.
        declared = {
            k: v for k, v in spec.inputs.items() if not (spec.key == BRANCH and k == "condition")
        }
        type_sources = {s.type_from for s in declared.values() if s.type_from}
        for name, binding in step.inputs.items():
            input_path = f"{path}.inputs.{name}"
            if name not in declared:
                self.add(
                    ProblemCode.UNKNOWN_INPUT,
                    input_path,
                    f"'{spec.label}' has no input '{name}'.",
                    did_you_mean(name, declared),
                )
                continue
            if name in type_sources and not self.check_profile_field(binding, input_path):
                continue
            target = self.input_target(declared, name, step.inputs)
            self.check_binding(spec, name, binding, target, input_path, scope, guards)
            if spec.key == RUN_RULE and name == "rule_id":
                self.check_rule_target(binding, input_path)
        for name, input_spec in declared.items():
            if not input_spec.optional and name not in step.inputs:
                self.missing_input(spec, name, input_spec, f"{path}.inputs.{name}", scope)
        for group in spec.exactly_one_of:
            given = [name for name in group if name in step.inputs]
            if not given:
                self.add(
                    ProblemCode.MISSING_INPUT,
                    f"{path}.inputs.{group[0]}",
                    f"'{spec.label}' needs either {' or '.join(group)}.",
                    "Give one of them.",
                )
            elif len(given) > 1:
                self.add(
                    ProblemCode.CONFLICTING_INPUTS,
                    f"{path}.inputs.{given[1]}",
                    f"'{spec.label}' takes {' or '.join(group)}, not both.",
                    f"Remove {given[1]} or {given[0]}.",
                )

    def profile_fields(self) -> dict[str, FieldSpec]:
        customer = ENTITY_TYPES["customer"]
        fields = {name: spec for name in PROFILE_FIELDS if (spec := customer.field(name))}
        for name, spec in self.context.custom_fields.items():
            fields.setdefault(name, spec)
        return fields

    def check_profile_field(self, binding: Binding, path: str) -> bool:
        """Check a literal naming a customer field (``update_field``'s ``field``)."""
        if binding.kind is not BindingKind.LITERAL or not isinstance(binding.value, str):
            return True
        fields = self.profile_fields()
        if binding.value in fields:
            return True
        self.add(
            ProblemCode.UNKNOWN_FIELD,
            path,
            f"Customers have no field '{binding.value}' that a rule can change.",
            did_you_mean(binding.value, fields) or "Pick a profile field or a custom field.",
        )
        return False

    def input_target(
        self, declared: Mapping[str, FieldSpec], name: str, bindings: Mapping[str, Binding]
    ) -> FieldSpec | None:
        """Return the spec a binding must fit; None when it cannot be known yet."""
        spec = declared[name]
        if not spec.type_from:
            return spec
        source = bindings.get(spec.type_from)
        if source is None or source.kind is not BindingKind.LITERAL:
            return spec  # any value: the field is chosen at run time
        field_spec = (
            self.profile_fields().get(source.value) if isinstance(source.value, str) else None
        )
        if field_spec is None:
            return None  # the unknown field is reported on its own input
        label = field_spec.label or humanize(str(source.value))
        return FieldSpec(field_spec.type, field_spec.optional, label, field_spec.description)

    def check_binding(
        self,
        action: ActionSpec,
        name: str,
        binding: Binding,
        target: FieldSpec | None,
        path: str,
        scope: PathScope | None,
        guards: frozenset[str],
    ) -> None:
        label = (target.label if target else "") or humanize(name)
        if binding.kind is BindingKind.LITERAL:
            if target is not None:
                self.check_literal(label, target, binding.value, path)
        elif binding.kind is BindingKind.REF:
            self.check_ref(action, label, binding, target, path, scope, guards)
        else:
            self.check_template(label, binding, target, path, scope)

    def check_literal(self, label: str, target: FieldSpec, value: object, path: str) -> None:
        try:
            target.validate(value)
        except ValidationError as exc:
            self.add(
                ProblemCode.VALUE_TYPE_MISMATCH,
                path,
                _literal_mismatch(label, target.type, value, exc),
                _value_hint(target.type, value),
            )

    def check_ref(
        self,
        action: ActionSpec,
        label: str,
        binding: Binding,
        target: FieldSpec | None,
        path: str,
        scope: PathScope | None,
        guards: frozenset[str],
    ) -> None:
        if scope is None:
            return
        source_path = str(binding.value)
        try:
            source = scope.resolve(source_path)
        except PathNotFound as exc:
            self.add(ProblemCode.UNKNOWN_FIELD, path, exc.reason, exc.hint)
            return
        if target is None:
            return
        if not target.type.accepts(source.type):
            who = action.label if isinstance(target.type, RefType) else label
            fitting = [p for p, s in scope.available_paths(target) if not s.optional][:3]
            self.add(
                ProblemCode.TYPE_MISMATCH,
                path,
                f"{who} needs {type_noun(target.type)}, but {source_path} is "
                f"{type_noun(source.type)}.",
                f"Use {_or(fitting)}." if fitting else "",
            )
            return
        if binding.has_default:
            self.check_literal(label, target, binding.default, f"{path}.default")
        elif source.optional and not target.optional and source_path not in guards:
            self.add(
                ProblemCode.OPTIONAL_UNGUARDED,
                path,
                f"{source_path} may be missing, but {label} needs a value.",
                "Give a default: the step that makes it may not have run."
                if source_path.startswith("steps.")
                else f"Add the condition '{source_path} is set', or give a default.",
            )

    def check_template(
        self,
        label: str,
        binding: Binding,
        target: FieldSpec | None,
        path: str,
        scope: PathScope | None,
    ) -> None:
        try:
            template = parse(str(binding.value))
        except TemplateSyntaxError as exc:
            self.add(
                ProblemCode.TEMPLATE_SYNTAX,
                path,
                exc.message,
                "Write fields like {{ customer.first_name }}.",
            )
            return
        if target is not None and not isinstance(target.type, StringType | AnyType):
            self.add(
                ProblemCode.TYPE_MISMATCH,
                path,
                f"{label} is {type_noun(target.type)}, so it cannot be text with {{{{ fields }}}}.",
                "Pick a field or give a fixed value instead.",
            )
        if scope is None:
            return
        for placeholder in dict.fromkeys(template.placeholders):
            try:
                scope.resolve(placeholder)
            except PathNotFound as exc:
                self.add(
                    ProblemCode.UNKNOWN_FIELD,
                    path,
                    f"{{{{ {placeholder} }}}}: {exc.reason}",
                    exc.hint,
                )

    def check_rule_target(self, binding: Binding, path: str) -> None:
        rule_id = binding.value
        if binding.kind is not BindingKind.LITERAL or not isinstance(rule_id, int):
            return
        if isinstance(rule_id, bool) or rule_id in self.context.rules or rule_id < 1:
            return
        names = [f"{name} (#{key})" for key, name in self.context.rules.items()][:5]
        self.add(
            ProblemCode.UNKNOWN_RULE,
            path,
            f"This workspace has no rule #{rule_id} to run.",
            ("Pick one of: " + ", ".join(names) + ".") if names else "Create that rule first.",
        )

    def missing_input(
        self,
        action: ActionSpec,
        name: str,
        spec: FieldSpec,
        path: str,
        scope: PathScope | None,
    ) -> None:
        label = spec.label or humanize(name)
        if not isinstance(spec.type, RefType) or scope is None or self.trigger is None:
            self.add(
                ProblemCode.MISSING_INPUT,
                path,
                f"{action.label} needs a value for {label}.",
                spec.description or f"Give {example_value(spec.type)}, or pick a field.",
            )
            return
        entity = spec.type.entity
        carriers = scope.paths_to(entity)
        if carriers:
            self.add(
                ProblemCode.MISSING_INPUT,
                path,
                f"{action.label} needs {article(entity)}: say which one.",
                f"Use {_or(carriers[:3])}.",
            )
            return
        examples = [f"'{t.label}'" for t in self.triggers_carrying(entity)[:2]]
        such = f" (such as {' or '.join(examples)})" if examples else ""
        self.add(
            ProblemCode.MISSING_INPUT,
            path,
            f"{action.label} needs {article(entity)}, but '{self.trigger.label}' does not carry "
            f"one. Pick {article(entity)} trigger{such}, or set the {entity} by hand.",
            f"To set it by hand, give the {entity}'s id as a fixed value.",
        )

    def triggers_carrying(self, entity: str) -> list[TriggerSpec]:
        """Triggers whose payload holds a required ``ref(<entity>)``, their own category first."""
        found = [
            trigger
            for trigger in self.registry.triggers()
            if any(
                isinstance(f.type, RefType) and f.type.entity == entity and not f.optional
                for f in trigger.payload.values()
            )
        ]
        return sorted(found, key=lambda t: t.category.value != entity)

    # -- alert and cycles ---------------------------------------------------------------------

    def check_alert(self) -> None:
        alert = self.draft.alert
        if alert is None:
            return
        expected: FieldType = EmailType() if alert.kind is AlertKind.EMAIL else UrlType()
        try:
            expected.validate(alert.target)
        except ValidationError:
            where = {
                AlertKind.EMAIL: "by email",
                AlertKind.SLACK: "to Slack",
                AlertKind.WEBHOOK: "to a webhook",
            }[alert.kind]
            self.add(
                ProblemCode.VALUE_TYPE_MISMATCH,
                "alert.target",
                f"Alerts {where} need {type_noun(expected)}: "
                f"{describe_value(alert.target)} is not one.",
                f"Write {example_value(expected)}.",
            )

    def check_cycle(self) -> None:
        # A loop through a rule with an unknown trigger or action would be guesswork.
        if not self.all_keys_known or self.trigger is None:
            return
        name = self.context.rule_name or self.draft.name or "This rule"
        node = node_from_draft(self.context.rule_id, name, self.draft, self.context)
        loop = find_cycle(node, self.context.others)
        if loop:
            self.add(
                ProblemCode.CYCLE,
                "steps",
                f"This rule would loop: {' → '.join(loop)}. Each rule would keep starting the "
                "next one.",
                "Add a condition that stops the loop, or change an action so that it does not "
                f"start '{loop[1]}'.",
            )


def _operator(value: str) -> Operator | None:
    try:
        return Operator(value)
    except ValueError:
        return None


def _is_time_zone(name: str) -> bool:
    return name in available_timezones()


def _guarded_paths(nodes: Sequence[ConditionNode]) -> Iterable[str]:
    """Yield the fields an all-of list of conditions proves set (``is_set`` leaves)."""
    for node in nodes:
        if isinstance(node, ConditionGroup):
            if node.match is Match.ALL:
                yield from _guarded_paths(node.children)
        elif node.operator == Operator.IS_SET:
            yield node.field


def _upgrade_hint(spec: ActionSpec) -> str:
    return f"Upgrade to {plan_name(spec.plan)}, or remove this step."


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _mismatch(label: str, field_type: FieldType, operand: FieldType, value: object) -> str:
    if isinstance(operand, ListType) and isinstance(value, list):
        return f"{label} is {type_noun(field_type)}: compare it with {value_phrase(operand)}."
    if isinstance(operand, EnumType):
        return (
            f"{label} can be {', '.join(operand.values)}: {describe_value(value)} is not one "
            "of them."
        )
    noun, phrase = type_noun(field_type), value_phrase(operand)
    return f"{label} is {noun}: {describe_value(value)} is not {phrase}."


def _literal_mismatch(
    label: str, field_type: FieldType, value: object, error: ValidationError
) -> str:
    first = error.errors[0].message if error.errors else ""
    if bound := _BOUND_RE.match(first):
        return f"{label} must be {bound[1]}; it is {bound[2]}."
    return _mismatch(label, field_type, field_type, value)


def _value_hint(field_type: FieldType, value: object) -> str:
    if isinstance(field_type, EnumType) and isinstance(value, str):
        return did_you_mean(value, field_type.values) or f"Write {example_value(field_type)}."
    return f"Write {example_value(field_type)}."
