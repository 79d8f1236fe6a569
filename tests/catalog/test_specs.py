"""Trigger and action specs: payload, config and input validation, plan tiers, runners."""

from __future__ import annotations

import dataclasses

import pytest

from catalog.specs import ActionKind, ActionSpec, Category, PlanTier, TriggerSpec
from catalog.types import (
    FieldError,
    ValidationError,
    datetime,
    duration,
    email,
    fields,
    integer,
    object_of,
    optional,
    ref,
    string,
)


def _trigger(**overrides):
    values = {
        "key": "order_paid",
        "category": Category.ORDER,
        "label": "Order paid",
        "description": "Fires when a payment is captured.",
        "payload": fields(order_id=ref("order"), payment_method=string()),
        "example": {"order_id": 1, "payment_method": "card"},
    }
    return TriggerSpec(**{**values, **overrides})


def _action(**overrides):
    values = {
        "key": "send_email",
        "category": Category.CUSTOMER,
        "label": "Send email",
        "description": "Sends an email.",
        "inputs": fields(
            to=optional(email()), customer_id=optional(ref("customer")), subject=string()
        ),
        "runner": "tests.catalog.test_specs.fake_runner",
        "example_inputs": {"to": "a@example.com", "subject": "Hi"},
        "exactly_one_of": (("to", "customer_id"),),
    }
    return ActionSpec(**{**values, **overrides})


def fake_runner() -> str:
    return "ran"


def test_validate_payload_normalizes():
    # given
    spec = _trigger()

    # when
    payload = spec.validate_payload({"order_id": 7.0, "payment_method": "card"})

    # then
    assert payload == {"order_id": 7, "payment_method": "card"}


def test_internal_trigger_rejects_unknown_top_level_keys():
    # given
    spec = _trigger()

    # when
    with pytest.raises(ValidationError) as excinfo:
        spec.validate_payload({"order_id": 7, "payment_method": "card", "extra": 1})

    # then
    assert excinfo.value.errors == [FieldError("extra", "unknown field")]


def test_validate_payload_rejects_a_non_object():
    # when
    with pytest.raises(ValidationError) as excinfo:
        _trigger().validate_payload(["order_id"])

    # then
    assert excinfo.value.errors == [FieldError("", "expected object, got a list")]


def test_external_trigger_merges_declared_fields_into_body_and_keeps_unknown_keys():
    # given
    spec = _trigger(
        key="webhook_received",
        category=Category.EXTERNAL,
        payload=fields(endpoint_id=integer(minimum=1), body=object_of(is_open=True)),
        example={"endpoint_id": 1, "body": {}},
        payload_from_endpoint=True,
        declared_under="body",
    )
    declared = fields(email=email(), installed_at=optional(datetime()))

    # when
    payload = spec.validate_payload(
        {
            "endpoint_id": 1,
            "body": {"email": "Jane@Example.com", "installed_at": "2025-03-01T10:00:00+01:00"},
            "headers": {"x": "y"},
        },
        declared,
    )
    with pytest.raises(ValidationError) as excinfo:
        spec.validate_payload({"endpoint_id": 1, "body": {"email": 3}}, declared)

    # then
    assert payload == {
        "endpoint_id": 1,
        "body": {"email": "Jane@example.com", "installed_at": "2025-03-01T09:00:00Z"},
        "headers": {"x": "y"},
    }
    assert str(excinfo.value) == "body.email: expected an email address, got 3"
    assert spec.payload_type_with(declared).field("body").type.field_names == (
        "email",
        "installed_at",
    )


def test_external_trigger_needs_an_object_to_merge_declared_fields_into():
    # when
    with pytest.raises(ValueError, match="declared_under must name an object field"):
        _trigger(payload_from_endpoint=True, declared_under="payment_method")


def test_validate_config():
    # given
    spec = _trigger(config=fields(cron=string(), every=optional(duration())))

    # when
    config = spec.validate_config({"cron": "0 9 * * *", "every": 300})
    with pytest.raises(ValidationError) as excinfo:
        spec.validate_config({"every": "soon"})

    # then
    assert config == {"cron": "0 9 * * *", "every": "PT5M"}
    assert [str(error) for error in excinfo.value.errors] == [
        "cron: required field is missing",
        'every: expected a duration (PT5M, P1D or a number of seconds), got "soon"',
    ]


def test_payload_type_is_closed_for_internal_triggers():
    # when
    payload_type = _trigger().payload_type

    # then
    assert payload_type.is_open is False
    assert payload_type.field_names == ("order_id", "payment_method")


@pytest.mark.parametrize(
    ("_case", "inputs", "expected"),
    [
        ("neither", {"subject": "Hi"}, ["to: give exactly one of to, customer_id"]),
        (
            "both",
            {"to": "a@example.com", "customer_id": 1, "subject": "Hi"},
            ["to: give exactly one of to, customer_id (got to, customer_id)"],
        ),
        (
            "bad type and missing subject",
            {"customer_id": "c1"},
            [
                'customer_id: expected ref(customer) (a positive integer id), got "c1"',
                "subject: required field is missing",
            ],
        ),
    ],
)
def test_validate_inputs_reports_every_problem(_case, inputs, expected):
    # when
    with pytest.raises(ValidationError) as excinfo:
        _action().validate_inputs(inputs)

    # then
    assert [str(error) for error in excinfo.value.errors] == expected


def test_exactly_one_of_must_name_optional_inputs():
    # when
    with pytest.raises(ValueError, match="exactly_one_of names 'subject'"):
        _action(exactly_one_of=(("subject", "to"),))


def test_runner_is_imported_only_when_loaded():
    # given
    spec = _action(runner="no_such_package.runners.send")

    # when
    with pytest.raises(ModuleNotFoundError):
        spec.load_runner()
    runner = _action().load_runner()

    # then
    assert runner() == "ran"


def test_runner_with_missing_attribute_raises_import_error():
    # when
    with pytest.raises(ImportError, match="has no 'nope'"):
        _action(runner="tests.catalog.test_specs.nope").load_runner()


@pytest.mark.parametrize(
    ("_case", "key"),
    [("camel case", "orderPaid"), ("dash", "order-paid"), ("leading digit", "1order")],
)
def test_keys_must_be_snake_case(_case, key):
    # when
    with pytest.raises(ValueError, match="must be snake_case"):
        _trigger(key=key)


def test_payload_must_hold_field_specs():
    # when
    with pytest.raises(TypeError, match="expected a FieldSpec"):
        _trigger(payload={"order_id": ref("order")})


def test_specs_are_frozen_and_hashable_by_key():
    # given
    spec = _trigger()

    # when
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.key = "other"

    # then
    assert hash(spec) == hash(_trigger(label="Another label"))
    assert spec == _trigger()
    assert spec != _trigger(label="Another label")


@pytest.mark.parametrize(
    ("_case", "plan", "required", "expected"),
    [
        ("free has free", PlanTier.FREE, "free", True),
        ("free lacks pro", PlanTier.FREE, "pro", False),
        ("pro has starter", PlanTier.PRO, "starter", True),
        ("enterprise has everything", PlanTier.ENTERPRISE, "agency", True),
    ],
)
def test_plan_tier_includes(_case, plan, required, expected):
    # when
    result = plan.includes(required)

    # then
    assert result is expected


def test_action_kind_defaults():
    # when
    spec = _action()

    # then
    assert spec.kind is ActionKind.ACTION
    assert spec.is_workflow is False
    assert spec.plan is PlanTier.FREE
    assert spec.has_side_effects is True
    assert spec.is_http is False
