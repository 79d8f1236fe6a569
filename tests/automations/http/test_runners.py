"""HTTP, email and campaign runners against a local server standing in for each external API."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from standardwebhooks import Webhook

from automations.engine import http
from automations.engine.contract import PermanentError, RetryableError
from automations.engine.runners import ai, email, external, marketing
from automations.models import DisabledTarget, Execution
from catalog.models import Campaign, CampaignStatus, Event, Product
from tests.automations.engine.conftest import emit, make_rule
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    OrderFactory,
    ProductFactory,
    SegmentFactory,
)

from .conftest import LocalServer, Received, Reply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_local")]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# --- fire_webhook ------------------------------------------------------------------------------


def test_fire_webhook_is_signed_by_the_standard_webhooks_scheme(server: LocalServer, make_ctx):
    # given
    ctx = make_ctx(
        {
            "url": f"{server.url}/hooks/orders",
            "body": {"order_id": 1042, "items": 3},
            "signing_secret": SECRET,
        }
    )

    # when
    outputs = external.fire_webhook(ctx)

    # then: the receiver verifies it with the standardwebhooks library
    assert outputs == {"status_code": 200}
    [received] = server.requests
    assert Webhook(SECRET).verify(received.body, received.headers) == {
        "order_id": 1042,
        "items": 3,
    }
    assert received.headers["webhook-id"] == ctx.idempotency_key
    assert received.headers["idempotency-key"] == ctx.idempotency_key
    assert received.headers["content-type"] == "application/json"
    assert ctx.exchanges[0].request_headers["webhook-signature"] == http.REDACTED


def test_fire_webhook_retries_carry_the_same_webhook_id(server: LocalServer, make_ctx):
    server.reply(Reply(503), Reply(204))
    inputs = {"url": f"{server.url}/h", "body": {"a": 1}, "signing_secret": SECRET}

    with pytest.raises(RetryableError):
        external.fire_webhook(make_ctx(inputs, attempt=1))
    outputs = external.fire_webhook(make_ctx(inputs, attempt=2))

    assert outputs == {"status_code": 204}
    assert [r.headers["webhook-id"] for r in server.requests] == ["1:steps.0", "1:steps.0"]
    for received in server.requests:
        Webhook(SECRET).verify(received.body, received.headers)


def test_fire_webhook_without_a_secret_is_sent_unsigned(server: LocalServer, make_ctx):
    external.fire_webhook(make_ctx({"url": f"{server.url}/h", "body": {"a": 1}}))

    [received] = server.requests
    assert "webhook-signature" not in received.headers
    assert received.headers["webhook-id"] == "1:steps.0"
    assert received.json() == {"a": 1}


def test_fire_webhook_answered_410_disables_the_target(server: LocalServer, make_ctx):
    server.reply(Reply(410, "gone"))
    ctx = make_ctx({"url": f"{server.url}/h", "body": {}})
    rule = make_rule(ctx.workspace, "Notify", "customer_created", [])
    event = emit(
        ctx.workspace, "customer_created", {"customer_id": 1, "email": "a@b.co", "source": ""}
    )
    execution = Execution.objects.create(
        workspace=ctx.workspace, rule=rule, rule_version=1, event=event
    )
    ctx.rule_id, ctx.execution_id = rule.pk, execution.pk

    with pytest.raises(PermanentError) as caught:
        external.fire_webhook(ctx)

    target = DisabledTarget.objects.get()
    assert caught.value.disable_target is True
    assert caught.value.detail == (
        "127.0.0.1 answered 410 Gone: gone. Typewire stopped sending to this URL from every "
        f"rule of the workspace; an admin can enable it again (disabled target #{target.pk})."
    )
    assert (target.url, target.rule, target.execution, target.is_active) == (
        f"{server.url}/h",
        rule,
        execution,
        True,
    )


def test_fire_webhook_with_a_bad_secret_fails_before_sending(server: LocalServer, make_ctx):
    ctx = make_ctx({"url": f"{server.url}/h", "body": {}, "signing_secret": "whsec_"})

    with pytest.raises(PermanentError, match="not a Standard Webhooks secret"):
        external.fire_webhook(ctx)

    assert server.requests == []


# --- Zapier, Make, Airtable --------------------------------------------------------------------


@pytest.mark.parametrize("runner", [external.post_zapier, external.post_to_make])
def test_hooks_get_the_data_as_json_with_the_idempotency_key(server: LocalServer, make_ctx, runner):
    ctx = make_ctx({"hook_url": f"{server.url}/hooks/catch/1/a/", "data": {"plan": "trial"}})

    assert runner(ctx) == {}

    [received] = server.requests
    assert (received.method, received.path) == ("POST", "/hooks/catch/1/a/")
    assert received.json() == {"plan": "trial"}
    assert received.headers["idempotency-key"] == "1:steps.0"


def test_create_airtable_row_returns_the_record_id(server: LocalServer, make_ctx, settings):
    # given
    settings.TYPEWIRE_AIRTABLE_BASE_URL = server.url
    settings.TYPEWIRE_AIRTABLE_API_KEY = "pat-airtable"
    server.reply(Reply(200, {"records": [{"id": "recA1", "fields": {"Email": "j@x.com"}}]}))
    ctx = make_ctx({"base": "appX1", "table": "Trial signups", "fields": {"Email": "j@x.com"}})

    # when
    outputs = external.create_airtable_row(ctx)

    # then
    assert outputs == {"record_id": "recA1"}
    [received] = server.requests
    assert received.path == "/v0/appX1/Trial%20signups"
    assert received.headers["authorization"] == "Bearer pat-airtable"
    assert received.json() == {"records": [{"fields": {"Email": "j@x.com"}}], "typecast": True}
    assert ctx.exchanges[0].request_headers["Authorization"] == http.REDACTED


def test_create_airtable_row_without_a_record_in_the_answer_fails(
    server: LocalServer, make_ctx, settings
):
    settings.TYPEWIRE_AIRTABLE_BASE_URL = server.url
    settings.TYPEWIRE_AIRTABLE_API_KEY = "pat-airtable"
    server.reply(Reply(200, {"records": []}))

    with pytest.raises(PermanentError, match="names no record id"):
        external.create_airtable_row(make_ctx({"base": "a", "table": "t", "fields": {}}))


def test_create_airtable_row_needs_an_api_key(server: LocalServer, make_ctx, settings):
    settings.TYPEWIRE_AIRTABLE_BASE_URL = server.url
    settings.TYPEWIRE_AIRTABLE_API_KEY = ""

    with pytest.raises(PermanentError, match="set TYPEWIRE_AIRTABLE_API_KEY"):
        external.create_airtable_row(make_ctx({"base": "a", "table": "t", "fields": {}}))

    assert server.requests == []


# --- Slack, audiences, campaigns ---------------------------------------------------------------


def test_post_to_slack_posts_to_the_configured_incoming_webhook(
    server: LocalServer, make_ctx, settings
):
    settings.TYPEWIRE_SLACK_BASE_URL = server.url
    settings.TYPEWIRE_SLACK_WEBHOOK_PATH = "/services/T000/B000/default"
    settings.TYPEWIRE_SLACK_CHANNEL_WEBHOOK_PATHS = {"#urgent": "/services/T000/B111/urgent"}
    server.reply(Reply(200, "ok"), Reply(200, "ok"))

    marketing.post_to_slack(make_ctx({"channel": "#sales", "text": "New order"}))
    ctx = make_ctx({"channel": "urgent", "text": "Refund spike"})
    marketing.post_to_slack(ctx)

    assert [(r.path, r.json()) for r in server.requests] == [
        ("/services/T000/B000/default", {"text": "New order", "channel": "#sales"}),
        ("/services/T000/B111/urgent", {"text": "Refund spike", "channel": "urgent"}),
    ]
    assert ctx.exchanges[0].url == f"{server.url}/{http.REDACTED}"


def test_post_to_slack_unconfigured_fails_permanently(server: LocalServer, make_ctx, settings):
    settings.TYPEWIRE_SLACK_BASE_URL = server.url
    settings.TYPEWIRE_SLACK_WEBHOOK_PATH = ""
    settings.TYPEWIRE_SLACK_CHANNEL_WEBHOOK_PATHS = {}

    with pytest.raises(PermanentError, match="Slack is not set up for #sales"):
        marketing.post_to_slack(make_ctx({"channel": "#sales", "text": "hi"}))


def _sha(email_address: str) -> str:
    return hashlib.sha256(email_address.encode()).hexdigest()


def test_sync_to_meta_audience_sends_the_hashed_email(
    server: LocalServer, make_ctx, workspace, settings
):
    settings.TYPEWIRE_META_BASE_URL = server.url
    settings.TYPEWIRE_META_ACCESS_TOKEN = "meta-token"
    customer = CustomerFactory.create(workspace=workspace, email=" Jane.Doe@Example.com ")

    marketing.sync_to_meta_audience(
        make_ctx({"customer_id": customer.pk, "audience_id": "2385123"})
    )

    [received] = server.requests
    assert received.path == "/v21.0/2385123/users"
    assert received.json() == {
        "payload": {"schema": "EMAIL_SHA256", "data": [_sha("jane.doe@example.com")]}
    }
    assert received.headers["authorization"] == "Bearer meta-token"
    assert b"jane" not in received.body.lower()


def test_sync_to_google_audience_runs_a_customer_match_job(
    server: LocalServer, make_ctx, workspace, settings
):
    # given
    settings.TYPEWIRE_GOOGLE_ADS_BASE_URL = server.url
    settings.TYPEWIRE_GOOGLE_ADS_ACCESS_TOKEN = "g-token"
    settings.TYPEWIRE_GOOGLE_ADS_DEVELOPER_TOKEN = "dev-token"
    settings.TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID = "123-456-7890"
    customer = CustomerFactory.create(workspace=workspace, email="jane@example.com")
    server.reply(Reply(200, {"resourceName": "customers/1234567890/offlineUserDataJobs/77"}))

    # when
    marketing.sync_to_google_audience(
        make_ctx({"customer_id": customer.pk, "audience_id": "5512345678"})
    )

    # then
    create, add, run = server.requests
    assert create.path == "/v18/customers/1234567890/offlineUserDataJobs:create"
    assert create.json()["job"]["customerMatchUserListMetadata"] == {
        "userList": "customers/1234567890/userLists/5512345678"
    }
    assert add.path == "/v18/customers/1234567890/offlineUserDataJobs/77:addOperations"
    assert add.json()["operations"] == [
        {"create": {"userIdentifiers": [{"hashedEmail": _sha("jane@example.com")}]}}
    ]
    assert run.path == "/v18/customers/1234567890/offlineUserDataJobs/77:run"
    assert {r.headers["developer-token"] for r in server.requests} == {"dev-token"}


def test_audience_sync_of_a_customer_without_email_sends_nothing(
    server: LocalServer, make_ctx, workspace, settings
):
    settings.TYPEWIRE_META_BASE_URL = server.url
    settings.TYPEWIRE_META_ACCESS_TOKEN = "meta-token"
    customer = CustomerFactory.create(workspace=workspace, email="")

    with pytest.raises(PermanentError, match=f"customer {customer.pk} has no email"):
        marketing.sync_to_meta_audience(make_ctx({"customer_id": customer.pk, "audience_id": "1"}))

    assert server.requests == []


def test_send_campaign_launches_it_with_the_execution_as_cause(make_ctx, workspace):
    campaign = CampaignFactory.create(workspace=workspace)
    ctx = make_ctx({"campaign_id": campaign.pk})

    assert marketing.send_campaign(ctx) == {}

    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.LIVE
    event = Event.objects.get(trigger_key="campaign_launched")
    assert event.payload == {"campaign_id": campaign.pk, "audience_size": 0}
    assert (event.causation_execution_id, event.depth) == (1, 1)


def test_send_campaign_of_another_workspace_fails(make_ctx, other_workspace):
    campaign = CampaignFactory.create(workspace=other_workspace)

    with pytest.raises(PermanentError, match=f"campaign {campaign.pk} does not exist"):
        marketing.send_campaign(make_ctx({"campaign_id": campaign.pk}))

    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    assert not Event.objects.exists()


# --- Transactional email -----------------------------------------------------------------------


def test_send_transactional_email_to_an_address(make_ctx, mailoutbox):
    ctx = make_ctx({"to": "jane@example.com", "subject": "Welcome", "body": "Hi Jane"})

    assert email.send_transactional_email(ctx) == {}

    [message] = mailoutbox
    assert (message.to, message.subject, message.body) == (
        ["jane@example.com"],
        "Welcome",
        "Hi Jane",
    )
    assert message.extra_headers[email.IDEMPOTENCY_HEADER] == "1:steps.0"


def test_send_transactional_email_to_a_customer(make_ctx, workspace, mailoutbox):
    customer = CustomerFactory.create(workspace=workspace, email="bob@example.com")

    email.send_transactional_email(
        make_ctx({"customer_id": customer.pk, "subject": "Your order", "body": "Shipped"})
    )

    assert [message.to for message in mailoutbox] == [["bob@example.com"]]


def test_send_transactional_email_to_a_customer_of_another_workspace_fails(
    make_ctx, other_workspace, mailoutbox
):
    customer = CustomerFactory.create(workspace=other_workspace, email="eve@example.com")

    with pytest.raises(PermanentError, match="does not exist in this workspace"):
        email.send_transactional_email(
            make_ctx({"customer_id": customer.pk, "subject": "s", "body": "b"})
        )

    assert mailoutbox == []


def test_send_transactional_email_refuses_a_header_injection(make_ctx, mailoutbox):
    ctx = make_ctx({"to": "a@example.com", "subject": "Hi\nBcc: x@evil.test", "body": "b"})

    with pytest.raises(PermanentError, match="the email cannot be sent"):
        email.send_transactional_email(ctx)

    assert mailoutbox == []


# --- AI ----------------------------------------------------------------------------------------


def _completion(answer: object) -> Reply:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    return Reply(
        200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    )


@pytest.fixture
def ai_server(server: LocalServer, settings) -> LocalServer:
    settings.TYPEWIRE_AI_BASE_URL = f"{server.url}/v1"
    settings.TYPEWIRE_AI_API_KEY = "sk-test"
    settings.TYPEWIRE_AI_MODEL = "test-model"
    return server


def _task(received: Received) -> dict[str, Any]:
    task: dict[str, Any] = json.loads(received.json()["messages"][1]["content"])
    return task


def test_generate_copy_returns_the_text(ai_server: LocalServer, make_ctx):
    ai_server.reply(_completion({"text": "Summer sale: organic tees, 30% off today only!"}))
    ctx = make_ctx({"prompt": "Announce the summer sale.", "tone": "playful", "max_words": 5})

    assert ai.generate_copy(ctx) == {"text": "Summer sale: organic tees, 30%"}

    [received] = ai_server.requests
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == "Bearer sk-test"
    request = received.json()
    assert request["model"] == "test-model"
    assert request["response_format"] == {"type": "json_object"}
    assert _task(received) == {
        "instructions": "Announce the summer sale.",
        "tone": "playful",
        "max_words": 5,
    }
    assert ctx.exchanges[0].request_headers["Authorization"] == http.REDACTED


def test_an_answer_in_a_markdown_fence_is_accepted(ai_server: LocalServer, make_ctx):
    ai_server.reply(_completion('```json\n{"text": "Hello"}\n```'))

    assert ai.generate_copy(make_ctx({"prompt": "Say hello."})) == {"text": "Hello"}


@pytest.mark.parametrize(
    ("_case", "content", "detail"),
    [
        (
            "not_json",
            "Sure! Here is your copy.",
            "the AI answer is not JSON: Sure! Here is your copy.",
        ),
        ("not_object", "[1, 2]", "the AI answer is not a JSON object: [1, 2]"),
        ("missing_key", '{"copy": "x"}', 'the AI answer has no text: {"copy": "x"}'),
        ("empty_text", '{"text": "  "}', 'the AI answer has no text: {"text": "  "}'),
    ],
)
def test_a_malformed_ai_answer_is_a_permanent_error(
    ai_server: LocalServer, make_ctx, _case, content, detail
):
    ai_server.reply(_completion(content))

    with pytest.raises(PermanentError) as caught:
        ai.generate_copy(make_ctx({"prompt": "Write."}))

    assert caught.value.detail == detail
    assert caught.value.exchange is not None
    assert caught.value.exchange.status == 200


def test_a_completion_without_choices_is_a_permanent_error(ai_server: LocalServer, make_ctx):
    ai_server.reply(Reply(200, {"error": "nope"}))

    with pytest.raises(PermanentError, match="the AI answer has no message"):
        ai.generate_copy(make_ctx({"prompt": "Write."}))


def test_suggest_segment_returns_one_of_the_workspace_segments(
    ai_server: LocalServer, make_ctx, workspace
):
    SegmentFactory.create(workspace=workspace, name="Lapsed")
    summer = SegmentFactory.create(workspace=workspace, name="Summer buyers")
    ai_server.reply(_completion({"segment_id": str(summer.pk)}))

    outputs = ai.suggest_segment(make_ctx({"goal": "Sell the summer collection"}))

    assert outputs == {"segment_id": summer.pk}
    offered = _task(ai_server.requests[0])["segments"]
    assert [segment["name"] for segment in offered] == ["Lapsed", "Summer buyers"]


def test_suggest_segment_refuses_a_segment_that_was_not_offered(
    ai_server: LocalServer, make_ctx, workspace, other_workspace
):
    SegmentFactory.create(workspace=workspace)
    foreign = SegmentFactory.create(workspace=other_workspace)
    ai_server.reply(_completion({"segment_id": foreign.pk}))

    with pytest.raises(PermanentError, match="names no listed segment"):
        ai.suggest_segment(make_ctx({"goal": "x"}))


def test_suggest_segment_without_segments_asks_nothing(ai_server: LocalServer, make_ctx):
    with pytest.raises(PermanentError, match="has no segments"):
        ai.suggest_segment(make_ctx({"goal": "x"}))

    assert ai_server.requests == []


@pytest.mark.parametrize(
    ("_case", "score", "expected"),
    [("float", 0.82, "0.82"), ("string", "0.5", "0.5"), ("zero", 0, "0"), ("one", 1, "1")],
)
def test_predict_churn_returns_a_decimal_score(
    ai_server: LocalServer, make_ctx, workspace, _case, score, expected
):
    customer = CustomerFactory.create(
        workspace=workspace, email="jane@example.com", first_name="Jane"
    )
    OrderFactory.create(customer=customer, total=Decimal("40.00"))
    ai_server.reply(_completion({"score": score}))

    outputs = ai.predict_churn(make_ctx({"customer_id": customer.pk}))

    assert outputs == {"score": expected}
    task = _task(ai_server.requests[0])
    assert len(task["recent_orders"]) == 1
    assert "jane" not in json.dumps(task).lower()


@pytest.mark.parametrize("score", [1.5, -0.1, "high", None, True, "NaN"])
def test_predict_churn_refuses_a_score_outside_0_to_1(
    ai_server: LocalServer, make_ctx, workspace, score
):
    customer = CustomerFactory.create(workspace=workspace)
    ai_server.reply(_completion({"score": score}))

    with pytest.raises(PermanentError, match="has no score from 0 to 1"):
        ai.predict_churn(make_ctx({"customer_id": customer.pk}))


def test_run_recommendation_returns_offered_product_ids(
    ai_server: LocalServer, make_ctx, workspace
):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    tee, cap, mug = (ProductFactory.create(workspace=workspace) for _ in range(3))
    hidden = ProductFactory.create(workspace=workspace, is_hidden=True)
    ai_server.reply(
        _completion({"product_ids": [mug.pk, 999999, hidden.pk, tee.pk, mug.pk, cap.pk]})
    )

    # when
    outputs = ai.run_recommendation(make_ctx({"customer_id": customer.pk, "limit": 2}))

    # then: unknown, hidden and repeated ids are dropped, then the limit applies
    assert outputs == {"product_ids": [mug.pk, tee.pk]}
    offered = [product["id"] for product in _task(ai_server.requests[0])["products"]]
    assert offered == [tee.pk, cap.pk, mug.pk]


def test_run_recommendation_refuses_a_list_of_names(ai_server: LocalServer, make_ctx, workspace):
    customer = CustomerFactory.create(workspace=workspace)
    ai_server.reply(_completion({"product_ids": ["the blue tee"]}))

    with pytest.raises(PermanentError, match="lists something other than product ids"):
        ai.run_recommendation(make_ctx({"customer_id": customer.pk}))


def test_generate_alt_text_saves_it_on_the_product(ai_server: LocalServer, make_ctx, workspace):
    # given
    product = ProductFactory.create(workspace=workspace, title="Organic tee", alt_text="")
    ai_server.reply(_completion({"alt_text": "A black  organic cotton\nT-shirt on a hanger."}))

    # when
    outputs = ai.generate_alt_text(make_ctx({"product_id": product.pk}))

    # then
    assert outputs == {"alt_text": "A black organic cotton T-shirt on a hanger."}
    assert Product.objects.get(pk=product.pk).alt_text == outputs["alt_text"]
    event = Event.objects.get(trigger_key="product_updated")
    assert event.payload == {"product_id": product.pk, "changed_fields": ["alt_text"]}
    assert event.causation_execution_id == 1


def test_generate_alt_text_with_a_failing_provider_changes_nothing(
    ai_server: LocalServer, make_ctx, workspace
):
    product = ProductFactory.create(workspace=workspace, alt_text="old")
    ai_server.reply(Reply(500, "down"))

    with pytest.raises(RetryableError):
        ai.generate_alt_text(make_ctx({"product_id": product.pk}))

    assert Product.objects.get(pk=product.pk).alt_text == "old"
    assert not Event.objects.exists()
