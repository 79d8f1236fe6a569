"""GitHub's ``X-Hub-Signature-256`` scheme: HMAC-SHA256 of the raw body, hex, ``sha256=`` prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from webhooks.verifiers.base import (
    BaseVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    decode_hex,
    hmac_digest,
    match_secret,
    optional_header,
    require_header,
    usable_secrets,
    utf8_key,
)

HEADER = "x-hub-signature-256"
PREFIX = "sha256="


class GitHubVerifier(BaseVerifier):
    """Verify ``X-Hub-Signature-256: sha256=<hex>`` over the raw body.

    GitHub signs no timestamp, so replays are stopped by deduplicating on the delivery id
    (``X-GitHub-Delivery``), reported as ``event_id``; ``X-GitHub-Event`` is the event type.
    """

    def _verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        value = require_header(headers, HEADER)
        signature = decode_hex(value.removeprefix(PREFIX), 32)
        if not value.startswith(PREFIX) or signature is None:
            raise SignatureError(
                SignatureReason.MALFORMED_HEADER,
                "The X-Hub-Signature-256 header is not sha256= followed by 64 hex digits.",
            )
        index = match_secret(
            usable_secrets(secrets, utf8_key),
            lambda key: hmac_digest(key, body),
            [signature],
        )
        return Verified(
            secret_index=index,
            event_id=optional_header(headers, "x-github-delivery"),
            event_type=optional_header(headers, "x-github-event"),
        )
