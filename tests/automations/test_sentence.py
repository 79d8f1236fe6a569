"""describe_rule: the plain-English sentence every rule shows."""

from __future__ import annotations

from automations.checker import CheckContext, EndpointInfo
from automations.draft import parse_definition
from automations.sentence import describe_rule
from catalog import catalog_entries
from catalog.registry import Registry
from catalog.types import date, fields, ref


def _registry() -> Registry:
    registry = Registry()
    registry.register_module(catalog_entries)
    return registry


REGISTRY = _registry()


def _describe(definition, context=REGISTRY):
    draft, _ = parse_definition(definition)
    return describe_rule(draft, context)


def test_single_action_rule_reads_as_one_sentence():
    # given: scenario 3
    definition = {
        "trigger": {"key": "customer_tagged", "config": {"tag": "vip", "action": "added"}},
        "steps": [
            {
                "id": "enroll",
                "action": "enroll_journey",
                "inputs": {"customer_id": {"ref": "customer_id"}, "journey_id": {"literal": 3}},
            }
        ],
        "alert": {"kind": "email", "target": "crm@example.com"},
    }

    # when
    sentence = _describe(definition)

    # then
    assert sentence == (
        'When \'Customer tagged\' (tag "vip", change "added") happens in Typewire, then enroll '
        "in journey in Typewire, using customer_id, and alert crm@example.com if it fails."
    )


def test_conditions_destinations_and_template_fields_are_named():
    # given
    definition = {
        "trigger": {"key": "order_paid"},
        "conditions": [
            {"field": "amount", "operator": "gt", "value": {"amount": "100", "currency": "EUR"}}
        ],
        "steps": [
            {
                "id": "notify",
                "action": "post_to_slack",
                "inputs": {
                    "channel": {"literal": "#sales"},
                    "text": {"template": "Order {{ order_id }} by {{ order.customer.email }}"},
                },
            },
            {
                "id": "hook",
                "action": "fire_webhook",
                "inputs": {
                    "url": {"literal": "https://erp.example.com/orders"},
                    "body": {"literal": {}},
                },
            },
        ],
        "alert": {"kind": "slack", "target": "https://hooks.slack.com/services/T/B/x"},
    }

    # when
    sentence = _describe(definition)

    # then
    assert sentence == (
        "When 'Order paid' happens in Typewire, if amount is greater than 100 EUR, then post to "
        "Slack and send webhook in Slack and erp.example.com, using order_id and "
        "order.customer.email, and alert Slack if it fails."
    )


def test_branch_reads_as_if_otherwise():
    # given: scenario 7's branch
    definition = {
        "trigger": {"key": "customer_created"},
        "steps": [
            {
                "id": "company",
                "action": "branch_by_condition",
                "condition": [{"field": "email", "operator": "matches", "value": "@gmail"}],
                "then": [],
                "else": [
                    {
                        "id": "sales",
                        "action": "post_to_slack",
                        "inputs": {
                            "channel": {"literal": "#sales"},
                            "text": {"template": "{{ email }}"},
                        },
                    }
                ],
            }
        ],
    }

    # when
    sentence = _describe(definition)

    # then
    assert sentence == (
        "When 'Customer created' happens in Typewire, then (if email matches the pattern "
        '"@gmail": nothing; otherwise post to Slack) in Slack, using email, and alert no one '
        "if it fails."
    )


def test_endpoint_and_chained_rule_are_named_from_the_context():
    # given
    context = CheckContext(
        registry=REGISTRY,
        endpoints={
            4: EndpointInfo(4, "App installs", "", fields(customer_id=ref("customer"), on=date()))
        },
        rules={17: "Standard welcome"},
    )
    definition = {
        "trigger": {"key": "webhook_received", "config": {"endpoint_id": 4}},
        "steps": [
            {
                "id": "chain",
                "action": "run_rule",
                "inputs": {"rule_id": {"literal": 17}, "payload": {"literal": {}}},
            }
        ],
    }

    # when
    sentence = _describe(definition, context)

    # then
    assert sentence == (
        "When 'Webhook received' happens in the 'App installs' endpoint, then run the rule "
        "'Standard welcome', and alert no one if it fails."
    )


def test_broken_draft_still_reads():
    # given
    definition = {"trigger": {"key": "order_payed"}, "steps": [{"id": "x", "action": "tagg"}]}

    # when
    sentence = _describe(definition)

    # then
    assert sentence == (
        "When 'order_payed' happens in an unknown source, then 'tagg', and alert no one if it "
        "fails."
    )


def test_rule_without_steps_does_nothing():
    # given
    definition = {"trigger": {"key": "cron_schedule", "config": {"cron": "0 9 * * *"}}}

    # when
    sentence = _describe(definition)

    # then
    assert sentence == (
        "When 'On a schedule' (schedule \"0 9 * * *\") happens in the scheduler, then do "
        "nothing, and alert no one if it fails."
    )
