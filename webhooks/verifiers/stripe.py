"""Stripe's ``Stripe-Signature`` scheme: HMAC-SHA256 over ``"<t>.<body>"`` with a time window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from webhooks.verifiers.base import (
    BaseVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    check_timestamp,
    decode_hex,
    hmac_digest,
    json_fields,
    match_secret,
    parse_unix_timestamp,
    require_header,
    usable_secrets,
    utf8_key,
)

HEADER = "stripe-signature"
TOLERANCE = timedelta(seconds=300)


class StripeVerifier(BaseVerifier):
    """Verify ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``.

    The ``whsec_...`` secret is the HMAC key as is (its UTF-8 bytes, not base64-decoded). Any v1
    signature may match (Stripe sends one per active secret while a secret is rolled); v0 and
    unknown schemes are ignored. Unlike Stripe's library, timestamps more than 300 seconds in the
    future are refused too. Event id and type come from the body's "id" and "type".
    """

    def _verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        timestamp_text, signatures = _parse_header(require_header(headers, HEADER))
        timestamp = parse_unix_timestamp(timestamp_text, "Stripe-Signature")
        # Stripe's own verifier signs "%d" % t, so a zero-padded t is normalised the same way.
        signed_payload = f"{int(timestamp_text)}.".encode("ascii") + body
        index = match_secret(
            usable_secrets(secrets, utf8_key),
            lambda key: hmac_digest(key, signed_payload),
            signatures,
        )
        check_timestamp(timestamp, now=now, tolerance=TOLERANCE)
        event_id, event_type = json_fields(body, "id", "type")
        return Verified(
            secret_index=index, event_id=event_id, event_type=event_type, timestamp=timestamp
        )


def _parse_header(value: str) -> tuple[str, list[bytes]]:
    """Return the t value and the decodable v1 signatures; raise MALFORMED_HEADER."""
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for item in value.split(","):
        key, separator, item_value = item.strip().partition("=")
        if not separator:
            raise SignatureError(
                SignatureReason.MALFORMED_HEADER,
                "The Stripe-Signature header has an item that is not key=value.",
            )
        if key == "t":
            timestamps.append(item_value)
        elif key == "v1" and (signature := decode_hex(item_value, 32)) is not None:
            signatures.append(signature)
    if len(timestamps) != 1:
        raise SignatureError(
            SignatureReason.MALFORMED_HEADER,
            "The Stripe-Signature header must carry exactly one t= timestamp.",
        )
    if not signatures:
        raise SignatureError(
            SignatureReason.MALFORMED_HEADER,
            "The Stripe-Signature header has no well-formed v1 signature.",
        )
    return timestamps[0], signatures
