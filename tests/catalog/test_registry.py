"""The catalog registry: registration, lookups, duplicates, catalog_entries modules."""

from __future__ import annotations

import types

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from catalog import registry as registry_module
from catalog.registry import Registry, UnknownEntryError
from catalog.specs import ActionSpec, Category, TriggerSpec
from catalog.types import fields, ref, string


def _trigger(key="order_paid", label="Order paid"):
    return TriggerSpec(
        key=key,
        category=Category.ORDER,
        label=label,
        description="Fires when a payment is captured.",
        payload=fields(order_id=ref("order")),
        example={"order_id": 1},
    )


def _action(key="tag", emits=("customer_tagged",)):
    return ActionSpec(
        key=key,
        category=Category.CUSTOMER,
        label="Tag",
        description="Tags a customer.",
        inputs=fields(customer_id=ref("customer"), tag=string()),
        runner="automations.engine.runners.customer.tag",
        example_inputs={"customer_id": 1, "tag": "vip"},
        emits=emits,
    )


def _module(name, triggers=(), actions=()):
    module = types.ModuleType(name)
    setattr(module, "TRIGGERS", list(triggers))  # noqa: B010 - ModuleType has no such attribute
    setattr(module, "ACTIONS", list(actions))  # noqa: B010
    return module


def test_register_and_get():
    # given
    registry = Registry()
    trigger, action = _trigger(), _action()

    # when
    registry.register_trigger(trigger, "app_a.catalog_entries")
    registry.register_action(action, "app_a.catalog_entries")

    # then
    assert registry.get_trigger("order_paid") is trigger
    assert registry.get_action("tag") is action
    assert registry.triggers() == (trigger,)
    assert registry.actions() == (action,)
    assert registry.source_of_trigger("order_paid") == "app_a.catalog_entries"


def test_duplicate_trigger_key_from_two_sources_names_key_and_sources():
    # given
    registry = Registry()
    registry.register_trigger(_trigger(), "catalog.catalog_entries")

    # when
    with pytest.raises(ImproperlyConfigured) as excinfo:
        registry.register_trigger(_trigger(label="Paid!"), "plugin.catalog_entries")

    # then
    assert str(excinfo.value) == (
        'Duplicate catalog trigger key "order_paid": declared by catalog.catalog_entries and by '
        "plugin.catalog_entries. Keys must be unique across all catalog_entries modules."
    )


def test_duplicate_action_key_raises():
    # given
    registry = Registry()
    registry.register_module(_module("app_a.catalog_entries", actions=[_action()]))

    # when
    with pytest.raises(ImproperlyConfigured, match='Duplicate catalog action key "tag"'):
        registry.register_module(_module("app_b.catalog_entries", actions=[_action()]))


def test_registering_the_same_module_twice_is_harmless():
    # given
    registry = Registry()
    module = _module("app_a.catalog_entries", [_trigger()], [_action()])

    # when
    registry.register_module(module)
    registry.register_module(module)

    # then
    assert [spec.key for spec in registry.triggers()] == ["order_paid"]
    assert [spec.key for spec in registry.actions()] == ["tag"]


def test_same_key_twice_in_one_module_raises():
    # given
    registry = Registry()
    module = _module("app_a.catalog_entries", [_trigger(), _trigger(label="Again")])

    # when
    with pytest.raises(ImproperlyConfigured) as excinfo:
        registry.register_module(module)

    # then
    assert str(excinfo.value) == (
        'Duplicate catalog trigger key "order_paid": listed twice in app_a.catalog_entries.'
    )
    assert registry.triggers() == ()


def test_wrong_entry_type_raises():
    # given
    registry = Registry()

    # when
    with pytest.raises(ImproperlyConfigured, match="in ACTIONS is not an ActionSpec"):
        registry.register_action(_trigger(), "app_a.catalog_entries")


def test_unknown_key_suggests_the_closest():
    # given
    registry = Registry()
    registry.register_trigger(_trigger(), "app_a.catalog_entries")

    # when
    with pytest.raises(UnknownEntryError) as excinfo:
        registry.get_trigger("order_payed")

    # then
    assert str(excinfo.value) == 'Unknown trigger "order_payed". Did you mean "order_paid"?'
    assert isinstance(excinfo.value, LookupError)


def test_check_refuses_actions_emitting_unknown_triggers():
    # given
    registry = Registry()
    registry.register_action(_action(emits=("customer_taged",)), "app_a.catalog_entries")

    # when
    with pytest.raises(ImproperlyConfigured) as excinfo:
        registry.check()

    # then
    assert str(excinfo.value) == (
        'Action "tag" (app_a.catalog_entries) emits unknown trigger "customer_taged".'
    )


def test_actions_emitting():
    # given
    registry = Registry()
    registry.register_module(
        _module("a.catalog_entries", actions=[_action(), _action("untag"), _action("x", ())])
    )

    # when
    emitters = registry.actions_emitting("customer_tagged")

    # then
    assert [spec.key for spec in emitters] == ["tag", "untag"]


def test_app_ready_fills_the_default_registry_and_is_idempotent():
    # given
    before = (registry_module.all_triggers(), registry_module.all_actions())

    # when
    apps.get_app_config("catalog").ready()

    # then
    assert (registry_module.all_triggers(), registry_module.all_actions()) == before
    assert registry_module.get_trigger("order_paid").key == "order_paid"
    assert registry_module.get_action("tag").emits == ("customer_tagged",)
    assert registry_module.registry.source_of_trigger("order_paid") == "catalog.catalog_entries"
