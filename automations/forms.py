"""Forms of the rule pages: the builder (form state to checked rule) and the dry-run panel.

:class:`RuleBuilder` wraps a :class:`~automations.builder.BuilderState` for one workspace: it
turns it into definition JSON, saves it through ``services.save_rule`` (the checker decides;
problems are hung on the widgets they concern) and builds the typed view of every widget the
template renders: field pickers offering only real paths, operators by field type, value
inputs by operand type, and input bindings offering only fields of a compatible type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django import forms

from accounts.models import Workspace
from automations import builder, services
from automations.builder import BuilderState, ConditionRow, InputRow, StepCard
from automations.checker import PathNotFound, PathScope
from automations.checker.wording import OPERATOR_WORDS, humanize, type_noun
from automations.draft import parse_definition
from automations.models import Rule
from automations.sentence import describe_rule
from catalog.domain.models import Campaign, Journey, Segment
from catalog.entities import PROFILE_FIELDS
from catalog.registry import registry
from catalog.specs import ActionSpec, Category, TriggerSpec
from catalog.types import (
    AnyType,
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
    Operator,
    RefType,
    StringType,
    TextType,
    UrlType,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

KIND_WORDS = {"literal": "Fixed value", "ref": "Field", "template": "Text with {{ fields }}"}
ALERT_KINDS = [
    ("", "Nobody"),
    ("email", "Email"),
    ("slack", "Slack webhook"),
    ("webhook", "Webhook"),
]
_ENTITY_MODELS: dict[str, Any] = {"journey": Journey, "segment": Segment, "campaign": Campaign}


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a select: its value, its words and its group (``<optgroup>``)."""

    value: str
    label: str
    group: str = ""


@dataclass(frozen=True, slots=True)
class ValueWidget:
    """How a typed value is typed in.

    ``kind`` is none, text, number, decimal, date, datetime, email, url, select or textarea.
    """

    kind: str
    choices: tuple[Choice, ...] = ()
    placeholder: str = ""
    hint: str = ""


@dataclass
class ConditionView:
    """A condition row with its field picker, the operators of the field's type, its value.

    For a nested group, ``children`` holds the views of its rows and groups.
    """

    row: ConditionRow
    fields: list[Choice]
    operators: list[Choice]
    widget: ValueWidget
    field_words: str = ""
    children: list[ConditionView] = field(default_factory=list)


@dataclass
class InputView:
    """An action input: its declared type, the bindings it allows and their widgets."""

    row: InputRow
    label: str
    type_words: str
    description: str
    is_required: bool
    kinds: list[Choice]
    literal: ValueWidget
    paths: list[Choice]


@dataclass
class StepView:
    """A step card: the action picker, one input view per declared input, and branch parts."""

    card: StepCard
    spec: ActionSpec | None
    depth: int
    inputs: list[InputView] = field(default_factory=list)
    conditions: list[ConditionView] = field(default_factory=list)
    then: list[StepView] = field(default_factory=list)
    otherwise: list[StepView] = field(default_factory=list)


@dataclass
class ConfigView:
    """One setting of the chosen trigger (a tag filter, a cron, an endpoint)."""

    name: str
    label: str
    type_words: str
    description: str
    is_required: bool
    value: str
    widget: ValueWidget
    problems: list[Any]


def widget_for(field_type: FieldType | None) -> ValueWidget:
    """Return the input that suits values of ``field_type`` (None: no value is taken)."""
    if field_type is None:
        return ValueWidget("none")
    if isinstance(field_type, EnumType):
        return ValueWidget("select", tuple(Choice(v, v) for v in field_type.values))
    if isinstance(field_type, BooleanType):
        return ValueWidget("select", (Choice("true", "yes"), Choice("false", "no")))
    if isinstance(field_type, ListType):
        if field_type.min_items == 2 and field_type.max_items == 2:
            return ValueWidget("text", placeholder="low, high", hint="Two values, comma between.")
        return ValueWidget("text", placeholder="a, b, c", hint="Separate values with commas.")
    simple: list[tuple[type[FieldType], ValueWidget]] = [
        (IntegerType, ValueWidget("number")),
        (RefType, ValueWidget("number", hint="The id, a whole number.")),
        (DecimalType, ValueWidget("decimal")),
        (MoneyType, ValueWidget("text", placeholder="100.00 EUR", hint="Amount and currency.")),
        (DateType, ValueWidget("date")),
        (DatetimeType, ValueWidget("datetime", hint="UTC.")),
        (
            DurationType,
            ValueWidget("text", placeholder="PT5M", hint="PT5M = 5 minutes, P1D = 1 day."),
        ),
        (EmailType, ValueWidget("email")),
        (UrlType, ValueWidget("url", placeholder="https://")),
        (TextType, ValueWidget("textarea")),
        (StringType, ValueWidget("text")),
        (ObjectType, ValueWidget("textarea", placeholder='{"key": "value"}', hint="JSON.")),
        (AnyType, ValueWidget("text")),
    ]
    for cls, widget in simple:
        if isinstance(field_type, cls):
            return widget
    return ValueWidget("text")


def _spec_words(spec: FieldSpec) -> str:
    return type_noun(spec.type) + (", optional" if spec.optional else "")


def trigger_choices() -> list[Choice]:
    """Every trigger as a choice, grouped by category."""
    return [
        Choice(t.key, t.label, humanize(t.category.value))
        for t in sorted(registry.triggers(), key=lambda t: list(Category).index(t.category))
    ]


def action_choices(*, nested: bool) -> list[Choice]:
    """Every action as a choice, grouped by category; nested steps cannot branch again."""
    return [
        Choice(a.key, a.label, humanize(a.category.value))
        for a in sorted(registry.actions(), key=lambda a: list(Category).index(a.category))
        if not (nested and a.key == builder.BRANCH)
    ]


class RuleBuilder:
    """One builder form of one workspace: state, typed widgets, sentence, checked save."""

    def __init__(self, workspace: Workspace, state: BuilderState, rule: Rule | None = None):
        self.workspace = workspace
        self.state = state
        self.rule = rule
        self.custom_fields = services.custom_field_specs(workspace)
        self.endpoints = services.endpoint_infos(workspace)
        self.trigger: TriggerSpec | None = (
            registry.get_trigger(state.trigger_key)
            if registry.has_trigger(state.trigger_key)
            else None
        )
        self.scope = self._scope()
        self._fill_defaults(state.steps, self.scope)

    # -- scope and definition -------------------------------------------------------------------

    def _scope(self) -> PathScope | None:
        if self.trigger is None:
            return None
        declared = None
        endpoint_id = self.state.trigger_config.get("endpoint_id", "")
        if endpoint_id.isdigit() and (info := self.endpoints.get(int(endpoint_id))):
            declared = info.declared_fields
        return PathScope.for_trigger(self.trigger, self.custom_fields, declared)

    def field_spec(self, path: str) -> FieldSpec | None:
        """Return the type of a condition's field, or None when it names nothing."""
        if self.scope is None:
            return None
        try:
            return self.scope.resolve(path)
        except PathNotFound:
            return None

    def definition(self) -> dict[str, Any]:
        """Return the definition JSON of the form."""
        return builder.to_definition(self.state, registry, self.field_spec)

    def sentence(self) -> str:
        """Return the plain-English sentence of the rule as built so far (never raises)."""
        draft, _ = parse_definition(self.definition(), name=self.state.name)
        return describe_rule(draft, services.build_context(self.workspace, rule=self.rule))

    def save(self, author: User | AnonymousUser | None, *, is_enabled: bool) -> Rule | None:
        """Save through the checker; on problems, place them on the form and return None."""
        try:
            return services.save_rule(
                workspace=self.workspace,
                author=author,
                name=self.state.name,
                description=self.state.description,
                definition=self.definition(),
                rule=self.rule,
                is_enabled=is_enabled,
            )
        except services.RuleInvalid as exc:
            problems = exc.problems
        if [p.path for p in problems] == ["name"]:
            # save_rule stops at a missing name; show the definition's problems with it.
            try:
                services.check_definition(
                    self.workspace, self.definition(), name="Untitled", rule=self.rule
                )
            except services.RuleInvalid as exc:
                problems = [*problems, *exc.problems]
        builder.place_problems(self.state, problems)
        return None

    # -- defaults -------------------------------------------------------------------------------

    def _fill_defaults(self, cards: list[StepCard], scope: PathScope | None) -> None:
        """Give every declared input a row; a reference input starts on the first fitting field."""
        for card in cards:
            spec = registry.get_action(card.action) if registry.has_action(card.action) else None
            if spec is None:
                continue
            for name, declared in self._declared(spec).items():
                if name in card.inputs:
                    continue
                row = InputRow(name)
                if isinstance(declared.type, RefType) and scope is not None:
                    carriers = scope.paths_to(declared.type.entity)
                    if carriers and not declared.optional:
                        row = InputRow(name, "ref", carriers[0])
                card.inputs[name] = row
            self._fill_defaults(card.then, scope)
            self._fill_defaults(card.otherwise, scope)
            if scope is not None:
                scope = scope.with_step(card.id, spec.outputs)

    @staticmethod
    def _declared(spec: ActionSpec) -> dict[str, FieldSpec]:
        return {
            k: v
            for k, v in spec.inputs.items()
            if not (spec.key == builder.BRANCH and k == "condition")
        }

    # -- views ----------------------------------------------------------------------------------

    def path_choices(
        self, scope: PathScope | None, wanted: FieldSpec | None = None
    ) -> list[Choice]:
        """Return the paths a picker may offer (of a type fitting ``wanted``), with their types."""
        if scope is None:
            return []
        return [
            Choice(path, f"{path} ({_spec_words(spec)})")
            for path, spec in scope.available_paths(wanted)
        ]

    def condition_view(self, row: ConditionRow, scope: PathScope | None = None) -> ConditionView:
        """Return the widgets of one condition row (of each row of a group)."""
        scope = scope or self.scope
        if row.is_group:
            children = [self.condition_view(child, scope) for child in row.children]
            return ConditionView(row, [], [], ValueWidget("none"), children=children)
        fields = self.path_choices(scope)
        if row.field and row.field not in {c.value for c in fields}:
            fields.insert(0, Choice(row.field, f"{row.field} (not available)"))
        spec = None
        if scope is not None and row.field:
            try:
                spec = scope.resolve(row.field)
            except PathNotFound:
                spec = None
        operators: list[Choice] = []
        widget = ValueWidget("text")
        words = ""
        if spec is not None:
            words = _spec_words(spec)
            operators = [Choice(op.value, OPERATOR_WORDS[op]) for op in spec.operators]
            if row.operator not in {c.value for c in operators}:
                row.operator = operators[0].value if operators else ""
            try:
                op = Operator(row.operator)
                operand = (
                    None
                    if op in (Operator.IS_SET, Operator.IS_NOT_SET)
                    else (spec.type.operand_type(op))
                )
                widget = widget_for(operand)
            except ValueError:
                widget = ValueWidget("text")
        return ConditionView(row, fields, operators, widget, words)

    def _entity_choices(self, entity: str) -> tuple[Choice, ...]:
        model = _ENTITY_MODELS.get(entity)
        if model is None:
            return ()
        rows = model.objects.filter(workspace=self.workspace).order_by("name")[:200]
        return tuple(Choice(str(r.pk), f"{r.name} (#{r.pk})") for r in rows)

    def _literal_widget(self, spec: ActionSpec, name: str, declared: FieldSpec) -> ValueWidget:
        if spec.key == "run_rule" and name == "rule_id":
            rules = Rule.objects.filter(workspace=self.workspace)
            if self.rule is not None:
                rules = rules.exclude(pk=self.rule.pk)
            return ValueWidget(
                "select", tuple(Choice(str(r.pk), f"{r.name} (#{r.pk})") for r in rules)
            )
        if name in {s.type_from for s in spec.inputs.values() if s.type_from}:
            names = list(dict.fromkeys([*PROFILE_FIELDS, *self.custom_fields]))
            return ValueWidget("select", tuple(Choice(n, humanize(n)) for n in names))
        if isinstance(declared.type, RefType) and (
            choices := self._entity_choices(declared.type.entity)
        ):
            return ValueWidget("select", choices)
        return widget_for(declared.type)

    def input_view(
        self,
        spec: ActionSpec,
        name: str,
        declared: FieldSpec,
        row: InputRow,
        scope: PathScope | None,
    ) -> InputView:
        """Return the widgets of one action input."""
        kinds = [Choice("literal", KIND_WORDS["literal"]), Choice("ref", KIND_WORDS["ref"])]
        if isinstance(declared.type, StringType | AnyType) and not declared.type_from:
            kinds.append(Choice("template", KIND_WORDS["template"]))
        wanted = None if declared.type_from else declared
        paths = self.path_choices(scope, wanted)
        if row.kind == "ref" and row.value and row.value not in {c.value for c in paths}:
            paths.insert(0, Choice(row.value, f"{row.value} (not available)"))
        return InputView(
            row=row,
            label=declared.label or humanize(name),
            type_words=_spec_words(declared),
            description=declared.description,
            is_required=not declared.optional,
            kinds=kinds,
            literal=self._literal_widget(spec, name, declared),
            paths=paths,
        )

    def step_views(
        self, cards: list[StepCard], scope: PathScope | None, depth: int
    ) -> list[StepView]:
        """Return the views of ``cards``; each step sees the outputs of the steps before it."""
        views: list[StepView] = []
        for card in cards:
            spec = registry.get_action(card.action) if registry.has_action(card.action) else None
            view = StepView(card, spec, depth)
            if spec is not None:
                for name, declared in self._declared(spec).items():
                    row = card.inputs.setdefault(name, InputRow(name))
                    view.inputs.append(self.input_view(spec, name, declared, row, scope))
                if card.is_branch:
                    view.conditions = [self.condition_view(r, scope) for r in card.conditions]
                    view.then = self.step_views(card.then, scope, depth + 1)
                    view.otherwise = self.step_views(card.otherwise, scope, depth + 1)
                if scope is not None:
                    scope = scope.with_step(card.id, spec.outputs)
            views.append(view)
        return views

    def config_views(self) -> list[ConfigView]:
        """Return the settings of the chosen trigger."""
        if self.trigger is None:
            return []
        views = []
        for name, declared in self.trigger.config.items():
            widget = widget_for(declared.type)
            if name == "endpoint_id":
                widget = ValueWidget(
                    "select",
                    tuple(Choice(str(e.id), e.name) for e in self.endpoints.values()),
                    hint="Declared fields of the endpoint become the rule's fields.",
                )
            elif isinstance(declared.type, RefType):
                widget = ValueWidget("select", self._entity_choices(declared.type.entity))
            views.append(
                ConfigView(
                    name=name,
                    label=declared.label or humanize(name),
                    type_words=_spec_words(declared),
                    description=declared.description,
                    is_required=not declared.optional,
                    value=self.state.trigger_config.get(name, ""),
                    widget=widget,
                    problems=self.state.problems.get(f"config:{name}", []),
                )
            )
        return views

    def payload_fields(self) -> list[tuple[str, str, str]]:
        """Return the trigger's payload as (name, type words, description), one level deep."""
        if self.scope is None:
            return []
        return [
            (name, _spec_words(spec), spec.description or spec.label)
            for name, spec in self.scope.root.members
        ]

    def context(self) -> dict[str, Any]:
        """Return the template context of the builder."""
        state = self.state
        return {
            "state": state,
            "trigger": self.trigger,
            "triggers": trigger_choices(),
            "actions": action_choices(nested=False),
            "nested_actions": action_choices(nested=True),
            "config": self.config_views(),
            "payload_fields": self.payload_fields(),
            "conditions": [self.condition_view(row) for row in state.conditions],
            "steps": self.step_views(state.steps, self.scope, 0),
            "template_paths": [c.value for c in self.path_choices(self.scope)],
            "alert_kinds": ALERT_KINDS,
            "sentence": self.sentence(),
            "definition_json": json.dumps(self.definition(), indent=2),
            "problem_count": sum(1 for _ in _all_problems(state)),
            "all_problems": list(_all_problems(state)),
        }


def _all_problems(state: BuilderState) -> list[Any]:
    found: list[Any] = [p for problems in state.problems.values() for p in problems]
    found += state.unplaced

    def rows(conditions: list[ConditionRow]) -> None:
        for row in builder.condition_rows(conditions):
            found.extend(p for problems in row.problems.values() for p in problems)

    rows(state.conditions)
    for card in state.all_steps():
        found.extend(p for problems in card.problems.values() for p in problems)
        for input_row in card.inputs.values():
            found.extend(input_row.problems)
        rows(card.conditions)
    return found


def state_for_rule(rule: Rule, *, name: str | None = None) -> BuilderState:
    """Return the builder state showing a saved rule."""
    return builder.from_definition(
        rule.definition,
        registry,
        name=rule.name if name is None else name,
        description=rule.description,
    )


def state_from_json(text: str, current: BuilderState) -> BuilderState:
    """Return the state of pasted definition JSON (advanced mode), keeping name and description.

    Raises ValueError with a readable message when the text is not a JSON object.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"The JSON could not be read: {exc}.") from exc
    if not isinstance(data, Mapping):
        raise ValueError("The definition must be a JSON object with a trigger and steps.")
    return builder.from_definition(
        dict(data), registry, name=current.name, description=current.description
    )


class DryRunForm(forms.Form):
    """The dry-run panel: the trigger's example, a stored event, or pasted JSON."""

    SOURCES = [("example", "The trigger's example"), ("event", "A past event"), ("json", "JSON")]

    source = forms.ChoiceField(choices=SOURCES, initial="example", widget=forms.RadioSelect)
    event = forms.ChoiceField(required=False, label="Past event")
    payload = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), label="Payload (JSON)"
    )

    def __init__(self, *args: Any, events: list[tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        event_field = self.fields["event"]
        assert isinstance(event_field, forms.ChoiceField)
        event_field.choices = [("", "—"), *(events or [])]

    def clean(self) -> dict[str, Any]:
        """Require an event for ``event`` and a JSON object for ``json``."""
        data = super().clean() or {}
        source = data.get("source")
        if source == "event" and not data.get("event"):
            self.add_error("event", "Pick an event.")
        if source == "json":
            try:
                parsed = json.loads(data.get("payload") or "")
            except ValueError as exc:
                self.add_error("payload", f"This is not JSON: {exc}.")
            else:
                if not isinstance(parsed, dict):
                    self.add_error("payload", 'Give a JSON object: {"field": value, ...}.')
                else:
                    data["parsed"] = parsed
        return data
