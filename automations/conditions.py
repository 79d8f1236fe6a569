"""Condition trees compiled once into typed predicates, with a trace of every leaf (pure, no eval).

:func:`compile_conditions` turns the nodes of a rule (or of a branch step) into a
:class:`CompiledConditions`: each leaf gets its field's type, its operator and its operand
validated and converted up front, so evaluation is only data lookups and comparisons.

Semantics (each pinned by ``tests/automations/test_conditions.py``):

- Top-level nodes must all hold. An ``all`` group holds when every child does, an ``any``
  group when one does; an empty group holds (it filters nothing).
- A missing or null value makes every comparison false, ``ne`` included; only ``is_not_set``
  holds for it. ``is_set``/``is_not_set`` are accepted on any field (an entity may hold null
  where a payload may not). A value that does not fit its declared type compares false.
- Numbers (integer, decimal, duration, money): ``eq ne gt gte lt lte between`` (inclusive; the
  bounds may be given in either order). Decimals compare as Decimal. Money compares only
  within one currency: any comparison across currencies is false, ``ne`` included.
- Text (string, text, email, phone, url): ``equals`` and ``in_list`` are exact, except for
  email fields, which compare case-insensitively (``Jane@Example.com`` is the same inbox as
  ``jane@example.com``); ``contains`` and ``starts_with`` ignore case everywhere. ``matches``
  searches with a Python regular expression (add ``(?i)`` to ignore case); a pattern that is
  invalid, longer than :data:`MAX_PATTERN_LENGTH` or has nested repeats such as ``(a+)+`` (which
  can take exponential time) never matches, and only the first :data:`MAX_SUBJECT_LENGTH`
  characters of the value are searched.
- enum, ref, boolean and date: ``is`` (equality) and ``is_one_of`` (enum and ref).
- Lists: ``list_contains`` (an item equal to the value, by the item type's equality),
  ``is_empty`` and ``length`` (the number of items equals the value, an integer).
- Datetimes and dates: ``before``, ``after``, ``between`` (inclusive) and ``within_last`` (a
  duration: the moment lies between ``now - duration`` and ``now``). Datetimes are aware, in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from automations.draft import Condition, ConditionGroup, ConditionNode, Match
from automations.templating import MISSING
from catalog.types import (
    DateType,
    EmailType,
    FieldSpec,
    FieldType,
    ListType,
    Money,
    Operator,
    ValidationError,
)

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "CompiledConditions",
    "ConditionError",
    "ConditionResult",
    "GroupTrace",
    "LeafTrace",
    "compile_conditions",
]

MAX_PATTERN_LENGTH: Final = 500
"""Longest regular expression ``matches`` accepts; longer ones never match."""

MAX_SUBJECT_LENGTH: Final = 2_000
"""``matches`` searches only this many leading characters of the value."""

_OPEN_REPEAT: Final = re.compile(r"\{\d*,")

type _Test = Callable[[Any], bool]


class ConditionError(ValueError):
    """A condition cannot be compiled: unknown operator or field, or a value of the wrong type.

    The checker reports these at save time, so at run time this means a programming error (or a
    catalog that changed under a saved rule). ``path`` is the node's index path.
    """

    def __init__(self, message: str, path: str) -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

    def __reduce__(self) -> tuple[type[ConditionError], tuple[str, str]]:
        return (ConditionError, (self.message, self.path))


@dataclass(frozen=True, slots=True)
class LeafTrace:
    """How one leaf fared: ``actual`` is the JSON value found (None when ``missing``)."""

    path: str
    field: str
    operator: str
    expected: Any
    actual: Any
    passed: bool
    missing: bool = False


@dataclass(frozen=True, slots=True)
class GroupTrace:
    """How one group fared (``path`` of the group, ``all``/``any``)."""

    path: str
    match: str
    passed: bool


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """Whether the conditions hold, with every leaf and group in document order."""

    passed: bool
    trace: list[LeafTrace] = field(default_factory=list)
    groups: list[GroupTrace] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Comparisons


def _compare(left: Any, right: Any) -> int | None:
    """Return -1, 0 or 1, or None when the two cannot be compared (different currencies)."""
    if isinstance(left, Money) or isinstance(right, Money):
        if not (isinstance(left, Money) and isinstance(right, Money)):
            return None
        if left.currency != right.currency:
            return None
        left, right = left.amount, right.amount
    try:
        return int(left > right) - int(left < right)
    except TypeError:
        return None


def _between(value: Any, bounds: Any) -> bool:
    low, high = bounds
    order = _compare(low, high)
    if order is None:
        return False
    if order > 0:
        low, high = high, low
    above, below = _compare(value, low), _compare(value, high)
    return above is not None and below is not None and above >= 0 and below <= 0


def _equality(field_type: FieldType) -> Callable[[Any, Any], bool]:
    if isinstance(field_type, EmailType):
        return lambda a, b: (
            isinstance(a, str) and isinstance(b, str) and a.casefold() == b.casefold()
        )
    return lambda a, b: bool(a == b)


def _is_repeat(pattern: str, index: int) -> bool:
    return (
        pattern[index : index + 1] in ("+", "*") or _OPEN_REPEAT.match(pattern, index) is not None
    )


def _has_nested_repeat(pattern: str) -> bool:
    """Return whether a repeated group contains a repeat (``(a+)+``, ``((ab)*c){2,}``).

    Such patterns can backtrack for exponential time on a near-miss; Python's ``re`` has no
    timeout, so they are refused. A guard against the common case, not a proof.
    """
    groups: list[bool] = []  # per open group: whether it contains a repeat
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            groups.append(False)
        elif char == ")":
            inner = groups.pop() if groups else False
            repeated = _is_repeat(pattern, index + 1)
            if inner and repeated:
                return True
            if groups and (inner or repeated):
                groups[-1] = True
        elif groups and _is_repeat(pattern, index):
            groups[-1] = True
        index += 1
    return False


def _regex(pattern: str) -> re.Pattern[str] | None:
    if len(pattern) > MAX_PATTERN_LENGTH or _has_nested_repeat(pattern):
        return None
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


def _regex_test(pattern: str) -> _Test:
    compiled = _regex(pattern)
    if compiled is None:
        return lambda actual: False
    return lambda actual: compiled.search(str(actual)[:MAX_SUBJECT_LENGTH]) is not None


def _within_last(
    field_type: FieldType, span: dt.timedelta, now: Callable[[], dt.datetime]
) -> _Test:
    def test(actual: Any) -> bool:
        current = now()
        if isinstance(field_type, DateType):
            return bool((current - span).date() <= actual <= current.date())
        return bool(current - span <= actual <= current)

    return test


def _test_for(
    field_type: FieldType, operator: Operator, expected: Any, now: Callable[[], dt.datetime]
) -> _Test:
    """Return the predicate of one leaf over the field's Python value."""
    equal = _equality(field_type)
    match operator:
        case Operator.EQ | Operator.IS:
            # Money equality includes the currency; Decimals compare by value ("10" == "10.0").
            return lambda actual: equal(actual, expected)
        case Operator.NE:
            return lambda actual: _compare(actual, expected) not in (None, 0)
        case Operator.GT | Operator.AFTER:
            return lambda actual: _compare(actual, expected) == 1
        case Operator.GTE:
            return lambda actual: _compare(actual, expected) in (0, 1)
        case Operator.LT | Operator.BEFORE:
            return lambda actual: _compare(actual, expected) == -1
        case Operator.LTE:
            return lambda actual: _compare(actual, expected) in (-1, 0)
        case Operator.BETWEEN:
            return lambda actual: _between(actual, expected)
        case Operator.WITHIN_LAST:
            return _within_last(field_type, expected, now)
        case Operator.EQUALS:
            return lambda actual: equal(actual, expected)
        case Operator.IN_LIST | Operator.IS_ONE_OF:
            return lambda actual: any(equal(actual, item) for item in expected)
        case Operator.CONTAINS:
            needle = str(expected).casefold()
            return lambda actual: needle in str(actual).casefold()
        case Operator.STARTS_WITH:
            prefix = str(expected).casefold()
            return lambda actual: str(actual).casefold().startswith(prefix)
        case Operator.MATCHES:
            return _regex_test(str(expected))
        case Operator.LIST_CONTAINS:
            assert isinstance(field_type, ListType)
            item_equal = _equality(field_type.item)
            return lambda actual: any(item_equal(item, expected) for item in actual)
        case Operator.IS_EMPTY:
            return lambda actual: len(actual) == 0
        case Operator.LENGTH:
            return lambda actual: len(actual) == expected
        case _:  # pragma: no cover - presence operators are handled by the leaf itself
            raise ConditionError(f"operator {operator.value} has no comparison", "")


# ---------------------------------------------------------------------------------------------
# Compiled nodes


@dataclass(frozen=True, slots=True)
class _Leaf:
    path: str
    field: str
    operator: Operator
    expected: Any  # the normalized JSON operand, for the trace
    spec: FieldSpec
    test: _Test

    def evaluate(self, resolve: Callable[[str], Any], trace: list[LeafTrace]) -> bool:
        raw = resolve(self.field)
        missing = raw is MISSING
        actual = None if missing else raw
        if self.operator is Operator.IS_SET:
            passed = actual is not None
        elif self.operator is Operator.IS_NOT_SET:
            passed = actual is None
        elif actual is None:
            passed = False
        else:
            passed = self._test(actual)
        trace.append(
            LeafTrace(
                self.path, self.field, self.operator.value, self.expected, actual, passed, missing
            )
        )
        return passed

    def _test(self, actual: Any) -> bool:
        try:
            value = self.spec.type.to_python(self.spec.type.validate(actual))
            return bool(self.test(value))
        except (ValidationError, ArithmeticError, TypeError, ValueError, AssertionError):
            # Data that does not fit its declared type cannot satisfy a typed comparison.
            return False


@dataclass(frozen=True, slots=True)
class _Group:
    path: str
    match: Match
    children: tuple[_Leaf | _Group, ...]

    def evaluate(
        self, resolve: Callable[[str], Any], trace: list[LeafTrace], groups: list[GroupTrace]
    ) -> bool:
        # Evaluate every child, without short-circuit, so the trace shows every leaf.
        results = [_evaluate(child, resolve, trace, groups) for child in self.children]
        passed = not results or (all(results) if self.match is Match.ALL else any(results))
        groups.append(GroupTrace(self.path, self.match.value, passed))
        return passed


def _evaluate(
    node: _Leaf | _Group,
    resolve: Callable[[str], Any],
    trace: list[LeafTrace],
    groups: list[GroupTrace],
) -> bool:
    if isinstance(node, _Leaf):
        return node.evaluate(resolve, trace)
    return node.evaluate(resolve, trace, groups)


def _matches(node: _Leaf | _Group, resolve: Callable[[str], Any]) -> bool:
    if isinstance(node, _Leaf):
        return node.evaluate(resolve, [])
    checks = (_matches(child, resolve) for child in node.children)
    if not node.children:
        return True
    return all(checks) if node.match is Match.ALL else any(checks)


@dataclass(frozen=True, slots=True)
class CompiledConditions:
    """A compiled condition tree; immutable, reusable, safe to share between threads."""

    nodes: tuple[_Leaf | _Group, ...]

    def evaluate(self, resolve: Callable[[str], Any]) -> ConditionResult:
        """Return whether every top-level node holds, with the trace of every leaf and group.

        ``resolve(path)`` returns the JSON value at a field path or MISSING; whatever it raises
        propagates. Comparisons never raise.
        """
        trace: list[LeafTrace] = []
        groups: list[GroupTrace] = []
        results = [_evaluate(node, resolve, trace, groups) for node in self.nodes]
        return ConditionResult(all(results), trace, groups)

    def matches(self, resolve: Callable[[str], Any]) -> bool:
        """Return whether the conditions hold, stopping at the first decisive leaf (no trace)."""
        return all(_matches(node, resolve) for node in self.nodes)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field path the conditions read, in document order (repeats removed)."""
        found: dict[str, None] = {}

        def walk(node: _Leaf | _Group) -> None:
            if isinstance(node, _Leaf):
                found.setdefault(node.field)
            else:
                for child in node.children:
                    walk(child)

        for node in self.nodes:
            walk(node)
        return tuple(found)


def _compile_leaf(
    leaf: Condition,
    path: str,
    type_of: Callable[[str], FieldSpec],
    now: Callable[[], dt.datetime],
) -> _Leaf:
    try:
        operator = Operator(leaf.operator)
    except ValueError:
        raise ConditionError(f'unknown operator "{leaf.operator}"', path) from None
    try:
        spec = type_of(leaf.field)
    except (LookupError, ValueError) as exc:
        raise ConditionError(f'unknown field "{leaf.field}": {exc}', path) from None
    if operator in (Operator.IS_SET, Operator.IS_NOT_SET):
        return _Leaf(path, leaf.field, operator, None, spec, lambda actual: True)
    if operator not in spec.type.operators:
        raise ConditionError(
            f"{leaf.field} ({spec.type.label}) cannot be compared with {operator.value}", path
        )
    operand_type = spec.type.operand_type(operator)
    expected_json: Any = None
    expected: Any = None
    if operand_type is not None:
        try:
            expected_json = operand_type.validate(leaf.value, "value")
        except ValidationError as exc:
            raise ConditionError(f"wrong value for {operator.value}: {exc}", path) from None
        expected = operand_type.to_python(expected_json)
    return _Leaf(
        path,
        leaf.field,
        operator,
        expected_json,
        spec,
        _test_for(spec.type, operator, expected, now),
    )


def _compile_node(
    node: ConditionNode,
    path: str,
    type_of: Callable[[str], FieldSpec],
    now: Callable[[], dt.datetime],
) -> _Leaf | _Group:
    if isinstance(node, ConditionGroup):
        children = tuple(
            _compile_node(child, f"{path}.children[{index}]", type_of, now)
            for index, child in enumerate(node.children)
        )
        return _Group(path, node.match, children)
    return _compile_leaf(node, path, type_of, now)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def compile_conditions(
    nodes: Sequence[ConditionNode],
    type_of: Callable[[str], FieldSpec],
    *,
    prefix: str = "conditions",
    now: Callable[[], dt.datetime] = _utc_now,
) -> CompiledConditions:
    """Compile condition nodes once; raise ConditionError for the first node that cannot be.

    ``type_of(path)`` returns the FieldSpec of a field path (raising LookupError or ValueError
    for an unknown one). ``prefix`` starts the index paths in traces and errors
    (``steps[2].condition`` for a branch). ``now`` is read by ``within_last`` at evaluation.
    """
    return CompiledConditions(
        tuple(
            _compile_node(node, f"{prefix}[{index}]", type_of, now)
            for index, node in enumerate(nodes)
        )
    )
