"""Demo content beyond users: catalog entities, webhook endpoints and the rules of SPEC section 10.

:func:`load_demo_content` is idempotent (every entity is looked up by its natural key first) and
yields one line per thing it created. Rules are saved through
:func:`automations.services.save_rule`, so each passed the checker. Rules that need nothing
outside Typewire (emails go through the configured mail backend, the console in the demo) are
enabled; rules that post to Slack, Airtable or another system are saved disabled, with a
description naming what to configure before switching them on.

Three parts of SPEC 10 have no demo rule yet, though the catalog can express them (see
``tests/e2e/test_scenarios.py``): tagging a Stripe customer ``churned`` and setting
``app_install_date`` from a webhook (an endpoint field declared ``ref(customer)``), and enrolling
the buyers of the products named by an anomaly (``enroll_product_buyers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from accounts.models import Membership, Role, Workspace
from automations.definitions import condition, literal, ref, step, template
from automations.models import Rule
from automations.services import save_rule
from catalog.domain.models import CustomFieldDefinition
from catalog.domain.services import (
    create_customer,
    create_journey,
    create_product,
    define_custom_field,
    tag_customer,
)
from catalog.models import Customer, Journey, Product
from webhooks.models import Endpoint
from webhooks.services import create_endpoint

OWNER_EMAIL = "owner@demo.typewire.local"
"""Where the demo's summary and alert emails go (the console backend prints them)."""

CUSTOMERS = [
    ("jane.doe@example.com", "Jane", "Doe", "shopify", ("vip",)),
    ("sam.lee@gmail.com", "Sam", "Lee", "free_trial", ()),
    ("cto@acme-corp.example", "Alex", "Moreau", "free_trial", ()),
    ("jon@example.com", "Jon", "Snow", "shopify", ()),
]
PRODUCTS = [
    ("Organic cotton tee", "TEE-ORG-M", "29.90", 40),
    ("Ceramic pour-over kettle", "KETTLE-01", "64.00", 3),
    ("Linen tote bag", "TOTE-LIN", "19.50", 0),
]
JOURNEYS = [("vip-welcome", "VIP welcome"), ("trial", "Free trial")]
STRIPE_FIELDS = {
    "data.object.id": "string",
    "data.object.receipt_email": "email?",
    "data.object.customer_email": "email?",
    "data.object.amount": "integer?",
}
APP_FIELDS = {"email": "email", "installed_at": "date", "plan": "string?"}
ALERT = {"kind": "email", "target": OWNER_EMAIL}


def load_demo_content(workspace: Workspace) -> Iterator[str]:
    """Create the demo workspace's content idempotently; yield one line per thing created."""
    yield f"Workspace {workspace.slug}: plan {workspace.get_plan_display()}."
    with transaction.atomic():
        yield from _customers(workspace)
        yield from _products(workspace)
        journeys: dict[str, Journey] = {}
        for slug, name in JOURNEYS:
            journey = Journey.objects.filter(workspace=workspace, slug=slug).first()
            if journey is None:
                journey = create_journey(workspace=workspace, name=name, slug=slug)
                yield f"Journey {slug} ({name})."
            journeys[slug] = journey
        if not CustomFieldDefinition.objects.filter(
            workspace=workspace, key="app_install_date"
        ).exists():
            define_custom_field(
                workspace=workspace,
                key="app_install_date",
                label="App install date",
                field_type="date",
            )
            yield "Custom customer field app_install_date (date)."
        endpoints: dict[str, Endpoint] = {}
        for line, name, endpoint in _endpoints(workspace):
            endpoints[name] = endpoint
            if line:
                yield line
        author = _author(workspace)
        for name, definition, enabled, description in _rules(journeys, endpoints):
            if Rule.objects.filter(workspace=workspace, name=name).exists():
                continue
            save_rule(
                workspace=workspace,
                author=author,
                name=name,
                definition=definition,
                description=description,
                is_enabled=enabled,
            )
            state = "enabled" if enabled else f"disabled: {description}"
            yield f"Rule '{name}' ({state})."


def _customers(workspace: Workspace) -> Iterator[str]:
    for address, first, last, source, tags in CUSTOMERS:
        if Customer.objects.filter(workspace=workspace, email=address).exists():
            continue
        customer = create_customer(
            workspace=workspace,
            email=address,
            first_name=first,
            last_name=last,
            source=source,
            email_opt_in=True,
        )
        for tag in tags:
            tag_customer(customer=customer, tag=tag)
        suffix = f", tagged {', '.join(tags)}" if tags else ""
        yield f"Customer {address} ({source}{suffix})."


def _products(workspace: Workspace) -> Iterator[str]:
    for title, sku, price, stock in PRODUCTS:
        if Product.objects.filter(workspace=workspace, sku=sku).exists():
            continue
        create_product(
            workspace=workspace,
            title=title,
            sku=sku,
            price=Decimal(price),
            currency="EUR",
            inventory_quantity=stock,
            low_stock_threshold=5,
        )
        yield f"Product {sku} ({title}, {stock} in stock)."


def _endpoints(workspace: Workspace) -> Iterator[tuple[str, str, Endpoint]]:
    """Yield (line or "", name, endpoint) for the demo's webhook endpoints."""
    wanted: list[tuple[str, str, dict[str, str]]] = [
        ("Stripe", "stripe", STRIPE_FIELDS),
        ("Shopify", "shopify", {}),
        ("App installs", "standard_webhooks", APP_FIELDS),
    ]
    for name, preset, declared in wanted:
        found = Endpoint.objects.filter(workspace=workspace, name=name).first()
        if found is not None:
            yield "", name, found
            continue
        revealed = create_endpoint(
            workspace=workspace, name=name, preset=preset, declared_fields=declared
        )
        yield (
            f"Webhook endpoint {name} ({preset}) at /hooks/{revealed.endpoint.token}, "
            f"signing secret {revealed.secret}",
            name,
            revealed.endpoint,
        )


def _author(workspace: Workspace) -> User | None:
    membership = (
        Membership.objects.filter(workspace=workspace, role=Role.ADMIN)
        .select_related("user")
        .first()
    )
    return membership.user if membership else None


# --- the rules of SPEC 10 ---------------------------------------------------------------------


def _definition(
    trigger: str,
    *steps: dict[str, Any],
    config: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "trigger": {"key": trigger, "config": config or {}},
        "conditions": conditions or [],
        "steps": list(steps),
        "alert": ALERT,
    }


type DemoRule = tuple[str, dict[str, Any], bool, str]
"""(name, definition, enabled, description)."""


def _rules(journeys: dict[str, Journey], endpoints: dict[str, Endpoint]) -> list[DemoRule]:
    """Return the demo rules of SPEC 10, wired to the demo's journeys and endpoints."""
    vip = journeys["vip-welcome"].pk
    trial = journeys["trial"].pk
    stripe = {"endpoint_id": endpoints["Stripe"].pk}
    slack = "Set TYPEWIRE_SLACK_WEBHOOK_PATH (a Slack incoming webhook), then enable."
    return [
        (
            "Stripe payment: welcome email",
            _definition(
                "webhook_received",
                step(
                    "welcome",
                    "send_transactional_email",
                    to=ref("body.data.object.receipt_email"),
                    subject=literal("Welcome to the Demo Store!"),
                    body=template(
                        "Thanks for your payment of {{ body.data.object.amount }} cents."
                    ),
                ),
                config=stripe,
                conditions=[
                    condition("event_type", "equals", "payment_intent.succeeded"),
                    condition("body.data.object.receipt_email", "is_set"),
                ],
            ),
            True,
            "SPEC 10.1: a Stripe payment sends a welcome email.",
        ),
        (
            "Stripe invoice failed: retry email",
            _definition(
                "webhook_received",
                step(
                    "retry",
                    "send_transactional_email",
                    to=ref("body.data.object.customer_email"),
                    subject=literal("Your payment did not go through"),
                    body=template("Please update your card for invoice {{ body.data.object.id }}."),
                ),
                config=stripe,
                conditions=[
                    condition("event_type", "equals", "invoice.payment_failed"),
                    condition("body.data.object.customer_email", "is_set"),
                ],
            ),
            True,
            "SPEC 10.1: a failed Stripe invoice sends a retry email.",
        ),
        (
            "Stripe subscription deleted: deprovision",
            _definition(
                "webhook_received",
                step(
                    "deprovision",
                    "fire_webhook",
                    url=literal("https://provisioning.example.com/hooks/deprovision"),
                    body=ref("body.data"),
                    signing_secret=literal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                ),
                config=stripe,
                conditions=[condition("event_type", "equals", "customer.subscription.deleted")],
            ),
            False,
            "Point the URL and signing secret at your provisioning system, then enable.",
        ),
        (
            "Order created: confirm and take stock",
            _definition(
                "order_created",
                step(
                    "confirm",
                    "send_transactional_email",
                    customer_id=ref("customer_id"),
                    subject=template("Your order {{ order_id }}"),
                    body=template("Thanks! Total: {{ total }}."),
                ),
                step(
                    "stock",
                    "update_inventory",
                    product_id=ref("line_items[0].product_id"),
                    delta=literal(-1),
                ),
                conditions=[condition("line_items[0].product_id", "is_set")],
            ),
            True,
            "SPEC 10.2: confirmation email and inventory (the warehouse rule is separate).",
        ),
        (
            "Order created: notify the warehouse",
            _definition(
                "order_created",
                step(
                    "warehouse",
                    "fire_webhook",
                    url=literal("https://warehouse.example.com/hooks/orders"),
                    body=ref("line_items[0]"),
                    signing_secret=literal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                ),
                conditions=[condition("line_items[0]", "is_set")],
            ),
            False,
            "Point the URL and signing secret at your warehouse system, then enable.",
        ),
        (
            "VIP tag: enroll in VIP welcome",
            _definition(
                "customer_tagged",
                step(
                    "enroll",
                    "enroll_journey",
                    customer_id=ref("customer_id"),
                    journey_id=literal(vip),
                ),
                config={"tag": "vip", "action": "added"},
            ),
            True,
            "SPEC 10.3: tagging a customer vip enrolls them in the vip-welcome journey.",
        ),
        (
            "Refund spike: tell #urgent",
            _definition(
                "anomaly_detected",
                step(
                    "urgent",
                    "post_to_slack",
                    channel=literal("#urgent"),
                    text=template(
                        "{{ kpi }} is {{ value }} (usually {{ baseline }}): {{ product_ids }}"
                    ),
                ),
                config={"kpi": "refund_rate", "severity": "P1"},
            ),
            False,
            slack,
        ),
        (
            "CPU above 90% for 5 minutes: scale up",
            _definition(
                "metric_threshold",
                step(
                    "scale",
                    "fire_webhook",
                    url=literal("https://infra.example.com/scale-up"),
                    body=literal({"replicas": "+2"}),
                ),
                step(
                    "oncall",
                    "post_to_slack",
                    channel=literal("#oncall"),
                    text=template("{{ metric }} at {{ value }} since {{ since }}: scaling up"),
                ),
                config={
                    "metric": "cpu",
                    "threshold": "90",
                    "direction": "above",
                    "duration": "PT5M",
                },
            ),
            False,
            "Point the URL at your infrastructure API and set up Slack, then enable.",
        ),
        (
            "Free trial: journey, Airtable row, #sales",
            _definition(
                "customer_created",
                step(
                    "trial",
                    "enroll_journey",
                    customer_id=ref("customer_id"),
                    journey_id=literal(trial),
                ),
                step(
                    "log",
                    "create_airtable_row",
                    base=literal("appDemo00000000000"),
                    table=literal("Trial signups"),
                    fields=literal({"Source": "typewire"}),
                ),
                {
                    "id": "company",
                    "action": "branch_by_condition",
                    "condition": [
                        condition("email", "matches", r"@(gmail|yahoo|hotmail|outlook)\.com$")
                    ],
                    "then": [],
                    "else": [
                        step(
                            "sales",
                            "post_to_slack",
                            channel=literal("#sales"),
                            text=template("New company trial: {{ email }}"),
                        )
                    ],
                },
                conditions=[condition("source", "equals", "free_trial")],
            ),
            False,
            "Set TYPEWIRE_AIRTABLE_API_KEY, your Airtable base and TYPEWIRE_SLACK_WEBHOOK_PATH, "
            "then enable.",
        ),
        (
            "9 AM: yesterday's sales summary",
            _definition(
                "cron_schedule",
                step(
                    "summary",
                    "send_transactional_email",
                    to=literal(OWNER_EMAIL),
                    subject=template("Sales summary for {{ scheduled_for }}"),
                    body=literal("Yesterday's sales are in the dashboard."),
                ),
                config={"cron": "0 9 * * *", "timezone": "Europe/Berlin"},
            ),
            True,
            "SPEC 10.8: every day at 9 AM (Berlin) the owner gets the sales summary.",
        ),
    ]
