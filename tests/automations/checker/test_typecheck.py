"""check_rule: every save-time problem of SPEC 6, with its code, path and plain-English message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from automations.checker import CheckContext, EndpointInfo, Problem, ProblemCode, check_rule
from automations.draft import parse_definition
from catalog import catalog_entries
from catalog.registry import Registry
from catalog.types import date, email, enum_of, fields, money, optional, ref, required, string

C = ProblemCode


def _registry() -> Registry:
    registry = Registry()
    registry.register_module(catalog_entries)
    return registry


REGISTRY = _registry()
CUSTOM_FIELDS = {
    "app_install_date": optional(date(), "App install date"),
    "loyalty_tier": optional(enum_of("silver", "gold"), "Loyalty tier"),
}
ENDPOINTS = {
    1: EndpointInfo(
        1,
        "Stripe",
        "https://typewire.example.com/hooks/stripe-tok",
        fields(customer_id=ref("customer"), email=email(), amount=money()),
    ),
    4: EndpointInfo(
        4,
        "App installs",
        "https://typewire.example.com/hooks/app-tok",
        fields(
            customer_id=ref("customer"),
            installed_at=required(date(), "Installed on"),
            plan=optional(string()),
        ),
    ),
}
RULES = {17: "Standard welcome", 18: "VIP welcome"}


def _context(plan="pro", **overrides) -> CheckContext:
    values = {
        "registry": REGISTRY,
        "plan": plan,
        "custom_fields": CUSTOM_FIELDS,
        "endpoints": ENDPOINTS,
        "rules": RULES,
        "rule_name": "This rule",
    }
    values.update(overrides)
    return CheckContext(**values)


def _check(definition, plan="pro", **overrides) -> list[Problem]:
    draft, structure = parse_definition(definition)
    return check_rule(draft, _context(plan, **overrides), structure)


def _rule(trigger, *steps, config=None, conditions=(), alert=None):
    definition = {
        "trigger": {"key": trigger, "config": config or {}},
        "conditions": list(conditions),
        "steps": list(steps),
    }
    if alert:
        definition["alert"] = alert
    return definition


def _step(step_id, action, **inputs):
    return {"id": step_id, "action": action, "inputs": inputs}


def _lit(value):
    return {"literal": value}


def _ref(path, **extra):
    return {"ref": path, **extra}


def _tpl(text):
    return {"template": text}


def _cond(field, operator, *value):
    node = {"field": field, "operator": operator}
    if value:
        node["value"] = value[0]
    return node


def _eur(amount):
    return {"amount": amount, "currency": "EUR"}


TAG_VIP = _step("tag_vip", "tag", customer_id=_ref("customer_id"), tag=_lit("vip"))
SLACK = _step(
    "notify", "post_to_slack", channel=_lit("#sales"), text=_tpl("New: {{ customer_id }}")
)
COPY = _step("copy", "generate_copy", prompt=_lit("Write a subject line."))


# ---------------------------------------------------------------------------------------------
# Rules that can be saved


VALID_RULES = [
    (
        "the draft module's example (order paid, branch, Slack)",
        {
            "trigger": {"key": "order_paid", "config": {}},
            "conditions": [
                _cond("amount", "gt", _eur("100")),
                {
                    "match": "any",
                    "children": [
                        _cond("order.customer.lifecycle_stage", "is", "vip"),
                        _cond("order.customer.tags", "list_contains", "loyal"),
                    ],
                },
            ],
            "steps": [
                _step("tag_vip", "tag", customer_id=_ref("order.customer_id"), tag=_lit("vip")),
                _step(
                    "notify",
                    "post_to_slack",
                    channel=_lit("#sales"),
                    text=_tpl("Order {{ order_id }} by {{ order.customer.email }}"),
                ),
                {
                    "id": "check",
                    "action": "branch_by_condition",
                    "condition": [_cond("amount", "gt", _eur("500"))],
                    "then": [],
                    "else": [],
                },
            ],
            "alert": {"kind": "email", "target": "ops@example.com"},
        },
        "pro",
    ),
    (
        "scenario 1: Stripe payment succeeded emails the customer",
        _rule(
            "webhook_received",
            _step(
                "welcome",
                "send_transactional_email",
                to=_ref("body.email"),
                subject=_lit("Welcome!"),
                body=_tpl("Thanks for your payment of {{ body.amount }}."),
            ),
            config={"endpoint_id": 1},
            conditions=[_cond("event_type", "equals", "payment_intent.succeeded")],
        ),
        "free",
    ),
    (
        "scenario 1: subscription deleted tags churned and fires a webhook",
        _rule(
            "webhook_received",
            _step("churned", "tag", customer_id=_ref("body.customer_id"), tag=_lit("churned")),
            _step(
                "provision",
                "fire_webhook",
                url=_lit("https://provisioning.example.com/hooks/deprovision"),
                body=_lit({"reason": "subscription_deleted"}),
            ),
            config={"endpoint_id": 1},
            conditions=[_cond("event_type", "equals", "customer.subscription.deleted")],
        ),
        "pro",
    ),
    (
        "scenario 2: order created emails, updates inventory and notifies the warehouse",
        _rule(
            "order_created",
            _step(
                "confirm",
                "send_transactional_email",
                customer_id=_ref("customer_id"),
                subject=_tpl("Your order {{ order_id }}"),
                body=_tpl("Total: {{ total }}. Items: {{ line_items[0].sku }}"),
            ),
            _step(
                "stock",
                "update_inventory",
                product_id=_ref("line_items[0].product_id"),
                delta=_lit(-1),
            ),
            _step(
                "warehouse",
                "fire_webhook",
                url=_lit("https://warehouse.example.com/hooks/orders"),
                body=_lit({"source": "typewire"}),
                signing_secret=_lit("whsec_abc"),
            ),
            conditions=[_cond("line_items[0].product_id", "is_set")],
        ),
        "pro",
    ),
    (
        "scenario 3: customer tagged vip enrolls in the VIP journey",
        _rule(
            "customer_tagged",
            _step(
                "enroll",
                "enroll_journey",
                customer_id=_ref("customer_id"),
                journey_id=_lit(3),
            ),
            config={"tag": "vip", "action": "added"},
        ),
        "free",
    ),
    (
        "scenario 4: refund-rate anomaly posts to #urgent",
        _rule(
            "anomaly_detected",
            _step(
                "urgent",
                "post_to_slack",
                channel=_lit("#urgent"),
                text=_tpl("{{ kpi }} is {{ value }} (normally {{ baseline }}): {{ product_ids }}"),
            ),
            config={"kpi": "refund_rate", "severity": "P1"},
        ),
        "free",
    ),
    (
        "scenario 5: app install webhook sets a custom field",
        _rule(
            "webhook_received",
            _step(
                "install",
                "update_field",
                customer_id=_ref("body.customer_id"),
                field=_lit("app_install_date"),
                value=_ref("body.installed_at"),
            ),
            config={"endpoint_id": 4},
        ),
        "free",
    ),
    (
        "scenario 6: CPU over 90 for 5 minutes scales up and alerts on-call",
        _rule(
            "metric_threshold",
            _step(
                "scale",
                "fire_webhook",
                url=_lit("https://infra.example.com/scale-up"),
                body=_lit({"replicas": "+2"}),
            ),
            config={"metric": "cpu", "threshold": "90", "direction": "above", "duration": "PT5M"},
            alert={"kind": "slack", "target": "https://hooks.slack.com/services/T0/B0/oncall"},
        ),
        "free",
    ),
    (
        "scenario 7: free-trial signup with journey, Airtable row and a branch on the domain",
        _rule(
            "customer_created",
            _step("trial", "enroll_journey", customer_id=_ref("customer_id"), journey_id=_lit(5)),
            _step(
                "log",
                "create_airtable_row",
                base=_lit("appX1y2Z3a4B5c6D7"),
                table=_lit("Trial signups"),
                fields=_lit({"Source": "typewire"}),
            ),
            {
                "id": "company",
                "action": "branch_by_condition",
                "condition": [
                    _cond("email", "matches", r"@(gmail|yahoo|hotmail|outlook)\.com$"),
                ],
                "then": [],
                "else": [
                    _step(
                        "sales",
                        "post_to_slack",
                        channel=_lit("#sales"),
                        text=_tpl(
                            "New company trial: {{ email }} (record {{ steps.log.record_id }})"
                        ),
                    ),
                ],
            },
            conditions=[_cond("source", "equals", "free_trial")],
        ),
        "pro",
    ),
    (
        "scenario 8: 9 AM daily cron emails yesterday's sales",
        _rule(
            "cron_schedule",
            _step(
                "summary",
                "send_transactional_email",
                to=_lit("owner@example.com"),
                subject=_tpl("Sales summary for {{ scheduled_for }}"),
                body=_lit("Yesterday's sales are in the dashboard."),
            ),
            config={"cron": "0 9 * * *", "timezone": "Europe/Berlin"},
        ),
        "free",
    ),
    (
        "optional field guarded by a top-level is_set",
        _rule(
            "order_fulfilled",
            _step("notice", "post_to_slack", channel=_lit("#shipping"), text=_ref("tracking")),
            conditions=[_cond("tracking", "is_set")],
        ),
        "free",
    ),
    (
        "optional field guarded inside an all group",
        _rule(
            "order_fulfilled",
            _step("notice", "post_to_slack", channel=_lit("#shipping"), text=_ref("tracking")),
            conditions=[{"match": "all", "children": [_cond("tracking", "is_set")]}],
        ),
        "free",
    ),
    (
        "optional field with a default",
        _rule(
            "order_fulfilled",
            _step(
                "notice",
                "post_to_slack",
                channel=_lit("#shipping"),
                text=_ref("tracking", default="no tracking yet"),
            ),
        ),
        "free",
    ),
    (
        "a later step uses an earlier step's output",
        _rule(
            "customer_created",
            COPY,
            _step("post", "post_to_slack", channel=_lit("#copy"), text=_ref("steps.copy.text")),
        ),
        "pro",
    ),
    (
        "a branch's then-arm is guarded by the branch condition",
        _rule(
            "product_sold_out",
            {
                "id": "buyer",
                "action": "branch_by_condition",
                "condition": [_cond("last_buyer", "is_set")],
                "then": [
                    _step("thank", "tag", customer_id=_ref("last_buyer"), tag=_lit("last_one")),
                ],
                "else": [],
            },
        ),
        "free",
    ),
    (
        "branch arms see the outputs of steps before the branch",
        _rule(
            "customer_created",
            COPY,
            {
                "id": "check",
                "action": "branch_by_condition",
                "condition": [_cond("source", "equals", "shopify")],
                "then": [
                    _step("post", "post_to_slack", channel=_lit("#a"), text=_ref("steps.copy.text"))
                ],
                "else": [],
            },
        ),
        "pro",
    ),
    (
        "run another rule of the workspace",
        _rule(
            "customer_created",
            _step("chain", "run_rule", rule_id=_lit(17), payload=_lit({"customer_id": 1})),
        ),
        "pro",
    ),
    (
        "wait then email (wait is not an action step)",
        _rule(
            "customer_created",
            _step("pause", "wait", duration=_lit("P3D")),
            _step(
                "nudge",
                "send_transactional_email",
                customer_id=_ref("customer_id"),
                subject=_lit("Still there?"),
                body=_lit("We miss you."),
            ),
        ),
        "free",
    ),
    (
        "third order milestone tags loyal",
        _rule(
            "repeat_order_milestone",
            _step("loyal", "tag", customer_id=_ref("customer_id"), tag=_lit("loyal")),
            config={"n": 3},
        ),
        "free",
    ),
    (
        "lifecycle change with an enum list condition",
        _rule(
            "lifecycle_changed",
            _step(
                "winback",
                "enroll_journey",
                customer_id=_ref("customer_id"),
                journey_id=_lit(9),
            ),
            config={"to_stage": "at_risk"},
            conditions=[_cond("from_stage", "is_one_of", ["repeat", "vip"])],
        ),
        "free",
    ),
    (
        "custom-field condition on Starter",
        _rule(
            "customer_updated",
            _step("gold", "tag", customer_id=_ref("customer_id"), tag=_lit("gold")),
            conditions=[_cond("customer.loyalty_tier", "is", "gold")],
        ),
        "starter",
    ),
    (
        "update a profile field with a literal of its type",
        _rule(
            "order_paid",
            _step(
                "stage",
                "update_field",
                customer_id=_ref("order.customer"),
                field=_lit("lifecycle_stage"),
                value=_lit("vip"),
            ),
        ),
        "free",
    ),
    (
        "update price on a product trigger",
        _rule(
            "product_restocked",
            _step("price", "update_price", product_id=_ref("product_id"), price=_lit(_eur("9.90"))),
            conditions=[_cond("qty", "gt", 10)],
        ),
        "free",
    ),
    (
        "money between, datetime within the last days, list length",
        _rule(
            "order_created",
            TAG_VIP,
            conditions=[
                _cond("total", "between", [_eur("100"), _eur("500")]),
                _cond("customer.last_order_at", "within_last", "P30D"),
                _cond("line_items", "length", 2),
                _cond("customer.tags", "is_empty"),
            ],
        ),
        "free",
    ),
    (
        "optional email into an optional input",
        _rule(
            "order_paid",
            _step(
                "thanks",
                "send_transactional_email",
                to=_ref("order.customer.email"),
                subject=_lit("Thanks"),
                body=_lit("Thank you for your order."),
            ),
        ),
        "free",
    ),
    (
        "message clicked syncs to a Meta audience",
        _rule(
            "message_clicked",
            _step(
                "meta",
                "sync_to_meta_audience",
                customer_id=_ref("customer_id"),
                audience_id=_lit("23851234567890123"),
            ),
            conditions=[_cond("link", "contains", "/summer")],
        ),
        "free",
    ),
]


@pytest.mark.parametrize(("_case", "definition", "plan"), VALID_RULES)
def test_valid_rule_has_no_problems(_case, definition, plan):
    # given / when
    problems = _check(definition, plan)

    # then
    assert problems == []


# ---------------------------------------------------------------------------------------------
# Rules that cannot be saved: (code, path) of every problem, in document order


def _branch(condition, then=(), otherwise=()):
    return {
        "id": "branch",
        "action": "branch_by_condition",
        "condition": list(condition),
        "then": list(then),
        "else": list(otherwise),
    }


INVALID_RULES = [
    (
        "unknown trigger",
        _rule("order_payed", TAG_VIP),
        "pro",
        [(C.UNKNOWN_TRIGGER, "trigger.key")],
    ),
    (
        "unknown action",
        _rule("customer_created", _step("t", "tagg", customer_id=_ref("customer_id"))),
        "pro",
        [(C.UNKNOWN_ACTION, "steps[0].action")],
    ),
    (
        "update_price on customer_created",
        _rule("customer_created", _step("p", "update_price", price=_lit(_eur("9.90")))),
        "pro",
        [(C.MISSING_INPUT, "steps[0].inputs.product_id")],
    ),
    (
        "lifecycelStage typo",
        _rule(
            "customer_created", TAG_VIP, conditions=[_cond("customer.lifecycelStage", "is", "vip")]
        ),
        "pro",
        [(C.UNKNOWN_FIELD, "conditions[0].field")],
    ),
    (
        'total > "abc"',
        _rule("order_created", TAG_VIP, conditions=[_cond("total", "gt", "abc")]),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "conditions[0].value")],
    ),
    (
        "tag contains 5",
        _rule("customer_tagged", SLACK, conditions=[_cond("tag", "contains", 5)]),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "conditions[0].value")],
    ),
    (
        "optional field without guard or default",
        _rule(
            "order_fulfilled",
            _step("n", "post_to_slack", channel=_lit("#shipping"), text=_ref("tracking")),
        ),
        "pro",
        [(C.OPTIONAL_UNGUARDED, "steps[0].inputs.text")],
    ),
    (
        "guard in an any group does not count",
        _rule(
            "order_fulfilled",
            _step("n", "post_to_slack", channel=_lit("#shipping"), text=_ref("tracking")),
            conditions=[
                {
                    "match": "any",
                    "children": [
                        _cond("tracking", "is_set"),
                        _cond("fulfillment", "equals", "dhl"),
                    ],
                }
            ],
        ),
        "pro",
        [(C.OPTIONAL_UNGUARDED, "steps[0].inputs.text")],
    ),
    (
        "invalid cron",
        _rule("cron_schedule", config={"cron": "0 25 * * *", "timezone": "Europe/Berlin"}),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.cron")],
    ),
    (
        "cron in words",
        _rule("cron_schedule", config={"cron": "every day at 9", "timezone": "UTC"}),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.cron")],
    ),
    (
        "unknown time zone",
        _rule("cron_schedule", config={"cron": "0 9 * * *", "timezone": "Europe/Berln"}),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.timezone")],
    ),
    (
        "cron settings missing",
        _rule("cron_schedule"),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.cron"), (C.TRIGGER_CONFIG, "trigger.config.timezone")],
    ),
    (
        "milestone N < 1",
        _rule("repeat_order_milestone", TAG_VIP, config={"n": 0}),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.n")],
    ),
    (
        "milestone N not a number",
        _rule("repeat_order_milestone", TAG_VIP, config={"n": "third"}),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.n")],
    ),
    (
        "unknown trigger setting",
        _rule("customer_tagged", SLACK, config={"tags": "vip"}),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.tags")],
    ),
    (
        "trigger setting outside its enum",
        _rule("customer_tagged", SLACK, config={"action": "add"}),
        "pro",
        [(C.TRIGGER_CONFIG, "trigger.config.action")],
    ),
    (
        "unknown webhook endpoint",
        _rule("webhook_received", config={"endpoint_id": 99}),
        "pro",
        [(C.UNKNOWN_ENDPOINT, "trigger.config.endpoint_id")],
    ),
    (
        "AI action on Free",
        _rule("customer_created", COPY),
        "free",
        [(C.PLAN_REQUIRED, "steps[0].action")],
    ),
    (
        "two actions on Starter",
        _rule("customer_created", TAG_VIP, SLACK),
        "starter",
        [(C.PLAN_REQUIRED, "steps[1]")],
    ),
    (
        "run_rule on Free",
        _rule("customer_created", _step("r", "run_rule", rule_id=_lit(17), payload=_lit({}))),
        "free",
        [(C.PLAN_REQUIRED, "steps[0].action")],
    ),
    (
        "custom-field condition on Free",
        _rule(
            "customer_created", TAG_VIP, conditions=[_cond("customer.loyalty_tier", "is", "gold")]
        ),
        "free",
        [(C.PLAN_REQUIRED, "conditions[0].field")],
    ),
    (
        "reacting to a custom field change on Free",
        _rule(
            "customer_updated",
            TAG_VIP,
            conditions=[_cond("changed_fields", "list_contains", "app_install_date")],
        ),
        "free",
        [(C.PLAN_REQUIRED, "conditions[0].value")],
    ),
    (
        "unknown input plus the required one missing",
        _rule(
            "customer_created", _step("t", "tag", customer_id=_ref("customer_id"), tags=_lit("vip"))
        ),
        "pro",
        [(C.UNKNOWN_INPUT, "steps[0].inputs.tags"), (C.MISSING_INPUT, "steps[0].inputs.tag")],
    ),
    (
        "order id into a customer input",
        _rule("order_paid", _step("t", "tag", customer_id=_ref("order_id"), tag=_lit("vip"))),
        "pro",
        [(C.TYPE_MISMATCH, "steps[0].inputs.customer_id")],
    ),
    (
        "money into a text input",
        _rule("order_paid", _step("s", "post_to_slack", channel=_lit("#a"), text=_ref("amount"))),
        "pro",
        [(C.TYPE_MISMATCH, "steps[0].inputs.text")],
    ),
    (
        "ref to an unknown field",
        _rule(
            "customer_created", _step("t", "tag", customer_id=_ref("customer_idd"), tag=_lit("x"))
        ),
        "pro",
        [(C.UNKNOWN_FIELD, "steps[0].inputs.customer_id")],
    ),
    (
        "literal price that is not money",
        _rule(
            "product_restocked",
            _step("p", "update_price", product_id=_ref("product_id"), price=_lit("9.99")),
        ),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "steps[0].inputs.price")],
    ),
    (
        "literal above the input's maximum",
        _rule(
            "customer_created", _step("c", "generate_copy", prompt=_lit("x"), max_words=_lit(5000))
        ),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "steps[0].inputs.max_words")],
    ),
    (
        "template syntax error",
        _rule(
            "customer_created",
            _step("s", "post_to_slack", channel=_lit("#a"), text=_tpl("Hi {{ email")),
        ),
        "pro",
        [(C.TEMPLATE_SYNTAX, "steps[0].inputs.text")],
    ),
    (
        "template placeholder typo",
        _rule(
            "customer_created",
            _step(
                "s", "post_to_slack", channel=_lit("#a"), text=_tpl("{{ customer.lifecycelStage }}")
            ),
        ),
        "pro",
        [(C.UNKNOWN_FIELD, "steps[0].inputs.text")],
    ),
    (
        "template for a money input",
        _rule(
            "product_restocked",
            _step(
                "p",
                "update_price",
                product_id=_ref("product_id"),
                price=_tpl("{{ product.price }}"),
            ),
        ),
        "pro",
        [(C.TYPE_MISMATCH, "steps[0].inputs.price")],
    ),
    (
        "operator not allowed for money",
        _rule("order_created", TAG_VIP, conditions=[_cond("total", "contains", "1")]),
        "pro",
        [(C.OPERATOR_NOT_ALLOWED, "conditions[0].operator")],
    ),
    (
        "operator that does not exist",
        _rule("order_created", TAG_VIP, conditions=[_cond("total", "greater", _eur("1"))]),
        "pro",
        [(C.OPERATOR_NOT_ALLOWED, "conditions[0].operator")],
    ),
    (
        "is_set on a field that is always there",
        _rule("order_created", TAG_VIP, conditions=[_cond("total", "is_set")]),
        "pro",
        [(C.OPERATOR_NOT_ALLOWED, "conditions[0].operator")],
    ),
    (
        "is_empty with a value",
        _rule("customer_created", TAG_VIP, conditions=[_cond("customer.tags", "is_empty", ["x"])]),
        "pro",
        [(C.UNEXPECTED_VALUE, "conditions[0].value")],
    ),
    (
        "comparison without a value",
        _rule("order_created", TAG_VIP, conditions=[_cond("total", "gt")]),
        "pro",
        [(C.MISSING_VALUE, "conditions[0].value")],
    ),
    (
        "enum value outside the enum",
        _rule(
            "customer_created",
            TAG_VIP,
            conditions=[_cond("customer.lifecycle_stage", "is", "vipp")],
        ),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "conditions[0].value")],
    ),
    (
        "between with one value",
        _rule("order_created", TAG_VIP, conditions=[_cond("total", "between", [_eur("1")])]),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "conditions[0].value")],
    ),
    (
        "problem deep in a group",
        _rule(
            "order_created",
            TAG_VIP,
            conditions=[
                {
                    "match": "any",
                    "children": [_cond("total", "gt", _eur("1")), _cond("totl", "gt", _eur("2"))],
                }
            ],
        ),
        "pro",
        [(C.UNKNOWN_FIELD, "conditions[0].children[1].field")],
    ),
    (
        "list field without an index",
        _rule("order_created", TAG_VIP, conditions=[_cond("line_items.sku", "equals", "X")]),
        "pro",
        [(C.UNKNOWN_FIELD, "conditions[0].field")],
    ),
    (
        "undeclared endpoint field",
        _rule(
            "webhook_received",
            config={"endpoint_id": 4},
            conditions=[_cond("body.instaled_at", "is", "2025-03-01")],
        ),
        "pro",
        [(C.UNKNOWN_FIELD, "conditions[0].field")],
    ),
    (
        "step output used before its step",
        _rule(
            "customer_created",
            _step("post", "post_to_slack", channel=_lit("#a"), text=_ref("steps.copy.text")),
            COPY,
        ),
        "pro",
        [(C.UNKNOWN_FIELD, "steps[0].inputs.text")],
    ),
    (
        "output of a branch arm used after the branch",
        _rule(
            "customer_created",
            _branch([_cond("source", "equals", "x")], then=[COPY]),
            _step("post", "post_to_slack", channel=_lit("#a"), text=_ref("steps.copy.text")),
        ),
        "pro",
        [(C.OPTIONAL_UNGUARDED, "steps[1].inputs.text")],
    ),
    (
        "branch without a condition",
        _rule("customer_created", _branch([], then=[TAG_VIP])),
        "pro",
        [(C.MISSING_INPUT, "steps[0].condition")],
    ),
    (
        "branch condition on an unknown field",
        _rule("customer_created", _branch([_cond("emial", "contains", "@")], then=[TAG_VIP])),
        "pro",
        [(C.UNKNOWN_FIELD, "steps[0].condition[0].field")],
    ),
    (
        "problem inside a branch arm",
        _rule(
            "customer_created",
            _branch(
                [_cond("email", "contains", "@")], otherwise=[_step("t", "tag", tag=_lit("x"))]
            ),
        ),
        "pro",
        [(C.MISSING_INPUT, "steps[0].else[0].inputs.customer_id")],
    ),
    (
        "run an unknown rule",
        _rule("customer_created", _step("r", "run_rule", rule_id=_lit(99), payload=_lit({}))),
        "pro",
        [(C.UNKNOWN_RULE, "steps[0].inputs.rule_id")],
    ),
    (
        "wait without duration or moment",
        _rule("customer_created", _step("w", "wait")),
        "pro",
        [(C.MISSING_INPUT, "steps[0].inputs.duration")],
    ),
    (
        "wait with both duration and moment",
        _rule(
            "customer_created",
            _step("w", "wait", duration=_lit("P1D"), until=_lit("2030-01-01T00:00:00Z")),
        ),
        "pro",
        [(C.CONFLICTING_INPUTS, "steps[0].inputs.until")],
    ),
    (
        "email with neither address nor customer",
        _rule(
            "customer_created",
            _step("e", "send_transactional_email", subject=_lit("Hi"), body=_lit("Hello")),
        ),
        "pro",
        [(C.MISSING_INPUT, "steps[0].inputs.to")],
    ),
    (
        "update an unknown customer field",
        _rule(
            "customer_created",
            _step(
                "u",
                "update_field",
                customer_id=_ref("customer_id"),
                field=_lit("app_instal_date"),
                value=_lit("2025-03-01"),
            ),
        ),
        "pro",
        [(C.UNKNOWN_FIELD, "steps[0].inputs.field")],
    ),
    (
        "update a profile field with a value of the wrong type",
        _rule(
            "customer_created",
            _step(
                "u",
                "update_field",
                customer_id=_ref("customer_id"),
                field=_lit("lifecycle_stage"),
                value=_lit("vipp"),
            ),
        ),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "steps[0].inputs.value")],
    ),
    (
        "update a custom date field from a text field",
        _rule(
            "customer_created",
            _step(
                "u",
                "update_field",
                customer_id=_ref("customer_id"),
                field=_lit("app_install_date"),
                value=_ref("source"),
            ),
        ),
        "pro",
        [(C.TYPE_MISMATCH, "steps[0].inputs.value")],
    ),
    (
        "default of the wrong type",
        _rule(
            "order_fulfilled",
            _step("n", "post_to_slack", channel=_lit("#a"), text=_ref("tracking", default=5)),
        ),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "steps[0].inputs.text.default")],
    ),
    (
        "webhook URL that is not a URL",
        _rule("customer_created", _step("h", "fire_webhook", url=_lit("warehouse"), body=_lit({}))),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "steps[0].inputs.url")],
    ),
    (
        "alert to a malformed email address",
        _rule("customer_created", TAG_VIP, alert={"kind": "email", "target": "ops"}),
        "pro",
        [(C.VALUE_TYPE_MISMATCH, "alert.target")],
    ),
    (
        "nested steps under a non-branch step",
        _rule("customer_created", {**TAG_VIP, "then": [SLACK]}),
        "pro",
        [(C.STRUCTURE, "steps[0].then")],
    ),
    (
        "structure problems come first",
        {"trigger": {"key": "customer_created"}, "conditions": "tag is vip", "steps": [TAG_VIP, 3]},
        "pro",
        [(C.STRUCTURE, "conditions"), (C.STRUCTURE, "steps[1]")],
    ),
    (
        "a rule that tags on every tag starts itself",
        _rule("customer_tagged", TAG_VIP),
        "pro",
        [(C.CYCLE, "steps")],
    ),
    (
        "several problems in document order",
        _rule(
            "order_created",
            _step("t", "tag", customer_id=_ref("order_id"), tag=_lit(5)),
            config={"n": 3},
            conditions=[_cond("totl", "gt", _eur("1")), _cond("total", "gt", "abc")],
        ),
        "pro",
        [
            (C.TRIGGER_CONFIG, "trigger.config.n"),
            (C.UNKNOWN_FIELD, "conditions[0].field"),
            (C.VALUE_TYPE_MISMATCH, "conditions[1].value"),
            (C.TYPE_MISMATCH, "steps[0].inputs.customer_id"),
            (C.VALUE_TYPE_MISMATCH, "steps[0].inputs.tag"),
        ],
    ),
]


@pytest.mark.parametrize(("_case", "definition", "plan", "expected"), INVALID_RULES)
def test_invalid_rule_reports_each_problem_at_its_path(_case, definition, plan, expected):
    # given / when
    problems = _check(definition, plan)

    # then
    assert [(p.code, p.path) for p in problems] == expected
    assert all(p.message for p in problems)


# ---------------------------------------------------------------------------------------------
# Messages for marketers


def test_update_price_on_customer_created_says_why_and_what_would_fix_it():
    # given
    definition = _rule("customer_created", _step("p", "update_price", price=_lit(_eur("9.90"))))

    # when
    [problem] = _check(definition)

    # then
    assert problem == Problem(
        C.MISSING_INPUT,
        "steps[0].inputs.product_id",
        "Update price needs a product, but 'Customer created' does not carry one. Pick a "
        "product trigger (such as 'Product created' or 'Product updated'), or set the product "
        "by hand.",
        "To set it by hand, give the product's id as a fixed value.",
    )


def test_missing_entity_the_trigger_carries_names_where_to_take_it():
    # given
    definition = _rule("order_paid", _step("t", "tag", tag=_lit("vip")))

    # when
    [problem] = _check(definition)

    # then
    assert problem.path == "steps[0].inputs.customer_id"
    assert problem.message == "Tag customer needs a customer: say which one."
    assert problem.hint == "Use order.customer or order.customer.id."


def test_typo_gets_did_you_mean():
    # given
    definition = _rule(
        "customer_created", TAG_VIP, conditions=[_cond("customer.lifecycelStage", "is", "vip")]
    )

    # when
    [problem] = _check(definition)

    # then
    assert problem.message == "There is no field 'lifecycelStage' in 'customer'."
    assert problem.hint == "Did you mean customer.lifecycle_stage?"


def test_template_typo_gets_did_you_mean():
    # given
    definition = _rule(
        "customer_created",
        _step("s", "post_to_slack", channel=_lit("#a"), text=_tpl("Hi {{ customer.frist_name }}")),
    )

    # when
    [problem] = _check(definition)

    # then
    assert (
        problem.message
        == "{{ customer.frist_name }}: There is no field 'frist_name' in 'customer'."
    )
    assert problem.hint == "Did you mean customer.first_name?"


def test_money_compared_with_text_says_it_is_not_an_amount():
    # given
    definition = _rule("order_created", TAG_VIP, conditions=[_cond("total", "gt", "abc")])

    # when
    [problem] = _check(definition)

    # then
    assert problem.message == 'Total is money: "abc" is not an amount.'
    assert "currency" in problem.hint


def test_text_contains_a_number_says_it_is_not_text():
    # given
    definition = _rule("customer_tagged", SLACK, conditions=[_cond("tag", "contains", 5)])

    # when
    [problem] = _check(definition)

    # then
    assert problem.message == "Tag is text: 5 is not text."


def test_enum_value_typo_suggests_the_value():
    # given
    definition = _rule(
        "customer_created", TAG_VIP, conditions=[_cond("customer.lifecycle_stage", "is", "vipp")]
    )

    # when
    [problem] = _check(definition)

    # then
    assert problem.message.startswith("Lifecycle stage can be lead, prospect,")
    assert problem.hint == "Did you mean vip?"


def test_operator_not_allowed_lists_the_allowed_ones_in_words():
    # given
    definition = _rule("order_created", TAG_VIP, conditions=[_cond("total", "contains", "1")])

    # when
    [problem] = _check(definition)

    # then
    assert problem.message == "Total is money: it cannot be 'contains' something."
    assert problem.hint == (
        "You can use: is equal to, is not equal to, is greater than, is at least, is less than, "
        "is at most, is between."
    )


def test_type_mismatch_names_both_entities():
    # given
    definition = _rule("order_paid", _step("t", "tag", customer_id=_ref("order_id"), tag=_lit("x")))

    # when
    [problem] = _check(definition)

    # then
    assert problem.message == "Tag customer needs a customer, but order_id is an order."
    assert problem.hint == "Use order.customer or order.customer.id."


def test_optional_unguarded_offers_the_guard_and_the_default():
    # given
    definition = _rule(
        "order_fulfilled",
        _step("n", "post_to_slack", channel=_lit("#shipping"), text=_ref("tracking")),
    )

    # when
    [problem] = _check(definition)

    # then
    assert problem.message == "tracking may be missing, but Message needs a value."
    assert problem.hint == "Add the condition 'tracking is set', or give a default."


@pytest.mark.parametrize(
    ("_case", "definition", "plan", "message"),
    [
        (
            "AI action",
            _rule("customer_created", COPY),
            "free",
            "'Write copy (AI)' needs the Pro plan; this workspace is on Free.",
        ),
        (
            "multi-step chain",
            _rule("customer_created", TAG_VIP, SLACK),
            "starter",
            "A rule with more than one action needs the Pro plan; this workspace is on Starter.",
        ),
        (
            "custom-field condition",
            _rule(
                "customer_created",
                TAG_VIP,
                conditions=[_cond("customer.loyalty_tier", "is", "gold")],
            ),
            "free",
            "A condition on a custom field needs the Starter plan; this workspace is on Free.",
        ),
    ],
)
def test_plan_gating_names_the_plan_that_allows_it(_case, definition, plan, message):
    # given / when
    [problem] = _check(definition, plan)

    # then
    assert problem.code is C.PLAN_REQUIRED
    assert problem.message == message


def test_unknown_plan_counts_as_free():
    # given / when
    [problem] = _check(_rule("customer_created", COPY), "platinum")

    # then
    assert problem.message == "'Write copy (AI)' needs the Pro plan; this workspace is on Free."


@pytest.mark.parametrize(
    ("_case", "config", "path", "message", "hint"),
    [
        (
            "cron",
            {"cron": "0 25 * * *", "timezone": "Europe/Berlin"},
            "trigger.config.cron",
            "'0 25 * * *' is not a schedule: write five parts, minute hour day month weekday.",
            "For every day at 9 AM, write 0 9 * * *; for Mondays at noon, 0 12 * * 1.",
        ),
        (
            "time zone",
            {"cron": "0 9 * * *", "timezone": "Europe/Berln"},
            "trigger.config.timezone",
            "'Europe/Berln' is not a time zone: use a name like Europe/Berlin.",
            "Did you mean Europe/Berlin?",
        ),
        (
            "missing time zone",
            {"cron": "0 9 * * *"},
            "trigger.config.timezone",
            "'On a schedule' needs the time zone setting.",
            "An IANA time zone, e.g. Europe/Berlin.",
        ),
    ],
)
def test_schedule_configuration_messages(_case, config, path, message, hint):
    # given / when
    [problem] = _check(_rule("cron_schedule", config=config))

    # then
    assert problem == Problem(C.TRIGGER_CONFIG, path, message, hint)


def test_milestone_below_one_says_what_n_means():
    # given / when
    [problem] = _check(_rule("repeat_order_milestone", TAG_VIP, config={"n": 0}))

    # then
    assert problem.message == "The order number N must be at least 1; it is 0."
    assert problem.hint == "2 means a customer's second order."


def test_unknown_endpoint_lists_the_workspace_endpoints():
    # given / when
    [problem] = _check(_rule("webhook_received", config={"endpoint_id": 99}))

    # then
    assert problem.message == "This workspace has no webhook endpoint #99."
    assert problem.hint == "Pick one of: Stripe (#1), App installs (#4)."


def test_unknown_trigger_suggests_a_key_and_does_not_cascade():
    # given
    definition = _rule("order_payed", TAG_VIP, conditions=[_cond("anything", "gt", 1)])

    # when
    [problem] = _check(definition)

    # then
    assert problem == Problem(
        C.UNKNOWN_TRIGGER,
        "trigger.key",
        "There is no trigger called 'order_payed'.",
        "Did you mean order_paid?",
    )


def test_unknown_action_suggests_a_key():
    # given / when
    [problem] = _check(_rule("customer_created", _step("t", "tagg")))

    # then
    assert problem.hint == "Did you mean tag?"


def test_unknown_rule_lists_rules_to_run():
    # given / when
    [problem] = _check(
        _rule("customer_created", _step("r", "run_rule", rule_id=_lit(99), payload=_lit({})))
    )

    # then
    assert problem.message == "This workspace has no rule #99 to run."
    assert problem.hint == "Pick one of: Standard welcome (#17), VIP welcome (#18)."


def test_cycle_shows_the_loop_as_rule_names():
    # given
    definition = _rule("customer_tagged", TAG_VIP)

    # when
    [problem] = _check(definition, rule_name="Tag VIPs")

    # then
    assert problem.code is C.CYCLE
    assert problem.path == "steps"
    assert problem.message.startswith("This rule would loop: Tag VIPs → Tag VIPs.")


def test_cycle_through_another_rule():
    # given
    from automations.checker.cycles import node_from_draft

    other, _ = parse_definition(
        _rule(
            "journey_enrolled",
            _step("t", "tag", customer_id=_ref("customer_id"), tag=_lit("vip")),
        )
    )
    context = _context()
    other_node = node_from_draft(5, "Enrolled → tag", other, context)
    definition = _rule(
        "customer_tagged",
        _step("e", "enroll_journey", customer_id=_ref("customer_id"), journey_id=_lit(3)),
        config={"tag": "vip"},
    )

    # when
    [problem] = _check(definition, rule_name="VIP → journey", others=[other_node])

    # then
    assert problem.message.startswith(
        "This rule would loop: VIP → journey → Enrolled → tag → VIP → journey."
    )


def test_literal_tag_filter_prunes_the_loop():
    # given: the rule tags "welcomed" but only fires for "vip"
    definition = _rule(
        "customer_tagged",
        _step("t", "tag", customer_id=_ref("customer_id"), tag=_lit("welcomed")),
        config={"tag": "vip"},
    )

    # when / then
    assert _check(definition) == []


def test_no_cycle_check_while_an_action_is_unknown():
    # given
    definition = _rule("customer_tagged", TAG_VIP, _step("x", "nope"))

    # when
    problems = _check(definition)

    # then
    assert [p.code for p in problems] == [C.UNKNOWN_ACTION]


def test_problem_as_dict_is_the_api_shape():
    # given
    problem = Problem(C.UNKNOWN_FIELD, "conditions[0].field", "No such field.", "Did you mean x?")

    # when / then
    assert problem.as_dict() == {
        "code": "unknown_field",
        "path": "conditions[0].field",
        "message": "No such field.",
        "hint": "Did you mean x?",
    }


def test_check_rule_never_raises_on_garbage():
    # given
    draft, structure = parse_definition({"trigger": 5, "steps": [{"id": "a", "inputs": 3}]})

    # when
    problems = check_rule(draft, _context(), structure)

    # then
    assert problems
    assert {p.code for p in problems} == {C.STRUCTURE}


def test_checker_and_sentence_import_without_django_settings_or_database():
    # given
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, automations.checker, automations.sentence; "
        "assert not [m for m in sys.modules if m.startswith('django.db')], 'django.db imported'"
    )

    # when
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )

    # then
    assert result.returncode == 0, result.stderr
