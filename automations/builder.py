"""The rule builder's form state: flat form fields to and from definition JSON (pure).

The builder page posts structured field names, one per widget, so it works as a plain HTML form
and htmx only refreshes parts of it::

    name, description, trigger_key, trigger-config-<name>, match (all | any),
    cond-<i>-field, cond-<i>-operator, cond-<i>-value,
    cond-<i>-match (all | any: row i is a nested group), cond-<i>-<j>-field ... (its rows)
    step-<i>-id, step-<i>-action, step-<i>-in-<input>-kind, step-<i>-in-<input>-value,
    step-<i>-cond-<j>-field ...          (a branch's condition rows)
    step-<i>-then-<j>-action ...         (a branch's nested steps; ``else`` likewise)
    alert-kind, alert-target

:func:`parse_form` reads them into a :class:`BuilderState`, :func:`apply_op` adds or removes a
row or a group ("add-cond",
"add-group:cond-1", "remove:step-1"...), :func:`to_definition` turns the state into definition JSON
(``automations.draft``) with literal text coerced to the declared types, and
:func:`from_definition` goes back. :func:`place_problems` hangs each checker
:class:`~automations.checker.Problem` on the row and widget its path points at. Nothing here
touches the database; values that do not fit their type are passed on as typed, so the checker
reports them in its own words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from automations.checker.problems import Problem
from catalog.specs import ActionSpec, TriggerSpec
from catalog.types import (
    AnyType,
    BooleanType,
    DatetimeType,
    FieldSpec,
    FieldType,
    IntegerType,
    ListType,
    MoneyType,
    ObjectType,
    Operator,
    RefType,
)

__all__ = [
    "BRANCH",
    "CONDITION_PREFIX_RE",
    "BuilderState",
    "CatalogLike",
    "ConditionRow",
    "InputRow",
    "StepCard",
    "apply_op",
    "coerce_literal",
    "condition_rows",
    "format_literal",
    "from_definition",
    "parse_form",
    "place_problems",
    "to_definition",
]

BRANCH = "branch_by_condition"
KINDS = ("literal", "ref", "template")
ARMS = ("then", "else")
_PRESENCE = (Operator.IS_SET, Operator.IS_NOT_SET)
_MONEY_RE = re.compile(
    r"^(?:(?P<c1>[A-Za-z]{3})\s*)?(?P<amount>-?\d+(?:[.,]\d+)?)\s*(?P<c2>[A-Za-z]{3})?$"
)
CONDITION_PREFIX_RE = re.compile(r"^(?:step-\d+(?:-(?:then|else)-\d+)*-)?cond(?:-\d+)+$")
"""The prefix of a condition row: ``cond-0``, ``cond-1-2`` (in a group), ``step-0-cond-1``."""
_LOCAL_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")

type Problems = dict[str, list[Problem]]
type FieldLookup = Callable[[str], FieldSpec | None]


class CatalogLike(Protocol):
    """The part of :class:`catalog.registry.Registry` the builder reads."""

    def has_trigger(self, key: str) -> bool:
        """Return whether trigger ``key`` exists."""
        ...

    def get_trigger(self, key: str) -> TriggerSpec:
        """Return trigger ``key``."""
        ...

    def has_action(self, key: str) -> bool:
        """Return whether action ``key`` exists."""
        ...

    def get_action(self, key: str) -> ActionSpec:
        """Return action ``key``."""
        ...


@dataclass
class ConditionRow:
    """One ``field operator value`` row, or a nested group of rows (``match`` set).

    ``problems`` by widget: field, operator, value, row. A group (``match`` "all" or "any")
    holds its rows and groups in ``children``.
    """

    prefix: str
    field: str = ""
    operator: str = ""
    value: str = ""
    problems: Problems = dc_field(default_factory=dict)
    match: str = ""
    children: list[ConditionRow] = dc_field(default_factory=list)

    @property
    def is_group(self) -> bool:
        """Whether this is a nested all/any group rather than one condition."""
        return bool(self.match)


def condition_rows(rows: list[ConditionRow]) -> list[ConditionRow]:
    """Every row and group of ``rows``, nested ones included, in document order."""
    found: list[ConditionRow] = []
    for row in rows:
        found.append(row)
        found += condition_rows(row.children)
    return found


@dataclass
class InputRow:
    """One action input: how it is bound (literal, ref, template) and the text typed or picked."""

    name: str
    kind: str = "literal"
    value: str = ""
    problems: list[Problem] = dc_field(default_factory=list)


@dataclass
class StepCard:
    """One step; a branch also has condition rows and two arms of nested steps.

    ``problems`` by part: action, id, row, condition, then, else.
    """

    prefix: str
    id: str
    action: str = ""
    inputs: dict[str, InputRow] = dc_field(default_factory=dict)
    conditions: list[ConditionRow] = dc_field(default_factory=list)
    then: list[StepCard] = dc_field(default_factory=list)
    otherwise: list[StepCard] = dc_field(default_factory=list)
    problems: Problems = dc_field(default_factory=dict)

    @property
    def is_branch(self) -> bool:
        """Whether this step is a branch (it has conditions and nested steps)."""
        return self.action == BRANCH

    def arm(self, name: str) -> list[StepCard]:
        """Return the ``then`` or ``else`` steps."""
        return self.then if name == "then" else self.otherwise


@dataclass
class BuilderState:
    """Everything the builder form holds, as typed text, plus the problems placed on it.

    ``problems`` keys: name, trigger_key, ``config:<name>``, conditions, steps, alert.
    ``unplaced`` holds problems whose path matches no part of the form.
    """

    name: str = ""
    description: str = ""
    trigger_key: str = ""
    trigger_config: dict[str, str] = dc_field(default_factory=dict)
    match: str = "all"
    conditions: list[ConditionRow] = dc_field(default_factory=list)
    steps: list[StepCard] = dc_field(default_factory=list)
    alert_kind: str = ""
    alert_target: str = ""
    problems: Problems = dc_field(default_factory=dict)
    unplaced: list[Problem] = dc_field(default_factory=list)

    def all_steps(self) -> list[StepCard]:
        """Every step card, nested ones included, in document order."""
        found: list[StepCard] = []

        def visit(cards: list[StepCard]) -> None:
            for card in cards:
                found.append(card)
                visit(card.then)
                visit(card.otherwise)

        visit(self.steps)
        return found


# --- reading the form ------------------------------------------------------------------------


def _indexes(data: Mapping[str, Any], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m[1]) for key in data if (m := regex.match(key))})


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _read_conditions(data: Mapping[str, Any], prefix: str) -> list[ConditionRow]:
    rows = []
    for index in _indexes(data, rf"^{re.escape(prefix)}-(\d+)-(?:field|match)$"):
        row = f"{prefix}-{index}"
        if f"{row}-match" in data:
            match = "any" if _text(data, f"{row}-match") == "any" else "all"
            rows.append(ConditionRow(row, match=match, children=_read_conditions(data, row)))
            continue
        rows.append(
            ConditionRow(
                row,
                _text(data, f"{row}-field"),
                _text(data, f"{row}-operator"),
                _text(data, f"{row}-value"),
            )
        )
    return rows


def _read_steps(data: Mapping[str, Any], prefix: str) -> list[StepCard]:
    cards = []
    for index in _indexes(data, rf"^{re.escape(prefix)}-(\d+)-action$"):
        card_prefix = f"{prefix}-{index}"
        inputs: dict[str, InputRow] = {}
        kind_re = re.compile(rf"^{re.escape(card_prefix)}-in-([A-Za-z0-9_]+)-kind$")
        for key in data:
            if match := kind_re.match(key):
                name = match[1]
                kind = _text(data, key)
                inputs[name] = InputRow(
                    name,
                    kind if kind in KINDS else "literal",
                    _text(data, f"{card_prefix}-in-{name}-value"),
                )
        cards.append(
            StepCard(
                prefix=card_prefix,
                id=_text(data, f"{card_prefix}-id"),
                action=_text(data, f"{card_prefix}-action"),
                inputs=inputs,
                conditions=_read_conditions(data, f"{card_prefix}-cond"),
                then=_read_steps(data, f"{card_prefix}-then"),
                otherwise=_read_steps(data, f"{card_prefix}-else"),
            )
        )
    return cards


def parse_form(data: Mapping[str, Any]) -> BuilderState:
    """Return the builder state posted in ``data`` (a QueryDict or any str mapping)."""
    config_re = re.compile(r"^trigger-config-([A-Za-z0-9_]+)$")
    config = {m[1]: _text(data, key) for key in data if (m := config_re.match(key))}
    state = BuilderState(
        name=_text(data, "name"),
        description=_text(data, "description"),
        trigger_key=_text(data, "trigger_key"),
        trigger_config=config,
        match="any" if _text(data, "match") == "any" else "all",
        conditions=_read_conditions(data, "cond"),
        steps=_read_steps(data, "step"),
        alert_kind=_text(data, "alert-kind"),
        alert_target=_text(data, "alert-target"),
    )
    return renumber(state)


def renumber(state: BuilderState) -> BuilderState:
    """Give every row a contiguous prefix (``cond-0``, ``cond-1``...) after rows were removed."""

    def conds(rows: list[ConditionRow], prefix: str) -> None:
        for index, row in enumerate(rows):
            row.prefix = f"{prefix}-{index}"
            conds(row.children, row.prefix)

    def steps(cards: list[StepCard], prefix: str) -> None:
        for index, card in enumerate(cards):
            card.prefix = f"{prefix}-{index}"
            conds(card.conditions, f"{card.prefix}-cond")
            steps(card.then, f"{card.prefix}-then")
            steps(card.otherwise, f"{card.prefix}-else")

    conds(state.conditions, "cond")
    steps(state.steps, "step")
    return state


# --- editing ---------------------------------------------------------------------------------


def _new_step_id(state: BuilderState) -> str:
    used = {card.id for card in state.all_steps()}
    number = 1
    while f"step{number}" in used:
        number += 1
    return f"step{number}"


def _find_step(cards: list[StepCard], prefix: str) -> StepCard | None:
    for card in cards:
        if card.prefix == prefix:
            return card
        found = _find_step(card.then, prefix) or _find_step(card.otherwise, prefix)
        if found:
            return found
    return None


def _step_list(state: BuilderState, prefix: str) -> list[StepCard] | None:
    """Return the list of steps ``prefix`` names: ``step`` or ``step-0-then``."""
    if prefix == "step":
        return state.steps
    owner, _, arm = prefix.rpartition("-")
    card = _find_step(state.steps, owner)
    return card.arm(arm) if card and arm in ARMS else None


def _condition_list(state: BuilderState, prefix: str) -> list[ConditionRow] | None:
    """Return the rows ``prefix`` names: ``cond``, a branch's ``step-0-cond`` or a group."""
    if prefix == "cond":
        return state.conditions
    if prefix.endswith("-cond"):
        card = _find_step(state.steps, prefix.removesuffix("-cond"))
        return card.conditions if card else None
    every = condition_rows(state.conditions)
    for card in state.all_steps():
        every += condition_rows(card.conditions)
    group = next((row for row in every if row.prefix == prefix and row.is_group), None)
    return group.children if group else None


def _remove(state: BuilderState, target: str) -> None:
    owner, _, index_text = target.rpartition("-")
    if not index_text.isdigit():
        return
    index = int(index_text)
    rows: list[Any] | None = (
        _condition_list(state, owner) if "cond" in owner else _step_list(state, owner)
    )
    if rows is not None and 0 <= index < len(rows):
        del rows[index]


def apply_op(state: BuilderState, op: str) -> BuilderState:
    """Return the state after a row operation; unknown operations change nothing.

    ``add-cond`` (top level), ``add-cond:step-0`` (a branch's condition), ``add-cond:cond-1``
    (into a group), ``add-group`` / ``add-group:<same targets>`` (a nested "any" group with one
    empty row), ``add-step``, ``add-step:step-0-then`` (a branch arm), ``remove:<prefix>`` (any
    row, group or step).
    """
    verb, _, target = op.partition(":")
    if verb in ("add-cond", "add-group"):
        if not target:
            rows: list[ConditionRow] | None = state.conditions
        elif "cond" in target:
            rows = _condition_list(state, target)
        else:
            card = _find_step(state.steps, target)
            rows = card.conditions if card else None
        if rows is not None:
            row = ConditionRow("new")
            if verb == "add-group":
                row = ConditionRow("new", match="any", children=[ConditionRow("new-0")])
            rows.append(row)
    elif verb == "add-step":
        cards = _step_list(state, target or "step")
        if cards is not None:
            cards.append(StepCard(f"{target or 'step'}-{len(cards)}", _new_step_id(state)))
    elif verb == "remove" and target:
        _remove(state, target)
    return renumber(state)


# --- typed literals --------------------------------------------------------------------------


def _json_or(text: str, fallback: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return fallback


def coerce_literal(text: str, field_type: FieldType) -> Any:
    """Return typed text as the JSON value of ``field_type``, as far as it can be read.

    Numbers become numbers, ``9.99 EUR`` becomes money, ``a, b`` a list, ``{...}`` an object,
    ``2025-03-01T09:00`` (a browser's local date-time) a UTC instant. Text that does not fit
    is returned as it is, for the checker to explain.
    """
    text = text.strip()
    if isinstance(field_type, ListType):
        if text.startswith("["):
            return _json_or(text, text)
        parts = [part.strip() for part in text.split(",") if part.strip()]
        return [coerce_literal(part, field_type.item) for part in parts]
    if isinstance(field_type, ObjectType | AnyType):
        return (
            _json_or(text, text) if text[:1] in "{[" or isinstance(field_type, ObjectType) else text
        )
    if isinstance(field_type, IntegerType | RefType):
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if isinstance(field_type, MoneyType):
        if text.startswith("{"):
            return _json_or(text, text)
        match = _MONEY_RE.match(text)
        currency = match and (match["c1"] or match["c2"])
        if match and currency:
            amount = match["amount"].replace(",", ".")
            try:
                Decimal(amount)
            except InvalidOperation:
                return text
            return {"amount": amount, "currency": currency.upper()}
        return text
    if isinstance(field_type, BooleanType):
        lowered = text.lower()
        return {"true": True, "yes": True, "false": False, "no": False}.get(lowered, text)
    if isinstance(field_type, DatetimeType) and _LOCAL_DATETIME_RE.match(text):
        return text + (":00Z" if text.count(":") == 1 else "Z")
    return text


def format_literal(value: Any, field_type: FieldType | None) -> str:
    """Return a JSON value as the text a builder widget shows (the inverse of coercion)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return f"{value['amount']} {value['currency']}"
    if isinstance(value, list) and isinstance(field_type, ListType):
        if all(isinstance(item, str | int) and "," not in str(item) for item in value):
            return ", ".join(str(item) for item in value)
        return json.dumps(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(field_type, DatetimeType) and isinstance(value, str) and value.endswith("Z"):
        return value.removesuffix("Z").removesuffix(":00") if len(value) == 20 else value
    return str(value)


# --- state to definition ---------------------------------------------------------------------


def _operand(spec: FieldSpec | None, operator: str) -> tuple[bool, FieldType | None]:
    """Return (takes a value, the value's type if known)."""
    try:
        op = Operator(operator)
    except ValueError:
        return True, None
    if op in _PRESENCE:
        return False, None
    if spec is None:
        return True, None
    try:
        operand = spec.type.operand_type(op)
    except ValueError:
        return True, None
    return operand is not None, operand


def _condition_json(row: ConditionRow, field_spec: FieldLookup) -> dict[str, Any]:
    if row.is_group:
        children = [_condition_json(child, field_spec) for child in row.children]
        return {"match": row.match, "children": children}
    node: dict[str, Any] = {"field": row.field, "operator": row.operator}
    spec = field_spec(row.field) if row.field else None
    takes_value, operand = _operand(spec, row.operator)
    if takes_value and row.value:
        node["value"] = coerce_literal(row.value, operand) if operand else row.value
    return node


def _step_json(card: StepCard, catalog: CatalogLike, field_spec: FieldLookup) -> dict[str, Any]:
    spec = catalog.get_action(card.action) if catalog.has_action(card.action) else None
    inputs: dict[str, Any] = {}
    for name, row in card.inputs.items():
        if not row.value:
            continue
        declared = spec.inputs.get(name) if spec else None
        if declared is None:
            continue  # an input of the action chosen before: it no longer applies
        if row.kind == "ref":
            inputs[name] = {"ref": row.value}
        elif row.kind == "template":
            inputs[name] = {"template": row.value}
        else:
            inputs[name] = {"literal": coerce_literal(row.value, declared.type)}
    data: dict[str, Any] = {"id": card.id, "action": card.action, "inputs": inputs}
    if card.is_branch:
        data["inputs"] = {}
        data["condition"] = [_condition_json(row, field_spec) for row in card.conditions]
        data["then"] = [_step_json(c, catalog, field_spec) for c in card.then]
        data["else"] = [_step_json(c, catalog, field_spec) for c in card.otherwise]
    return data


def to_definition(
    state: BuilderState, catalog: CatalogLike, field_spec: FieldLookup
) -> dict[str, Any]:
    """Return the definition JSON of the state.

    ``field_spec(path)`` returns the type of a condition's field (None when unknown), so values
    are typed by their operator's operand; literal inputs are typed by the action's inputs.
    Empty widgets are left out, so the checker asks for them.
    """
    config: dict[str, Any] = {}
    trigger = (
        catalog.get_trigger(state.trigger_key) if catalog.has_trigger(state.trigger_key) else None
    )
    for name, text in state.trigger_config.items():
        declared = trigger.config.get(name) if trigger else None
        if text and declared is not None:
            config[name] = coerce_literal(text, declared.type)
    conditions = [_condition_json(row, field_spec) for row in state.conditions]
    if state.match == "any" and conditions:
        conditions = [{"match": "any", "children": conditions}]
    alert = None
    if state.alert_kind:
        alert = {"kind": state.alert_kind, "target": state.alert_target}
    return {
        "trigger": {"key": state.trigger_key, "config": config},
        "conditions": conditions,
        "steps": [_step_json(card, catalog, field_spec) for card in state.steps],
        "alert": alert,
    }


# --- definition to state ---------------------------------------------------------------------


def _rows_from(nodes: Any, prefix: str) -> list[ConditionRow]:
    rows: list[ConditionRow] = []
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        if "children" in node or "match" in node:
            row = f"{prefix}-{len(rows)}"
            match = "any" if node.get("match") == "any" else "all"
            rows.append(
                ConditionRow(row, match=match, children=_rows_from(node.get("children"), row))
            )
            continue
        value = node.get("value")
        rows.append(
            ConditionRow(
                f"{prefix}-{len(rows)}",
                str(node.get("field", "")),
                str(node.get("operator", "")),
                ""
                if value is None
                else format_literal(value, ListType(AnyType()))
                if isinstance(value, list)
                else format_literal(value, None),
            )
        )
    return rows


def _cards_from(steps: Any, prefix: str, catalog: CatalogLike) -> list[StepCard]:
    cards: list[StepCard] = []
    for data in steps if isinstance(steps, list) else []:
        if not isinstance(data, dict):
            continue
        action = str(data.get("action", ""))
        spec = catalog.get_action(action) if catalog.has_action(action) else None
        card_prefix = f"{prefix}-{len(cards)}"
        inputs: dict[str, InputRow] = {}
        raw_inputs = data.get("inputs") or {}
        for name, binding in raw_inputs.items() if isinstance(raw_inputs, dict) else []:
            if not isinstance(binding, dict) or not binding:
                continue
            kind = next((k for k in binding if k in KINDS), "literal")
            declared = spec.inputs.get(name) if spec else None
            value = binding.get(kind)
            text = (
                format_literal(value, declared.type if declared else None)
                if kind == "literal"
                else str(value or "")
            )
            inputs[name] = InputRow(name, kind, text)
        cards.append(
            StepCard(
                prefix=card_prefix,
                id=str(data.get("id", "")),
                action=action,
                inputs=inputs,
                conditions=_rows_from(data.get("condition"), f"{card_prefix}-cond"),
                then=_cards_from(data.get("then"), f"{card_prefix}-then", catalog),
                otherwise=_cards_from(data.get("else"), f"{card_prefix}-else", catalog),
            )
        )
    return cards


def from_definition(
    definition: Any, catalog: CatalogLike, *, name: str = "", description: str = ""
) -> BuilderState:
    """Return the builder state showing a definition (nested condition groups kept as groups)."""
    data = definition if isinstance(definition, dict) else {}
    trigger = data.get("trigger") if isinstance(data.get("trigger"), dict) else {}
    key = str(trigger.get("key", "")) if trigger else ""
    spec = catalog.get_trigger(key) if catalog.has_trigger(key) else None
    config: dict[str, str] = {}
    for config_name, value in (trigger.get("config") or {}).items() if trigger else []:
        declared = spec.config.get(config_name) if spec else None
        config[config_name] = format_literal(value, declared.type if declared else None)
    raw_conditions = data.get("conditions") or []
    match = "all"
    if (
        isinstance(raw_conditions, list)
        and len(raw_conditions) == 1
        and isinstance(raw_conditions[0], dict)
        and raw_conditions[0].get("match") == "any"
    ):
        # One "any" group at the top is the form's "match any": its rows are the top rows.
        match = "any"
        raw_conditions = raw_conditions[0].get("children") or []
    alert = data.get("alert") if isinstance(data.get("alert"), dict) else None
    return BuilderState(
        name=name,
        description=description,
        trigger_key=key,
        trigger_config=config,
        match=match,
        conditions=_rows_from(raw_conditions, "cond"),
        steps=_cards_from(data.get("steps"), "step", catalog),
        alert_kind=str(alert.get("kind", "")) if alert else "",
        alert_target=str(alert.get("target", "")) if alert else "",
    )


# --- problems --------------------------------------------------------------------------------

_STEP_RE = re.compile(r"^steps\[(\d+)\]")
_ARM_RE = re.compile(r"^\.(then|else)\[(\d+)\]")
_COND_RE = re.compile(r"^(?:\.condition|conditions)((?:\[\d+\](?:\.children)?)+)(?:\.(\w+))?")
_INDEX_RE = re.compile(r"\[(\d+)\]")


def _place_condition(
    rows: list[ConditionRow], rest: str, problem: Problem, match_any: bool
) -> bool:
    """Hang a problem on the row or group its path (``conditions[1].children[0].value``) names."""
    found = _COND_RE.match(rest)
    if not found:
        return False
    indexes = [int(i) for i in _INDEX_RE.findall(found[1])]
    if match_any:
        # The form's "match any" is the definition's single top-level any group.
        if indexes[0] != 0:
            return False
        indexes = indexes[1:]
        if not indexes:
            return False
    row: ConditionRow | None = None
    for index in indexes:
        if not 0 <= index < len(rows):
            return False
        row = rows[index]
        rows = row.children
    if row is None:
        return False
    part = found[2] if found[2] in ("field", "operator", "value") and not row.is_group else "row"
    row.problems.setdefault(part, []).append(problem)
    return True


def _place_step(state: BuilderState, path: str, problem: Problem) -> bool:
    found = _STEP_RE.match(path)
    if not found:
        return False
    cards, index, rest = state.steps, int(found[1]), path[found.end() :]
    card = cards[index] if index < len(cards) else None
    while card is not None and (arm := _ARM_RE.match(rest)):
        cards = card.arm(arm[1])
        index = int(arm[2])
        rest = rest[arm.end() :]
        card = cards[index] if index < len(cards) else None
    if card is None:
        return False
    if rest.startswith(".inputs."):
        name = rest.removeprefix(".inputs.").split(".", 1)[0]
        if name in card.inputs:
            card.inputs[name].problems.append(problem)
        else:
            card.inputs[name] = InputRow(name, problems=[problem])
        return True
    if rest.startswith(".condition["):
        if _place_condition(card.conditions, rest, problem, False):
            return True
        rest = ".condition"
    part = {"": "row", ".id": "id", ".action": "action"}.get(rest, rest.lstrip(".") or "row")
    card.problems.setdefault(part, []).append(problem)
    return True


def place_problems(state: BuilderState, problems: list[Problem]) -> BuilderState:
    """Attach each problem to the widget its path names; keep the rest in ``state.unplaced``."""
    for problem in problems:
        path = problem.path
        placed = True
        if path in ("name", "description"):
            state.problems.setdefault(path, []).append(problem)
        elif path in ("trigger", "trigger.key", "trigger.config"):
            state.problems.setdefault("trigger_key", []).append(problem)
        elif path.startswith("trigger.config."):
            name = path.removeprefix("trigger.config.").split(".", 1)[0].split("[", 1)[0]
            state.problems.setdefault(f"config:{name}", []).append(problem)
        elif path == "conditions":
            state.problems.setdefault("conditions", []).append(problem)
        elif path.startswith("conditions["):
            placed = _place_condition(state.conditions, path, problem, state.match == "any")
        elif path == "steps":
            state.problems.setdefault("steps", []).append(problem)
        elif path.startswith("steps["):
            placed = _place_step(state, path, problem)
        elif path == "alert" or path.startswith("alert."):
            state.problems.setdefault("alert", []).append(problem)
        else:
            placed = False
        if not placed:
            state.unplaced.append(problem)
    return state
