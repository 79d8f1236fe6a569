"""SSRF through every outbound caller: a name resolving to a private address, and a redirect to one.

Each HTTP-calling action (fire_webhook, Zapier, Make, Airtable, Slack, the Meta and Google
audiences, every AI action), the ``poll_new_item`` source and both backfill providers are aimed
at a hostname that resolves to a private address: the call is refused before any connection,
and the refusal is logged (the step's exchange, the poll state, the backfill's warning). Then
the target is a real local server (allowed) answering a redirect to a private or metadata
address: the redirect is reported and never followed.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

from automations.engine import http
from automations.engine.contract import PermanentError, StepContext
from automations.engine.runners import ai, external, marketing
from automations.models import PollState
from automations.triggers.backfill import backfill_shopify, backfill_stripe
from automations.triggers.poll import poll_rule
from catalog.models import Event
from tests.automations.http.conftest import LocalServer, Reply, make_ctx, server
from tests.automations.http.test_ssrf import FakeDns
from tests.automations.triggers.conftest import make_rule
from tests.factories import CustomerFactory, ProductFactory, SegmentFactory
from webhooks import services

__all__ = ["make_ctx", "make_rule", "server"]

pytestmark = pytest.mark.django_db

PRIVATE_NAME = "hooks.shop-internal.test"
PRIVATE_ADDRESS = "10.20.30.40"
REDIRECTS = ["http://10.0.0.1/admin", "http://169.254.169.254/latest/meta-data/"]


@pytest.fixture
def dns() -> Iterator[FakeDns]:
    fake = FakeDns()
    with mock.patch.object(socket, "getaddrinfo", autospec=True, side_effect=fake.getaddrinfo):
        yield fake


@pytest.fixture
def api_settings(settings: Any) -> Any:
    """Credentials for every provider-backed action, so each gets as far as its HTTP call."""
    settings.TYPEWIRE_AIRTABLE_API_KEY = "key-airtable"
    settings.TYPEWIRE_SLACK_WEBHOOK_PATH = "/services/T1/B1/secret"
    settings.TYPEWIRE_META_ACCESS_TOKEN = settings.TYPEWIRE_GOOGLE_ADS_ACCESS_TOKEN = "tok"
    settings.TYPEWIRE_GOOGLE_ADS_DEVELOPER_TOKEN = "dev"
    settings.TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID = "123-456-7890"
    settings.TYPEWIRE_AI_API_KEY = "sk-ai"
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = []
    return settings


BASE_URL_SETTINGS = [
    "TYPEWIRE_SLACK_BASE_URL",
    "TYPEWIRE_AIRTABLE_BASE_URL",
    "TYPEWIRE_META_BASE_URL",
    "TYPEWIRE_GOOGLE_ADS_BASE_URL",
]


def _inputs(name: str, url: str, ctx_factory: Callable[..., StepContext]) -> dict[str, Any]:
    """The inputs of action ``name`` with its URL (for URL-taking actions) set to ``url``."""
    workspace = ctx_factory({}).workspace
    if name in {"sync_to_meta_audience", "sync_to_google_audience", "predict_churn"}:
        customer = CustomerFactory.create(workspace=workspace, email="jane@example.com")
        return {"customer_id": customer.pk, "audience_id": "987"}
    inputs: dict[str, dict[str, Any]] = {
        "fire_webhook": {"url": url, "body": {"order_id": 1042}},
        "post_zapier": {"hook_url": url, "data": {"a": 1}},
        "post_to_make": {"hook_url": url, "data": {"a": 1}},
        "create_airtable_row": {"base": "app1", "table": "T", "fields": {"a": 1}},
        "post_to_slack": {"channel": "#sales", "text": "hi"},
        "generate_copy": {"prompt": "Write a line."},
        "suggest_segment": {"goal": "win back lapsed buyers"},
        "run_recommendation": {"customer_id": None, "limit": 3},
        "generate_alt_text": {"product_id": None},
    }
    return inputs[name]


RUNNERS: dict[str, Callable[[StepContext], Any]] = {
    "fire_webhook": external.fire_webhook,
    "post_zapier": external.post_zapier,
    "post_to_make": external.post_to_make,
    "create_airtable_row": external.create_airtable_row,
    "post_to_slack": marketing.post_to_slack,
    "sync_to_meta_audience": marketing.sync_to_meta_audience,
    "sync_to_google_audience": marketing.sync_to_google_audience,
    "generate_copy": ai.generate_copy,
    "suggest_segment": ai.suggest_segment,
    "predict_churn": ai.predict_churn,
    "run_recommendation": ai.run_recommendation,
    "generate_alt_text": ai.generate_alt_text,
}


def _context(name: str, url: str, make: Callable[..., StepContext], settings: Any) -> StepContext:
    """Point the action (its input URL, or its provider's base URL) at ``url``."""
    for setting in BASE_URL_SETTINGS:
        setattr(settings, setting, url)
    settings.TYPEWIRE_AI_BASE_URL = url + "/v1"
    inputs = _inputs(name, url, make)
    ctx = make(inputs)
    if name == "run_recommendation":
        customer = CustomerFactory.create(workspace=ctx.workspace)
        ProductFactory.create(workspace=ctx.workspace)
        ctx.inputs["customer_id"] = customer.pk
    if name == "generate_alt_text":
        ctx.inputs["product_id"] = ProductFactory.create(workspace=ctx.workspace).pk
    if name == "suggest_segment":
        SegmentFactory.create(workspace=ctx.workspace)
    return ctx


def test_every_http_action_of_the_catalog_is_covered_here() -> None:
    from catalog.registry import registry

    http_actions = {spec.key for spec in registry.actions() if spec.is_http}
    assert http_actions <= set(RUNNERS), http_actions - set(RUNNERS)


@pytest.mark.parametrize("name", sorted(RUNNERS))
def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    name: str, server: LocalServer, make_ctx: Callable[..., StepContext], api_settings: Any, dns
) -> None:
    # given: the action's host resolves to a private address (and to the local server's port)
    dns.answers[PRIVATE_NAME] = [[PRIVATE_ADDRESS]]
    ctx = _context(name, f"http://{PRIVATE_NAME}:{server.port}", make_ctx, api_settings)

    # when
    with pytest.raises(http.OutboundRefused) as caught:
        RUNNERS[name](ctx)

    # then: refused, the refusal is in the step's exchange log, nothing was sent
    assert caught.value.detail.startswith(
        f"refused: {PRIVATE_NAME} resolves to {PRIVATE_ADDRESS}, a private address"
    )
    assert [exchange.status for exchange in ctx.exchanges] == [None]
    assert caught.value.exchange is ctx.exchanges[-1]
    assert server.requests == []


@pytest.mark.parametrize("location", REDIRECTS)
@pytest.mark.parametrize("name", sorted(RUNNERS))
def test_a_redirect_to_a_private_address_is_never_followed(
    name: str,
    location: str,
    server: LocalServer,
    make_ctx: Callable[..., StepContext],
    api_settings: Any,
) -> None:
    # given: the (allowed) provider answers every request with a redirect inside the network
    api_settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    server.default = Reply(302, b"", {"Location": location})
    ctx = _context(name, server.url, make_ctx, api_settings)

    # when
    with pytest.raises(PermanentError) as caught:
        RUNNERS[name](ctx)

    # then: one request, to the provider; the redirect is reported, not followed
    assert "redirects are not followed" in caught.value.detail
    assert location in caught.value.detail
    assert len(server.requests) == 1
    assert [exchange.status for exchange in ctx.exchanges] == [302]


# --- the poll_new_item source and the backfill providers --------------------------------------


def _poll_config(url: str) -> dict[str, str]:
    return {"url": url, "interval": "PT15M", "items_path": "data", "id_field": "id"}


def test_a_polled_source_resolving_to_a_private_address_is_refused_and_recorded(
    make_rule: Any, server: LocalServer, settings: Any, dns
) -> None:
    # given
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # the rule is saved
    rule = make_rule("poll_new_item", _poll_config(f"http://{PRIVATE_NAME}:{server.port}/x"))
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = []
    dns.answers[PRIVATE_NAME] = [[PRIVATE_ADDRESS]]

    # when
    result = poll_rule(rule, now=datetime(2025, 3, 1, tzinfo=UTC))

    # then
    assert result.error.startswith(f"refused: {PRIVATE_NAME} resolves to {PRIVATE_ADDRESS}")
    assert PollState.objects.get(rule=rule).error == result.error
    assert server.requests == []
    assert Event.objects.count() == 0


@pytest.mark.parametrize("location", REDIRECTS)
def test_a_polled_source_redirecting_inside_the_network_is_not_followed(
    make_rule: Any, server: LocalServer, settings: Any, location: str
) -> None:
    # given
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    server.default = Reply(301, b"", {"Location": location})
    rule = make_rule("poll_new_item", _poll_config(f"{server.url}/reviews.json"))

    # when
    result = poll_rule(rule, now=datetime(2025, 3, 1, tzinfo=UTC))

    # then
    assert "redirects are not followed" in result.error
    assert PollState.objects.get(rule=rule).error == result.error
    assert len(server.requests) == 1
    assert Event.objects.count() == 0


def _backfill(provider: str, workspace: Any, base: str, settings: Any) -> Any:
    settings.TYPEWIRE_STRIPE_API_KEY = settings.TYPEWIRE_SHOPIFY_API_KEY = "sk_test_backfill"
    settings.TYPEWIRE_STRIPE_API_BASE_URL = settings.TYPEWIRE_SHOPIFY_API_BASE_URL = base
    endpoint = services.create_endpoint(
        workspace=workspace, name=provider, preset=provider
    ).endpoint
    run = backfill_stripe if provider == "stripe" else backfill_shopify
    return run(endpoint, datetime(2025, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize("provider", ["stripe", "shopify"])
def test_a_backfill_provider_resolving_to_a_private_address_is_refused_and_logged(
    provider: str, workspace: Any, server: LocalServer, settings: Any, dns, caplog: Any
) -> None:
    # given
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = []
    dns.answers[PRIVATE_NAME] = [[PRIVATE_ADDRESS]]

    # when
    with caplog.at_level(logging.WARNING, logger="automations.triggers.backfill"):
        result = _backfill(provider, workspace, f"http://{PRIVATE_NAME}:{server.port}", settings)

    # then
    assert result.error.startswith(f"refused: {PRIVATE_NAME} resolves to {PRIVATE_ADDRESS}")
    assert result.error in caplog.text
    assert server.requests == []
    assert Event.objects.count() == 0


@pytest.mark.parametrize("location", REDIRECTS)
@pytest.mark.parametrize("provider", ["stripe", "shopify"])
def test_a_backfill_provider_redirecting_inside_the_network_is_not_followed(
    provider: str, location: str, workspace: Any, server: LocalServer, settings: Any, caplog: Any
) -> None:
    # given
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    server.default = Reply(302, b"", {"Location": location})

    # when
    with caplog.at_level(logging.WARNING, logger="automations.triggers.backfill"):
        result = _backfill(provider, workspace, server.url, settings)

    # then
    assert "redirects are not followed" in result.error
    assert location in result.error
    assert result.error in caplog.text
    assert len(server.requests) == 1
