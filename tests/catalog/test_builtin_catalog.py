"""The built-in catalog: every SPEC 4 trigger and SPEC 5 action, declared and self-consistent."""

from __future__ import annotations

import subprocess
import sys

import pytest

from catalog import catalog_entries
from catalog.registry import Registry
from catalog.specs import ActionKind, PlanTier
from catalog.types import ValidationError

SPEC_TRIGGER_KEYS = [
    "customer_created",
    "customer_updated",
    "customer_tagged",
    "lifecycle_changed",
    "opt_in_changed",
    "customer_segment_joined",
    "customer_segment_left",
    "order_created",
    "order_paid",
    "order_fulfilled",
    "order_cancelled",
    "refund_created",
    "repeat_order_milestone",
    "product_created",
    "product_updated",
    "product_sold_out",
    "product_restocked",
    "low_stock_alert",
    "campaign_launched",
    "campaign_completed",
    "journey_enrolled",
    "journey_exited",
    "message_opened",
    "message_clicked",
    "webhook_received",
    "zapier_event",
    "cron_schedule",
    "anomaly_detected",
    "metric_threshold",
    "poll_new_item",
]

SPEC_ACTION_KEYS = [
    "tag",
    "untag",
    "update_field",
    "upsert_customer",
    "enroll_journey",
    "exit_journey",
    "enroll_product_buyers",
    "send_transactional_email",
    "send_campaign",
    "sync_to_meta_audience",
    "sync_to_google_audience",
    "post_to_slack",
    "update_price",
    "update_inventory",
    "hide_product",
    "change_sku",
    "generate_alt_text",
    "fire_webhook",
    "post_zapier",
    "post_to_make",
    "create_airtable_row",
    "generate_copy",
    "suggest_segment",
    "predict_churn",
    "run_recommendation",
    "run_rule",
    "wait",
    "branch_by_condition",
]

TRIGGERS = {spec.key: spec for spec in catalog_entries.TRIGGERS}
ACTIONS = {spec.key: spec for spec in catalog_entries.ACTIONS}


def test_every_spec_trigger_is_declared_once():
    # when
    keys = [spec.key for spec in catalog_entries.TRIGGERS]

    # then
    assert sorted(keys) == sorted(SPEC_TRIGGER_KEYS)


def test_every_spec_action_is_declared_once():
    # when
    keys = [spec.key for spec in catalog_entries.ACTIONS]

    # then
    assert sorted(keys) == sorted(SPEC_ACTION_KEYS)


def test_builtin_entries_register_cleanly():
    # given
    registry = Registry()

    # when
    registry.register_module(catalog_entries)
    registry.check()

    # then
    assert len(registry.triggers()) == 30
    assert len(registry.actions()) == 28


@pytest.mark.parametrize("spec", catalog_entries.TRIGGERS, ids=lambda spec: spec.key)
def test_trigger_example_fits_its_own_declaration(spec):
    # when
    payload = spec.validate_payload(spec.example)
    config = spec.validate_config(spec.example_config)

    # then
    assert payload == dict(spec.example)
    assert config == dict(spec.example_config)


@pytest.mark.parametrize("spec", catalog_entries.ACTIONS, ids=lambda spec: spec.key)
def test_action_example_fits_its_own_declaration(spec):
    # when
    inputs = spec.validate_inputs(spec.example_inputs)

    # then
    assert inputs == dict(spec.example_inputs)


@pytest.mark.parametrize(
    "spec", [*catalog_entries.TRIGGERS, *catalog_entries.ACTIONS], ids=lambda spec: spec.key
)
def test_entry_is_described_for_marketers(spec):
    # when
    length = len(spec.description)

    # then
    assert spec.label[:1].isupper()
    assert spec.description.endswith(".")
    assert "\n" not in spec.description
    assert 80 <= length <= 400


@pytest.mark.parametrize(
    ("_case", "trigger_key", "payload", "expected_path", "expected_message"),
    [
        (
            "ref given as string",
            "customer_created",
            {"customer_id": "cus_1", "email": "a@example.com", "source": "shop"},
            "customer_id",
            'expected ref(customer) (a positive integer id), got "cus_1"',
        ),
        (
            "bad email",
            "customer_created",
            {"customer_id": 1, "email": "not-an-email", "source": "shop"},
            "email",
            'expected an email address, got "not-an-email"',
        ),
        (
            "phone without country code",
            "customer_created",
            {"customer_id": 1, "email": "a@example.com", "phone": "0151 1234", "source": "x"},
            "phone",
            "expected a phone number in international form",
        ),
        (
            "missing source",
            "customer_created",
            {"customer_id": 1, "email": "a@example.com"},
            "source",
            "required field is missing",
        ),
        (
            "changed_fields not a list",
            "customer_updated",
            {"customer_id": 1, "changed_fields": "phone", "old_values": {}, "new_values": {}},
            "changed_fields",
            'expected list(string), got "phone"',
        ),
        (
            "old_values not an object",
            "customer_updated",
            {"customer_id": 1, "changed_fields": [], "old_values": [], "new_values": {}},
            "old_values",
            "expected object, got a list",
        ),
        (
            "unknown tag action",
            "customer_tagged",
            {"customer_id": 1, "tag": "vip", "action": "toggled"},
            "action",
            'expected one of added, removed, got "toggled"',
        ),
        (
            "tag is not a string",
            "customer_tagged",
            {"customer_id": 1, "tag": 7, "action": "added"},
            "tag",
            "expected string, got 7",
        ),
        (
            "unknown lifecycle stage",
            "lifecycle_changed",
            {"customer_id": 1, "from_stage": "lead", "to_stage": "whale"},
            "to_stage",
            "expected one of lead, prospect, first_purchase, repeat, vip, at_risk, churned, "
            'got "whale"',
        ),
        (
            "unknown channel",
            "opt_in_changed",
            {"customer_id": 1, "channel": "fax", "action": "opted_in"},
            "channel",
            'expected one of email, sms, whatsapp, got "fax"',
        ),
        (
            "segment ref missing",
            "customer_segment_joined",
            {"customer_id": 1},
            "segment_id",
            "required field is missing",
        ),
        (
            "bad nested line item quantity",
            "order_created",
            {
                "order_id": 1,
                "customer_id": 1,
                "total": {"amount": "10.00", "currency": "EUR"},
                "line_items": [
                    {
                        "product_id": 1,
                        "sku": "A",
                        "quantity": 1,
                        "unit_price": {"amount": "1", "currency": "EUR"},
                    },
                    {
                        "product_id": 2,
                        "sku": "B",
                        "quantity": 1,
                        "unit_price": {"amount": "1", "currency": "EUR"},
                    },
                    {
                        "product_id": 3,
                        "sku": "C",
                        "quantity": "three",
                        "unit_price": {"amount": "1", "currency": "EUR"},
                    },
                ],
            },
            "line_items[2].quantity",
            'expected integer, got "three"',
        ),
        (
            "line item missing its unit price",
            "order_created",
            {
                "order_id": 1,
                "customer_id": 1,
                "total": {"amount": "10.00", "currency": "EUR"},
                "line_items": [{"product_id": 1, "sku": "A", "quantity": 1}],
            },
            "line_items[0].unit_price",
            "required field is missing",
        ),
        (
            "line item unit price bad currency",
            "order_created",
            {
                "order_id": 1,
                "customer_id": 1,
                "total": {"amount": "10.00", "currency": "EUR"},
                "line_items": [
                    {
                        "product_id": 1,
                        "sku": "A",
                        "quantity": 1,
                        "unit_price": {"amount": "1", "currency": "€"},
                    }
                ],
            },
            "line_items[0].unit_price.currency",
            'expected a 3-letter ISO currency code, got "€"',
        ),
        (
            "line item quantity zero",
            "order_created",
            {
                "order_id": 1,
                "customer_id": 1,
                "total": {"amount": "10.00", "currency": "EUR"},
                "line_items": [
                    {
                        "product_id": 1,
                        "sku": "A",
                        "quantity": 0,
                        "unit_price": {"amount": "1", "currency": "EUR"},
                    }
                ],
            },
            "line_items[0].quantity",
            "must be at least 1, got 0",
        ),
        (
            "total as a bare number",
            "order_created",
            {"order_id": 1, "customer_id": 1, "total": 10, "line_items": []},
            "total",
            'expected money ({"amount": "120.00", "currency": "EUR"}), got 10',
        ),
        (
            "money amount not a number",
            "order_paid",
            {
                "order_id": 1,
                "payment_method": "card",
                "amount": {"amount": "ten", "currency": "EUR"},
            },
            "amount.amount",
            'expected decimal, got "ten"',
        ),
        (
            "unknown top-level key",
            "order_paid",
            {
                "order_id": 1,
                "payment_method": "card",
                "amount": {"amount": "1", "currency": "EUR"},
                "ammount": 1,
            },
            "ammount",
            'unknown field (did you mean "amount"?)',
        ),
        (
            "tracking is a number",
            "order_fulfilled",
            {"order_id": 1, "fulfillment": "dhl", "tracking": 123},
            "tracking",
            "expected string, got 123",
        ),
        (
            "refund amount missing currency",
            "order_cancelled",
            {"order_id": 1, "reason": "x", "refund_amount": {"amount": "5"}},
            "refund_amount.currency",
            "required field is missing",
        ),
        (
            "refund reason null",
            "refund_created",
            {"order_id": 1, "refund_amount": {"amount": "5", "currency": "EUR"}, "reason": None},
            "reason",
            "expected string, got null",
        ),
        (
            "order count as string",
            "repeat_order_milestone",
            {"customer_id": 1, "order_count": "3"},
            "order_count",
            'expected integer, got "3"',
        ),
        (
            "product type missing",
            "product_created",
            {"product_id": 1, "title": "Tee"},
            "type",
            "required field is missing",
        ),
        (
            "changed field item not a string",
            "product_updated",
            {"product_id": 1, "changed_fields": ["price", 3]},
            "changed_fields[1]",
            "expected string, got 3",
        ),
        (
            "last buyer is an order id string",
            "product_sold_out",
            {"product_id": 1, "sku": "A", "last_buyer": "ord_1"},
            "last_buyer",
            'expected ref(customer) (a positive integer id), got "ord_1"',
        ),
        (
            "restock quantity fractional",
            "product_restocked",
            {"product_id": 1, "sku": "A", "qty": 2.5},
            "qty",
            "expected integer, got 2.5",
        ),
        (
            "threshold missing",
            "low_stock_alert",
            {"product_id": 1, "sku": "A", "qty": 2},
            "threshold",
            "required field is missing",
        ),
        (
            "audience size boolean",
            "campaign_launched",
            {"campaign_id": 1, "audience_size": True},
            "audience_size",
            "expected integer, got true",
        ),
        (
            "lift not a decimal",
            "campaign_completed",
            {"campaign_id": 1, "revenue": {"amount": "1", "currency": "EUR"}, "lift": "high"},
            "lift",
            'expected decimal, got "high"',
        ),
        (
            "journey ref negative",
            "journey_enrolled",
            {"journey_id": -3, "customer_id": 1, "step": "welcome"},
            "journey_id",
            "expected ref(journey) (a positive integer id), got -3",
        ),
        (
            "exit reason missing",
            "journey_exited",
            {"journey_id": 3, "customer_id": 1},
            "exit_reason",
            "required field is missing",
        ),
        (
            "message channel unknown",
            "message_opened",
            {"message_id": 1, "customer_id": 1, "channel": "pigeon"},
            "channel",
            'expected one of email, sms, whatsapp, got "pigeon"',
        ),
        (
            "clicked link not a URL",
            "message_clicked",
            {"message_id": 1, "customer_id": 1, "channel": "email", "link": "javascript:alert(1)"},
            "link",
            'expected an http(s) URL, got "javascript:alert(1)"',
        ),
        (
            "webhook body not an object",
            "webhook_received",
            {"endpoint_id": 1, "body": "raw"},
            "body",
            'expected object, got "raw"',
        ),
        (
            "zapier endpoint missing",
            "zapier_event",
            {"body": {}},
            "endpoint_id",
            "required field is missing",
        ),
        (
            "naive cron time",
            "cron_schedule",
            {"scheduled_for": "2025-03-01T09:00:00", "fired_at": "2025-03-01T09:00:01Z"},
            "scheduled_for",
            "expected a datetime with a time zone",
        ),
        (
            "unknown severity",
            "anomaly_detected",
            {
                "kpi": "refund_rate",
                "severity": "P0",
                "value": "1",
                "baseline": "1",
                "product_ids": [],
            },
            "severity",
            'expected one of P1, P2, P3, got "P0"',
        ),
        (
            "anomaly product id not a ref",
            "anomaly_detected",
            {
                "kpi": "revenue",
                "severity": "P2",
                "value": "1",
                "baseline": "1",
                "product_ids": [1, "two"],
            },
            "product_ids[1]",
            'expected ref(product) (a positive integer id), got "two"',
        ),
        (
            "metric direction unknown",
            "metric_threshold",
            {
                "metric": "cpu",
                "value": "91",
                "threshold": "90",
                "direction": "sideways",
                "since": "2025-03-01T09:00:00Z",
            },
            "direction",
            'expected one of above, below, got "sideways"',
        ),
        (
            "poll source not a URL",
            "poll_new_item",
            {"source_url": "reviews", "item_id": "1", "item": {}},
            "source_url",
            'expected an http(s) URL, got "reviews"',
        ),
    ],
)
def test_wrong_payload_is_rejected_at_its_exact_path(
    _case, trigger_key, payload, expected_path, expected_message
):
    # given
    spec = TRIGGERS[trigger_key]

    # when
    with pytest.raises(ValidationError) as excinfo:
        spec.validate_payload(payload)

    # then
    assert len(excinfo.value.errors) == 1
    error = excinfo.value.errors[0]
    assert error.path == expected_path
    assert expected_message in error.message


@pytest.mark.parametrize(
    ("_case", "trigger_key", "config", "expected"),
    [
        (
            "milestone n below one",
            "repeat_order_milestone",
            {"n": 0},
            "n: must be at least 1, got 0",
        ),
        ("milestone n missing", "repeat_order_milestone", {}, "n: required field is missing"),
        (
            "cron without timezone",
            "cron_schedule",
            {"cron": "0 9 * * *"},
            "timezone: required field is missing",
        ),
        (
            "threshold not a decimal",
            "metric_threshold",
            {"metric": "cpu", "threshold": "ninety", "direction": "above"},
            'threshold: expected decimal, got "ninety"',
        ),
        (
            "webhook endpoint missing",
            "webhook_received",
            {},
            "endpoint_id: required field is missing",
        ),
        ("tag filter not a string", "customer_tagged", {"tag": 1}, "tag: expected string, got 1"),
    ],
)
def test_wrong_trigger_config_is_rejected(_case, trigger_key, config, expected):
    # when
    with pytest.raises(ValidationError) as excinfo:
        TRIGGERS[trigger_key].validate_config(config)

    # then
    assert str(excinfo.value) == expected


@pytest.mark.parametrize(
    ("_case", "action_key", "inputs", "expected"),
    [
        (
            "inventory with quantity and delta",
            "update_inventory",
            {"product_id": 1, "quantity": 5, "delta": 1},
            "quantity: give exactly one of quantity, delta (got quantity, delta)",
        ),
        ("wait with neither", "wait", {}, "duration: give exactly one of duration, until"),
        (
            "price as plain number",
            "update_price",
            {"product_id": 1, "price": "9.99"},
            'price: expected money ({"amount": "120.00", "currency": "EUR"}), got "9.99"',
        ),
        (
            "tag a product id string",
            "tag",
            {"customer_id": "p_1", "tag": "vip"},
            'customer_id: expected ref(customer) (a positive integer id), got "p_1"',
        ),
        (
            "webhook url not http",
            "fire_webhook",
            {"url": "file:///etc/passwd", "body": {}},
            'url: expected an http(s) URL, got "file:///etc/passwd"',
        ),
    ],
)
def test_wrong_action_inputs_are_rejected(_case, action_key, inputs, expected):
    # when
    with pytest.raises(ValidationError) as excinfo:
        ACTIONS[action_key].validate_inputs(inputs)

    # then
    assert str(excinfo.value) == expected


@pytest.mark.parametrize(
    ("action_key", "expected"),
    [
        ("tag", ("customer_tagged",)),
        ("untag", ("customer_tagged",)),
        ("update_field", ("customer_updated", "lifecycle_changed", "opt_in_changed")),
        ("upsert_customer", ("customer_created", "customer_updated", "opt_in_changed")),
        ("enroll_journey", ("journey_enrolled",)),
        ("exit_journey", ("journey_exited",)),
        ("enroll_product_buyers", ("journey_enrolled",)),
        ("send_campaign", ("campaign_launched",)),
        ("update_price", ("product_updated",)),
        (
            "update_inventory",
            ("product_updated", "product_sold_out", "product_restocked", "low_stock_alert"),
        ),
        ("hide_product", ("product_updated",)),
        ("change_sku", ("product_updated",)),
        ("generate_alt_text", ("product_updated",)),
        ("post_to_slack", ()),
        ("fire_webhook", ()),
    ],
)
def test_action_emits(action_key, expected):
    # when
    emits = ACTIONS[action_key].emits

    # then
    assert emits == expected


@pytest.mark.parametrize(
    ("action_key", "expected"),
    [
        ("generate_copy", {"text": "text"}),
        ("suggest_segment", {"segment_id": "ref(segment)"}),
        ("predict_churn", {"score": "decimal"}),
        ("run_recommendation", {"product_ids": "list(ref(product))"}),
    ],
)
def test_ai_actions_need_pro_and_have_typed_outputs(action_key, expected):
    # given
    spec = ACTIONS[action_key]

    # when
    outputs = {name: str(field) for name, field in spec.outputs.items()}

    # then
    assert outputs == expected
    assert spec.plan is PlanTier.PRO
    assert spec.is_http is True


def test_workflow_steps_are_marked():
    # when
    workflow = sorted(key for key, spec in ACTIONS.items() if spec.kind is ActionKind.WORKFLOW)

    # then
    assert workflow == ["branch_by_condition", "run_rule", "wait"]


def test_external_triggers_take_their_payload_from_elsewhere():
    # when
    from_endpoint = sorted(key for key, spec in TRIGGERS.items() if spec.payload_from_endpoint)
    from_config = sorted(key for key, spec in TRIGGERS.items() if spec.payload_from_config)

    # then
    assert from_endpoint == ["webhook_received", "zapier_event"]
    assert from_config == ["poll_new_item"]


def test_runners_are_dotted_paths():
    # when
    runners = {spec.runner for spec in catalog_entries.ACTIONS}

    # then
    assert all(runner.startswith("automations.engine.runners.") for runner in runners)
    assert len(runners) == len(catalog_entries.ACTIONS)


def test_listing_the_catalog_imports_no_runner_nor_http_client():
    # given
    code = (
        "import sys, catalog.catalog_entries; "
        "loaded = sorted(m for m in sys.modules "
        "if m.startswith(('automations', 'httpx', 'django.db'))); "
        "assert not loaded, loaded"
    )

    # when
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )

    # then
    assert result.returncode == 0, result.stderr


def test_update_field_value_type_comes_from_the_field_input():
    # when
    value = ACTIONS["update_field"].inputs["value"]

    # then
    assert value.type_from == "field"
    assert str(value) == "any"


def test_order_paid_payload_json_schema():
    # when
    schema = TRIGGERS["order_paid"].payload_type.json_schema()

    # then
    assert schema["required"] == ["order_id", "payment_method", "amount"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["order_id"]["x-typewire-type"] == "ref(order)"
    assert schema["properties"]["order_id"]["title"] == "Order"
    assert schema["properties"]["amount"]["x-typewire-type"] == "money"
