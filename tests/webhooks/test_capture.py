"""Capture inference and the declared-fields parser (pure: no database)."""

from __future__ import annotations

import pytest

from catalog.registry import get_trigger
from catalog.types import (
    BooleanType,
    DatetimeType,
    DecimalType,
    EmailType,
    FieldSpec,
    IntegerType,
    ListType,
    ObjectType,
    RefType,
    StringType,
    UrlType,
    ValidationError,
)
from webhooks.capture import infer_declaration, infer_fields, infer_type
from webhooks.fields import (
    DeclarationError,
    dump_declared,
    parse_declared,
    parse_type,
    type_name,
)


@pytest.mark.parametrize(
    ("_case", "value", "expected"),
    [
        ("boolean", True, "boolean"),
        ("integer", 3, "integer"),
        ("fraction", 49.5, "decimal"),
        ("decimal string", "19.99", "decimal"),
        ("datetime with Z", "2025-03-01T09:00:00Z", "datetime"),
        ("datetime with offset", "2025-03-01T10:15:00-05:00", "datetime"),
        ("naive datetime stays text", "2025-03-01T09:00:00", "string"),
        ("date", "2025-03-01", "date"),
        ("email", "jane@example.com", "email"),
        ("url", "https://example.com/x", "url"),
        ("plain text", "pro", "string"),
        ("id as digits stays text", "12345", "string"),
        ("list of emails", ["a@example.com", "b@example.com"], "list(email)"),
        ("mixed list", [1, "a"], "list(string)"),
        ("empty list", [], "list(string)"),
        ("list of objects", [{"a": 1}], "list(object)"),
    ],
)
def test_infer_type(_case, value, expected):
    assert infer_type(value) == expected


def test_infer_declaration_flattens_nested_objects_and_skips_bad_names():
    # given
    sample = {
        "customer": {"email": "jane@example.com", "address": {"city": "Oslo"}},
        "note": None,
        "first-name": "Jane",
        "meta": {},
    }
    # when
    declared = infer_declaration(sample)
    # then
    assert declared == {
        "customer.email": "email",
        "customer.address.city": "string",
        "note": "string?",
        "meta": "object",
    }


def test_inferred_fields_validate_the_sample_they_came_from():
    # given
    sample = {"email": "jane@example.com", "seats": 3, "company": {"name": "Acme"}}
    # when
    declared = infer_fields(sample)
    payload = get_trigger("webhook_received").validate_payload(
        {"endpoint_id": 1, "body": sample}, declared
    )
    # then
    assert payload["body"] == sample


def test_parse_declared_builds_typed_specs():
    # when
    specs = parse_declared(
        {
            "email": "email",
            "plan": "string?",
            "seats": "integer",
            "mrr": "decimal",
            "trial": "boolean",
            "at": "datetime",
            "site": "url",
            "tags": "list(string)",
            "customer.name": "string",
        }
    )
    # then
    assert specs["email"] == FieldSpec(EmailType())
    assert specs["plan"] == FieldSpec(StringType(), optional=True)
    assert specs["seats"] == FieldSpec(IntegerType())
    assert specs["mrr"] == FieldSpec(DecimalType())
    assert specs["trial"] == FieldSpec(BooleanType())
    assert specs["at"] == FieldSpec(DatetimeType())
    assert specs["site"] == FieldSpec(UrlType())
    assert specs["tags"] == FieldSpec(ListType(StringType()))
    customer = specs["customer"].type
    assert isinstance(customer, ObjectType)
    assert customer.is_open is True
    assert customer.fields == {"name": FieldSpec(StringType())}


def test_dump_declared_round_trips():
    declared = {"email": "email", "plan": "string?", "tags": "list(integer)", "c.name": "string"}
    assert dump_declared(parse_declared(declared)) == declared


def test_parse_declared_reports_every_bad_entry():
    # when
    with pytest.raises(DeclarationError) as caught:
        parse_declared(
            {"ok": "string", "bad type": "string", "x": "emial", "y": 3, "z": "ref(invoice)"}
        )
    # then
    assert set(caught.value.errors) == {"bad type", "x", "y", "z"}
    assert caught.value.errors["x"].startswith('unknown type "emial"')


def test_parse_type_accepts_refs_to_typewire_entities_only():
    assert parse_type("ref(customer)") == RefType("customer")
    assert type_name(parse_type("ref(order)")) == "ref(order)"
    with pytest.raises(ValueError, match="unknown type"):
        parse_type("ref(invoice)")


def test_declared_fields_are_enforced_by_the_trigger():
    # given
    declared = parse_declared({"seats": "integer"})
    # when
    with pytest.raises(ValidationError) as caught:
        get_trigger("webhook_received").validate_payload(
            {"endpoint_id": 1, "body": {"seats": "x"}}, declared
        )
    # then
    assert caught.value.as_dict() == {"body.seats": ['expected integer, got "x"']}
