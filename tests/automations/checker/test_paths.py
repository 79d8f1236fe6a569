"""PathScope: resolving paths through payloads, entities, lists and step outputs."""

from __future__ import annotations

import pytest

from automations.checker.paths import PathNotFound, PathScope
from catalog import catalog_entries
from catalog.registry import Registry
from catalog.types import (
    DateType,
    EmailType,
    EnumType,
    FieldSpec,
    MoneyType,
    RefType,
    StringType,
    TextType,
    date,
    email,
    enum_of,
    optional,
    ref,
    required,
    string,
    text,
)

CUSTOM_FIELDS = {"app_install_date": optional(date(), "App install date")}


def _registry() -> Registry:
    registry = Registry()
    registry.register_module(catalog_entries)
    return registry


REGISTRY = _registry()


def _scope(trigger_key, declared=None):
    return PathScope.for_trigger(REGISTRY.get_trigger(trigger_key), CUSTOM_FIELDS, declared)


@pytest.mark.parametrize(
    ("_case", "trigger", "path", "expected_type", "is_optional"),
    [
        ("payload field", "order_created", "total", MoneyType(), False),
        ("payload ref", "order_created", "order_id", RefType("order"), False),
        ("alias opens the entity", "order_paid", "order.total", MoneyType(), False),
        ("alias alone is the ref", "order_paid", "order", RefType("order"), False),
        ("ref to ref", "order_paid", "order.customer.email", EmailType(), True),
        ("required through refs", "order_paid", "order.customer.first_name", StringType(), False),
        ("entity ref by _id name", "order_paid", "order.customer_id", RefType("customer"), False),
        ("custom field", "customer_created", "customer.app_install_date", DateType(), True),
        ("list index is optional", "order_created", "line_items[0].sku", StringType(), True),
        ("optional payload ref", "product_sold_out", "last_buyer.first_name", StringType(), True),
        ("enum field", "customer_created", "customer.lifecycle_stage", None, False),
        (
            "order line item entity",
            "order_paid",
            "order.line_items[1].unit_price",
            MoneyType(),
            True,
        ),
    ],
)
def test_resolve_follows_refs_lists_and_optionals(_case, trigger, path, expected_type, is_optional):
    # given
    scope = _scope(trigger)

    # when
    spec = scope.resolve(path)

    # then
    if expected_type is not None:
        assert spec.type == expected_type
    assert spec.optional is is_optional


def test_resolve_keeps_the_declared_label():
    # given
    scope = _scope("customer_created")

    # when
    spec = scope.resolve("customer.lifecycle_stage")

    # then
    assert isinstance(spec.type, EnumType)
    assert spec.label == "Lifecycle stage"


@pytest.mark.parametrize(
    ("_case", "trigger", "path", "suggestion", "reason"),
    [
        (
            "typo in an entity field",
            "customer_created",
            "customer.lifecycelStage",
            "customer.lifecycle_stage",
            "There is no field 'lifecycelStage' in 'customer'.",
        ),
        (
            "typo in a payload field",
            "order_created",
            "totl",
            "total",
            "There is no field 'totl' in 'Order created'.",
        ),
        (
            "typo two refs deep",
            "order_paid",
            "order.customer.emial",
            "order.customer.email",
            "There is no field 'emial' in 'order.customer'.",
        ),
        (
            "list without an index",
            "order_created",
            "line_items.sku",
            "line_items[0].sku",
            "'line_items' is a list: pick one item by its position, counting from 0.",
        ),
        (
            "index on a non-list",
            "order_created",
            "total[0]",
            "",
            "'total' is money, not a list.",
        ),
        (
            "into a scalar",
            "order_created",
            "total.amount",
            "",
            "'total' is money, it has no fields of its own.",
        ),
        (
            "nothing close",
            "order_created",
            "zzzzzz",
            "",
            "There is no field 'zzzzzz' in 'Order created'.",
        ),
    ],
)
def test_resolve_raises_path_not_found_with_a_suggestion(_case, trigger, path, suggestion, reason):
    # given
    scope = _scope(trigger)

    # when
    with pytest.raises(PathNotFound) as caught:
        scope.resolve(path)

    # then
    assert caught.value.suggestion == suggestion
    assert caught.value.reason == reason
    assert caught.value.hint == (f"Did you mean {suggestion}?" if suggestion else "")


def test_declared_endpoint_fields_join_the_body():
    # given
    declared = {"installed_at": required(date()), "email": email()}
    scope = _scope("webhook_received", declared)

    # when
    spec = scope.resolve("body.installed_at")

    # then
    assert spec.type == DateType()
    assert not spec.optional


def test_undeclared_body_field_is_unknown_with_a_suggestion():
    # given
    scope = _scope("webhook_received", {"installed_at": required(date())})

    # when
    with pytest.raises(PathNotFound) as caught:
        scope.resolve("body.instaled_at")

    # then
    assert caught.value.suggestion == "body.installed_at"


def test_step_outputs_are_visible_once_added():
    # given
    scope = _scope("customer_created")
    later = scope.with_step("copy", {"text": required(text(), "Text")})

    # when
    spec = later.resolve("steps.copy.text")

    # then
    assert spec.type == TextType()
    with pytest.raises(PathNotFound):
        scope.resolve("steps.copy.text")


def test_step_outputs_of_a_branch_arm_are_optional():
    # given
    scope = _scope("customer_created").with_step("copy", {"text": text()}, optional=True)

    # when
    spec = scope.resolve("steps.copy.text")

    # then
    assert spec.optional


def test_unknown_step_suggests_the_closest_step():
    # given
    scope = _scope("customer_created").with_step("copy", {"text": text()})

    # when
    with pytest.raises(PathNotFound) as caught:
        scope.resolve("steps.cpy.text")

    # then
    assert caught.value.suggestion == "steps.copy.text"


def test_resolve_detail_tells_custom_fields_apart():
    # given
    scope = _scope("customer_created")

    # when / then
    assert scope.resolve_detail("customer.app_install_date").uses_custom_field
    assert not scope.resolve_detail("customer.email").uses_custom_field


def test_available_paths_lists_payload_and_entity_fields_three_deep():
    # given
    scope = _scope("order_paid")

    # when
    paths = [path for path, _ in scope.available_paths()]

    # then
    assert paths[:3] == ["order_id", "order.id", "order.customer"]
    assert "order.customer.email" in paths
    assert "amount" in paths
    assert all(path.count(".") <= 2 for path in paths)


def test_available_paths_filters_by_type():
    # given
    scope = _scope("order_paid")

    # when
    paths = scope.available_paths(ref("customer"))

    # then
    assert [path for path, _ in paths] == ["order.customer", "order.customer.id"]


def test_available_paths_keeps_optional_fields_marked():
    # given
    scope = _scope("order_fulfilled")

    # when
    found = dict(scope.available_paths(FieldSpec(string())))

    # then
    assert found["tracking"].optional
    assert not found["fulfillment"].optional


def test_available_paths_include_custom_fields_and_step_outputs():
    # given
    scope = _scope("customer_created").with_step("pick", {"tier": enum_of("a", "b")})

    # when
    paths = [path for path, _ in scope.available_paths()]

    # then
    assert "customer.app_install_date" in paths
    assert paths[-1] == "steps.pick.tier"
