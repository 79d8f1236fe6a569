"""Properties: templates and conditions raise only their declared errors; cycles are exact."""

from __future__ import annotations

import subprocess
import sys
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import catalog.catalog_entries
from automations.checker.cycles import EmittedEvent, RuleGraphNode, find_cycle
from automations.checker.paths import PathScope
from automations.conditions import ConditionError, compile_conditions
from automations.draft import Condition, ConditionGroup, Match
from automations.dryrun import PayloadResolver
from automations.templating import (
    MISSING,
    TemplateSyntaxError,
    is_valid_path,
    parse,
)
from catalog.registry import Registry
from catalog.types import (
    FieldSpec,
    ListType,
    Operator,
    StringType,
    boolean,
    date,
    datetime,
    decimal,
    duration,
    email,
    enum_of,
    integer,
    list_of,
    money,
    object_of,
    optional,
    phone,
    ref,
    string,
    text,
    url,
)

REGISTRY = Registry()
REGISTRY.register_module(catalog.catalog_entries)

SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)

TOKENS = [*"{}%[]._ '\"*|()ab01\n", "{{", "}}", "{{ ", " }}", "__", "steps.", "x.y", "[2]"]
template_text = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join) | st.text(max_size=40)

INJECTIONS = [
    "{{ ''.__class__ }}",
    "{{ a.__globals__ }}",
    "{% import os %}",
    "{{ 7*7 }}",
    "{{ config.items() }}",
    "{{ self.__init__.__globals__['os'].system('id') }}",
    "{{ __import__('os').system('id') }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ request|attr('application') }}",
    "{{ lipsum.__globals__.os.popen('id').read() }}",
    "{{{{ a }}}}",
    "{{ a[0]['b'] }}",
    "{{ a[1:2] }}",
    "{{ a.b[-1] }}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "{{ a }}}}",
]


def test_pure_modules_import_nothing_from_django_db():
    # given
    code = (
        "import sys, automations.templating, automations.conditions, automations.dryrun, "
        "automations.checker.cycles; "
        "assert not any(m == 'django.db' or m.startswith('django.db.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('django.db'))"
    )

    # when
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )

    # then
    assert result.returncode == 0, result.stderr


@SETTINGS
@given(source=template_text)
def test_random_templates_raise_only_template_syntax_error(source):
    # when
    error = None
    try:
        template = parse(source)
    except TemplateSyntaxError as raised:
        error = raised

    # then
    if error is not None:
        assert 0 <= error.position <= len(source)
    else:
        assert all(is_valid_path(path) for path in template.placeholders)
        assert isinstance(template.render(lambda path: MISSING), str)


@SETTINGS
@given(source=template_text, value=json_values)
def test_rendering_a_parsed_template_never_raises(source, value):
    # given
    try:
        template = parse(source)
    except TemplateSyntaxError:
        return

    # when
    text = template.render(lambda path: value)

    # then
    assert isinstance(text, str)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_template_injections_are_syntax_errors_or_literal_text(injection):
    # given
    asked = []

    def resolve(path):
        asked.append(path)
        return "VALUE"

    # when
    try:
        template = parse(injection)
    except TemplateSyntaxError:
        return
    text = template.render(resolve)

    # then: only well-formed data paths were looked up, and nothing was computed
    assert all(is_valid_path(path) and "__" not in path for path in asked)
    assert "49" not in text
    assert text == "".join(part if isinstance(part, str) else "VALUE" for part in template.parts)


@SETTINGS
@given(
    prefix=template_text,
    injection=st.sampled_from(INJECTIONS),
    suffix=template_text,
)
def test_injections_inside_random_text_never_execute(prefix, injection, suffix):
    # given
    asked = []

    def resolve(path):
        asked.append(path)
        return ""

    # when
    try:
        template = parse(prefix + injection + suffix)
    except TemplateSyntaxError:
        return
    template.render(resolve)

    # then
    assert all(is_valid_path(path) and "__" not in path for path in asked)


FIELD_SPECS = [
    FieldSpec(string()),
    FieldSpec(text()),
    FieldSpec(email()),
    FieldSpec(phone()),
    FieldSpec(url()),
    FieldSpec(integer()),
    FieldSpec(decimal()),
    FieldSpec(money()),
    FieldSpec(boolean()),
    FieldSpec(datetime()),
    FieldSpec(date()),
    FieldSpec(duration()),
    FieldSpec(enum_of("a", "b")),
    FieldSpec(ref("customer")),
    FieldSpec(list_of(string())),
    FieldSpec(list_of(money())),
    FieldSpec(object_of(is_open=True)),
    optional(integer()),
]

operand_values = json_values | st.sampled_from(
    [
        {"amount": "10.00", "currency": "EUR"},
        [{"amount": "1", "currency": "EUR"}, {"amount": "9", "currency": "USD"}],
        "2025-03-01T09:00:00Z",
        "2025-03-01",
        "PT5M",
        ["a", "b"],
        [1, 2],
        "(a+)+$",
        "([",
    ]
)


@SETTINGS
@given(
    spec=st.sampled_from(FIELD_SPECS),
    operator=st.sampled_from([op.value for op in Operator] + ["nope"]),
    value=operand_values,
    actual=operand_values | st.just(MISSING),
    match=st.sampled_from([Match.ALL, Match.ANY]),
)
def test_random_conditions_raise_only_condition_error(spec, operator, value, actual, match):
    # given
    leaf = Condition("x", operator, value, has_value=True)
    try:
        compiled = compile_conditions([ConditionGroup(match, (leaf,))], lambda path: spec)
    except ConditionError:
        return

    # when
    result = compiled.evaluate(lambda path: actual)

    # then
    assert isinstance(result.passed, bool)
    assert compiled.matches(lambda path: actual) is result.passed


def _operand_for(spec, operator, example):
    """A valid operand for ``operator`` built from the example value of the field."""
    if operator in (Operator.IS_SET, Operator.IS_NOT_SET):
        return None
    operand_type = spec.type.operand_type(operator)
    if operand_type is None:
        return None
    if operator is Operator.LENGTH:
        return len(example)
    if operator is Operator.WITHIN_LAST:
        return "P1D"
    if operator is Operator.LIST_CONTAINS:
        return example[0] if example else None
    if isinstance(operand_type, ListType):
        return [example, example] if operator is Operator.BETWEEN else [example]
    if isinstance(operand_type, StringType) and not isinstance(example, str):
        return str(example)
    return example


SELF_MATCHING = {
    Operator.EQ,
    Operator.GTE,
    Operator.LTE,
    Operator.BETWEEN,
    Operator.EQUALS,
    Operator.CONTAINS,
    Operator.STARTS_WITH,
    Operator.IN_LIST,
    Operator.IS,
    Operator.IS_ONE_OF,
    Operator.LIST_CONTAINS,
    Operator.LENGTH,
    Operator.IS_SET,
}


def _catalog_leaves():
    for trigger in REGISTRY.triggers():
        for name, spec in trigger.payload.items():
            if name not in trigger.example:
                continue
            for operator in spec.operators:
                yield pytest.param(trigger, name, operator, id=f"{trigger.key}.{name}.{operator}")


@pytest.mark.parametrize(("trigger", "name", "operator"), list(_catalog_leaves()))
def test_catalog_example_payloads_evaluate_under_their_fields_conditions(trigger, name, operator):
    # given
    example = trigger.example[name]
    spec = trigger.payload[name]
    value = _operand_for(spec, operator, example)
    leaf = Condition(name, operator.value, value, has_value=value is not None)
    if operator is Operator.LIST_CONTAINS and value is None:
        pytest.skip("empty example list")
    compiled = compile_conditions([leaf], PathScope.for_trigger(trigger).resolve)

    # when
    result = compiled.evaluate(PayloadResolver(trigger.example, payload_type=trigger.payload_type))

    # then
    if operator in SELF_MATCHING:
        assert result.passed is True
    assert [t.actual for t in result.trace] == [example]


@SETTINGS
@given(data=st.data())
def test_catalog_example_payloads_evaluate_under_random_operands(data):
    # given
    trigger = data.draw(st.sampled_from(REGISTRY.triggers()))
    name = data.draw(st.sampled_from(sorted(trigger.example)))
    spec = trigger.payload[name]
    operator = data.draw(st.sampled_from([op.value for op in spec.operators] or ["eq"]))
    value = data.draw(operand_values)
    try:
        compiled = compile_conditions(
            [Condition(name, operator, value, has_value=True)],
            PathScope.for_trigger(trigger).resolve,
        )
    except ConditionError:
        return

    # when
    result = compiled.evaluate(PayloadResolver(trigger.example))

    # then
    assert isinstance(result.passed, bool)


# ---------------------------------------------------------------------------------------------
# Cycles against a brute-force model

TAGS = ["a", "b", "c", "d"]
ACTIONS = [None, "added", "removed"]

rule_specs = st.lists(
    st.tuples(
        st.sampled_from([None, *TAGS]),  # the tag filter (None: any tag)
        st.sampled_from(ACTIONS),  # the action filter (None: any action)
        # the events the rule causes: (tag or None when not literal, action or None)
        st.lists(st.tuples(st.sampled_from([None, *TAGS]), st.sampled_from(ACTIONS)), max_size=2),
    ),
    min_size=1,
    max_size=8,
)


def _graph_nodes(specs):
    nodes = []
    for index, (tag_filter, action_filter, emits) in enumerate(specs):
        filters = {}
        if tag_filter is not None:
            filters["tag"] = frozenset({tag_filter})
        if action_filter is not None:
            filters["action"] = frozenset({action_filter})
        events = tuple(
            EmittedEvent(
                "customer_tagged",
                {k: v for k, v in (("tag", tag), ("action", action)) if v is not None},
            )
            for tag, action in emits
        )
        nodes.append(RuleGraphNode(index, f"R{index}", "customer_tagged", filters, events))
    return nodes


def _admits(event, rule):
    tag, action = event
    tag_filter, action_filter, _ = rule
    return (tag is None or tag_filter is None or tag == tag_filter) and (
        action is None or action_filter is None or action == action_filter
    )


def _edge(specs, source, target):
    return any(_admits(event, specs[target]) for event in specs[source][2])


def _shortest_loop_length(specs, start):
    distance = {start: 0}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in range(len(specs)):
            if not _edge(specs, current, target):
                continue
            if target == start:
                return distance[current] + 1
            if target not in distance:
                distance[target] = distance[current] + 1
                queue.append(target)
    return None


@SETTINGS
@given(specs=rule_specs)
def test_find_cycle_finds_exactly_the_shortest_loop_through_the_new_rule(specs):
    # given
    nodes = _graph_nodes(specs)

    # when
    cycle = find_cycle(nodes[0], nodes[1:])

    # then
    expected = _shortest_loop_length(specs, 0)
    if expected is None:
        assert cycle is None
    else:
        assert cycle is not None
        assert len(cycle) == expected + 1
        assert cycle[0] == cycle[-1] == "R0"
        positions = [int(name[1:]) for name in cycle]
        assert all(_edge(specs, a, b) for a, b in zip(positions, positions[1:], strict=False))
