"""Shopify's ``X-Shopify-Hmac-Sha256`` scheme: HMAC-SHA256 of the raw body, base64."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from webhooks.verifiers.base import (
    BaseVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    decode_base64,
    hmac_digest,
    match_secret,
    optional_header,
    require_header,
    usable_secrets,
    utf8_key,
)

HEADER = "x-shopify-hmac-sha256"


class ShopifyVerifier(BaseVerifier):
    """Verify ``X-Shopify-Hmac-Sha256: <base64>`` over the raw body with the app's secret.

    ``event_id`` is ``X-Shopify-Event-Id`` (else ``X-Shopify-Webhook-Id``), ``event_type`` is
    ``X-Shopify-Topic``. Shopify signs no timestamp; replays are stopped by deduplication.
    """

    def _verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        signature = decode_base64(require_header(headers, HEADER), 32)
        if signature is None:
            raise SignatureError(
                SignatureReason.MALFORMED_HEADER,
                "The X-Shopify-Hmac-Sha256 header is not the base64 of a SHA-256 HMAC.",
            )
        index = match_secret(
            usable_secrets(secrets, utf8_key),
            lambda key: hmac_digest(key, body),
            [signature],
        )
        return Verified(
            secret_index=index,
            event_id=optional_header(headers, "x-shopify-event-id", "x-shopify-webhook-id"),
            event_type=optional_header(headers, "x-shopify-topic"),
        )
