"""Templates: placeholders, plain-English syntax errors, human formatting, no code execution."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

from automations.templating import (
    MISSING,
    Placeholder,
    TemplateSyntaxError,
    format_value,
    is_valid_path,
    parse,
    parse_path,
)
from catalog.types import Money


def _resolver(values):
    return lambda path: values.get(path, MISSING)


def test_parse_lists_placeholders_in_order_with_repeats():
    # given
    source = (
        "Order {{ order_id }} by {{order.customer.email}}: {{ line_items[0].sku }} {{ order_id }}"
    )

    # when
    template = parse(source)

    # then
    assert template.placeholders == (
        "order_id",
        "order.customer.email",
        "line_items[0].sku",
        "order_id",
    )
    assert template.fields[1] == Placeholder("order.customer.email", 24)


def test_parse_accepts_step_outputs_and_whitespace_inside_braces():
    # given
    source = "{{\n  steps.copy.text\t}}"

    # when
    template = parse(source)

    # then
    assert template.placeholders == ("steps.copy.text",)
    assert template.parts == (Placeholder("steps.copy.text", 0),)


def test_text_without_placeholders_is_one_literal_part():
    # when
    template = parse("Hello {% if x %} } { }} {x}")

    # then
    assert template.placeholders == ()
    assert template.parts == ("Hello {% if x %} } { }} {x}",)
    assert template.render(_resolver({})) == "Hello {% if x %} } { }} {x}"


def test_empty_template_renders_empty():
    assert parse("").parts == ()
    assert parse("").render(_resolver({})) == ""


@pytest.mark.parametrize(
    ("_case", "source", "message", "position"),
    [
        ("unclosed", "Hello there {{ name", "Unclosed {{ at character 13: close it with }}.", 12),
        (
            "unclosed before another",
            "a {{ b {{ c }}",
            "Unclosed {{ at character 3: close it with }}.",
            2,
        ),
        (
            "empty",
            "x {{  }}",
            "Empty placeholder at character 3: put a field name between {{ and }}, "
            "like {{ customer.first_name }}.",
            2,
        ),
        (
            "dunder attribute",
            "{{ ''.__class__ }}",
            "{{ ''.__class__ }} at character 1 is not a field: field names start with a letter.",
            0,
        ),
        (
            "globals",
            "{{ a.__globals__ }}",
            "{{ a.__globals__ }} at character 1 is not a field: field names start with a letter.",
            0,
        ),
        (
            "arithmetic",
            "{{ 7*7 }}",
            "{{ 7*7 }} at character 1 is not a field: a placeholder holds a field name like "
            "order.total or line_items[0].sku.",
            0,
        ),
        (
            "filter",
            "{{ name | upper }}",
            "{{ name | upper }} at character 1 is not a field: placeholders take a field name "
            "only, without filters.",
            0,
        ),
        (
            "two names",
            "{{ first last }}",
            "{{ first last }} at character 1 is not a field: a placeholder holds one field name, "
            "without spaces inside it.",
            0,
        ),
        (
            "call",
            "{{ order.items() }}",
            "{{ order.items() }} at character 1 is not a field: a placeholder holds a field name "
            "like order.total or line_items[0].sku.",
            0,
        ),
    ],
)
def test_malformed_placeholders_are_syntax_errors_in_plain_english(
    _case, source, message, position
):
    # when
    with pytest.raises(TemplateSyntaxError) as caught:
        parse(source)

    # then
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.position == position


def test_template_syntax_error_is_a_value_error_and_pickles():
    # given
    error = TemplateSyntaxError("Unclosed {{ at character 1: close it with }}.", 0)

    # when
    copy = pickle.loads(pickle.dumps(error))

    # then
    assert isinstance(error, ValueError)
    assert (copy.message, copy.position) == (error.message, error.position)


def test_render_substitutes_values_formatted_for_people():
    # given
    template = parse(
        "{{ total }} | {{ tags }} | {{ opt_in }} | {{ off }} | {{ missing }} | {{ null }} | "
        "{{ meta }} | {{ count }} | {{ ratio }}"
    )
    values = {
        "total": {"amount": "120.00", "currency": "EUR"},
        "tags": ["vip", "loyal"],
        "opt_in": True,
        "off": False,
        "null": None,
        "meta": {"b": 1, "a": [1, 2]},
        "count": 3,
        "ratio": 0.5,
    }

    # when
    text = template.render(_resolver(values))

    # then
    assert text == '120.00 EUR | vip, loyal | yes | no |  |  | {"b":1,"a":[1,2]} | 3 | 0.5'


def test_rendered_values_are_never_parsed_again():
    # given
    template = parse("Hi {{ name }}")

    # when
    text = template.render(_resolver({"name": "{{ secret }} {% import os %}"}))

    # then
    assert text == "Hi {{ secret }} {% import os %}"


def test_render_asks_the_resolver_for_each_path_only():
    # given
    asked = []
    template = parse("{{ a }}-{{ b[1].c }}")

    def resolve(path):
        asked.append(path)
        return "x"

    # when
    template.render(resolve)

    # then
    assert asked == ["a", "b[1].c"]


@pytest.mark.parametrize(
    ("_case", "value", "expected"),
    [
        ("missing", MISSING, ""),
        ("none", None, ""),
        ("true", True, "yes"),
        ("false", False, "no"),
        ("string", "vip", "vip"),
        ("integer", 42, "42"),
        ("decimal", Decimal("1E+3"), "1000"),
        ("money dict", {"amount": "9.5", "currency": "USD"}, "9.5 USD"),
        ("money object", Money(Decimal("120.00"), "EUR"), "120.00 EUR"),
        ("nested list", [1, [2, 3], None], "1, 2, 3, "),
        ("empty list", [], ""),
        ("object", {"x": "é"}, '{"x":"é"}'),
        ("object with amount only", {"amount": "1"}, '{"amount":"1"}'),
    ],
)
def test_format_value(_case, value, expected):
    assert format_value(value) == expected


def test_missing_is_falsy_and_named():
    assert not MISSING
    assert repr(MISSING) == "MISSING"


@pytest.mark.parametrize(
    ("_case", "path", "segments"),
    [
        ("name", "amount", ("amount",)),
        ("dotted", "order.customer.email", ("order", "customer", "email")),
        ("indexes", "a.b[2][3].c", ("a", "b", 2, 3, "c")),
        ("step output", "steps.copy.text", ("steps", "copy", "text")),
    ],
)
def test_parse_path(_case, path, segments):
    assert parse_path(path) == segments
    assert is_valid_path(path)


@pytest.mark.parametrize("path", ["", "a.", ".a", "a..b", "_a", "a[x]", "1a", "a.b[]", "a b"])
def test_parse_path_rejects_malformed_paths(path):
    assert not is_valid_path(path)
    with pytest.raises(ValueError, match="is not a field path"):
        parse_path(path)


def test_a_path_seen_before_is_not_parsed_again():
    # given a path resolved once (as each event's conditions resolve the same few paths)
    first = parse_path("order.line_items[0].sku")
    # when it is resolved again, then the parse is the one already made
    assert parse_path("order.line_items[0].sku") is first
    # and a malformed path still raises every time
    for _ in range(2):
        with pytest.raises(ValueError, match="is not a field path"):
            parse_path("order..sku")
