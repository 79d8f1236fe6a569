"""A rule as plain data: the structure the checker, the sentence, dry-run and the engine share.

Pure module. A rule's *definition* is JSON (what the API accepts, what a RuleVersion stores):

```json
{
  "trigger": {"key": "order_paid", "config": {}},
  "conditions": [
    {"field": "amount", "operator": "gt", "value": {"amount": "100", "currency": "EUR"}},
    {"match": "any", "children": [
      {"field": "order.customer.lifecycle_stage", "operator": "is", "value": "vip"},
      {"field": "order.customer.tags", "operator": "list_contains", "value": "loyal"}
    ]}
  ],
  "steps": [
    {"id": "tag_vip", "action": "tag", "inputs": {
      "customer_id": {"ref": "order.customer_id"}, "tag": {"literal": "vip"}}},
    {"id": "notify", "action": "post_to_slack", "inputs": {
      "channel": {"literal": "#sales"},
      "text": {"template": "Order {{ order_id }} by {{ order.customer.email }}"}}},
    {"id": "check", "action": "branch_by_condition",
     "condition": [{"field": "amount", "operator": "gt",
                    "value": {"amount": "500", "currency": "EUR"}}],
     "then": [], "else": []}
  ],
  "alert": {"kind": "email", "target": "ops@example.com"}
}
```

- ``conditions`` is a list of nodes that must all hold; a node is a *leaf* (``field``,
  ``operator``, ``value``; ``value`` omitted for operators that take none) or a *group*
  (``match``: ``all`` | ``any``, ``children``: nodes).
- A step has a unique ``id`` (letters, digits, underscores), an ``action`` key of the catalog and
  ``inputs``: each a *binding*: ``{"literal": <json>}``, ``{"ref": "<path>"}`` or
  ``{"template": "<text with {{ path }}>"}``; a ref may add ``"default": <json>``, used when
  the field is absent or null. ``branch_by_condition`` steps carry ``condition``
  (nodes, like ``conditions``), ``then`` and ``else`` (steps).
- A path reaches the trigger payload (``amount``), the entity behind a ``ref`` payload field by
  the field's name without ``_id`` (``order.customer.email`` from ``order_id``), and the outputs of
  earlier steps (``steps.<step id>.<output>``).
- ``alert`` names who hears about a failure: ``kind`` is ``email``, ``slack`` or ``webhook``.

:func:`parse_definition` turns JSON into a :class:`RuleDraft` and reports structural problems
(wrong shapes) with their paths, keeping everything it could read, so the checker can go on and
report every other problem too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

STEP_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class BindingKind(StrEnum):
    """How an action input gets its value."""

    LITERAL = "literal"
    REF = "ref"
    TEMPLATE = "template"


class Match(StrEnum):
    """How a condition group combines its children."""

    ALL = "all"
    ANY = "any"


class AlertKind(StrEnum):
    """Where failure alerts go."""

    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class Binding:
    """One action input: a literal JSON value, a reference to a typed path, or a text template."""

    kind: BindingKind
    value: Any  # the literal (JSON), the path (str) or the template text (str)
    default: Any = None  # for a ref: the value used when the field is absent or null
    has_default: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the binding's JSON form."""
        data = {self.kind.value: self.value}
        if self.has_default:
            data["default"] = self.default
        return data


@dataclass(frozen=True, slots=True)
class Condition:
    """A leaf: ``field operator value``."""

    field: str
    operator: str
    value: Any = None
    has_value: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the leaf's JSON form."""
        data: dict[str, Any] = {"field": self.field, "operator": self.operator}
        if self.has_value:
            data["value"] = self.value
        return data


@dataclass(frozen=True, slots=True)
class ConditionGroup:
    """A group: all or any of its children hold."""

    match: Match
    children: tuple[ConditionNode, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the group's JSON form."""
        return {"match": self.match.value, "children": [c.to_json() for c in self.children]}


type ConditionNode = Condition | ConditionGroup


@dataclass(frozen=True, slots=True)
class Step:
    """One step: an action with its input bindings; a branch also has a condition and two arms."""

    id: str
    action: str
    inputs: dict[str, Binding] = field(default_factory=dict)
    condition: tuple[ConditionNode, ...] = ()
    then: tuple[Step, ...] = ()
    otherwise: tuple[Step, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the step's JSON form."""
        data: dict[str, Any] = {
            "id": self.id,
            "action": self.action,
            "inputs": {name: b.to_json() for name, b in self.inputs.items()},
        }
        if self.action == "branch_by_condition":
            data["condition"] = [c.to_json() for c in self.condition]
            data["then"] = [s.to_json() for s in self.then]
            data["else"] = [s.to_json() for s in self.otherwise]
        return data


@dataclass(frozen=True, slots=True)
class Trigger:
    """The configured trigger: a catalog key and its configuration."""

    key: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    """Who hears about a failure."""

    kind: AlertKind
    target: str


@dataclass(frozen=True, slots=True)
class StructureProblem:
    """A part of the definition that does not have the expected shape."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class RuleDraft:
    """A rule as the checker sees it: pure data, no database."""

    trigger: Trigger
    conditions: tuple[ConditionNode, ...] = ()
    steps: tuple[Step, ...] = ()
    alert: Alert | None = None
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the definition JSON (the inverse of :func:`parse_definition`)."""
        return {
            "trigger": {"key": self.trigger.key, "config": dict(self.trigger.config)},
            "conditions": [c.to_json() for c in self.conditions],
            "steps": [s.to_json() for s in self.steps],
            "alert": (
                {"kind": self.alert.kind.value, "target": self.alert.target} if self.alert else None
            ),
        }

    def walk_steps(self) -> Iterator[tuple[str, Step]]:
        """Yield ``(path, step)`` for every step, nested ones included, in document order."""
        yield from _walk(self.steps, "steps")


def _walk(steps: tuple[Step, ...], prefix: str) -> Iterator[tuple[str, Step]]:
    for index, step in enumerate(steps):
        path = f"{prefix}[{index}]"
        yield path, step
        yield from _walk(step.then, f"{path}.then")
        yield from _walk(step.otherwise, f"{path}.else")


class _Parser:
    """Reads definition JSON, collecting structure problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[StructureProblem] = []
        self.step_ids: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(StructureProblem(path, message))

    def trigger(self, data: Any) -> Trigger:
        if not isinstance(data, dict):
            self.problem("trigger", "Choose a trigger: what should start this rule?")
            return Trigger(key="")
        key = data.get("key")
        if not isinstance(key, str) or not key:
            self.problem("trigger.key", "Choose a trigger: what should start this rule?")
            key = ""
        config = data.get("config", {})
        if config is None:
            config = {}
        if not isinstance(config, dict):
            self.problem("trigger.config", "The trigger's settings must be a set of named values.")
            config = {}
        return Trigger(key=key, config=dict(config))

    def nodes(self, data: Any, path: str) -> tuple[ConditionNode, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            self.problem(path, "Conditions must be a list.")
            return ()
        nodes = (self.node(item, f"{path}[{i}]") for i, item in enumerate(data))
        return tuple(n for n in nodes if n is not None)

    def node(self, data: Any, path: str) -> ConditionNode | None:
        if not isinstance(data, dict):
            self.problem(path, "A condition must be a field, an operator and a value.")
            return None
        if "children" in data or "match" in data:
            match = data.get("match", Match.ALL)
            if match not in (Match.ALL, Match.ANY):
                self.problem(f"{path}.match", "A condition group matches 'all' or 'any'.")
                match = Match.ALL
            children = self.nodes(data.get("children", []), f"{path}.children")
            return ConditionGroup(match=Match(match), children=children)
        fld, operator = data.get("field"), data.get("operator")
        if not isinstance(fld, str) or not fld:
            self.problem(f"{path}.field", "Pick the field this condition looks at.")
            fld = ""
        if not isinstance(operator, str) or not operator:
            self.problem(f"{path}.operator", "Pick how the field is compared.")
            operator = ""
        return Condition(fld, operator, data.get("value"), has_value="value" in data)

    def binding(self, data: Any, path: str) -> Binding | None:
        kinds = [k for k in data if k != "default"] if isinstance(data, dict) else []
        if not isinstance(data, dict) or len(kinds) != 1:
            self.problem(path, "An input is a fixed value, a field, or a text with {{ fields }}.")
            return None
        kind, value = kinds[0], data[kinds[0]]
        if kind not in BindingKind.__members__.values():
            self.problem(path, f"'{kind}' is not a kind of input: use literal, ref or template.")
            return None
        if kind in (BindingKind.REF, BindingKind.TEMPLATE) and not isinstance(value, str):
            self.problem(path, f"A {kind} input is written as text.")
            return None
        if "default" in data and kind != BindingKind.REF:
            self.problem(f"{path}.default", "Only a field input can have a default.")
        return Binding(BindingKind(kind), value, data.get("default"), "default" in data)

    def steps(self, data: Any, path: str) -> tuple[Step, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            self.problem(path, "Steps must be a list.")
            return ()
        steps = (self.step(item, f"{path}[{i}]") for i, item in enumerate(data))
        return tuple(s for s in steps if s is not None)

    def step(self, data: Any, path: str) -> Step | None:
        if not isinstance(data, dict):
            self.problem(path, "A step must name an action and its inputs.")
            return None
        step_id = data.get("id")
        if not isinstance(step_id, str) or not STEP_ID_RE.match(step_id):
            self.problem(f"{path}.id", "Give the step a short id: letters, digits and underscores.")
            step_id = ""
        elif step_id in self.step_ids:
            self.problem(f"{path}.id", f"Another step is already called '{step_id}'.")
        self.step_ids.add(step_id)
        action = data.get("action")
        if not isinstance(action, str) or not action:
            self.problem(f"{path}.action", "Pick the action this step does.")
            action = ""
        raw_inputs = data.get("inputs", {}) or {}
        inputs: dict[str, Binding] = {}
        if not isinstance(raw_inputs, dict):
            self.problem(f"{path}.inputs", "A step's inputs must be a set of named values.")
        else:
            for name, raw in raw_inputs.items():
                binding = self.binding(raw, f"{path}.inputs.{name}")
                if binding is not None:
                    inputs[str(name)] = binding
        return Step(
            id=step_id,
            action=action,
            inputs=inputs,
            condition=self.nodes(data.get("condition"), f"{path}.condition"),
            then=self.steps(data.get("then"), f"{path}.then"),
            otherwise=self.steps(data.get("else"), f"{path}.else"),
        )

    def alert(self, data: Any) -> Alert | None:
        if data is None:
            return None
        if not isinstance(data, dict):
            self.problem("alert", "The alert names a kind (email, slack, webhook) and a target.")
            return None
        kind, target = data.get("kind"), data.get("target")
        if not isinstance(kind, str) or kind not in AlertKind.__members__.values():
            self.problem("alert.kind", "Alerts go by email, to Slack or to a webhook.")
            return None
        if not isinstance(target, str) or not target.strip():
            self.problem("alert.target", "Say who gets the alert.")
            return None
        return Alert(AlertKind(kind), target.strip())


def parse_definition(data: Any, *, name: str = "") -> tuple[RuleDraft, list[StructureProblem]]:
    """Return the draft read from definition JSON and the structure problems found on the way."""
    parser = _Parser()
    if not isinstance(data, dict):
        parser.problem("", "A rule definition is an object with a trigger, conditions and steps.")
        data = {}
    draft = RuleDraft(
        trigger=parser.trigger(data.get("trigger")),
        conditions=parser.nodes(data.get("conditions"), "conditions"),
        steps=parser.steps(data.get("steps"), "steps"),
        alert=parser.alert(data.get("alert")),
        name=name,
    )
    return draft, parser.problems
