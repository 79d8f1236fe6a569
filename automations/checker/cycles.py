"""Cycle detection between rules: which rule's actions can start which rule (pure, SPEC 6.3).

Each rule becomes a :class:`RuleGraphNode`: the trigger it waits for, with the literal values
its trigger configuration and top-level conditions demand of the payload (``trigger_filters``),
and what its steps can cause: internal events (``emits``), chained rules (``runs_rules``) and
posts to the workspace's own webhook endpoints (``posts_to_endpoints``).

There is an edge A → B when

- A emits an event of B's trigger whose known values do not contradict B's filters (A tags
  ``welcomed``; B waits for ``customer_tagged`` with tag ``vip``: no edge). Values that are not
  literals in A are unknown and keep the edge. A self-edge (A → A) through an idempotent setter
  whose values are all literals (``update_price`` to a fixed price on ``product_updated``)
  converges and is left out: the second run changes nothing, so it emits nothing;
- A has a ``run_rule`` step whose rule is B (a literal rule id);
- A posts (``fire_webhook``, ``post_zapier``, ``post_to_make``, any HTTP action's URL input) to
  one of the workspace's endpoints, and B's trigger is ``webhook_received``/``zapier_event`` on
  that endpoint (or on no particular endpoint).

Literal comparison errs towards keeping edges: strings compare case-insensitively and numbers
by value (``"10"`` equals ``10.0``), so a reported loop may be impossible in rare cases but a
real loop is never missed because of spelling.

:func:`find_cycle` looks for the shortest loop through the rule being saved, with a breadth-first
search from that rule: triggers are indexed by filter value when first reached and each distinct
effect is followed once, so a check costs about linear time in the number of rules
(``bench/checker_cycles.py`` prints the figures for 5,000).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

from automations.draft import (
    BindingKind,
    Condition,
    ConditionGroup,
    ConditionNode,
    Match,
    RuleDraft,
    Step,
)
from automations.templating import Placeholder, TemplateSyntaxError, parse
from catalog.specs import ActionSpec, TriggerSpec
from catalog.types import RefType, UrlType

__all__ = [
    "ENDPOINT_TRIGGERS",
    "IMPLIED_VALUES",
    "CycleContext",
    "EmittedEvent",
    "EndpointLike",
    "RuleGraph",
    "RuleGraphNode",
    "find_cycle",
    "find_cycles_touching",
    "node_from_draft",
]

type Scalar = str | int | float | bool | None
type _Key = tuple[str, object]

ENDPOINT_TRIGGERS: frozenset[str] = frozenset({"webhook_received", "zapier_event"})
"""Triggers fired by a POST to one of the workspace's endpoints (config ``endpoint_id``)."""

IMPLIED_VALUES: Mapping[tuple[str, str], Mapping[str, Scalar]] = {
    ("tag", "customer_tagged"): {"action": "added"},
    ("untag", "customer_tagged"): {"action": "removed"},
}
"""Payload values an action always gives the event it emits, beyond its same-named inputs.

``update_field`` is handled by :func:`_update_field_events`: a literal ``field`` decides which
of its events can happen (``lifecycle_stage`` → lifecycle_changed with ``to_stage``; an opt-in
field → opt_in_changed with ``channel`` and ``action``; always customer_updated).
"""

_OPT_IN_FIELDS: Mapping[str, str] = {
    "email_opt_in": "email",
    "sms_opt_in": "sms",
    "whatsapp_opt_in": "whatsapp",
}

_CONFIG_ALIASES: Mapping[tuple[str, str], str] = {("repeat_order_milestone", "n"): "order_count"}
"""Trigger configuration keys that constrain a payload field of another name."""

_EQUALITY_OPERATORS = frozenset({"eq", "equals", "is"})
_MEMBERSHIP_OPERATORS = frozenset({"is_one_of", "in_list"})


class EndpointLike(Protocol):
    """One of the workspace's webhook endpoints, as the checker sees it."""

    @property
    def id(self) -> int:
        """The endpoint's primary key."""
        ...

    @property
    def url(self) -> str:
        """Its public URL (``https://typewire.example.com/hooks/<token>``)."""
        ...


class CatalogLike(Protocol):
    """The part of :class:`catalog.registry.Registry` that cycle detection reads."""

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


class CycleContext(Protocol):
    """What :func:`node_from_draft` needs of the checker's context (duck-typed CheckContext)."""

    @property
    def registry(self) -> CatalogLike:
        """The catalog."""
        ...

    @property
    def endpoints(self) -> Mapping[int, EndpointLike]:
        """The workspace's endpoints by id."""
        ...


@dataclass(frozen=True, slots=True)
class EmittedEvent:
    """An event a rule's step may cause, with the payload values known before it runs.

    ``converges`` marks an event of an idempotent setter whose value inputs are all literals
    (``update_price`` to a fixed price): when the rule runs again on it, the setter writes the
    same values, changes nothing and emits nothing, so the rule starting itself through this
    event is no loop. It still reaches other rules (two rules setting different prices would
    fight).
    """

    trigger_key: str
    values: Mapping[str, Any] = field(default_factory=dict)
    converges: bool = False


@dataclass(frozen=True, slots=True)
class RuleGraphNode:
    """A rule as cycle detection sees it (see the module docstring).

    ``trigger_filters`` maps a payload field to the literal values the rule accepts there; a
    field not named accepts anything. For endpoint triggers it holds ``endpoint_id``.
    """

    rule_id: int | None
    name: str
    trigger_key: str
    trigger_filters: Mapping[str, frozenset[Scalar]] = field(default_factory=dict)
    emits: tuple[EmittedEvent, ...] = ()
    runs_rules: tuple[int, ...] = ()
    posts_to_endpoints: tuple[int, ...] = ()


# ---------------------------------------------------------------------------------------------
# Literal values


_NUMERIC_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _key(value: object) -> _Key | None:
    """Return a comparison key for a literal, or None when it is not a comparable scalar.

    Numbers keep their numeric value (``10``, ``10.0``, ``"10"`` and ``Decimal("1E1")`` are
    equal and hash alike); other text compares case-insensitively.
    """
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("num", value)
    if isinstance(value, str):
        if _NUMERIC_RE.match(value):
            return ("num", Decimal(value.strip()))
        return ("str", value.casefold())
    if isinstance(value, float) and math.isfinite(value):
        return ("num", Decimal(repr(value)))
    if isinstance(value, Decimal) and value.is_finite():
        return ("num", value)
    return None


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _intersect(current: frozenset[Scalar] | None, new: frozenset[Scalar]) -> frozenset[Scalar]:
    if current is None:
        return new
    keys = {_key(value) for value in new}
    return frozenset(value for value in current if _key(value) in keys)


# ---------------------------------------------------------------------------------------------
# Building nodes


def _filters_from_conditions(
    nodes: Iterable[ConditionNode], filters: dict[str, frozenset[Scalar]]
) -> None:
    for node in nodes:
        if isinstance(node, ConditionGroup):
            # Only "all" groups constrain every run; an "any" group may pass without its leaf.
            if node.match is Match.ALL:
                _filters_from_conditions(node.children, filters)
            continue
        if not isinstance(node, Condition) or "." in node.field or "[" in node.field:
            continue
        values: frozenset[Scalar] | None = None
        if node.operator in _EQUALITY_OPERATORS and _is_scalar(node.value):
            values = frozenset({node.value})
        elif (
            node.operator in _MEMBERSHIP_OPERATORS
            and isinstance(node.value, list)
            and all(_is_scalar(item) for item in node.value)
        ):
            values = frozenset(node.value)
        if values is not None and node.value is not None:
            filters[node.field] = _intersect(filters.get(node.field), values)


def _trigger_filters(draft: RuleDraft, registry: CatalogLike) -> dict[str, frozenset[Scalar]]:
    key = draft.trigger.key
    payload: Mapping[str, object] = (
        registry.get_trigger(key).payload if registry.has_trigger(key) else {}
    )
    filters: dict[str, frozenset[Scalar]] = {}
    for name, value in draft.trigger.config.items():
        target = _CONFIG_ALIASES.get((key, name), name)
        if target in payload and value is not None and _is_scalar(value):
            filters[target] = frozenset({value})
    _filters_from_conditions(draft.conditions, filters)
    return filters


def _literal_inputs(step: Step) -> dict[str, Any]:
    literals: dict[str, Any] = {}
    for name, binding in step.inputs.items():
        if binding.kind is BindingKind.LITERAL:
            literals[name] = binding.value
        elif binding.kind is BindingKind.TEMPLATE and isinstance(binding.value, str):
            text = _template_literal(binding.value)
            if text is not None:
                literals[name] = text
    return literals


def _template_literal(source: str) -> str | None:
    """Return the text of a template without placeholders, else None."""
    try:
        template = parse(source)
    except TemplateSyntaxError:
        return None
    return None if template.placeholders else source


def _update_field_events(literals: Mapping[str, Any], emits: Sequence[str]) -> list[EmittedEvent]:
    target = literals.get("field")
    if not isinstance(target, str):
        # The field is not known before the run: any of the declared events may follow.
        return [EmittedEvent(key, {}) for key in emits]
    customer = {"customer_id": literals["customer_id"]} if "customer_id" in literals else {}
    events = [EmittedEvent("customer_updated", dict(customer))]
    value = literals.get("value")
    if target == "lifecycle_stage" and "lifecycle_changed" in emits:
        to_stage = {"to_stage": value} if "value" in literals else {}
        events.append(EmittedEvent("lifecycle_changed", {**customer, **to_stage}))
    if target in _OPT_IN_FIELDS and "opt_in_changed" in emits:
        values: dict[str, Any] = {**customer, "channel": _OPT_IN_FIELDS[target]}
        if isinstance(value, bool):
            values["action"] = "opted_in" if value else "opted_out"
        events.append(EmittedEvent("opt_in_changed", values))
    return [event for event in events if event.trigger_key in emits]


def _converges(step: Step, spec: ActionSpec) -> bool:
    """Whether a second run of the step sets the same values (so it emits nothing).

    True for a declared idempotent setter whose every value input (an input that is not a
    reference to the entity it sets) is bound to a literal.
    """
    if not spec.is_idempotent_setter:
        return False
    for name, declared in spec.inputs.items():
        if isinstance(declared.type, RefType):
            continue
        binding = step.inputs.get(name)
        if binding is not None and binding.kind is not BindingKind.LITERAL:
            return False
    return True


def _emitted_events(step: Step, spec: ActionSpec, registry: CatalogLike) -> list[EmittedEvent]:
    literals = _literal_inputs(step)
    if spec.key == "update_field":
        return _update_field_events(literals, spec.emits)
    converges = _converges(step, spec)
    events = []
    for key in spec.emits:
        payload = registry.get_trigger(key).payload if registry.has_trigger(key) else {}
        values = {name: value for name, value in literals.items() if name in payload}
        values.update(IMPLIED_VALUES.get((spec.key, key), {}))
        events.append(EmittedEvent(key, values, converges))
    return events


def _fighting_setters(emits: list[EmittedEvent]) -> list[EmittedEvent]:
    """Drop ``converges`` from events whose trigger several of the rule's steps emit.

    Two setters of one rule may write different values to the same entity (a price of 10,
    then 20): each run changes it again, so their events do not converge.
    """
    counts: dict[str, int] = {}
    for event in emits:
        counts[event.trigger_key] = counts.get(event.trigger_key, 0) + 1
    return [
        EmittedEvent(e.trigger_key, e.values, False)
        if e.converges and counts[e.trigger_key] > 1
        else e
        for e in emits
    ]


def _hook_token(url: str) -> str | None:
    """Return the ``<token>`` of a ``.../hooks/<token>`` URL, else None."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    marker = path.rfind("/hooks/")
    if marker < 0:
        return None
    token = path[marker + len("/hooks/") :].strip("/")
    return token if token and "/" not in token else None


def _same_or_below(text: str, endpoint_url: str) -> bool:
    """Return whether ``text`` is the endpoint's URL or starts with it at a path boundary."""
    base = endpoint_url.rstrip("/")
    if not base or not text.startswith(base):
        return False
    return len(text) == len(base) or text[len(base)] in "/?#"


def _url_prefix(step: Step, name: str) -> tuple[str, bool] | None:
    """Return the known text of a URL input and whether it is the whole URL."""
    binding = step.inputs.get(name)
    if binding is None or not isinstance(binding.value, str):
        return None
    if binding.kind is BindingKind.LITERAL:
        return binding.value, True
    if binding.kind is BindingKind.TEMPLATE:
        try:
            template = parse(binding.value)
        except TemplateSyntaxError:
            return None
        if not template.parts:
            return "", True
        first = template.parts[0]
        if isinstance(first, Placeholder):
            return None
        return first, len(template.parts) == 1
    return None


def _posted_endpoints(
    step: Step, spec: ActionSpec, endpoints: Mapping[int, EndpointLike]
) -> list[int]:
    if not spec.is_http or not endpoints:
        return []
    found: list[int] = []
    for name, input_spec in spec.inputs.items():
        if not isinstance(input_spec.type, UrlType):
            continue
        known = _url_prefix(step, name)
        if known is None:
            continue
        text, whole = known
        token = _hook_token(text) if whole else None
        for endpoint in endpoints.values():
            if _same_or_below(text, endpoint.url):
                found.append(endpoint.id)
            elif token is not None and token == _hook_token(endpoint.url):
                # Same endpoint reached through another host name (a proxy, an internal URL).
                found.append(endpoint.id)
    return found


def node_from_draft(
    rule_id: int | None, name: str, draft: RuleDraft, context: CycleContext
) -> RuleGraphNode:
    """Return the graph node of a rule draft; unknown actions and triggers add no edges.

    ``context`` provides ``registry`` (the catalog) and ``endpoints`` (the workspace's
    endpoints by id, each with ``id`` and ``url``). Steps nested in branches count.
    """
    registry = context.registry
    emits: list[EmittedEvent] = []
    runs: list[int] = []
    posts: list[int] = []
    for _path, step in draft.walk_steps():
        if not registry.has_action(step.action):
            continue
        spec = registry.get_action(step.action)
        emits.extend(_emitted_events(step, spec, registry))
        if spec.key == "run_rule":
            binding = step.inputs.get("rule_id")
            if binding is not None and binding.kind is BindingKind.LITERAL:
                target = binding.value
                if isinstance(target, int) and not isinstance(target, bool):
                    runs.append(target)
        posts.extend(_posted_endpoints(step, spec, context.endpoints))
    return RuleGraphNode(
        rule_id=rule_id,
        name=name or draft.name,
        trigger_key=draft.trigger.key,
        trigger_filters=_trigger_filters(draft, registry),
        emits=tuple(_fighting_setters(emits)),
        runs_rules=tuple(dict.fromkeys(runs)),
        posts_to_endpoints=tuple(dict.fromkeys(posts)),
    )


# ---------------------------------------------------------------------------------------------
# The graph


@dataclass(slots=True)
class _TriggerIndex:
    """The rules of one trigger, by the values their filters admit."""

    rules: list[int]
    by_value: dict[tuple[str, _Key], list[int]] = field(default_factory=dict)
    unfiltered: dict[str, list[int]] = field(default_factory=dict)


class RuleGraph:
    """Indexes rule nodes by trigger, filter value, rule id and endpoint, to walk edges quickly.

    An event reaches the rules of its trigger whose filters admit its known values; the index
    maps ``(field, value)`` to the rules filtering on that value and keeps the rules with no
    filter on the field apart, so an event with a literal value looks at few rules. A trigger
    is indexed the first time an event of it is followed, so a check pays only for the
    triggers it reaches.
    """

    def __init__(self, nodes: Sequence[RuleGraphNode]) -> None:
        """Index ``nodes``; a later node replaces an earlier one with the same rule id."""
        by_id: dict[int, int] = {}
        kept: list[RuleGraphNode] = []
        for node in nodes:
            if node.rule_id is not None and node.rule_id in by_id:
                kept[by_id[node.rule_id]] = node
                continue
            if node.rule_id is not None:
                by_id[node.rule_id] = len(kept)
            kept.append(node)
        self.nodes: tuple[RuleGraphNode, ...] = tuple(kept)
        self._by_id = by_id
        self._by_trigger: dict[str, list[int]] = {}
        self._indexes: dict[str, _TriggerIndex] = {}
        self._filters: dict[int, dict[str, frozenset[_Key]]] = {}
        self._by_endpoint: dict[int, list[int]] = {}
        self._any_endpoint: list[int] = []
        for index, node in enumerate(self.nodes):
            self._by_trigger.setdefault(node.trigger_key, []).append(index)
            if node.trigger_key in ENDPOINT_TRIGGERS:
                endpoint_ids = node.trigger_filters.get("endpoint_id")
                if endpoint_ids is None:
                    self._any_endpoint.append(index)
                for endpoint_id in endpoint_ids or ():
                    if isinstance(endpoint_id, int):
                        self._by_endpoint.setdefault(endpoint_id, []).append(index)

    def index_of(self, rule_id: int) -> int | None:
        """Return the position of rule ``rule_id`` in :attr:`nodes`, or None."""
        return self._by_id.get(rule_id)

    def _filters_of(self, index: int) -> dict[str, frozenset[_Key]]:
        filters = self._filters.get(index)
        if filters is None:
            filters = self._filters[index] = _key_filters(self.nodes[index].trigger_filters)
        return filters

    def _index(self, trigger: str) -> _TriggerIndex:
        found = self._indexes.get(trigger)
        if found is not None:
            return found
        index = self._indexes[trigger] = _TriggerIndex(self._by_trigger.get(trigger, []))
        for rule in index.rules:
            for name, keys in self._filters_of(rule).items():
                index.unfiltered.setdefault(name, [])
                for key in keys:
                    index.by_value.setdefault((name, key), []).append(rule)
        for name, without in index.unfiltered.items():
            without.extend(rule for rule in index.rules if name not in self._filters_of(rule))
        return index

    def _accepts(self, target: int, known: Mapping[str, _Key]) -> bool:
        for name, allowed in self._filters_of(target).items():
            key = known.get(name)
            if key is not None and key not in allowed:
                return False
        return True

    def _event_targets(
        self, trigger: str, index: _TriggerIndex, known: Mapping[str, _Key], seen: set[object]
    ) -> Iterable[int]:
        if not known:
            return index.rules
        # Look up by one known value; any other known value is checked rule by rule.
        name, key = next(iter(known.items()))
        matching = index.by_value.get((name, key), [])
        if len(known) > 1:
            candidates = matching + index.unfiltered[name]
            return (target for target in candidates if self._accepts(target, known))
        # The rules without a filter on the field take every value: follow them only once.
        unfiltered = ("unfiltered", trigger, name)
        if unfiltered in seen:
            return matching
        seen.add(unfiltered)
        return matching + index.unfiltered[name]

    @staticmethod
    def _known(event: EmittedEvent, index: _TriggerIndex) -> dict[str, _Key]:
        """The event's values that some rule of its trigger filters on, as comparison keys."""
        known: dict[str, _Key] = {}
        for name, value in event.values.items():
            key = _key(value) if name in index.unfiltered else None
            if key is not None:
                known[name] = key
        return known

    def successors(self, index: int, seen: set[object] | None = None) -> Iterable[int]:
        """Yield the positions of the rules that rule ``index`` can start (repeats possible).

        With ``seen`` (one set per search), effects already expanded (the same event, rule or
        endpoint) are skipped and recorded: they can only lead to rules found before.
        """
        if seen is None:
            seen = set()
        node = self.nodes[index]
        for event in node.emits:
            trigger_index = self._index(event.trigger_key)
            known = self._known(event, trigger_index)
            if event.converges:
                # Followed on its own (not shared through ``seen``): unlike the same event from
                # another rule, it does not lead back to the rule that emits it.
                targets = self._event_targets(event.trigger_key, trigger_index, known, set())
                yield from (target for target in targets if target != index)
                continue
            signature = ("event", event.trigger_key, frozenset(known.items()))
            if signature in seen:
                continue
            seen.add(signature)
            yield from self._event_targets(event.trigger_key, trigger_index, known, seen)
        for rule_id in node.runs_rules:
            target_index = self._by_id.get(rule_id)
            if target_index is not None:
                yield target_index
        for endpoint_id in node.posts_to_endpoints:
            if ("endpoint", endpoint_id) in seen:
                continue
            seen.add(("endpoint", endpoint_id))
            yield from self._by_endpoint.get(endpoint_id, ())
            endpoint_known: dict[str, _Key] = {"endpoint_id": ("num", endpoint_id)}
            for target in self._any_endpoint:
                if self._accepts(target, endpoint_known):
                    yield target

    def shortest_cycle_through(self, start: int) -> list[str] | None:
        """Return the names along the shortest loop from rule ``start`` back to it, or None."""
        parents: dict[int, int] = {start: start}
        seen: set[object] = set()
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for target in self.successors(current, seen):
                if target == start:
                    path = [current]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    path.reverse()
                    return [self.nodes[i].name for i in path] + [self.nodes[start].name]
                if target not in parents:
                    parents[target] = current
                    queue.append(target)
        return None


def _key_filters(filters: Mapping[str, frozenset[Scalar]]) -> dict[str, frozenset[_Key]]:
    """The filters as comparison keys; a filter with a value that has no key constrains nothing."""
    keyed: dict[str, frozenset[_Key]] = {}
    for name, allowed in filters.items():
        keys = [_key(value) for value in allowed]
        if all(key is not None for key in keys):
            keyed[name] = frozenset(key for key in keys if key is not None)
    return keyed


def find_cycle(new: RuleGraphNode, others: Sequence[RuleGraphNode]) -> list[str] | None:
    """Return the shortest loop through ``new`` as rule names (``["A", "B", "A"]``), or None.

    ``new`` replaces any node of ``others`` with the same rule id. A rule that starts itself
    gives ``["A", "A"]``. Loops that do not pass through ``new`` are not reported.
    """
    if new.rule_id is not None:
        others = [node for node in others if node.rule_id != new.rule_id]
    graph = RuleGraph([new, *others])
    return graph.shortest_cycle_through(0)


def find_cycles_touching(
    rule_ids: Iterable[int], nodes: Sequence[RuleGraphNode]
) -> dict[int, list[str]]:
    """Return, for each of ``rule_ids`` on a loop, the shortest loop through it (by rule id).

    For re-checks after something several rules depend on changes (an endpoint's URL, a rule
    switched on again). Ids not among ``nodes`` and rules on no loop are left out.
    """
    graph = RuleGraph(nodes)
    found: dict[int, list[str]] = {}
    for rule_id in rule_ids:
        index = graph.index_of(rule_id)
        if index is None:
            continue
        cycle = graph.shortest_cycle_through(index)
        if cycle is not None:
            found[rule_id] = cycle
    return found
