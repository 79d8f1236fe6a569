"""Runners of the marketing actions: campaigns, Meta and Google audiences, Slack messages.

``send_campaign`` is internal (through the domain service, which emits ``campaign_launched``);
the others call out through :mod:`automations.engine.http`, with their base URLs and
credentials taken from settings.

Slack: an incoming webhook is one secret URL per channel. The URL is
``TYPEWIRE_SLACK_BASE_URL`` + a path (``/services/T.../B.../...``): the channel's own path from
``TYPEWIRE_SLACK_CHANNEL_WEBHOOK_PATHS`` when one is set (``#sales`` or ``sales``), else
``TYPEWIRE_SLACK_WEBHOOK_PATH``. The body carries ``channel`` too, which webhooks allowed to post
to several channels honour. The path is a credential, so the log shows it redacted.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from django.conf import settings

from automations.engine import http
from automations.engine.contract import PermanentError, StepContext
from catalog.domain.services import DomainError, launch_campaign
from catalog.models import Campaign, Customer


def send_campaign(ctx: StepContext) -> dict[str, Any]:
    """Launch the draft campaign ``campaign_id`` (emits ``campaign_launched``); no outputs.

    Raises ``PermanentError`` for a campaign missing from the workspace or not a draft.
    """
    campaign_id = ctx.inputs["campaign_id"]
    campaign = Campaign.objects.filter(workspace=ctx.workspace, pk=campaign_id).first()
    if campaign is None:
        raise PermanentError(f"campaign {campaign_id} does not exist in this workspace")
    try:
        launch_campaign(campaign=campaign, causation=ctx.causation)
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}


def post_to_slack(ctx: StepContext) -> dict[str, Any]:
    """POST ``{"text", "channel"}`` to the Slack incoming webhook for ``channel``; no outputs.

    Raises ``PermanentError`` when no webhook path is configured for the channel.
    """
    channel: str = ctx.inputs["channel"]
    paths: dict[str, str] = settings.TYPEWIRE_SLACK_CHANNEL_WEBHOOK_PATHS
    path = (
        paths.get(channel)
        or paths.get(channel.lstrip("#"))
        or paths.get(f"#{channel.lstrip('#')}")
        or settings.TYPEWIRE_SLACK_WEBHOOK_PATH
        or ""
    )
    if not path:
        raise PermanentError(
            f"Slack is not set up for {channel}: set TYPEWIRE_SLACK_WEBHOOK_PATH "
            "or TYPEWIRE_SLACK_CHANNEL_WEBHOOK_PATHS"
        )
    base = settings.TYPEWIRE_SLACK_BASE_URL.rstrip("/")
    http.post_json(
        ctx,
        f"{base}/{path.lstrip('/')}",
        {"text": ctx.inputs["text"], "channel": channel},
        log_url=f"{base}/{http.REDACTED}",
    )
    return {}


def hashed_email(ctx: StepContext) -> str:
    """Return the SHA-256 hex digest of the customer's trimmed, lower-cased email.

    Ad platforms match customers on this hash; the address itself never leaves Typewire.
    Raises ``PermanentError`` for a customer missing from the workspace or without an email.
    """
    customer_id = ctx.inputs["customer_id"]
    customer = Customer.objects.filter(workspace=ctx.workspace, pk=customer_id).first()
    if customer is None:
        raise PermanentError(f"customer {customer_id} does not exist in this workspace")
    email = customer.email.strip().lower()
    if not email:
        raise PermanentError(f"customer {customer_id} has no email address to match on")
    return hashlib.sha256(email.encode()).hexdigest()


def sync_to_meta_audience(ctx: StepContext) -> dict[str, Any]:
    """Add the customer's hashed email to a Meta custom audience; no outputs.

    Calls ``POST {TYPEWIRE_META_BASE_URL}/{TYPEWIRE_META_API_VERSION}/{audience_id}/users``
    (Marketing API) with a bearer ``TYPEWIRE_META_ACCESS_TOKEN``.
    """
    token: str = settings.TYPEWIRE_META_ACCESS_TOKEN or ""
    if not token:
        raise PermanentError("Meta is not set up: set TYPEWIRE_META_ACCESS_TOKEN")
    digest = hashed_email(ctx)
    base = settings.TYPEWIRE_META_BASE_URL.rstrip("/")
    audience = quote(str(ctx.inputs["audience_id"]), safe="")
    http.post_json(
        ctx,
        f"{base}/{settings.TYPEWIRE_META_API_VERSION}/{audience}/users",
        {"payload": {"schema": "EMAIL_SHA256", "data": [digest]}},
        headers={"Authorization": f"Bearer {token}"},
    )
    return {}


def sync_to_google_audience(ctx: StepContext) -> dict[str, Any]:
    """Add the customer's hashed email to a Google Ads customer-match user list; no outputs.

    Google Ads takes members through an offline user data job, so this makes three calls under
    ``{TYPEWIRE_GOOGLE_ADS_BASE_URL}/{version}/customers/{TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID}``:
    ``offlineUserDataJobs:create`` for the user list ``audience_id``, then ``:addOperations``
    with the hashed email, then ``:run``. A retry starts a new job; adding a member twice
    leaves the list as it was.
    """
    token: str = settings.TYPEWIRE_GOOGLE_ADS_ACCESS_TOKEN or ""
    developer_token: str = settings.TYPEWIRE_GOOGLE_ADS_DEVELOPER_TOKEN or ""
    customer: str = settings.TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID.replace("-", "")
    if not (token and developer_token and customer):
        raise PermanentError(
            "Google Ads is not set up: set TYPEWIRE_GOOGLE_ADS_ACCESS_TOKEN, "
            "TYPEWIRE_GOOGLE_ADS_DEVELOPER_TOKEN and TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID"
        )
    digest = hashed_email(ctx)
    base = f"{settings.TYPEWIRE_GOOGLE_ADS_BASE_URL.rstrip('/')}/"
    base += settings.TYPEWIRE_GOOGLE_ADS_API_VERSION
    headers = {"Authorization": f"Bearer {token}", "developer-token": developer_token}
    user_list = f"customers/{customer}/userLists/{quote(str(ctx.inputs['audience_id']), safe='')}"
    created = http.post_json(
        ctx,
        f"{base}/customers/{customer}/offlineUserDataJobs:create",
        {
            "job": {
                "type": "CUSTOMER_MATCH_USER_LIST",
                "customerMatchUserListMetadata": {"userList": user_list},
            }
        },
        headers=headers,
    )
    answer = http.decode_json(created)
    job = answer.get("resourceName") if isinstance(answer, dict) else None
    if not isinstance(job, str) or not job.startswith(f"customers/{customer}/"):
        raise PermanentError(
            "Google Ads did not answer with an offline user data job", exchange=ctx.exchanges[-1]
        )
    http.post_json(
        ctx,
        f"{base}/{job}:addOperations",
        {
            "operations": [{"create": {"userIdentifiers": [{"hashedEmail": digest}]}}],
            "enablePartialFailure": False,
        },
        headers=headers,
    )
    http.post_json(ctx, f"{base}/{job}:run", {}, headers=headers)
    return {}
