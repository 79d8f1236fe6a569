"""Typed custom customer fields: definitions, validation through the catalog types, events."""

from __future__ import annotations

import datetime as dt

import pytest

from catalog import types
from catalog.domain import services
from catalog.domain.custom_fields import get_customer_field_type
from catalog.models import Customer, CustomFieldDefinition, CustomFieldType, Event
from catalog.types import FieldError, ValidationError
from tests.factories import CustomerFactory, CustomFieldDefinitionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_install_date(workspace) -> CustomFieldDefinition:
    return CustomFieldDefinitionFactory.create(
        workspace=workspace,
        key="app_install_date",
        label="App install date",
        field_type=CustomFieldType.DATE,
    )


def test_custom_date_field_refuses_yesterday_naming_the_field(workspace, app_install_date):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    # when
    with pytest.raises(ValidationError) as raised:
        services.update_customer_field(
            customer=customer, field="app_install_date", value="yesterday"
        )
    # then
    assert raised.value.errors == [
        FieldError("app_install_date", 'expected a date (YYYY-MM-DD), got "yesterday"')
    ]
    assert str(raised.value) == 'app_install_date: expected a date (YYYY-MM-DD), got "yesterday"'
    customer.refresh_from_db()
    assert customer.custom_values == {}
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("_case", "value"), [("ISO string", "2025-03-01"), ("date object", dt.date(2025, 3, 1))]
)
def test_custom_date_field_accepts_a_date_and_emits_old_and_new_values(
    workspace, app_install_date, _case, value
):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    # when
    updated = services.update_customer_field(
        customer=customer, field="app_install_date", value=value
    )
    # then
    assert updated.custom_values == {"app_install_date": "2025-03-01"}
    assert Customer.objects.get().custom_values == {"app_install_date": "2025-03-01"}
    event = Event.objects.get()
    assert (event.trigger_key, event.payload) == (
        "customer_updated",
        {
            "customer_id": customer.pk,
            "changed_fields": ["app_install_date"],
            "old_values": {"app_install_date": None},
            "new_values": {"app_install_date": "2025-03-01"},
        },
    )


def test_clearing_a_custom_field_removes_it_and_emits_the_old_value(workspace, app_install_date):
    # given
    customer = CustomerFactory.create(
        workspace=workspace, custom_values={"app_install_date": "2025-03-01"}
    )
    # when
    updated = services.update_customer_field(
        customer=customer, field="app_install_date", value=None
    )
    # then
    assert updated.custom_values == {}
    assert Event.objects.get().payload == {
        "customer_id": customer.pk,
        "changed_fields": ["app_install_date"],
        "old_values": {"app_install_date": "2025-03-01"},
        "new_values": {"app_install_date": None},
    }


@pytest.mark.parametrize(
    ("_case", "field_type", "enum_values", "value", "message"),
    [
        ("enum", CustomFieldType.ENUM, ["s", "m", "l"], "xl", 'expected one of s, m, l, got "xl"'),
        ("integer", CustomFieldType.INTEGER, [], "3", 'expected integer, got "3"'),
        ("boolean", CustomFieldType.BOOLEAN, [], "yes", 'expected boolean, got "yes"'),
        (
            "url",
            CustomFieldType.URL,
            [],
            "shop.example",
            'expected an http(s) URL, got "shop.example"',
        ),
    ],
)
def test_custom_field_of_each_type_refuses_a_wrong_value(
    workspace, _case, field_type, enum_values, value, message
):
    # given
    CustomFieldDefinitionFactory.create(
        workspace=workspace, key="size", field_type=field_type, enum_values=enum_values
    )
    customer = CustomerFactory.create(workspace=workspace)
    # when
    with pytest.raises(ValidationError) as raised:
        services.update_customer_field(customer=customer, field="size", value=value)
    # then
    assert raised.value.errors == [FieldError("size", message)]
    assert Customer.objects.get().custom_values == {}
    assert Event.objects.count() == 0


def test_unknown_field_is_refused_with_a_suggestion(workspace, app_install_date):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    # when
    with pytest.raises(ValidationError) as raised:
        services.update_customer_field(
            customer=customer, field="app_instal_date", value="2025-03-01"
        )
    # then
    assert raised.value.errors == [
        FieldError("app_instal_date", 'unknown customer field (did you mean "app_install_date"?)')
    ]
    assert Event.objects.count() == 0


def test_custom_field_of_another_workspace_is_unknown(workspace, other_workspace):
    # given
    CustomFieldDefinitionFactory.create(workspace=other_workspace, key="vip_level")
    customer = CustomerFactory.create(workspace=workspace)
    # when
    with pytest.raises(ValidationError) as raised:
        services.update_customer_field(customer=customer, field="vip_level", value="gold")
    # then
    assert [error.path for error in raised.value.errors] == ["vip_level"]
    assert Event.objects.count() == 0


def test_profile_field_is_validated_with_its_catalog_type(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace, phone="")
    # when
    with pytest.raises(ValidationError) as raised:
        services.update_customer_field(customer=customer, field="phone", value="0151 123")
    # then
    assert raised.value.errors == [
        FieldError(
            "phone",
            'expected a phone number in international form (+4915112345678), got "0151 123"',
        )
    ]
    assert Customer.objects.get().phone == ""
    assert Event.objects.count() == 0


def test_create_customer_validates_custom_values(workspace, app_install_date):
    # given / when
    with pytest.raises(ValidationError) as raised:
        services.create_customer(
            workspace=workspace,
            email="ada@example.com",
            custom_values={"app_install_date": "yesterday"},
        )
    # then
    assert [error.path for error in raised.value.errors] == ["app_install_date"]
    assert Customer.objects.count() == 0
    assert Event.objects.count() == 0


def test_create_customer_stores_validated_custom_values(workspace, app_install_date):
    # given / when
    customer = services.create_customer(
        workspace=workspace,
        email="ada@example.com",
        custom_values={"app_install_date": dt.date(2025, 3, 1)},
    )
    # then
    assert Customer.objects.get(pk=customer.pk).custom_values == {"app_install_date": "2025-03-01"}


def test_define_custom_field_creates_a_typed_definition(workspace):
    # given / when
    definition = services.define_custom_field(
        workspace=workspace,
        key="plan_tier",
        label="Plan tier",
        field_type="enum",
        enum_values=["basic", "plus"],
    )
    # then
    stored = CustomFieldDefinition.objects.get()
    assert (stored.pk, stored.key, stored.field_type, stored.enum_values) == (
        definition.pk,
        "plan_tier",
        "enum",
        ["basic", "plus"],
    )
    assert get_customer_field_type(workspace, "plan_tier") == types.enum_of("basic", "plus")


@pytest.mark.parametrize(
    ("_case", "key", "field_type", "enum_values", "errors"),
    [
        (
            "reserved key",
            "email",
            "string",
            [],
            [FieldError("key", '"email" is a built-in customer field')],
        ),
        (
            "malformed key",
            "App-Date",
            "date",
            [],
            [
                FieldError(
                    "key", "use lower-case letters, digits and underscores, starting with a letter"
                )
            ],
        ),
        (
            "taken key",
            "app_install_date",
            "date",
            [],
            [FieldError("key", 'a custom field "app_install_date" already exists')],
        ),
        (
            "unknown type",
            "score",
            "float",
            [],
            [
                FieldError(
                    "field_type",
                    "expected one of string, text, email, phone, url, integer, decimal, "
                    "boolean, datetime, date, enum",
                )
            ],
        ),
        (
            "enum without values",
            "tier",
            "enum",
            [],
            [FieldError("enum_values", "an enum field needs at least one value")],
        ),
        (
            "values on a date",
            "tier",
            "date",
            ["a"],
            [FieldError("enum_values", "only an enum field takes values")],
        ),
    ],
)
def test_define_custom_field_refuses_bad_definitions(
    workspace, app_install_date, _case, key, field_type, enum_values, errors
):
    # given: app_install_date exists
    # when
    with pytest.raises(ValidationError) as raised:
        services.define_custom_field(
            workspace=workspace,
            key=key,
            label="Label",
            field_type=field_type,
            enum_values=enum_values,
        )
    # then
    assert raised.value.errors == errors
    assert list(CustomFieldDefinition.objects.values_list("key", flat=True)) == ["app_install_date"]


@pytest.mark.parametrize(
    ("_case", "field", "expected"),
    [
        ("profile email", "email", types.email()),
        (
            "lifecycle stage",
            "lifecycle_stage",
            types.enum_of(
                "lead", "prospect", "first_purchase", "repeat", "vip", "at_risk", "churned"
            ),
        ),
        ("opt-in", "sms_opt_in", types.boolean()),
        ("custom date", "app_install_date", types.date()),
        ("unknown", "shoe_size", None),
    ],
)
def test_get_customer_field_type(workspace, app_install_date, _case, field, expected):
    # given: app_install_date exists
    # when
    field_type = get_customer_field_type(workspace, field)
    # then
    assert field_type == expected
