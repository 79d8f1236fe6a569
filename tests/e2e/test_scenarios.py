"""SPEC section 10 end to end: each scenario from its trigger to its effects, on a real worker.

One Celery worker process (PostgreSQL, Redis) serves the whole module. One local HTTP server on
127.0.0.1 stands in for Slack, Airtable, the warehouse, the provisioning system, the infra
API and the AI provider; a local SMTP server takes the emails (the worker is another process,
so Django's locmem outbox would not be visible here). Every rule is saved through
``automations.services.save_rule``, so it passed the checker.
Signed webhooks are verified on the receiving side with ``standardwebhooks.Webhook.verify``.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone
from kombu import Connection
from standardwebhooks.webhooks import Webhook

from accounts.models import Workspace
from automations.definitions import condition, literal, ref, step, template
from automations.models import Execution, ExecutionStatus, Rule, StepRun
from automations.services import save_rule
from automations.triggers.anomaly import detect_workspace
from automations.triggers.metrics import record_sample
from automations.triggers.schedule import fire_tick
from catalog.domain.services import (
    create_customer,
    define_custom_field,
    enroll_journey,
    tag_customer,
)
from catalog.events import record_event
from catalog.models import (
    Customer,
    Event,
    EventStatus,
    JourneyEnrollment,
    Order,
    Product,
)
from tests.automations.http.conftest import LocalServer, Received, Reply
from tests.factories import CustomerFactory, JourneyFactory, ProductFactory
from tests.webhooks.conftest import make_endpoint, standard_headers
from tests.webhooks.test_presets import shopify_headers, stripe_headers
from tests.workers import QUEUES, celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SLACK_PATH = "/services/T0/B0/typewire"
AIRTABLE_KEY = "key-test"
TERMINAL = {ExecutionStatus.SUCCEEDED, ExecutionStatus.DEAD, ExecutionStatus.LOOP}


# --- the outside world ----------------------------------------------------------------------


def _answer(request: Received) -> Reply:
    """Answer like the real services: Airtable names a record, the AI completes, Slack says ok."""
    if request.path.startswith("/v0/"):
        return Reply(200, {"records": [{"id": "rec1", "fields": {}}]})
    if request.path.endswith("/chat/completions"):
        message = {"role": "assistant", "content": "Welcome aboard!"}
        return Reply(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            },
        )
    if request.path.startswith("/services/"):
        return Reply(200, "ok", {"Content-Type": "text/plain"})
    return Reply(200, {"ok": True})


class Mailbox:
    """A local SMTP server that keeps every message it is given (no TLS, no auth)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        mailbox = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())

            def handle(self) -> None:
                self.reply("220 localhost ESMTP test")
                while line := self.rfile.readline():
                    command = line.decode(errors="replace").strip().upper()
                    if command.startswith("DATA"):
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = bytearray()
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        parsed = email.message_from_bytes(bytes(data), policy=email.policy.default)
                        assert isinstance(parsed, EmailMessage)
                        mailbox.messages.append(parsed)
                        self.reply("250 queued")
                    elif command.startswith("QUIT"):
                        self.reply("221 bye")
                        return
                    else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                        self.reply("250 ok")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Outside:
    """The stand-ins the worker talks to."""

    http: LocalServer
    mail: Mailbox

    def requests_to(self, prefix: str) -> list[Received]:
        return [r for r in self.http.requests if r.path.startswith(prefix)]

    def verified(self, prefix: str) -> list[Any]:
        """The bodies POSTed under ``prefix``, each verified as a Standard Webhooks delivery."""
        return [Webhook(SIGNING_SECRET).verify(r.body, r.headers) for r in self.requests_to(prefix)]

    def slack_posts(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests_to(SLACK_PATH)]


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    server = LocalServer()
    server.responder = _answer
    server.start()
    mail = Mailbox()
    yield Outside(server, mail)
    server.stop()
    mail.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup: None, outside: Outside) -> Iterator[None]:
    """One worker for the module, on the test database, pointed at the stand-ins."""
    with Connection(settings.CELERY_BROKER_URL) as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]
    env = {
        "TYPEWIRE_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "TYPEWIRE_SLACK_BASE_URL": outside.http.url,
        "TYPEWIRE_SLACK_WEBHOOK_PATH": SLACK_PATH,
        "TYPEWIRE_AIRTABLE_BASE_URL": outside.http.url,
        "TYPEWIRE_AIRTABLE_API_KEY": AIRTABLE_KEY,
        "TYPEWIRE_AI_BASE_URL": f"{outside.http.url}/v1",
        "TYPEWIRE_AI_API_KEY": "sk-test",
        "EMAIL_URL": f"smtp://127.0.0.1:{outside.mail.port}",
        "DEFAULT_FROM_EMAIL": "shop@typewire.test",
    }
    with celery_worker(name=f"scenarios-{os.getpid()}", concurrency=2, extra_env=env):
        yield


@pytest.fixture
def world(worker: None, outside: Outside) -> Outside:
    """The stand-ins, with nothing received yet."""
    outside.http.requests.clear()
    outside.mail.messages.clear()
    return outside


# --- rule definitions (the checker's valid drafts of SPEC 10, made runnable) -----------------


def _rule(
    workspace: Workspace,
    name: str,
    trigger: str,
    *steps: dict[str, Any],
    config: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> Rule:
    definition = {
        "trigger": {"key": trigger, "config": config or {}},
        "conditions": conditions or [],
        "steps": list(steps),
        "alert": {"kind": "email", "target": "ops@typewire.test"},
    }
    return save_rule(
        workspace=workspace, author=None, name=name, definition=definition, is_enabled=True
    )


def _signed_webhook(url: str, body: dict[str, Any]) -> dict[str, Any]:
    return step(
        "notify",
        "fire_webhook",
        url=literal(url),
        body=body,
        signing_secret=literal(SIGNING_SECRET),
    )


# --- waiting for the worker -----------------------------------------------------------------


def _settled() -> bool:
    """No event waits for dispatch and every execution has finished."""
    if Event.objects.filter(status=EventStatus.PENDING).exists():
        return False
    return not Execution.objects.exclude(status__in=TERMINAL).exists()


def settle(predicate: Callable[[], bool] = lambda: True, timeout: float = 30.0) -> None:
    """Wait until ``predicate`` holds and the engine is idle, twice in a row (chains settle)."""
    seen = [0]

    def idle() -> bool:
        if predicate() and _settled():
            seen[0] += 1
        else:
            seen[0] = 0
        return seen[0] >= 2

    wait_for(idle, timeout, interval=0.3)


def statuses(*rules: Rule) -> list[tuple[str, str]]:
    """(rule name, status) of every execution of ``rules``, sorted."""
    executions = Execution.objects.filter(rule__in=rules).select_related("rule")
    return sorted((e.rule.name, e.status) for e in executions)


def post(token: str, body: bytes, headers: dict[str, str], status: int = 202) -> dict[str, Any]:
    response = Client().post(
        f"/hooks/{token}", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == status, response.content
    result: dict[str, Any] = response.json()
    return result


def recipients(mail: Mailbox) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in mail.messages)


# --- scenario 1 -----------------------------------------------------------------------------


def _stripe_event(event_type: str, event_id: str, obj: dict[str, Any]) -> bytes:
    document = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": 1709290800,
        "livemode": False,
        "data": {"object": obj},
    }
    return json.dumps(document).encode()


def test_scenario_1_stripe_welcomes_payers_churns_cancellations_and_retries_failed_invoices(
    workspace: Workspace, world: Outside
) -> None:
    # given a Stripe endpoint whose data.object fields the merchant declared
    hook, secret = make_endpoint(
        workspace,
        name="Stripe",
        preset="stripe",
        declared_fields={
            "data.object.id": "string",
            "data.object.receipt_email": "email?",
            "data.object.customer_email": "email?",
            "data.object.amount": "integer?",
            "data.object.metadata.customer_id": "ref(customer)?",
            "data.object.metadata.first_name": "string?",
        },
    )
    customer = CustomerFactory.create(
        workspace=workspace, email="jane.doe@example.com", first_name="", source="shopify"
    )
    on_hook = {"endpoint_id": hook.pk}
    welcome = _rule(
        workspace,
        "Stripe welcome",
        "webhook_received",
        step(
            "payer",
            "upsert_customer",
            email=ref("body.data.object.receipt_email"),
            first_name=ref("body.data.object.metadata.first_name"),
            source=literal("stripe"),
        ),
        step(
            "welcome",
            "send_transactional_email",
            customer_id=ref("steps.payer.customer_id"),
            subject=literal("Welcome to Acme!"),
            body=template("Thanks for your payment of {{ body.data.object.amount }} cents."),
        ),
        config=on_hook,
        conditions=[
            condition("event_type", "equals", "payment_intent.succeeded"),
            condition("body.data.object.receipt_email", "is_set"),
        ],
    )
    retry = _rule(
        workspace,
        "Stripe retry",
        "webhook_received",
        step(
            "retry",
            "send_transactional_email",
            to=ref("body.data.object.customer_email"),
            subject=literal("Your payment did not go through"),
            body=template("Please update your card: invoice {{ body.data.object.id }}."),
        ),
        config=on_hook,
        conditions=[
            condition("event_type", "equals", "invoice.payment_failed"),
            condition("body.data.object.customer_email", "is_set"),
        ],
    )
    provision = _rule(
        workspace,
        "Stripe deprovision",
        "webhook_received",
        _signed_webhook(f"{world.http.url}/provisioning", ref("body.data")),
        config=on_hook,
        conditions=[condition("event_type", "equals", "customer.subscription.deleted")],
    )
    churn = _rule(
        workspace,
        "Stripe churn",
        "webhook_received",
        step(
            "churned",
            "tag",
            customer_id=ref("body.data.object.metadata.customer_id"),
            tag=literal("churned"),
        ),
        config=on_hook,
        conditions=[
            condition("event_type", "equals", "customer.subscription.deleted"),
            condition("body.data.object.metadata.customer_id", "is_set"),
        ],
    )
    deliveries = [
        _stripe_event(
            "payment_intent.succeeded",
            "evt_pi",
            {
                "id": "pi_1",
                "amount": 12000,
                "currency": "eur",
                "status": "succeeded",
                "customer": "cus_1",
                "receipt_email": "jane.doe@example.com",
                "metadata": {"first_name": "Jane"},
            },
        ),
        _stripe_event(
            "payment_intent.succeeded",
            "evt_pi_new",
            {
                "id": "pi_2",
                "amount": 4900,
                "currency": "eur",
                "status": "succeeded",
                "customer": "cus_2",
                "receipt_email": "nina.new@example.com",
                "metadata": {"first_name": "Nina"},
            },
        ),
        _stripe_event(
            "customer.subscription.deleted",
            "evt_sub",
            {
                "id": "sub_1",
                "customer": "cus_1",
                "status": "canceled",
                "metadata": {"customer_id": customer.pk},
            },
        ),
        _stripe_event(
            "invoice.payment_failed",
            "evt_inv",
            {
                "id": "in_1",
                "customer": "cus_1",
                "customer_email": "jane.doe@example.com",
                "amount_due": 4900,
                "attempt_count": 1,
                "currency": "eur",
            },
        ),
    ]

    # when Stripe delivers the four events, the cancellation twice (a Stripe retry)
    for body in deliveries:
        post(hook.token, body, stripe_headers(body, secret))
    post(hook.token, deliveries[2], stripe_headers(deliveries[2], secret), status=200)

    # then
    settle(lambda: len(world.mail.messages) == 3 and len(world.requests_to("/provisioning")) == 1)
    assert recipients(world.mail) == [
        ("jane.doe@example.com", "Welcome to Acme!"),
        ("jane.doe@example.com", "Your payment did not go through"),
        ("nina.new@example.com", "Welcome to Acme!"),
    ]
    welcomes = sorted(
        m.get_content().strip() for m in world.mail.messages if "Welcome" in m["Subject"]
    )
    assert welcomes == [
        "Thanks for your payment of 12000 cents.",
        "Thanks for your payment of 4900 cents.",
    ]
    # the known payer was updated, the new one created, each by the welcome rule
    customer.refresh_from_db()
    nina = Customer.objects.get(workspace=workspace, email="nina.new@example.com")
    assert (customer.first_name, customer.source) == ("Jane", "shopify")
    assert (nina.first_name, nina.source) == ("Nina", "stripe")
    [created] = Event.objects.filter(trigger_key="customer_created")
    [updated] = Event.objects.filter(trigger_key="customer_updated")
    assert created.payload["customer_id"] == nina.pk
    assert (updated.payload["customer_id"], updated.payload["changed_fields"]) == (
        customer.pk,
        ["first_name"],
    )
    welcome_runs = set(Execution.objects.filter(rule=welcome).values_list("pk", flat=True))
    assert {created.causation_execution_id, updated.causation_execution_id} == welcome_runs
    [deprovision] = world.verified("/provisioning")
    assert deprovision == {
        "object": {
            "id": "sub_1",
            "customer": "cus_1",
            "status": "canceled",
            "metadata": {"customer_id": customer.pk},
        }
    }
    assert list(customer.tags.values_list("tag", flat=True)) == ["churned"]
    assert statuses(welcome, retry, provision, churn) == [
        ("Stripe churn", ExecutionStatus.SUCCEEDED),
        ("Stripe deprovision", ExecutionStatus.SUCCEEDED),
        ("Stripe retry", ExecutionStatus.SUCCEEDED),
        ("Stripe welcome", ExecutionStatus.SUCCEEDED),
        ("Stripe welcome", ExecutionStatus.SUCCEEDED),
    ]


# --- scenario 2 -----------------------------------------------------------------------------


def test_scenario_2_shopify_order_confirms_takes_stock_notifies_the_warehouse_and_sells_out(
    workspace: Workspace, world: Outside
) -> None:
    # given the shop's two products, the pink one with its last unit in stock
    hook, secret = make_endpoint(workspace, name="Shopify", preset="shopify")
    pink = ProductFactory.create(
        workspace=workspace,
        sku="IPOD2008PINK",
        inventory_quantity=1,
        external_id="shopify:632910392",
    )
    ProductFactory.create(
        workspace=workspace,
        sku="IPOD2008RED",
        inventory_quantity=5,
        external_id="shopify:632910393",
    )
    confirm = _rule(
        workspace,
        "Order confirmation",
        "order_created",
        step(
            "confirm",
            "send_transactional_email",
            customer_id=ref("customer_id"),
            subject=template("Your order {{ order_id }}"),
            body=template("Total: {{ total }}. First item: {{ line_items[0].sku }}"),
        ),
        step(
            "stock",
            "update_inventory",
            product_id=ref("line_items[0].product_id"),
            delta=literal(-1),
        ),
        _signed_webhook(f"{world.http.url}/warehouse", ref("line_items[0]")),
        conditions=[
            condition("line_items[0]", "is_set"),
            condition("line_items[0].product_id", "is_set"),
        ],
    )
    sold_out = _rule(
        workspace,
        "Sold out",
        "product_sold_out",
        step(
            "tell",
            "post_to_slack",
            channel=literal("#merch"),
            text=template("{{ sku }} is sold out"),
        ),
    )
    body = json.dumps(
        json.loads(
            (settings.BASE_DIR / "tests/webhooks/fixtures/shopify/orders_create.json").read_text()
        )
    ).encode()

    # when Shopify posts orders/create
    post(hook.token, body, shopify_headers(body, secret, "orders/create", "evt-order-1"))

    # then
    settle(lambda: len(world.slack_posts()) == 1)
    order = Order.objects.get()
    assert recipients(world.mail) == [("jon@example.com", f"Your order {order.pk}")]
    pink.refresh_from_db()
    assert pink.inventory_quantity == 0
    [sold] = Event.objects.filter(trigger_key="product_sold_out")
    assert sold.payload["product_id"] == pink.pk
    [line] = world.verified("/warehouse")
    assert line == {
        "product_id": pink.pk,
        "sku": "IPOD2008PINK",
        "quantity": 1,
        "unit_price": {"amount": "199.00", "currency": "USD"},
    }
    assert world.slack_posts() == [{"text": "IPOD2008PINK is sold out", "channel": "#merch"}]
    assert statuses(confirm, sold_out) == [
        ("Order confirmation", ExecutionStatus.SUCCEEDED),
        ("Sold out", ExecutionStatus.SUCCEEDED),
    ]


# --- scenario 3 -----------------------------------------------------------------------------


def test_scenario_3_a_vip_tag_enrolls_the_customer_in_the_vip_welcome_journey_once(
    workspace: Workspace, world: Outside
) -> None:
    # given
    journey = JourneyFactory.create(workspace=workspace, slug="vip-welcome", name="VIP welcome")
    customer = CustomerFactory.create(workspace=workspace)
    enroll = _rule(
        workspace,
        "VIP welcome",
        "customer_tagged",
        step(
            "enroll",
            "enroll_journey",
            customer_id=ref("customer_id"),
            journey_id=literal(journey.pk),
        ),
        config={"tag": "vip", "action": "added"},
    )

    # when the customer is tagged vip (twice: the second adds nothing), and loyal
    with transaction.atomic():
        tag_customer(customer=customer, tag="vip")
        tag_customer(customer=customer, tag="vip")
        tag_customer(customer=customer, tag="loyal")

    # then
    settle(lambda: Event.objects.filter(trigger_key="journey_enrolled").exists())
    enrollment = JourneyEnrollment.objects.get()
    assert (enrollment.customer_id, enrollment.journey_id) == (customer.pk, journey.pk)
    assert statuses(enroll) == [("VIP welcome", ExecutionStatus.SUCCEEDED)]


# --- scenario 4 -----------------------------------------------------------------------------


def _seed_hour(
    workspace: Workspace,
    customers: list[Customer],
    hour: datetime,
    products: list[Product],
    refunds: int,
    orders: int = 10,
) -> None:
    placed = Order.objects.bulk_create(
        [
            Order(
                workspace=workspace,
                customer=customers[n % len(customers)],
                total=Decimal("40.00"),
                currency="EUR",
                status="paid",
                placed_at=hour + timedelta(minutes=n),
                line_items=[
                    {
                        "product_id": products[n % len(products)].pk,
                        "sku": products[n % len(products)].sku,
                        "quantity": 1,
                        "unit_price": {"amount": "40.00", "currency": "EUR"},
                    }
                ],
            )
            for n in range(orders)
        ]
    )
    with transaction.atomic():
        for order in placed[:refunds]:
            record_event(
                workspace=workspace,
                trigger_key="refund_created",
                payload={
                    "order_id": order.pk,
                    "reason": "damaged",
                    "refund_amount": {"amount": "40.00", "currency": "EUR"},
                },
                occurred_at=hour + timedelta(minutes=30),
            )


def test_scenario_4_a_p1_refund_rate_anomaly_posts_to_urgent_and_enrolls_the_kettle_buyers(
    workspace: Workspace, world: Outside
) -> None:
    # given two days of steady trade (a 5 % refund rate), then an hour of refunded kettles
    # bought by two customers, one of whom is already in the apology journey
    start = (timezone.now() - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    regular = CustomerFactory.create(workspace=workspace)
    buyers = [CustomerFactory.create(workspace=workspace) for _ in range(3)]
    usual = [ProductFactory.create(workspace=workspace) for _ in range(2)]
    kettle = ProductFactory.create(workspace=workspace, title="Faulty kettle")
    for n in range(48):
        _seed_hour(workspace, [regular], start + timedelta(hours=n), usual, refunds=n % 2)
    spike = start + timedelta(hours=48)
    _seed_hour(workspace, buyers[:2], spike, [kettle], refunds=6)
    apology = JourneyFactory.create(workspace=workspace, slug="apology", name="Kettle apology")
    with transaction.atomic():
        enroll_journey(journey=apology, customer=buyers[1])
    urgent = _rule(
        workspace,
        "Refund spike",
        "anomaly_detected",
        step(
            "urgent",
            "post_to_slack",
            channel=literal("#urgent"),
            text=template("{{ kpi }} is {{ value }} ({{ severity }}): products {{ product_ids }}"),
        ),
        step(
            "apologise",
            "enroll_product_buyers",
            product_ids=ref("product_ids"),
            journey_id=literal(apology.pk),
            within_days=literal(30),
        ),
        config={"kpi": "refund_rate", "severity": "P1"},
    )

    # when the hourly detection runs after the spike
    detect_workspace(workspace, now=spike + timedelta(hours=1, minutes=5))

    # then
    settle(lambda: len(world.slack_posts()) == 1)
    assert world.slack_posts() == [
        {"text": f"refund_rate is 0.6000 (P1): products {kettle.pk}", "channel": "#urgent"}
    ]
    assert statuses(urgent) == [("Refund spike", ExecutionStatus.SUCCEEDED)]
    # the kettle's buyers are in the journey once each; the regular customer is not
    enrolled = JourneyEnrollment.objects.filter(journey=apology)
    assert sorted(enrolled.values_list("customer_id", flat=True)) == [buyers[0].pk, buyers[1].pk]
    [new] = Event.objects.filter(
        trigger_key="journey_enrolled", causation_execution_id__isnull=False
    )
    assert new.payload["customer_id"] == buyers[0].pk
    step_run = StepRun.objects.get(execution__rule=urgent, step_id="apologise")
    assert step_run.output == {"buyers": 2, "enrolled": 1}


# --- scenario 5 -----------------------------------------------------------------------------


def test_scenario_5_an_app_install_webhook_sets_the_custom_field(
    workspace: Workspace, world: Outside
) -> None:
    # given a Standard Webhooks endpoint for the merchant's app and the custom field
    define_custom_field(
        workspace=workspace, key="app_install_date", label="App install date", field_type="date"
    )
    hook, secret = make_endpoint(
        workspace,
        name="App installs",
        declared_fields={"customer_id": "ref(customer)", "installed_at": "date"},
    )
    customer = CustomerFactory.create(workspace=workspace)
    install = _rule(
        workspace,
        "App installed",
        "webhook_received",
        step(
            "install",
            "update_field",
            customer_id=ref("body.customer_id"),
            field=literal("app_install_date"),
            value=ref("body.installed_at"),
        ),
        config={"endpoint_id": hook.pk},
    )
    body = json.dumps({"customer_id": customer.pk, "installed_at": "2025-03-01"}).encode()
    # when the app posts the install
    post(hook.token, body, standard_headers(body, secret))

    # then
    settle(lambda: Event.objects.filter(trigger_key="customer_updated").exists())
    customer.refresh_from_db()
    assert customer.custom_values == {"app_install_date": "2025-03-01"}
    updated = Event.objects.get(trigger_key="customer_updated")
    assert updated.payload["changed_fields"] == ["app_install_date"]
    assert statuses(install) == [("App installed", ExecutionStatus.SUCCEEDED)]


# --- scenario 6 -----------------------------------------------------------------------------


def test_scenario_6_cpu_above_90_for_5_minutes_scales_up_and_alerts_on_call_once(
    workspace: Workspace, world: Outside
) -> None:
    # given
    scale = _rule(
        workspace,
        "Scale up",
        "metric_threshold",
        _signed_webhook(f"{world.http.url}/infra/scale-up", literal({"replicas": "+2"})),
        step(
            "oncall",
            "post_to_slack",
            channel=literal("#oncall"),
            text=template("{{ metric }} at {{ value }} above {{ threshold }} since {{ since }}"),
        ),
        config={"metric": "cpu", "threshold": "90", "direction": "above", "duration": "PT5M"},
    )
    now = timezone.now().replace(microsecond=0)
    first = now - timedelta(minutes=6)

    # when the CPU stays above 90 for six minutes, sampled every minute
    for minute in range(7):
        with transaction.atomic():
            record_sample(
                workspace=workspace,
                name="cpu",
                value=95 + minute % 2,
                at=first + timedelta(minutes=minute),
            )

    # then: one crossing, one scale-up, one page
    settle(lambda: len(world.slack_posts()) == 1)
    assert world.verified("/infra/scale-up") == [{"replicas": "+2"}]
    since = first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert world.slack_posts() == [
        {"text": f"cpu at 96 above 90 since {since}", "channel": "#oncall"}
    ]
    assert Event.objects.filter(trigger_key="metric_threshold").count() == 1
    assert statuses(scale) == [("Scale up", ExecutionStatus.SUCCEEDED)]


# --- scenario 7 -----------------------------------------------------------------------------


def test_scenario_7_trial_signups_get_a_journey_and_a_row_and_companies_reach_sales(
    workspace: Workspace, world: Outside
) -> None:
    # given
    trial = JourneyFactory.create(workspace=workspace, slug="trial", name="Free trial")
    signup = _rule(
        workspace,
        "Trial signup",
        "customer_created",
        step(
            "trial", "enroll_journey", customer_id=ref("customer_id"), journey_id=literal(trial.pk)
        ),
        step(
            "log",
            "create_airtable_row",
            base=literal("appX1y2Z3a4B5c6D7"),
            table=literal("Trial signups"),
            fields=literal({"Source": "typewire"}),
        ),
        {
            "id": "company",
            "action": "branch_by_condition",
            "condition": [condition("email", "matches", r"@(gmail|yahoo|hotmail|outlook)\.com$")],
            "then": [],
            "else": [
                step(
                    "sales",
                    "post_to_slack",
                    channel=literal("#sales"),
                    text=template(
                        "New company trial: {{ email }} (record {{ steps.log.record_id }})"
                    ),
                ),
            ],
        },
        conditions=[condition("source", "equals", "free_trial")],
    )

    # when a company address and a free-mail one sign up for a trial, and a shop customer arrives
    with transaction.atomic():
        company = create_customer(
            workspace=workspace, email="cto@acme-corp.com", source="free_trial"
        )
        gmail = create_customer(workspace=workspace, email="sam@gmail.com", source="free_trial")
        create_customer(workspace=workspace, email="jo@example.com", source="shopify")

    # then
    settle(lambda: JourneyEnrollment.objects.count() == 2)
    assert sorted(JourneyEnrollment.objects.values_list("customer_id", "journey_id")) == [
        (company.pk, trial.pk),
        (gmail.pk, trial.pk),
    ]
    airtable = world.requests_to("/v0/")
    assert [r.path for r in airtable] == ["/v0/appX1y2Z3a4B5c6D7/Trial%20signups"] * 2
    assert {r.headers["authorization"] for r in airtable} == {f"Bearer {AIRTABLE_KEY}"}
    assert world.slack_posts() == [
        {"text": "New company trial: cto@acme-corp.com (record rec1)", "channel": "#sales"}
    ]
    assert statuses(signup) == [
        ("Trial signup", ExecutionStatus.SUCCEEDED),
        ("Trial signup", ExecutionStatus.SUCCEEDED),
    ]


# --- scenario 8 -----------------------------------------------------------------------------


def test_scenario_8_the_9_am_cron_emails_the_sales_summary_once(
    workspace: Workspace, world: Outside
) -> None:
    # given a daily 9 AM (Berlin) rule
    summary = _rule(
        workspace,
        "Daily sales",
        "cron_schedule",
        step(
            "summary",
            "send_transactional_email",
            to=literal("owner@acme.test"),
            subject=template("Sales summary for {{ scheduled_for }}"),
            body=literal("Yesterday's sales are in the dashboard."),
        ),
        config={"cron": "0 9 * * *", "timezone": "Europe/Berlin"},
    )
    nine_berlin = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)

    # when beat ticks at 9:00:02 and again (a second beat, a redelivery) at 9:00:40
    first = fire_tick(summary.pk, now=nine_berlin + timedelta(seconds=2))
    again = fire_tick(summary.pk, now=nine_berlin + timedelta(seconds=40))

    # then
    assert first is not None
    assert again is None
    settle(lambda: len(world.mail.messages) == 1)
    assert recipients(world.mail) == [("owner@acme.test", "Sales summary for 2025-03-03T08:00:00Z")]
    assert statuses(summary) == [("Daily sales", ExecutionStatus.SUCCEEDED)]
