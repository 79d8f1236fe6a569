"""Property tests: the checker never crashes, and what it accepts never fails to evaluate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import catalog.catalog_entries
from automations.checker import CheckContext, PathScope, check_rule
from automations.draft import parse_definition
from automations.dryrun import trace_rule
from catalog import types as t
from catalog.registry import Registry
from catalog.types import FieldSpec, Operator

REGISTRY = Registry()
REGISTRY.register_module(catalog.catalog_entries)
CONTEXT = CheckContext(registry=REGISTRY, plan="enterprise", rules={1: "Other rule"})
TRIGGERS = sorted(s.key for s in REGISTRY.triggers() if not s.accepts_unknown_keys)
ACTIONS = sorted(s.key for s in REGISTRY.actions())
PROPERTY_SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
paths = st.sampled_from(
    ["customer_id", "email", "amount", "order.customer.email", "customer.lifecycelStage", "x"]
) | st.text(max_size=20)
operators = st.sampled_from([o.value for o in Operator]) | st.text(max_size=8)
bindings = st.one_of(
    st.builds(lambda v: {"literal": v}, json_values),
    st.builds(lambda p: {"ref": p}, paths),
    st.builds(lambda s: {"template": s}, st.text(max_size=30)),
    json_values,
)
leaves = st.fixed_dictionaries(
    {"field": paths, "operator": operators}, optional={"value": json_values}
)
nodes = st.recursive(
    leaves,
    lambda children: st.fixed_dictionaries(
        {
            "match": st.sampled_from(["all", "any", "none"]),
            "children": st.lists(children, max_size=3),
        }
    ),
    max_leaves=6,
)
steps = st.recursive(
    st.fixed_dictionaries(
        {
            "id": st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
            "action": st.sampled_from(ACTIONS) | st.text(max_size=8),
            "inputs": st.dictionaries(st.text(max_size=10), bindings, max_size=4),
        }
    ),
    lambda children: st.fixed_dictionaries(
        {
            "id": st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
            "action": st.just("branch_by_condition"),
            "condition": st.lists(nodes, max_size=2),
            "then": st.lists(children, max_size=2),
            "else": st.lists(children, max_size=2),
        }
    ),
    max_leaves=5,
)
drafts = (
    st.fixed_dictionaries(
        {
            "trigger": st.fixed_dictionaries(
                {
                    "key": st.sampled_from(TRIGGERS) | st.text(max_size=10),
                    "config": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
                }
            ),
            "conditions": st.lists(nodes, max_size=4),
            "steps": st.lists(steps, max_size=4),
        },
        optional={"alert": st.dictionaries(st.text(max_size=6), json_values, max_size=2)},
    )
    | json_values
)


@PROPERTY_SETTINGS
@given(definition=drafts)
def test_random_drafts_never_crash_the_checker(definition: Any) -> None:
    # when
    draft, structure = parse_definition(definition, name="Random")
    problems = check_rule(draft, CONTEXT, structure)
    # then every problem is well formed
    for problem in problems:
        assert problem.code
        assert isinstance(problem.path, str)
        assert problem.message


# --- values of a declared type --------------------------------------------------------------


def values_of(field_type: t.FieldType) -> st.SearchStrategy[Any]:
    """Return a strategy of valid JSON values of ``field_type``."""
    if isinstance(field_type, t.EnumType):
        return st.sampled_from(field_type.values)
    if isinstance(field_type, t.EmailType):
        return st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|org|de)", fullmatch=True)
    if isinstance(field_type, t.PhoneType):
        return st.from_regex(r"\+[1-9][0-9]{7,12}", fullmatch=True)
    if isinstance(field_type, t.UrlType):
        return st.sampled_from(["https://example.com/a", "http://shop.example.org/p?x=1"])
    if isinstance(field_type, t.StringType):
        return st.text(max_size=20)
    if isinstance(field_type, t.IntegerType):
        return st.integers(field_type.minimum or -(10**6), field_type.maximum or 10**6)
    if isinstance(field_type, t.DecimalType):
        return st.decimals(-(10**6), 10**6, places=2).map(lambda d: format(d, "f"))
    if isinstance(field_type, t.MoneyType):
        return st.builds(
            lambda a, c: {"amount": format(a, "f"), "currency": c},
            st.decimals(Decimal(0), Decimal(10**5), places=2),
            st.sampled_from(["EUR", "USD"]),
        )
    if isinstance(field_type, t.BooleanType):
        return st.booleans()
    if isinstance(field_type, t.DatetimeType):
        return st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1)).map(
            lambda d: d.replace(microsecond=0).isoformat() + "Z"
        )
    if isinstance(field_type, t.DateType):
        return st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)).map(dt.date.isoformat)
    if isinstance(field_type, t.DurationType):
        return st.integers(0, 10**6).map(lambda s: f"PT{s}S")
    if isinstance(field_type, t.RefType):
        return st.integers(1, 10**6)
    if isinstance(field_type, t.ListType):
        return st.lists(values_of(field_type.item), min_size=field_type.min_items, max_size=3)
    if isinstance(field_type, t.ObjectType):
        required = {n: values_of(f.type) for n, f in field_type.fields.items() if not f.optional}
        optional = {n: values_of(f.type) for n, f in field_type.fields.items() if f.optional}
        return st.fixed_dictionaries(required, optional=optional)
    return json_values


@st.composite
def checked_rule_and_payload(draw: st.DrawFn) -> tuple[Any, dict[str, Any], PathScope]:
    """Draw a trigger, a valid payload for it, and conditions on its fields with typed operands."""
    spec = REGISTRY.get_trigger(draw(st.sampled_from(TRIGGERS)))
    payload = spec.validate_payload(draw(values_of(spec.payload_type)))
    conditions = []
    comparable = sorted((n, f) for n, f in spec.payload.items() if f.operators)
    chosen = draw(st.lists(st.sampled_from(comparable), max_size=3)) if comparable else []
    for name, field in chosen:
        field_spec: FieldSpec = field
        operator = draw(st.sampled_from(field_spec.operators))
        leaf: dict[str, Any] = {"field": name, "operator": operator.value}
        if operator not in (Operator.IS_SET, Operator.IS_NOT_SET):
            operand = field_spec.type.operand_type(operator)
            if operand is not None:
                leaf["value"] = draw(values_of(operand))
        conditions.append(leaf)
    definition = {"trigger": {"key": spec.key, "config": {}}, "conditions": conditions}
    return definition, payload, PathScope.for_trigger(spec)


@PROPERTY_SETTINGS
@given(case=checked_rule_and_payload())
def test_rules_that_pass_the_checker_evaluate_valid_payloads_without_type_errors(
    case: tuple[Any, dict[str, Any], PathScope],
) -> None:
    # given a rule the checker accepts
    definition, payload, scope = case
    draft, structure = parse_definition(definition, name="Generated")
    if check_rule(draft, CONTEXT, structure):
        return  # the checker refused it (a regex that could be slow, say): nothing to run
    # when it is dry-run on a payload valid for its trigger
    trace = trace_rule(draft, payload, type_of=scope.resolve, catalog=REGISTRY)
    # then it evaluates to a decision, with every leaf traced
    assert isinstance(trace.fired, bool)
    assert len(trace.conditions.trace) == len(definition["conditions"])


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_trigger_example_fires_a_rule_that_compares_a_field_with_its_own_value(
    trigger: str,
) -> None:
    # given a rule whose conditions say "field is exactly what the example carries"
    spec = REGISTRY.get_trigger(trigger)
    equality = (Operator.EQ, Operator.EQUALS, Operator.IS)
    conditions = [
        {"field": name, "operator": op.value, "value": spec.example[name]}
        for name, field in spec.payload.items()
        if name in spec.example
        for op in field.operators[:1]
        if op in equality
    ]
    definition = {
        "trigger": {"key": trigger, "config": dict(spec.example_config)},
        "conditions": conditions,
    }
    draft, structure = parse_definition(definition)
    assert check_rule(draft, CONTEXT, structure) == []
    # when it is dry-run on the example
    trace = trace_rule(
        draft, dict(spec.example), type_of=PathScope.for_trigger(spec).resolve, catalog=REGISTRY
    )
    # then it fires
    assert trace.fired is True, trace.conditions
