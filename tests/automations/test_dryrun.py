"""Dry-run traces: conditions, resolved inputs, plain-English steps, branches, no side effects."""

from __future__ import annotations

import datetime as dt

import pytest

import catalog.catalog_entries
from automations.checker.paths import PathScope
from automations.conditions import LeafTrace
from automations.draft import parse_definition
from automations.dryrun import (
    PayloadResolver,
    StepTrace,
    describe_step,
    placeholder_outputs,
    trace_rule,
)
from automations.templating import MISSING
from catalog.registry import Registry

REGISTRY = Registry()
REGISTRY.register_module(catalog.catalog_entries)
NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)

FREE_MAIL = r"@(gmail|googlemail|yahoo|hotmail|outlook|gmx|web)\.(com|de|net)$"

SCENARIO_7 = {
    "trigger": {"key": "customer_created", "config": {}},
    "conditions": [{"field": "source", "operator": "equals", "value": "trial"}],
    "steps": [
        {
            "id": "sequence",
            "action": "enroll_journey",
            "inputs": {"customer_id": {"ref": "customer_id"}, "journey_id": {"literal": 3}},
        },
        {
            "id": "airtable",
            "action": "create_airtable_row",
            "inputs": {
                "base": {"literal": "appX1y2Z3a4B5c6D7"},
                "table": {"literal": "Trial signups"},
                "fields": {"literal": {"Source": "trial"}},
            },
        },
        {
            "id": "company",
            "action": "branch_by_condition",
            "condition": [{"field": "email", "operator": "matches", "value": FREE_MAIL}],
            "then": [],
            "else": [
                {
                    "id": "sales",
                    "action": "post_to_slack",
                    "inputs": {
                        "channel": {"literal": "#sales"},
                        "text": {
                            "template": "Trial signup from {{ email }} ({{ customer.first_name }})"
                        },
                    },
                }
            ],
        },
    ],
}


class RecordingLoader:
    """A read-only entity source that remembers what it was asked."""

    def __init__(self, entities):
        self.entities = entities
        self.calls = []

    def load(self, entity, entity_id):
        self.calls.append((entity, entity_id))
        return self.entities.get((entity, entity_id))


CUSTOMERS = {("customer", 101): {"id": 101, "first_name": "Jane", "email": "jane@acme-corp.com"}}


def _draft(definition):
    draft, problems = parse_definition(definition)
    assert problems == []
    return draft


def _trace(definition, payload, loader=None, **kwargs):
    draft = _draft(definition)
    trigger = REGISTRY.get_trigger(draft.trigger.key)
    resolver = PayloadResolver(payload, loader, payload_type=trigger.payload_type)
    return trace_rule(
        draft,
        payload,
        type_of=PathScope.for_trigger(trigger).resolve,
        catalog=REGISTRY,
        resolve=resolver,
        now=NOW,
        **kwargs,
    )


def _signup(email):
    return {"customer_id": 101, "email": email, "source": "trial"}


def test_scenario_7_company_address_posts_to_sales():
    # given
    loader = RecordingLoader(CUSTOMERS)

    # when
    trace = _trace(SCENARIO_7, _signup("jane@acme-corp.com"), loader)

    # then
    assert trace.fired is True
    assert trace.conditions.trace == [
        LeafTrace("conditions[0]", "source", "equals", "trial", "trial", True)
    ]
    assert [(s.path, s.would, s.branch_taken, s.skipped) for s in trace.steps] == [
        ("steps[0]", "Would enroll customer 101 in journey 3", None, False),
        (
            "steps[1]",
            "Would add a row to the Airtable table 'Trial signups' in base appX1y2Z3a4B5c6D7",
            None,
            False,
        ),
        ("steps[2]", "Would take the 'else' steps: the condition does not hold", "else", False),
        (
            "steps[2].else[0]",
            "Would post to Slack #sales: 'Trial signup from jane@acme-corp.com (Jane)'",
            None,
            False,
        ),
    ]
    assert trace.steps[3].resolved_inputs == {
        "channel": "#sales",
        "text": "Trial signup from jane@acme-corp.com (Jane)",
    }
    assert trace.steps[1].outputs == {"record_id": "(record id)"}
    assert loader.calls == [("customer", 101)]


def test_scenario_7_free_mail_address_skips_sales():
    # when
    trace = _trace(SCENARIO_7, _signup("jane@gmail.com"), RecordingLoader(CUSTOMERS))

    # then
    assert trace.fired is True
    branch, slack = trace.steps[2], trace.steps[3]
    assert (branch.branch_taken, branch.would) == (
        "then",
        "Would take the 'then' steps: the condition holds",
    )
    assert branch.condition is not None
    assert branch.condition.trace == [
        LeafTrace("steps[2].condition[0]", "email", "matches", FREE_MAIL, "jane@gmail.com", True)
    ]
    assert slack == StepTrace(
        "steps[2].else[0]",
        "sales",
        "post_to_slack",
        "Post to Slack",
        {},
        "Would not run: the branch takes the other way",
        skipped=True,
    )


def test_conditions_that_fail_skip_every_step():
    # when
    trace = _trace(SCENARIO_7, {"customer_id": 101, "email": "a@b.io", "source": "shopify"})

    # then
    assert trace.fired is False
    assert trace.conditions.passed is False
    assert [(s.path, s.skipped, s.would) for s in trace.steps] == [
        ("steps[0]", True, "Would not run: the rule's conditions do not hold"),
        ("steps[1]", True, "Would not run: the rule's conditions do not hold"),
        ("steps[2]", True, "Would not run: the rule's conditions do not hold"),
        ("steps[2].else[0]", True, "Would not run: the rule's conditions do not hold"),
    ]


def test_wait_and_run_rule_steps_say_what_they_would_do():
    # given
    definition = {
        "trigger": {"key": "order_paid"},
        "steps": [
            {"id": "pause", "action": "wait", "inputs": {"duration": {"literal": "PT5M"}}},
            {
                "id": "chain",
                "action": "run_rule",
                "inputs": {"rule_id": {"literal": 17}, "payload": {"literal": {"a": 1}}},
            },
        ],
    }
    payload = {
        "order_id": 9,
        "payment_method": "card",
        "amount": {"amount": "5", "currency": "EUR"},
    }

    # when
    trace = _trace(definition, payload, rule_names={17: "Welcome series"})

    # then
    assert [s.would for s in trace.steps] == [
        "Would wait PT5M",
        "Would run rule 'Welcome series' (#17)",
    ]
    assert [s.problems for s in trace.steps] == [(), ()]


def test_inputs_resolve_references_defaults_and_entity_fields():
    # given
    definition = {
        "trigger": {"key": "order_paid"},
        "steps": [
            {
                "id": "tag_buyer",
                "action": "tag",
                "inputs": {
                    "customer_id": {"ref": "order.customer"},
                    "tag": {"ref": "order.tracking", "default": "untracked"},
                },
            },
            {
                "id": "mail",
                "action": "send_transactional_email",
                "inputs": {
                    "to": {"ref": "order.customer.email"},
                    "subject": {"template": "Your order {{ order_id }} of {{ amount }}"},
                    "body": {"template": "Hi {{ order.customer.first_name }}"},
                },
            },
        ],
    }
    loader = RecordingLoader(
        {**CUSTOMERS, ("order", 9): {"id": 9, "customer": 101, "tracking": None}}
    )
    payload = {
        "order_id": 9,
        "payment_method": "card",
        "amount": {"amount": "5.00", "currency": "EUR"},
    }

    # when
    trace = _trace(definition, payload, loader)

    # then
    assert trace.steps[0].resolved_inputs == {"customer_id": 101, "tag": "untracked"}
    assert trace.steps[0].would == "Would tag customer 101 with 'untracked'"
    assert trace.steps[1].resolved_inputs == {
        "to": "jane@acme-corp.com",
        "subject": "Your order 9 of 5.00 EUR",
        "body": "Hi Jane",
    }
    assert trace.steps[1].would == (
        "Would email jane@acme-corp.com with the subject 'Your order 9 of 5.00 EUR'"
    )
    assert loader.calls == [("order", 9), ("customer", 101)]


def test_missing_reference_without_default_is_reported():
    # given
    definition = {
        "trigger": {"key": "product_sold_out"},
        "steps": [
            {
                "id": "tag_buyer",
                "action": "tag",
                "inputs": {"customer_id": {"ref": "last_buyer"}, "tag": {"literal": "missed"}},
            }
        ],
    }

    # when
    trace = _trace(definition, {"product_id": 5, "sku": "TEE"})

    # then
    assert trace.steps[0].resolved_inputs == {"tag": "missed"}
    assert trace.steps[0].problems == ("customer_id: last_buyer has no value",)


def test_input_of_the_wrong_type_is_reported():
    # given
    definition = {
        "trigger": {"key": "customer_created"},
        "steps": [
            {
                "id": "tag_it",
                "action": "tag",
                "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": 5}},
            }
        ],
    }

    # when
    trace = _trace(definition, _signup("a@b.io"))

    # then
    assert trace.steps[0].problems == ("tag: expected string, got 5",)


def test_later_steps_see_placeholder_outputs_of_earlier_ones():
    # given
    definition = {
        "trigger": {"key": "customer_created"},
        "steps": [
            {"id": "copy", "action": "generate_copy", "inputs": {"prompt": {"literal": "Hi"}}},
            {
                "id": "risk",
                "action": "predict_churn",
                "inputs": {"customer_id": {"ref": "customer_id"}},
            },
            {
                "id": "risky",
                "action": "branch_by_condition",
                "condition": [{"field": "steps.risk.score", "operator": "gt", "value": "0.5"}],
                "then": [],
                "else": [
                    {
                        "id": "mail",
                        "action": "send_transactional_email",
                        "inputs": {
                            "customer_id": {"ref": "customer_id"},
                            "subject": {"literal": "Hello"},
                            "body": {"ref": "steps.copy.text"},
                        },
                    }
                ],
            },
        ],
    }

    # when
    trace = _trace(definition, _signup("a@b.io"))

    # then
    assert [s.outputs for s in trace.steps] == [
        {"text": "(generated text)"},
        {"score": "0"},
        {},
        {},
    ]
    assert trace.steps[2].branch_taken == "else"
    assert trace.steps[3].resolved_inputs == {
        "customer_id": 101,
        "subject": "Hello",
        "body": "(generated text)",
    }


def test_branch_on_the_result_of_a_step_that_did_not_run_takes_else():
    # given
    definition = {
        "trigger": {"key": "customer_created"},
        "steps": [
            {
                "id": "vip_only",
                "action": "branch_by_condition",
                "condition": [{"field": "source", "operator": "equals", "value": "vip"}],
                "then": [
                    {
                        "id": "risk",
                        "action": "predict_churn",
                        "inputs": {"customer_id": {"ref": "customer_id"}},
                    }
                ],
                "else": [],
            },
            {
                "id": "risky",
                "action": "branch_by_condition",
                "condition": [{"field": "steps.risk.score", "operator": "is_set"}],
                "then": [],
                "else": [],
            },
        ],
    }

    # when
    trace = _trace(definition, _signup("a@b.io"))

    # then
    assert [(s.path, s.branch_taken, s.skipped) for s in trace.steps] == [
        ("steps[0]", "else", False),
        ("steps[0].then[0]", None, True),
        ("steps[1]", "else", False),
    ]
    assert trace.steps[2].condition is not None
    assert trace.steps[2].condition.trace == [
        LeafTrace("steps[1].condition[0]", "steps.risk.score", "is_set", None, None, False, True)
    ]


@pytest.mark.parametrize(
    ("_case", "action", "outputs"),
    [
        ("copy", "generate_copy", {"text": "(generated text)"}),
        ("segment", "suggest_segment", {"segment_id": None}),
        ("churn", "predict_churn", {"score": "0"}),
        ("recommendation", "run_recommendation", {"product_ids": []}),
        ("webhook", "fire_webhook", {"status_code": 200}),
        ("airtable", "create_airtable_row", {"record_id": "(record id)"}),
        ("alt text", "generate_alt_text", {"alt_text": "(generated text)"}),
        ("no outputs", "tag", {}),
    ],
)
def test_placeholder_outputs_follow_the_output_types(_case, action, outputs):
    assert placeholder_outputs(REGISTRY.get_action(action), NOW) == outputs


@pytest.mark.parametrize(
    ("action", "sentence"),
    [
        ("tag", "Would tag customer 101 with 'vip'"),
        ("untag", "Would remove the tag 'trial' from customer 101"),
        ("update_field", "Would set app_install_date of customer 101 to '2025-03-01'"),
        (
            "upsert_customer",
            "Would create or update the customer with the email jane.doe@example.com",
        ),
        ("enroll_journey", "Would enroll customer 101 in journey 3"),
        ("exit_journey", "Would remove customer 101 from journey 3 (reason: 'converted')"),
        (
            "enroll_product_buyers",
            "Would enroll the buyers of products 501, 502 who ordered in the last 90 days "
            "in journey 3",
        ),
        (
            "send_transactional_email",
            "Would email customer 101 with the subject "
            "'Welcome to Acme, {{ customer.first_name }}!'",
        ),
        ("send_campaign", "Would launch campaign 12"),
        ("sync_to_meta_audience", "Would add customer 101 to the Meta audience 23851234567890123"),
        ("sync_to_google_audience", "Would add customer 101 to the Google audience 5512345678"),
        (
            "post_to_slack",
            "Would post to Slack #sales: 'New order of 120.00 EUR from jane@example.com'",
        ),
        ("update_price", "Would set the price of product 501 to 29.90 EUR"),
        ("update_inventory", "Would change the inventory of product 501 by -2"),
        ("hide_product", "Would hide product 501"),
        ("change_sku", "Would change the SKU of product 501 to 'TEE-BLK-M-2025'"),
        ("generate_alt_text", "Would write alt text for product 501 with AI"),
        (
            "fire_webhook",
            "Would send a signed webhook to https://warehouse.example.com/hooks/orders",
        ),
        (
            "post_zapier",
            "Would send data to the Zapier hook https://hooks.zapier.com/hooks/catch/123456/abcdef/",
        ),
        (
            "post_to_make",
            "Would send data to the Make hook https://hook.eu1.make.com/abcdefghijklmnop",
        ),
        (
            "create_airtable_row",
            "Would add a row to the Airtable table 'Trial signups' in base appX1y2Z3a4B5c6D7",
        ),
        ("generate_copy", "Would write copy with AI"),
        (
            "suggest_segment",
            "Would ask AI for a segment for "
            "'Customers most likely to buy the new summer collection.'",
        ),
        ("predict_churn", "Would predict the churn risk of customer 101 with AI"),
        ("run_recommendation", "Would recommend products for customer 101 with AI"),
        ("run_rule", "Would run rule 'Welcome' (#17)"),
        ("wait", "Would wait P3D"),
    ],
)
def test_every_catalog_action_is_described_in_plain_english(action, sentence):
    # given
    spec = REGISTRY.get_action(action)

    # when
    described = describe_step(action, spec.label, spec.example_inputs, {17: "Welcome"})

    # then
    assert described == sentence


def test_unknown_rule_and_wait_until_are_described():
    assert describe_step("run_rule", "", {"rule_id": 4}, {}) == "Would run rule #4"
    assert (
        describe_step("wait", "", {"until": "2025-03-01T09:00:00Z"}, {})
        == "Would wait until 2025-03-01T09:00:00Z"
    )


@pytest.mark.parametrize(
    ("_case", "path", "value"),
    [
        ("payload field", "amount", {"amount": "5.00", "currency": "EUR"}),
        ("ref id by alias", "order", 9),
        ("ref id", "order_id", 9),
        ("entity field", "order.status", "paid"),
        ("entity ref by alias", "order.customer_id", 101),
        ("entity ref", "order.customer", 101),
        ("entity of an entity", "order.customer.email", "jane@acme-corp.com"),
        ("list index in an entity", "order.line_items[1].sku", "CAP"),
        ("index past the end", "order.line_items[5].sku", MISSING),
        ("unknown field", "order.nope", MISSING),
        ("field absent from the loaded entity", "order.customer.segments", MISSING),
        ("malformed path", "order..x", MISSING),
        ("step output not recorded", "steps.copy.text", MISSING),
        ("into a scalar", "payment_method.x", MISSING),
    ],
)
def test_payload_resolver(_case, path, value):
    # given
    loader = RecordingLoader(
        {
            **CUSTOMERS,
            ("order", 9): {
                "id": 9,
                "customer": 101,
                "status": "paid",
                "line_items": [{"sku": "TEE"}, {"sku": "CAP"}],
            },
        }
    )
    trigger = REGISTRY.get_trigger("order_paid")
    payload = {
        "order_id": 9,
        "payment_method": "card",
        "amount": {"amount": "5.00", "currency": "EUR"},
    }
    resolver = PayloadResolver(payload, loader, payload_type=trigger.payload_type)

    # when
    found = resolver(path)

    # then
    assert found == value


def test_payload_resolver_loads_each_entity_once_and_reads_step_outputs():
    # given
    loader = RecordingLoader(CUSTOMERS)
    resolver = PayloadResolver({"customer_id": 101}, loader)
    resolver.set_outputs("copy", {"text": "Hello", "items": [{"a": 1}]})

    # when
    values = [
        resolver("customer.first_name"),
        resolver("customer.email"),
        resolver("steps.copy.text"),
        resolver("steps.copy.items[0].a"),
        resolver("steps.copy"),
    ]

    # then
    assert values == ["Jane", "jane@acme-corp.com", "Hello", 1, MISSING]
    assert loader.calls == [("customer", 101)]


def test_payload_resolver_without_loader_finds_no_entity_fields():
    # given
    resolver = PayloadResolver({"customer_id": 101})

    # then
    assert resolver("customer.email") is MISSING
    assert resolver("customer") == 101


def test_payload_resolver_entity_that_does_not_exist_is_missing():
    # given
    loader = RecordingLoader(CUSTOMERS)
    resolver = PayloadResolver({"customer_id": 999}, loader)

    # when
    found = [resolver("customer.email"), resolver("customer.email")]

    # then
    assert found == [MISSING, MISSING]
    assert loader.calls == [("customer", 999)]
