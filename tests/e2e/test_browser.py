"""The browser app, driven through Debian's Chromium by Playwright against the live server.

A marketer builds rules only by clicking and typing and reads the checker's words next to the
part they concern; an admin creates a signed endpoint and sees a delivery arrive; an auditor
reads every page and can change nothing. Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from kombu import Connection
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from rest_framework.authtoken.models import Token
from standardwebhooks.webhooks import Webhook

from automations import services
from automations.engine.limits import PauseCause, pause_rule
from automations.models import Execution, ExecutionStatus, Rule
from catalog.domain import services as domain
from tests.automations.engine.conftest import drain, emit, make_due, make_rule, step
from tests.automations.http.conftest import LocalServer, Reply
from tests.workers import QUEUES, celery_worker, wait_for
from webhooks.models import Endpoint, InboundDelivery

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test body
# are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FREE_MAIL = r"@(gmail|yahoo|hotmail|outlook)\.com$"
TIMEOUT_MS = 8000


# Module scope, not session: while the browser lived on to the end of the session, a database
# connection opened by a test run after these (one that asks for the database through
# ``request.getfixturevalue``, so pytest-django orders it last) was not the one Django closed
# before dropping the test database, and the drop failed ("being accessed by other users").
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live_server: Any, settings: Any) -> Iterator[Page]:
    # The live server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    opened.dialogs = dialogs  # type: ignore[attr-defined]
    yield opened
    context.close()


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def assert_csrf_everywhere(page: Page) -> None:
    """Every POST form carries the CSRF input, and htmx requests the header from <body>."""
    hx_headers = page.locator("body").get_attribute("hx-headers") or "{}"
    assert json.loads(hx_headers)["X-CSRFToken"]
    forms = page.locator("form[method=post]")
    for index in range(forms.count()):
        assert forms.nth(index).locator("input[name=csrfmiddlewaretoken]").count() == 1


def screenshot(page: Page, name: str, *, docs: bool = False) -> None:
    """Save a full-page screenshot as an artifact.

    With ``docs`` and ``TYPEWIRE_UPDATE_DOC_SCREENSHOTS=1`` it also refreshes the README's copy
    in docs/screenshots/ (off by default, so a test run leaves the work tree clean).
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("TYPEWIRE_UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SCREENSHOTS / path.name)


def settled(page: Page) -> None:
    """Wait until htmx has swapped and wired up new content (it does so after a short delay)."""
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def choose_trigger(page: Page, key: str) -> None:
    settled(page)  # a select swapped in a moment ago is not wired to htmx until it settles
    page.get_by_label("Trigger", exact=True).select_option(key)
    expect(page.locator("#payload-fields-of-" + key)).to_be_attached()
    settled(page)


def add_step(page: Page, prefix: str, action: str) -> None:
    page.locator("#add-step").click()
    expect(page.locator(f"#{prefix}-action")).to_be_attached()
    settled(page)
    page.locator(f"#{prefix}-action").select_option(action)
    expect(page.locator(f"#{prefix}[data-action={action}]")).to_be_attached()
    settled(page)


def choose_binding(page: Page, input_prefix: str, kind: str, element: str) -> None:
    page.locator(f"#{input_prefix}-kind").select_option(kind)
    expect(page.locator(f"{element}#{input_prefix}-value")).to_be_attached()
    settled(page)


def save(page: Page) -> None:
    page.get_by_role("button", name="Save rule").click()


# --- the builder -----------------------------------------------------------------------------


def build_scenario_3(page: Page, journey_pk: int) -> None:
    """Build scenario 3 (customer tagged vip → enroll in the journey) by clicking and typing."""
    page.get_by_role("link", name="Rules", exact=True).click()
    page.get_by_role("link", name="New rule").click()
    assert_csrf_everywhere(page)
    page.get_by_label("Rule name").fill("VIP welcome")
    choose_trigger(page, "customer_tagged")
    expect(page.locator(".payload-fields")).to_contain_text("tag")
    page.locator("#trigger-config-tag").fill("vip")
    add_step(page, "step-0", "enroll_journey")
    expect(page.locator("#step-0-in-customer_id-value")).to_have_value("customer_id")
    page.locator("#step-0-in-journey_id-value").select_option(label=f"VIP welcome (#{journey_pk})")
    # the sentence follows the rule as it is built
    expect(page.locator("#rule-sentence")).to_contain_text("enroll in journey")
    expect(page.locator("#rule-sentence")).to_contain_text('tag "vip"')


def test_marketer_builds_scenario_3_by_clicking_and_it_is_listed_enabled(page, marketer, workspace):
    # given a journey to enroll VIPs in
    journey = domain.create_journey(workspace=workspace, name="VIP welcome", slug="vip-welcome")
    log_in(page, "mia")
    # when the marketer builds the rule by clicking and typing
    build_scenario_3(page, journey.pk)
    screenshot(page, "rule-builder", docs=True)
    # when saved
    save(page)
    expect(page.locator("h1")).to_have_text("VIP welcome")
    page.get_by_role("link", name="Rules", exact=True).click()
    # then the rule is listed, switched on
    row = page.locator("tr.rule-row", has_text="VIP welcome")
    expect(row).to_contain_text("On")
    expect(row).to_contain_text("When 'Customer tagged'")
    rule = Rule.objects.get()
    assert rule.is_enabled
    assert rule.definition["steps"][0]["inputs"] == {
        "customer_id": {"ref": "customer_id"},
        "journey_id": {"literal": journey.pk},
    }
    assert rule.definition["trigger"]["config"] == {"tag": "vip"}


def test_update_price_on_customer_created_is_refused_next_to_the_step_then_fixed(page, marketer):
    log_in(page, "mia")
    page.goto("/rules/new/")
    page.get_by_label("Rule name").fill("Reprice")
    choose_trigger(page, "customer_created")
    add_step(page, "step-0", "update_price")
    page.locator("#step-0-in-price-value").fill("9.99 EUR")
    # when saved on a trigger that carries no product
    save(page)
    # then the checker's message stands next to the product input, and nothing is saved
    product = page.locator("#step-0-in-product_id")
    expect(product).to_contain_text("'Customer created' does not carry one")
    expect(page.locator("#step-0-in-product_id-value")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#problem-summary")).to_contain_text("Nothing was saved")
    assert Rule.objects.count() == 0
    # when the trigger becomes product_updated and product_id is bound to its field
    choose_trigger(page, "product_updated")
    choose_binding(page, "step-0-in-product_id", "ref", "select")
    page.locator("#step-0-in-product_id-value").select_option("product_id")
    save(page)
    # then it saves: setting a fixed price again changes nothing and emits nothing, so the
    # rule starting itself converges (a price taken from the event would still be a loop)
    expect(page.locator("h1")).to_have_text("Reprice")
    rule = Rule.objects.get()
    assert rule.trigger_key == "product_updated"
    assert rule.definition["steps"][0]["inputs"]["product_id"] == {"ref": "product_id"}
    assert rule.definition["steps"][0]["inputs"]["price"] == {
        "literal": {"amount": "9.99", "currency": "EUR"}
    }


def test_a_typo_in_a_template_gets_the_did_you_mean_hint(page, marketer):
    log_in(page, "mia")
    page.goto("/rules/new/")
    page.get_by_label("Rule name").fill("Hello Slack")
    choose_trigger(page, "customer_created")
    add_step(page, "step-0", "post_to_slack")
    page.locator("#step-0-in-channel-value").fill("#sales")
    choose_binding(page, "step-0-in-text", "template", "input")
    page.locator("#step-0-in-text-value").fill("Stage: {{ customer.lifecycelStage }}")
    save(page)
    text_input = page.locator("#step-0-in-text")
    expect(text_input).to_contain_text("There is no field 'lifecycelStage'")
    expect(text_input).to_contain_text("Did you mean customer.lifecycle_stage?")
    assert Rule.objects.count() == 0


def test_a_loop_between_two_rules_names_them_and_saves_nothing(page, marketer, workspace):
    # given rule A: a customer tagged "b" gets tagged "a"
    services.save_rule(
        workspace=workspace,
        author=None,
        name="Tag A",
        definition={
            "trigger": {"key": "customer_tagged", "config": {"tag": "b"}},
            "steps": [
                {
                    "id": "tag_a",
                    "action": "tag",
                    "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": "a"}},
                }
            ],
        },
        is_enabled=True,
    )
    log_in(page, "mia")
    page.goto("/rules/new/")
    # when rule B tags "b" whenever a customer is tagged "a"
    page.get_by_label("Rule name").fill("Tag B")
    choose_trigger(page, "customer_tagged")
    page.locator("#trigger-config-tag").fill("a")
    add_step(page, "step-0", "tag")
    page.locator("#step-0-in-tag-value").fill("b")
    save(page)
    # then the loop is shown with the rules' names
    expect(page.locator("#steps-errors")).to_contain_text("This rule would loop: Tag B → Tag A")
    assert list(Rule.objects.values_list("name", flat=True)) == ["Tag A"]


def build_scenario_7(page: Page, journey_pk: int) -> None:
    """Build scenario 7 in the builder by clicking and typing, without saving it."""
    page.goto("/rules/new/")
    page.get_by_label("Rule name").fill("Free trial signups")
    choose_trigger(page, "customer_created")
    page.locator("#add-cond").click()
    expect(page.locator("#cond-0-field")).to_be_attached()
    settled(page)
    page.locator("#cond-0-field").select_option("source")
    expect(page.locator("#cond-0-value")).to_be_attached()
    settled(page)
    page.locator("#cond-0-value").fill("free_trial")
    add_step(page, "step-0", "enroll_journey")
    page.locator("#step-0-in-journey_id-value").select_option(label=f"Trials (#{journey_pk})")
    add_step(page, "step-1", "branch_by_condition")
    page.locator("#step-1-add-cond").click()
    expect(page.locator("#step-1-cond-0-field")).to_be_attached()
    settled(page)
    page.locator("#step-1-cond-0-field").select_option("email")
    settled(page)
    page.locator("#step-1-cond-0-operator").select_option("matches")
    settled(page)
    page.locator("#step-1-cond-0-value").fill(FREE_MAIL)
    page.locator("#step-1-add-else").click()
    expect(page.locator("#step-1-else-0-action")).to_be_attached()
    settled(page)
    page.locator("#step-1-else-0-action").select_option("post_to_slack")
    expect(page.locator("#step-1-else-0[data-action=post_to_slack]")).to_be_attached()
    settled(page)
    page.locator("#step-1-else-0-in-channel-value").fill("#sales")
    choose_binding(page, "step-1-else-0-in-text", "template", "input")
    page.locator("#step-1-else-0-in-text-value").fill("New trial from {{ email }}")


def test_dry_run_of_the_unsaved_scenario_7_in_the_builder_shows_the_branch_taken(
    page, marketer, workspace
):
    # given scenario 7 built in the builder, not saved
    journey = domain.create_journey(workspace=workspace, name="Trials", slug="trials")
    log_in(page, "mia")
    build_scenario_7(page, journey.pk)
    panel = page.locator("#draft-dry-run")
    cases = [("ceo@acme-industries.com", "otherwise", False), ("jane@gmail.com", "then", True)]
    for email, branch, slack_skipped in cases:
        # when the draft is dry-run on a pasted signup
        panel.get_by_role("radio", name="JSON").check()
        payload = {"customer_id": 7, "email": email, "source": "free_trial"}
        panel.get_by_label("Payload (JSON)").fill(json.dumps(payload))
        panel.get_by_role("button", name="Dry run the draft").click()
        # then the trace shows the branch taken and what the Slack step would get (the builder
        # numbers the steps: step2 is the branch, step3 the Slack post in its "otherwise" arm)
        expect(panel.locator("#trace-step2 .branch-taken")).to_contain_text(branch)
        sales = panel.locator("#trace-step3")
        if slack_skipped:
            expect(sales).to_contain_text("skipped")
        else:
            expect(sales).to_contain_text(f"New trial from {email}")
        settled(page)
    # the builder still holds the draft, and nothing was saved or done
    expect(page.locator("#rule-name")).to_have_value("Free trial signups")
    screenshot(page, "dry-run", docs=True)
    # pasted text that is not JSON gets a plain error
    panel.get_by_label("Payload (JSON)").fill("{not json")
    panel.get_by_role("button", name="Dry run the draft").click()
    expect(panel.locator(".field-errors")).to_contain_text("This is not JSON")
    assert Rule.objects.count() == 0
    assert not journey.enrollments.exists()


def test_dry_run_of_scenario_7_shows_the_branch_taken(page, marketer, workspace):
    # given scenario 7, saved
    journey = domain.create_journey(workspace=workspace, name="Trials", slug="trials")
    rule = services.save_rule(
        workspace=workspace,
        author=None,
        name="Free trial signups",
        definition=_scenario_7(journey.pk),
    )
    log_in(page, "mia")
    page.goto(f"/rules/{rule.pk}/")
    cases = [("ceo@acme-industries.com", "otherwise", False), ("jane@gmail.com", "then", True)]
    for email, branch, slack_skipped in cases:
        # when dry-running a pasted signup
        page.get_by_role("radio", name="JSON").check()
        payload = {"customer_id": 7, "email": email, "source": "free_trial"}
        page.get_by_label("Payload (JSON)").fill(json.dumps(payload))
        page.get_by_role("button", name="Run dry run").click()
        # then the trace shows the branch taken and what the Slack step would get
        expect(page.locator("#trace-company .branch-taken")).to_contain_text(branch)
        sales = page.locator("#trace-sales")
        if slack_skipped:
            expect(sales).to_contain_text("skipped")
        else:
            expect(sales).to_contain_text(f"New trial from {email}")
    screenshot(page, "rule-dry-run")
    assert not journey.enrollments.exists()


def _scenario_7(journey_id: int) -> dict[str, Any]:
    return {
        "trigger": {"key": "customer_created", "config": {}},
        "conditions": [{"field": "source", "operator": "equals", "value": "free_trial"}],
        "steps": [
            {
                "id": "sequence",
                "action": "enroll_journey",
                "inputs": {
                    "customer_id": {"ref": "customer_id"},
                    "journey_id": {"literal": journey_id},
                },
            },
            {
                "id": "company",
                "action": "branch_by_condition",
                "inputs": {},
                "condition": [{"field": "email", "operator": "matches", "value": FREE_MAIL}],
                "then": [],
                "else": [
                    {
                        "id": "sales",
                        "action": "post_to_slack",
                        "inputs": {
                            "channel": {"literal": "#sales"},
                            "text": {"template": "New trial from {{ email }}"},
                        },
                    }
                ],
            },
        ],
    }


def test_a_paused_rule_is_shown_paused_and_resumed_from_the_list(page, marketer, workspace):
    # given a rule the breaker paused
    rule = services.save_rule(
        workspace=workspace,
        author=None,
        name="Sync warehouse",
        is_enabled=True,
        definition={
            "trigger": {"key": "customer_created", "config": {}},
            "steps": [
                {
                    "id": "welcome",
                    "action": "tag",
                    "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": "new"}},
                }
            ],
        },
    )
    assert pause_rule(rule.pk, cause=PauseCause.BREAKER, reason="5 failures in a row")
    log_in(page, "mia")
    page.get_by_role("link", name="Rules", exact=True).click()
    row = page.locator(f"#rule-{rule.pk}")
    # then the list says it is paused and why
    expect(row.locator(".badge.state-paused")).to_have_text("Paused")
    expect(row).to_contain_text("5 failures in a row")
    # when the marketer presses Resume
    row.get_by_role("button", name="Resume Sync warehouse").click()
    # then the row no longer says paused, and the rule is resumed
    expect(page.locator(f"#rule-{rule.pk} .badge.state-paused")).to_have_count(0)
    rule.refresh_from_db()
    assert not rule.is_paused


# --- endpoints -------------------------------------------------------------------------------


def test_admin_creates_a_standard_webhooks_endpoint_and_sees_a_signed_delivery(
    page, admin, live_server
):
    log_in(page, "ada")
    page.get_by_role("link", name="Endpoints").click()
    page.get_by_label("Name").fill("Signups")
    page.get_by_label("Preset").select_option("standard_webhooks")
    page.get_by_label("Declared fields (optional)").fill("email: email\nplan: string")
    page.get_by_role("button", name="Create endpoint").click()
    # then the URL and the secret are on the page, the secret this once
    expect(page.locator("#secret-once")).to_contain_text("only time")
    url = page.get_by_role("textbox", name="Endpoint URL").input_value()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert url.startswith(live_server.url + "/hooks/")
    assert secret.startswith("whsec_")
    assert_csrf_everywhere(page)
    # when a sender posts an event signed by the standardwebhooks package
    body = json.dumps({"type": "signup", "email": "jane@example.com", "plan": "pro"})
    msg_id = "msg_browser_1"
    from datetime import UTC, datetime

    now = datetime.now(tz=UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=now, data=body),
    }
    response = httpx.post(url, content=body, headers=headers, timeout=5)
    assert response.status_code == 202, response.text
    # then the delivery appears in the endpoint's list (polled every 5 s)
    rows = page.locator("#delivery-rows")
    expect(rows).to_contain_text("202", timeout=9000)
    expect(rows).to_contain_text(msg_id)
    screenshot(page, "endpoint")
    # and the page never shows the secret again
    page.get_by_role("link", name="All endpoints").click()
    page.get_by_role("link", name="Signups").click()
    expect(page.locator("#secret-once")).to_have_count(0)
    assert secret not in page.content()
    endpoint = Endpoint.objects.get()
    assert InboundDelivery.objects.get(endpoint=endpoint).status_code == 202


# --- auditor, escaping -----------------------------------------------------------------------


def test_an_auditor_sees_every_page_and_nothing_to_change(page, auditor, workspace):
    # given a rule whose name is markup, and an endpoint
    rule = services.save_rule(
        workspace=workspace,
        author=None,
        name="<script>alert(1)</script>",
        definition={
            "trigger": {"key": "customer_created", "config": {}},
            "steps": [
                {
                    "id": "welcome",
                    "action": "tag",
                    "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": "new"}},
                }
            ],
        },
    )
    from webhooks.services import create_endpoint

    endpoint = create_endpoint(
        workspace=workspace, name="Signups", preset="standard_webhooks"
    ).endpoint
    log_in(page, "aud")
    pages = [
        "/rules/",
        f"/rules/{rule.pk}/",
        "/endpoints/",
        f"/endpoints/{endpoint.pk}/",
        "/activity/",
        "/activity/?tab=deliveries",
        "/activity/?tab=changes",
        "/activity/?tab=audit",
        "/dashboard/",
        "/catalog/",
    ]
    for path in pages:
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        # then nothing in the page can change anything ("Copy" and filter buttons only read)
        changers = page.evaluate(
            """() => [...document.querySelectorAll(
                'main button:not([type=button]), main input[type=submit], main [hx-post]')]
              .filter(el => (el.closest('form')?.method || 'post') !== 'get')
              .map(el => el.textContent.trim())"""
        )
        assert changers == [], path
        assert page.locator("main form[method=post]").count() == 0, path
        assert_csrf_everywhere(page)
    # the audit log lists the changes (here: the rule and the endpoint created)
    page.goto("/activity/?tab=audit")
    expect(page.locator("tr.audit-entry")).to_have_count(2)
    # the rule's name is shown as text, never run
    page.goto("/rules/")
    expect(page.get_by_role("link", name="<script>alert(1)</script>")).to_be_visible()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()
    assert page.dialogs == []
    # and posting to a change URL anyway answers 403
    token = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRFToken"]
    for url in (f"/rules/{rule.pk}/toggle/", f"/endpoints/{endpoint.pk}/rotate/"):
        answer = page.request.post(url, headers={"X-CSRFToken": token})
        assert answer.status == 403, url
        assert "CSRF" not in answer.text()
    rule.refresh_from_db()
    assert not rule.is_enabled
    assert endpoint.secrets.count() == 1


# --- activity, replay and the dashboard -----------------------------------------------------


def purge_queues() -> None:
    """Empty the broker's queues: messages of earlier tests name rows that no longer exist."""
    with Connection(django_settings.CELERY_BROKER_URL) as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]


def open_execution_when(page: Page, execution_id: int, status: str, timeout: float = 30) -> None:
    """Reload the execution's page until its status badge says ``status``."""

    def shown() -> bool:
        page.goto(f"/executions/{execution_id}/")
        return page.locator(".page-head .badge").inner_text() == status

    wait_for(shown, timeout, interval=0.5)


def test_scenario_3_runs_on_a_real_worker_and_shows_on_activity_and_dashboard(
    page, marketer, workspace, live_server
):
    # given a journey, a customer, and a worker on the live server's database
    purge_queues()
    journey = domain.create_journey(workspace=workspace, name="VIP welcome", slug="vip-welcome")
    customer = domain.create_customer(workspace=workspace, email="vera@example.com")
    token = Token.objects.create(user=marketer)
    with celery_worker(name=f"browser-{os.getpid()}"):
        log_in(page, "mia")
        # when the marketer builds scenario 3 by clicking, saves, and the customer is tagged
        build_scenario_3(page, journey.pk)
        save(page)
        expect(page.locator("h1")).to_have_text("VIP welcome")
        answer = httpx.post(
            f"{live_server.url}/api/v1/customers/{customer.pk}/tags/",
            json={"tag": "vip"},
            headers={"Authorization": f"Token {token.key}"},
            timeout=5,
        )
        assert answer.status_code == 201, answer.text
        # then the execution appears on the Activity page as succeeded
        page.get_by_role("link", name="Activity", exact=True).click()
        row = page.locator("tr.execution", has_text="VIP welcome")

        def succeeded() -> bool:
            page.reload()
            return row.count() == 1 and "succeeded" in row.inner_text()

        wait_for(succeeded, 30, interval=0.5)
    assert journey.enrollments.filter(customer=customer).exists()
    # and its page shows the event and the step
    row.get_by_role("link").first.click()
    expect(page.locator("#event-payload")).to_contain_text('"tag": "vip"')
    expect(page.locator(".timeline")).to_contain_text("enroll_journey")
    # and the dashboard shows the arrivals and the outcome
    page.get_by_role("link", name="Dashboard").click()
    arrivals = page.locator("#chart-arrivals")
    expect(arrivals.locator("rect.bar")).not_to_have_count(0)
    assert int(arrivals.get_attribute("data-total") or 0) >= 2
    outcomes = page.locator("#chart-outcomes")
    assert int(outcomes.get_attribute("data-total") or 0) >= 1
    expect(outcomes.locator("rect.outcome-succeeded")).to_have_count(1)
    expect(page.locator("#dashboard-panels")).to_have_attribute("hx-trigger", "every 10s")
    screenshot(page, "dashboard", docs=True)


def test_an_admin_replays_a_dead_execution_after_the_server_is_fixed(
    page, admin, workspace, settings
):
    # given a rule sending a webhook to a local server that answers 500, two attempts allowed
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.TYPEWIRE_MAX_ATTEMPTS = 2
    settings.TYPEWIRE_RETRY_BASE_SECONDS = 0.05
    server = LocalServer()
    server.default = Reply(500, "down for maintenance")
    server.start()
    try:
        url = f"{server.url}/hook"
        make_rule(
            workspace,
            "Sync warehouse",
            "customer_created",
            [step("sync", "fire_webhook", url=url, body={"hello": "world"})],
        )
        customer = domain.create_customer(workspace=workspace, email="wes@example.com")
        event = emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": "web"},
        )
        # the engine runs in-process: the first try fails, the retry fails, it is dead-lettered
        drain()
        execution = Execution.objects.get(event=event)
        for _ in range(5):
            if Execution.objects.get(pk=execution.pk).status == ExecutionStatus.DEAD:
                break
            make_due(execution)
            drain()
        execution.refresh_from_db()
        assert execution.status == ExecutionStatus.DEAD
        # when the admin finds it on the Activity page
        log_in(page, "ada")
        page.get_by_role("link", name="Activity", exact=True).click()
        page.get_by_label("Status").select_option("dead")
        page.get_by_role("button", name="Filter").click()
        page.locator(f"#execution-{execution.pk}").get_by_role("link").first.click()
        # then the timeline shows both attempts with the server's answer
        attempts = page.locator("tr.attempt")
        expect(attempts).to_have_count(2)
        expect(attempts.first).to_contain_text(f"POST {url}")
        expect(attempts.first).to_contain_text("500")
        expect(page.locator("#execution-error")).to_contain_text("fire_webhook")
        assert_csrf_everywhere(page)
        screenshot(page, "execution", docs=True)
        # when the server is fixed and the admin replays it
        server.default = Reply(200, {"ok": True})
        page.get_by_role("button", name="Replay from the failed step").click()
        expect(page.locator(".messages")).to_contain_text("is replaying from its failed step")
        expect(page.get_by_role("button", name="Replay from the failed step")).to_have_count(0)
        drain()
        # then it ends succeeded, with a third attempt that got 200
        open_execution_when(page, execution.pk, "succeeded")
        expect(attempts).to_have_count(3)
        expect(attempts.last).to_contain_text("200")
    finally:
        server.stop()
