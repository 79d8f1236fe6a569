"""Compiled conditions: every operator of catalog.types, typed comparisons, traces, errors."""

from __future__ import annotations

import datetime as dt

import pytest

from automations.conditions import (
    ConditionError,
    GroupTrace,
    LeafTrace,
    compile_conditions,
)
from automations.draft import Condition, ConditionGroup, Match
from automations.templating import MISSING
from catalog.types import (
    FieldSpec,
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
    optional,
    ref,
    string,
    text,
)

NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)

TYPES: dict[str, FieldSpec] = {
    "count": FieldSpec(integer()),
    "lift": FieldSpec(decimal()),
    "total": FieldSpec(money()),
    "delay": FieldSpec(duration()),
    "email": FieldSpec(email()),
    "title": FieldSpec(string()),
    "body": FieldSpec(text()),
    "stage": FieldSpec(enum_of("lead", "vip", "churned")),
    "customer_id": FieldSpec(ref("customer")),
    "opted_in": FieldSpec(boolean()),
    "tags": FieldSpec(list_of(string())),
    "emails": FieldSpec(list_of(email())),
    "phone": optional(string()),
    "paid_at": FieldSpec(datetime()),
    "birthday": FieldSpec(date()),
}


def _type_of(path):
    return TYPES[path]


def _leaf(field, operator, value=None, *, has_value=True):
    return Condition(field, operator, value, has_value=has_value)


def _check(condition, payload):
    compiled = compile_conditions([condition], _type_of, now=lambda: NOW)
    return compiled.evaluate(lambda path: payload.get(path, MISSING)).passed


EUR_100 = {"amount": "100.00", "currency": "EUR"}


@pytest.mark.parametrize(
    ("_case", "field", "operator", "value", "actual", "passed"),
    [
        # integers and decimals
        ("int eq", "count", "eq", 3, 3, True),
        ("int eq other", "count", "eq", 3, 4, False),
        ("int ne", "count", "ne", 3, 4, True),
        ("int gt", "count", "gt", 3, 4, True),
        ("int gt equal", "count", "gt", 3, 3, False),
        ("int gte", "count", "gte", 3, 3, True),
        ("int lt", "count", "lt", 3, 2, True),
        ("int lte", "count", "lte", 3, 4, False),
        ("int between inside", "count", "between", [1, 5], 5, True),
        ("int between reversed bounds", "count", "between", [5, 1], 1, True),
        ("int between outside", "count", "between", [1, 5], 6, False),
        ("decimal eq by value", "lift", "eq", "1.50", "1.5", True),
        ("decimal gt", "lift", "gt", 1, "1.01", True),
        ("decimal gt from float", "lift", "gt", 0.1, "0.1", False),
        # money: same currency only
        ("money gt", "total", "gt", EUR_100, {"amount": "120", "currency": "EUR"}, True),
        ("money eq scale", "total", "eq", EUR_100, {"amount": "100", "currency": "EUR"}, True),
        (
            "money other currency gt",
            "total",
            "gt",
            EUR_100,
            {"amount": "900", "currency": "USD"},
            False,
        ),
        (
            "money other currency ne",
            "total",
            "ne",
            EUR_100,
            {"amount": "900", "currency": "USD"},
            False,
        ),
        (
            "money other currency eq",
            "total",
            "eq",
            EUR_100,
            {"amount": "100", "currency": "USD"},
            False,
        ),
        (
            "money between",
            "total",
            "between",
            [{"amount": "50", "currency": "EUR"}, EUR_100],
            {"amount": "75", "currency": "EUR"},
            True,
        ),
        (
            "money between mixed bounds",
            "total",
            "between",
            [{"amount": "50", "currency": "USD"}, EUR_100],
            {"amount": "75", "currency": "EUR"},
            False,
        ),
        # durations
        ("duration gt", "delay", "gt", "PT5M", "PT1H", True),
        ("duration eq seconds", "delay", "eq", 300, "PT5M", True),
        # text
        ("equals exact", "title", "equals", "Tee", "Tee", True),
        ("equals is case-sensitive", "title", "equals", "tee", "Tee", False),
        (
            "email equals ignores case",
            "email",
            "equals",
            "JANE@example.com",
            "jane@Example.COM",
            True,
        ),
        ("contains ignores case", "title", "contains", "TEE", "Organic tee", True),
        ("contains misses", "title", "contains", "shirt", "Organic tee", False),
        ("starts_with ignores case", "body", "starts_with", "hello", "Hello there", True),
        ("starts_with misses", "body", "starts_with", "there", "Hello there", False),
        ("matches searches", "email", "matches", r"@(gmail|yahoo)\.com$", "a@gmail.com", True),
        ("matches misses", "email", "matches", r"@(gmail|yahoo)\.com$", "a@acme.io", False),
        ("matches is case-sensitive", "title", "matches", "^tee", "Tee", False),
        ("matches with inline flag", "title", "matches", "(?i)^tee", "Tee", True),
        ("invalid regex never matches", "title", "matches", "([a-", "([a-", False),
        ("nested repeat refused", "title", "matches", "(a+)+$", "aaaa", False),
        ("overlong pattern refused", "title", "matches", "a" * 501, "a" * 501, False),
        ("in_list exact", "title", "in_list", ["Tee", "Cap"], "Cap", True),
        ("in_list case-sensitive", "title", "in_list", ["Tee", "Cap"], "cap", False),
        ("email in_list ignores case", "email", "in_list", ["A@x.io"], "a@x.io", True),
        # enum, ref, boolean
        ("enum is", "stage", "is", "vip", "vip", True),
        ("enum is other", "stage", "is", "vip", "lead", False),
        ("enum is_one_of", "stage", "is_one_of", ["vip", "lead"], "lead", True),
        ("ref is", "customer_id", "is", 42, 42, True),
        ("ref is_one_of", "customer_id", "is_one_of", [1, 2], 42, False),
        ("boolean is", "opted_in", "is", False, False, True),
        ("boolean is other", "opted_in", "is", True, False, False),
        # lists
        ("list_contains", "tags", "list_contains", "vip", ["new", "vip"], True),
        ("list_contains is exact", "tags", "list_contains", "VIP", ["new", "vip"], False),
        ("email list_contains ignores case", "emails", "list_contains", "A@x.io", ["a@x.io"], True),
        ("is_empty", "tags", "is_empty", None, [], True),
        ("is_empty not", "tags", "is_empty", None, ["a"], False),
        ("length", "tags", "length", 2, ["a", "b"], True),
        ("length other", "tags", "length", 3, ["a", "b"], False),
        # datetimes and dates
        ("before", "paid_at", "before", "2025-03-01T00:00:00Z", "2025-02-28T23:59:59Z", True),
        (
            "before offset",
            "paid_at",
            "before",
            "2025-03-01T01:00:00+01:00",
            "2025-03-01T00:00:00Z",
            False,
        ),
        ("after", "paid_at", "after", "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z", True),
        (
            "datetime between",
            "paid_at",
            "between",
            ["2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z"],
            "2025-03-05T00:00:00Z",
            True,
        ),
        ("within_last", "paid_at", "within_last", "P1D", "2025-03-09T12:00:00Z", True),
        ("within_last too old", "paid_at", "within_last", "P1D", "2025-03-09T11:59:59Z", False),
        ("within_last future", "paid_at", "within_last", "P1D", "2025-03-10T12:00:01Z", False),
        ("date is", "birthday", "is", "2025-03-10", "2025-03-10", True),
        ("date before", "birthday", "before", "2025-03-10", "2025-03-09", True),
        ("date within_last", "birthday", "within_last", "P7D", "2025-03-03", True),
        ("date within_last too old", "birthday", "within_last", "P7D", "2025-03-02", False),
    ],
)
def test_operator(_case, field, operator, value, actual, passed):
    # given
    condition = _leaf(field, operator, value, has_value=operator != "is_empty")

    # when
    result = _check(condition, {field: actual})

    # then
    assert result is passed


@pytest.mark.parametrize(
    ("_case", "operator", "value"),
    [
        ("ne", "ne", 3),
        ("gt", "gt", 3),
        ("lt", "lt", 3),
        ("between", "between", [1, 5]),
    ],
)
@pytest.mark.parametrize("actual", [MISSING, None], ids=["missing", "null"])
def test_missing_or_null_value_makes_a_comparison_false(_case, operator, value, actual):
    # given
    payload = {} if actual is MISSING else {"count": None}

    # when
    result = _check(_leaf("count", operator, value), payload)

    # then
    assert result is False


@pytest.mark.parametrize(
    ("_case", "payload", "is_set", "is_not_set"),
    [
        ("present", {"phone": "+49"}, True, False),
        ("empty string is set", {"phone": ""}, True, False),
        ("null", {"phone": None}, False, True),
        ("absent", {}, False, True),
    ],
)
def test_presence_operators(_case, payload, is_set, is_not_set):
    assert _check(_leaf("phone", "is_set", has_value=False), payload) is is_set
    assert _check(_leaf("phone", "is_not_set", has_value=False), payload) is is_not_set


def test_value_of_the_wrong_type_compares_false_instead_of_raising():
    # when
    result = _check(_leaf("count", "gt", 3), {"count": "three"})

    # then
    assert result is False


def test_trace_lists_every_leaf_and_group_in_document_order():
    # given
    nodes = [
        _leaf("total", "gt", EUR_100),
        ConditionGroup(
            Match.ANY,
            (_leaf("stage", "is", "vip"), _leaf("tags", "list_contains", "loyal")),
        ),
        _leaf("phone", "is_not_set", has_value=False),
    ]
    payload = {
        "total": {"amount": "120.00", "currency": "EUR"},
        "stage": "lead",
        "tags": ["loyal"],
    }
    compiled = compile_conditions(nodes, _type_of)

    # when
    result = compiled.evaluate(lambda path: payload.get(path, MISSING))

    # then
    assert result.passed is True
    assert result.trace == [
        LeafTrace(
            "conditions[0]", "total", "gt", EUR_100, {"amount": "120.00", "currency": "EUR"}, True
        ),
        LeafTrace("conditions[1].children[0]", "stage", "is", "vip", "lead", False),
        LeafTrace("conditions[1].children[1]", "tags", "list_contains", "loyal", ["loyal"], True),
        LeafTrace("conditions[2]", "phone", "is_not_set", None, None, True, missing=True),
    ]
    assert result.groups == [GroupTrace("conditions[1]", "any", True)]


def test_all_top_level_nodes_must_hold():
    # given
    nodes = [_leaf("count", "gt", 1), _leaf("count", "lt", 3)]
    compiled = compile_conditions(nodes, _type_of)

    # when
    results = [compiled.evaluate({"count": count}.__getitem__).passed for count in (2, 3)]

    # then
    assert results == [True, False]


@pytest.mark.parametrize(
    ("_case", "match", "passed"),
    [("empty all", Match.ALL, True), ("empty any", Match.ANY, True)],
)
def test_empty_groups_hold(_case, match, passed):
    # given
    compiled = compile_conditions([ConditionGroup(match, ())], _type_of)

    # when
    result = compiled.evaluate(lambda path: MISSING)

    # then
    assert result.passed is passed


def test_no_conditions_hold():
    assert compile_conditions([], _type_of).evaluate(lambda path: MISSING).passed is True


def test_matches_short_circuits_and_agrees_with_evaluate():
    # given
    asked = []
    nodes = [
        ConditionGroup(Match.ANY, (_leaf("count", "eq", 1), _leaf("title", "equals", "x"))),
        _leaf("count", "gt", 5),
    ]
    compiled = compile_conditions(nodes, _type_of)

    def resolve(path):
        asked.append(path)
        return {"count": 1, "title": "x"}[path]

    # when
    passed = compiled.matches(resolve)

    # then
    assert passed is False
    assert asked == ["count", "count"]
    assert compiled.evaluate(resolve).passed is False
    assert compiled.fields == ("count", "title")


@pytest.mark.parametrize(
    ("_case", "node", "message"),
    [
        ("unknown operator", _leaf("count", "bigger"), 'conditions[0]: unknown operator "bigger"'),
        (
            "unknown field",
            _leaf("nope", "eq", 1),
            "conditions[0]: unknown field \"nope\": 'nope'",
        ),
        (
            "operator of another type",
            _leaf("title", "gt", 1),
            "conditions[0]: title (string) cannot be compared with gt",
        ),
        (
            "value of the wrong type",
            _leaf("count", "gt", "three"),
            'conditions[0]: wrong value for gt: value: expected integer, got "three"',
        ),
        (
            "between needs two bounds",
            _leaf("count", "between", [1]),
            "conditions[0]: wrong value for between: value: expected at least 2 items, got 1",
        ),
        (
            "nested path",
            ConditionGroup(Match.ALL, (_leaf("count", "eq", 1), _leaf("count", "zz", 1))),
            'conditions[0].children[1]: unknown operator "zz"',
        ),
    ],
)
def test_compile_rejects_what_the_checker_reports(_case, node, message):
    # when
    with pytest.raises(ConditionError) as caught:
        compile_conditions([node], _type_of)

    # then
    assert str(caught.value) == message


def test_prefix_names_branch_conditions():
    # given
    compiled = compile_conditions([_leaf("count", "eq", 1)], _type_of, prefix="steps[2].condition")

    # when
    result = compiled.evaluate(lambda path: 1)

    # then
    assert result.trace == [LeafTrace("steps[2].condition[0]", "count", "eq", 1, 1, True)]
