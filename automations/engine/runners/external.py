"""Runners of the external actions: signed webhooks, Zapier and Make hooks, Airtable rows.

All of them call out through :mod:`automations.engine.http` (SSRF guard, timeouts, status
mapping, exchange log) and send the step's idempotency key as ``Idempotency-Key``; fire_webhook
also sends it as the Standard Webhooks ``webhook-id``, so a receiver sees one id per step however
often the step is retried.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.conf import settings
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from automations.engine import http, targets
from automations.engine.contract import HttpExchange, PermanentError, StepContext


def _json_text(data: Any) -> str:
    """Return compact JSON; the exact text is what gets signed, so it is built once."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def fire_webhook(ctx: StepContext) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url``, signed with the Standard Webhooks scheme.

    Headers: ``webhook-id`` (the step's idempotency key), ``webhook-timestamp`` (now, in Unix
    seconds) and, when a signing secret is given, ``webhook-signature`` (``v1,<base64 HMAC>``).
    Returns ``{"status_code": ...}``. A 410 answer disables the URL for the workspace
    (:mod:`automations.engine.targets`) and raises ``PermanentError`` with ``disable_target``
    set; a disabled URL is refused without being called.
    """
    payload = _json_text(ctx.inputs["body"])
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": ctx.idempotency_key,
        "webhook-timestamp": str(int(now.timestamp())),
    }
    secret = ctx.inputs.get("signing_secret") or ""
    if secret:
        try:
            signer = Webhook(secret)
        except (ValueError, EmptyWebhookSecretError) as exc:
            raise PermanentError(
                "the signing secret is not a Standard Webhooks secret (whsec_ and base64)"
            ) from exc
        headers["webhook-signature"] = signer.sign(ctx.idempotency_key, now, payload)
    url = ctx.inputs["url"]
    refused = targets.refused_target(ctx.workspace.pk, url)
    if refused is not None:
        # Logged like a call, without a status: nothing was sent.
        exchange = HttpExchange(
            method="POST",
            url=http.redact_url(url)[:2000],
            request_headers=http.redact_headers(headers),
            request_body=http.cap_body(payload),
        )
        ctx.exchanges.append(exchange)
        raise PermanentError(targets.refusal_message(refused), exchange=exchange)
    try:
        response = http.request(ctx, "POST", url, headers=headers, content=payload.encode())
    except PermanentError as exc:
        if not exc.disable_target:
            raise
        target = targets.disable_target(
            workspace_id=ctx.workspace.pk,
            url=url,
            reason="it answered 410 Gone",
            rule_id=ctx.rule_id,
            execution_id=ctx.execution_id,
        )
        raise PermanentError(
            f"{exc.detail}. Typewire stopped sending to this URL from every rule of the "
            f"workspace; an admin can enable it again (disabled target #{target.pk}).",
            disable_target=True,
            exchange=exc.exchange,
        ) from exc
    return {"status_code": response.status_code}


def post_zapier(ctx: StepContext) -> dict[str, Any]:
    """POST ``data`` as JSON to a Zapier catch hook; returns no outputs."""
    http.post_json(ctx, ctx.inputs["hook_url"], ctx.inputs["data"])
    return {}


def post_to_make(ctx: StepContext) -> dict[str, Any]:
    """POST ``data`` as JSON to a Make webhook; returns no outputs."""
    http.post_json(ctx, ctx.inputs["hook_url"], ctx.inputs["data"])
    return {}


def create_airtable_row(ctx: StepContext) -> dict[str, Any]:
    """Create one record in ``base``/``table`` with ``fields``; return ``{"record_id": ...}``.

    Calls ``POST {TYPEWIRE_AIRTABLE_BASE_URL}/v0/{base}/{table}`` with a bearer token from
    ``TYPEWIRE_AIRTABLE_API_KEY`` and ``typecast`` on, so text values fill date or number
    columns. Raises ``PermanentError`` when no key is set or the answer names no record.
    """
    api_key: str = settings.TYPEWIRE_AIRTABLE_API_KEY or ""
    if not api_key:
        raise PermanentError("Airtable is not set up: set TYPEWIRE_AIRTABLE_API_KEY")
    base = settings.TYPEWIRE_AIRTABLE_BASE_URL.rstrip("/")
    url = f"{base}/v0/{quote(ctx.inputs['base'], safe='')}/{quote(ctx.inputs['table'], safe='')}"
    response = http.post_json(
        ctx,
        url,
        {"records": [{"fields": ctx.inputs["fields"]}], "typecast": True},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    answer = http.decode_json(response)
    try:
        record_id = answer["records"][0]["id"]
    except (KeyError, IndexError, TypeError):
        record_id = None
    if not isinstance(record_id, str) or not record_id:
        raise PermanentError("Airtable's answer names no record id", exchange=ctx.exchanges[-1])
    return {"record_id": record_id}
