"""Field types: coercion, rejection with paths, JSON Schema, operators, assignability."""

from __future__ import annotations

import datetime as dt
import pickle
import subprocess
import sys
from decimal import Decimal

import pytest

from catalog.types import (
    FieldError,
    FieldSpec,
    FieldType,
    Money,
    Operator,
    PathError,
    ValidationError,
    any_value,
    boolean,
    date,
    datetime,
    decimal,
    duration,
    email,
    enum_of,
    integer,
    is_assignable,
    list_of,
    money,
    object_of,
    optional,
    phone,
    ref,
    resolve_path,
    string,
    text,
    url,
)

LINE_ITEMS = list_of(
    object_of(product_id=ref("product"), sku=string(), quantity=integer(minimum=1))
)


@pytest.mark.parametrize(
    ("_case", "field_type", "value", "expected"),
    [
        ("string kept", string(), "vip", "vip"),
        ("text kept", text(), "line one\nline two", "line one\nline two"),
        ("email domain lower-cased", email(), " Jane.Doe@Example.COM ", "Jane.Doe@example.com"),
        ("phone separators removed", phone(), "+49 (151) 123-45.67", "+491511234567"),
        ("url kept", url(), "https://shop.example.com/a?b=1", "https://shop.example.com/a?b=1"),
        ("integer kept", integer(), 3, 3),
        ("integral float to integer", integer(), 3.0, 3),
        ("decimal from int", decimal(), 12, "12"),
        ("decimal string keeps scale", decimal(), "12.50", "12.50"),
        ("decimal from float", decimal(), 0.1, "0.1"),
        ("decimal from Decimal", decimal(), Decimal("1E+2"), "100"),
        ("decimal plus sign dropped", decimal(), "+7.5", "7.5"),
        ("negative zero", decimal(), "-0.00", "0.00"),
        (
            "money currency upper-cased",
            money(),
            {"amount": 120, "currency": "eur"},
            {"amount": "120", "currency": "EUR"},
        ),
        (
            "money from Money",
            money(),
            Money(Decimal("9.99"), "USD"),
            {"amount": "9.99", "currency": "USD"},
        ),
        ("boolean", boolean(), False, False),
        ("datetime offset to UTC", datetime(), "2025-03-01T10:00:00+01:00", "2025-03-01T09:00:00Z"),
        ("datetime Z kept", datetime(), "2025-03-01T09:00:00Z", "2025-03-01T09:00:00Z"),
        (
            "aware datetime object",
            datetime(),
            dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC),
            "2025-03-01T09:30:00Z",
        ),
        ("date string", date(), "2025-03-01", "2025-03-01"),
        ("date object", date(), dt.date(2025, 3, 1), "2025-03-01"),
        ("duration ISO kept", duration(), "PT5M", "PT5M"),
        ("duration seconds", duration(), 5400, "PT1H30M"),
        ("duration weeks to days", duration(), "P1W", "P7D"),
        ("duration minutes normalized", duration(), "PT90M", "PT1H30M"),
        ("duration zero", duration(), 0, "PT0S"),
        ("duration timedelta", duration(), dt.timedelta(days=1, hours=2), "P1DT2H"),
        ("enum value", enum_of("email", "sms"), "sms", "sms"),
        ("ref id", ref("customer"), 42, 42),
        ("ref integral float", ref("customer"), 42.0, 42),
        ("list items normalized", list_of(decimal()), [1, "2.5"], ["1", "2.5"]),
        (
            "open object keeps unknown keys",
            object_of(is_open=True, id=integer()),
            {"id": 1, "extra": {"a": [1]}},
            {"id": 1, "extra": {"a": [1]}},
        ),
        (
            "optional null kept",
            object_of(tracking=optional(string())),
            {"tracking": None},
            {"tracking": None},
        ),
        ("optional absent stays absent", object_of(tracking=optional(string())), {}, {}),
        ("any value", any_value(), {"a": 1}, {"a": 1}),
    ],
)
def test_validate_normalizes(_case, field_type, value, expected):
    # when
    result = field_type.validate(value)

    # then
    assert result == expected


@pytest.mark.parametrize(
    ("_case", "field_type", "value", "expected"),
    [
        ("string from int", string(), 3, "expected string, got 3"),
        ("email without domain", email(), "jane@", 'expected an email address, got "jane@"'),
        (
            "phone without country",
            phone(),
            "0151 1234567",
            'expected a phone number in international form (+4915112345678), got "0151 1234567"',
        ),
        (
            "url without scheme",
            url(),
            "shop.example.com",
            'expected an http(s) URL, got "shop.example.com"',
        ),
        (
            "url ftp",
            url(),
            "ftp://example.com/x",
            'expected an http(s) URL, got "ftp://example.com/x"',
        ),
        ("integer from string is ambiguous", integer(), "3", 'expected integer, got "3"'),
        ("integer from bool", integer(), True, "expected integer, got true"),
        ("integer from fraction", integer(), 3.5, "expected integer, got 3.5"),
        ("integer below minimum", integer(minimum=1), 0, "must be at least 1, got 0"),
        ("integer above maximum", integer(maximum=50), 51, "must be at most 50, got 51"),
        ("decimal exponent string", decimal(), "1e3", 'expected decimal, got "1e3"'),
        ("decimal words", decimal(), "twelve", 'expected decimal, got "twelve"'),
        ("decimal nan", decimal(), float("nan"), "expected decimal, got nan"),
        ("boolean from string", boolean(), "true", 'expected boolean, got "true"'),
        (
            "naive datetime",
            datetime(),
            "2025-03-01T09:00:00",
            'expected a datetime with a time zone (Z or +01:00), got "2025-03-01T09:00:00"',
        ),
        (
            "date for datetime",
            datetime(),
            "2025-03-01",
            'expected an ISO 8601 datetime (2025-03-01T09:00:00Z), got "2025-03-01"',
        ),
        (
            "datetime for date",
            date(),
            "2025-03-01T09:00:00Z",
            'expected a date (YYYY-MM-DD), got "2025-03-01T09:00:00Z"',
        ),
        (
            "duration months",
            duration(),
            "P1M",
            'expected a duration (PT5M, P1D or a number of seconds), got "P1M"',
        ),
        (
            "negative duration",
            duration(),
            -5,
            "expected a duration (PT5M, P1D or a number of seconds), got -5",
        ),
        (
            "duration string of digits",
            duration(),
            "300",
            'expected a duration (PT5M, P1D or a number of seconds), got "300"',
        ),
        (
            "unknown enum value",
            enum_of("email", "sms"),
            "fax",
            'expected one of email, sms, got "fax"',
        ),
        (
            "ref from string",
            ref("order"),
            "ord_1042",
            'expected ref(order) (a positive integer id), got "ord_1042"',
        ),
        ("ref zero", ref("order"), 0, "expected ref(order) (a positive integer id), got 0"),
        ("list from object", list_of(string()), {"a": 1}, "expected list(string), got an object"),
        ("object from list", object_of(a=string()), [1], "expected object, got a list"),
    ],
)
def test_validate_rejects_with_plain_message(_case, field_type, value, expected):
    # when
    with pytest.raises(ValidationError) as excinfo:
        field_type.validate(value)

    # then
    assert excinfo.value.errors == [FieldError("", expected)]


def test_nested_errors_are_all_collected_with_their_paths():
    # given
    order = object_of(customer_id=ref("customer"), line_items=LINE_ITEMS, total=money())
    value = {
        "line_items": [
            {"product_id": 1, "sku": "A", "quantity": 1},
            {"product_id": 2, "sku": "B", "quantity": 2},
            {"product_id": "x", "sku": "C", "quantity": "three"},
        ],
        "total": {"amount": "abc", "currency": "EURO"},
        "totl": 1,
    }

    # when
    with pytest.raises(ValidationError) as excinfo:
        order.validate(value)

    # then
    assert [str(error) for error in excinfo.value.errors] == [
        "customer_id: required field is missing",
        'line_items[2].product_id: expected ref(product) (a positive integer id), got "x"',
        'line_items[2].quantity: expected integer, got "three"',
        'total.amount: expected decimal, got "abc"',
        'total.currency: expected a 3-letter ISO currency code, got "EURO"',
        'totl: unknown field (did you mean "total"?)',
    ]
    assert str(excinfo.value) == "; ".join(str(error) for error in excinfo.value.errors)


def test_validation_error_groups_messages_by_path():
    # given
    error = ValidationError([FieldError("a", "one"), FieldError("a", "two"), FieldError("b", "x")])

    # when
    grouped = error.as_dict()

    # then
    assert grouped == {"a": ["one", "two"], "b": ["x"]}


def test_validation_error_survives_pickling():
    # given
    error = ValidationError([FieldError("line_items[2].quantity", 'expected integer, got "x"')])

    # when
    restored = pickle.loads(pickle.dumps(error))

    # then
    assert restored.errors == error.errors
    assert str(restored) == 'line_items[2].quantity: expected integer, got "x"'


def test_path_is_prefixed_when_given():
    # when
    with pytest.raises(ValidationError) as excinfo:
        LINE_ITEMS.validate([{"product_id": 1, "sku": "A", "quantity": 0}], path="line_items")

    # then
    assert str(excinfo.value) == "line_items[0].quantity: must be at least 1, got 0"


def test_money_requires_both_parts_and_no_extras():
    # when
    with pytest.raises(ValidationError) as excinfo:
        money().validate({"value": "1"}, path="total")

    # then
    assert [str(error) for error in excinfo.value.errors] == [
        "total.amount: required field is missing",
        "total.currency: required field is missing",
        "total.value: unknown field",
    ]


def test_required_field_spec_rejects_null_and_optional_accepts_it():
    # given
    required_spec = FieldSpec(string())
    optional_spec = optional(string())

    # when
    with pytest.raises(ValidationError) as excinfo:
        required_spec.validate(None, "tracking")
    accepted = optional_spec.validate(None, "tracking")

    # then
    assert str(excinfo.value) == "tracking: expected string, got null"
    assert accepted is None


@pytest.mark.parametrize(
    ("_case", "field_type", "json_value", "expected"),
    [
        ("decimal", decimal(), "12.50", Decimal("12.50")),
        ("money", money(), {"amount": "1.10", "currency": "EUR"}, Money(Decimal("1.10"), "EUR")),
        (
            "datetime",
            datetime(),
            "2025-03-01T09:00:00Z",
            dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC),
        ),
        ("date", date(), "2025-03-01", dt.date(2025, 3, 1)),
        ("duration", duration(), "P1DT2H", dt.timedelta(days=1, hours=2)),
        ("ref", ref("order"), 7, 7),
        ("list of decimals", list_of(decimal()), ["1", "2.5"], [Decimal("1"), Decimal("2.5")]),
        (
            "object declared and extra keys",
            object_of(is_open=True, since=datetime()),
            {"since": "2025-03-01T09:00:00Z", "other": "x"},
            {"since": dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC), "other": "x"},
        ),
    ],
)
def test_to_python(_case, field_type, json_value, expected):
    # when
    result = field_type.to_python(json_value)

    # then
    assert result == expected


@pytest.mark.parametrize(
    ("_case", "field_type", "expected"),
    [
        ("ref", ref("customer"), "ref(customer)"),
        ("list of objects", list_of(object_of(a=string())), "list(object)"),
        ("enum", enum_of("email", "sms", "whatsapp"), "enum(email, sms, whatsapp)"),
        ("list of refs", list_of(ref("product")), "list(ref(product))"),
        ("money", money(), "money"),
    ],
)
def test_label(_case, field_type, expected):
    # when
    label = str(field_type)

    # then
    assert label == expected


@pytest.mark.parametrize(
    ("_case", "source", "target", "expected"),
    [
        ("email fits string", email(), string(), True),
        ("text fits string", text(), string(), True),
        ("string fits text", string(), text(), True),
        ("phone fits string", phone(), string(), True),
        ("enum fits string", enum_of("a"), string(), True),
        ("string does not fit email", string(), email(), False),
        ("url does not fit email", url(), email(), False),
        ("integer fits decimal", integer(), decimal(), True),
        ("decimal does not fit integer", decimal(), integer(), False),
        ("integer does not fit string", integer(), string(), False),
        ("ref same entity", ref("customer"), ref("customer"), True),
        ("ref(order) does not fit ref(customer)", ref("order"), ref("customer"), False),
        ("integer does not fit ref", integer(), ref("customer"), False),
        ("enum subset fits", enum_of("a"), enum_of("a", "b"), True),
        ("enum superset does not fit", enum_of("a", "c"), enum_of("a", "b"), False),
        ("list(email) fits list(string)", list_of(email()), list_of(string()), True),
        ("list(string) does not fit list(email)", list_of(string()), list_of(email()), False),
        ("datetime does not fit date", datetime(), date(), False),
        ("money fits money", money(), money(), True),
        ("decimal does not fit money", decimal(), money(), False),
        ("optional does not fit required", optional(string()), FieldSpec(string()), False),
        ("required fits optional", FieldSpec(string()), optional(string()), True),
        ("optional fits optional", optional(email()), optional(string()), True),
        (
            "object with extra fields fits",
            object_of(email=email(), age=integer()),
            object_of(email=string()),
            True,
        ),
        (
            "object missing a required field",
            object_of(age=integer()),
            object_of(email=string()),
            False,
        ),
        (
            "object missing an optional field",
            object_of(),
            object_of(email=optional(string())),
            True,
        ),
        (
            "object with optional field where required",
            object_of(email=optional(email())),
            object_of(email=string()),
            False,
        ),
        ("anything fits free-form object", object_of(a=integer()), object_of(is_open=True), True),
        ("anything fits any", money(), any_value(), True),
    ],
)
def test_is_assignable(_case, source, target, expected):
    # when
    result = is_assignable(source, target)

    # then
    assert result is expected


@pytest.mark.parametrize(
    ("_case", "spec", "expected"),
    [
        ("integer", FieldSpec(integer()), ["eq", "ne", "gt", "gte", "lt", "lte", "between"]),
        ("decimal", FieldSpec(decimal()), ["eq", "ne", "gt", "gte", "lt", "lte", "between"]),
        (
            "string",
            FieldSpec(string()),
            ["equals", "contains", "starts_with", "matches", "in_list"],
        ),
        ("email", FieldSpec(email()), ["equals", "contains", "starts_with", "matches", "in_list"]),
        ("enum", FieldSpec(enum_of("a")), ["is", "is_one_of"]),
        ("list", FieldSpec(list_of(string())), ["list_contains", "is_empty", "length"]),
        ("datetime", FieldSpec(datetime()), ["before", "after", "between", "within_last"]),
        ("boolean", FieldSpec(boolean()), ["is"]),
        (
            "optional string",
            optional(string()),
            ["equals", "contains", "starts_with", "matches", "in_list", "is_set", "is_not_set"],
        ),
        ("optional object", optional(object_of(is_open=True)), ["is_set", "is_not_set"]),
    ],
)
def test_operators_depend_on_type_and_optionality(_case, spec, expected):
    # when
    operators = [operator.value for operator in spec.operators]

    # then
    assert operators == expected


@pytest.mark.parametrize(
    ("_case", "field_type", "operator", "expected"),
    [
        ("number between takes two numbers", integer(), Operator.BETWEEN, "list(integer)"),
        ("enum is one of takes a list", enum_of("a", "b"), Operator.IS_ONE_OF, "list(enum(a, b))"),
        ("email contains takes a string", email(), Operator.CONTAINS, "string"),
        ("string in list takes strings", string(), Operator.IN_LIST, "list(string)"),
        (
            "list contains takes an item",
            list_of(ref("product")),
            Operator.LIST_CONTAINS,
            "ref(product)",
        ),
        ("list length takes an integer", list_of(string()), Operator.LENGTH, "integer"),
        ("within last takes a duration", datetime(), Operator.WITHIN_LAST, "duration"),
        ("ref is takes the same ref", ref("customer"), Operator.IS, "ref(customer)"),
    ],
)
def test_operand_type(_case, field_type, operator, expected):
    # when
    operand = field_type.operand_type(operator)

    # then
    assert str(operand) == expected


def test_operand_type_of_unsupported_operator_raises():
    # when
    with pytest.raises(ValueError, match="integer does not support the operator contains"):
        integer().operand_type(Operator.CONTAINS)


def test_between_operand_needs_exactly_two_values():
    # given
    operand = integer().operand_type(Operator.BETWEEN)
    assert operand is not None

    # when
    with pytest.raises(ValidationError) as excinfo:
        operand.validate([1, 2, 3], "value")

    # then
    assert str(excinfo.value) == "value: expected at most 2 items, got 3"


@pytest.mark.parametrize(
    ("_case", "field_type", "expected"),
    [
        (
            "integer",
            integer(minimum=1),
            {"type": "integer", "minimum": 1, "x-typewire-type": "integer"},
        ),
        (
            "enum",
            enum_of("P1", "P2"),
            {"type": "string", "enum": ["P1", "P2"], "x-typewire-type": "enum(P1, P2)"},
        ),
        (
            "ref",
            ref("customer"),
            {
                "type": "integer",
                "minimum": 1,
                "x-typewire-entity": "customer",
                "x-typewire-type": "ref(customer)",
            },
        ),
        (
            "datetime",
            datetime(),
            {"type": "string", "format": "date-time", "x-typewire-type": "datetime"},
        ),
        (
            "list of emails",
            list_of(email()),
            {
                "type": "array",
                "items": {"type": "string", "format": "email", "x-typewire-type": "email"},
                "x-typewire-type": "list(email)",
            },
        ),
        (
            "object with optional field",
            object_of(
                sku=string(), tracking=optional(string(), "Tracking", "Carrier tracking number.")
            ),
            {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "x-typewire-type": "string"},
                    "tracking": {
                        "anyOf": [
                            {"type": "string", "x-typewire-type": "string"},
                            {"type": "null"},
                        ],
                        "title": "Tracking",
                        "description": "Carrier tracking number.",
                    },
                },
                "required": ["sku"],
                "additionalProperties": False,
                "x-typewire-type": "object",
            },
        ),
        (
            "money",
            money(),
            {
                "type": "object",
                "properties": {
                    "amount": {
                        "type": "string",
                        "format": "decimal",
                        "pattern": r"^-?\d+(\.\d+)?$",
                    },
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
                "required": ["amount", "currency"],
                "additionalProperties": False,
                "x-typewire-type": "money",
            },
        ),
    ],
)
def test_json_schema(_case, field_type, expected):
    # when
    schema = field_type.json_schema()

    # then
    assert schema == expected


def test_types_are_hashable_and_compare_by_value():
    # given
    first = object_of(items=LINE_ITEMS, channel=enum_of("email", "sms"))
    second = object_of(items=LINE_ITEMS, channel=enum_of("email", "sms"))

    # when
    distinct = {first, second}

    # then
    assert first == second
    assert len(distinct) == 1


def test_unknown_entity_is_refused():
    # when
    with pytest.raises(ValueError, match="unknown entity 'invoice'"):
        ref("invoice")


def test_object_field_lookup():
    # given
    order = object_of(order_id=ref("order"), tracking=optional(string()))

    # when
    found = order.field("tracking")
    missing = order.field("trackin")

    # then
    assert found == optional(string())
    assert missing is None
    assert order.field_names == ("order_id", "tracking")


@pytest.mark.parametrize(
    ("_case", "path", "expected"),
    [
        ("top-level field", "customer_id", "ref(customer)"),
        ("list", "line_items", "list(object)"),
        ("list item field is optional", "line_items[0].quantity", "integer?"),
        ("optional parent makes child optional", "shipping.city", "string?"),
    ],
)
def test_resolve_path(_case, path, expected):
    # given
    root = object_of(
        customer_id=ref("customer"),
        line_items=LINE_ITEMS,
        shipping=optional(object_of(city=string())),
    )

    # when
    spec = resolve_path(root, path)

    # then
    assert str(spec) == expected


def test_resolve_path_unknown_segment_suggests_a_name():
    # given
    root = object_of(customer_id=ref("customer"), line_items=LINE_ITEMS)

    # when
    with pytest.raises(PathError) as excinfo:
        resolve_path(root, "line_items[0].quantty")

    # then
    assert (
        str(excinfo.value)
        == 'line_items[0].quantty: unknown field "quantty" (did you mean "quantity"?)'
    )
    assert excinfo.value.segment == "quantty"
    assert excinfo.value.available == ("product_id", "sku", "quantity")


def test_field_type_is_abstract():
    # when
    with pytest.raises(TypeError):
        FieldType()  # type: ignore[abstract]


def test_pure_modules_import_without_django_settings():
    # given
    code = (
        "import sys, catalog.types, catalog.specs; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('django'))"
    )

    # when
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )

    # then
    assert result.returncode == 0, result.stderr
