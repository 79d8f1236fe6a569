from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.verifiers import (
    ShopifyVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    get_verifier,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SECRET = "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"
OTHER_SECRET = "shpss_00000000000000000000000000000000"
BODY = b'{"id": 820982911946154508, "email": "jon@example.com", "total_price": "120.00"}'

verifier = get_verifier("shopify")


def shopify_signature(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)), as Shopify documents it, computed independently."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


SIGNATURE = shopify_signature(BODY, SECRET)


def test_independently_computed_signature_verifies_with_event_headers():
    # given
    headers = {
        "X-Shopify-Hmac-Sha256": SIGNATURE,
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }

    # when
    result = verifier.verify(body=BODY, headers=headers, secrets=[SECRET], now=NOW)

    # then
    assert result == Verified(
        secret_index=0,
        event_id="98880550-7158-44d4-b7cd-2c97c8a091b5",
        event_type="orders/create",
        timestamp=None,
    )


def test_event_id_falls_back_to_webhook_id():
    # given
    headers = {
        "x-shopify-hmac-sha256": SIGNATURE,
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }

    # when
    result = verifier.verify(body=BODY, headers=headers, secrets=[SECRET], now=NOW)

    # then
    assert result == Verified(
        secret_index=0, event_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", event_type=None
    )


@pytest.mark.parametrize(
    ("_case", "body", "headers", "secrets", "reason"),
    [
        (
            "tampered body",
            BODY.replace(b"120.00", b"0.01"),
            {"X-Shopify-Hmac-Sha256": SIGNATURE},
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "wrong secret",
            BODY,
            {"X-Shopify-Hmac-Sha256": SIGNATURE},
            [OTHER_SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        ("missing header", BODY, {}, [SECRET], SignatureReason.MISSING_HEADER),
        (
            "garbage",
            BODY,
            {"X-Shopify-Hmac-Sha256": "not base64!"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "padding removed",
            BODY,
            {"X-Shopify-Hmac-Sha256": SIGNATURE.rstrip("=")},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "hex digest instead of base64",
            BODY,
            {"X-Shopify-Hmac-Sha256": hmac.new(SECRET.encode(), BODY, "sha256").hexdigest()},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "url-safe alphabet",
            BODY,
            {"X-Shopify-Hmac-Sha256": "-_" * 21 + "A="},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "non-ASCII",
            BODY,
            {"X-Shopify-Hmac-Sha256": "\u00e9" * 44},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "no secret configured",
            BODY,
            {"X-Shopify-Hmac-Sha256": SIGNATURE},
            [],
            SignatureReason.NO_SECRET,
        ),
    ],
)
def test_bad_delivery_is_refused_with_exact_reason(_case, body, headers, secrets, reason):
    # when
    with pytest.raises(SignatureError) as error:
        verifier.verify(body=body, headers=headers, secrets=secrets, now=NOW)

    # then
    assert error.value.reason is reason


@pytest.mark.parametrize(
    ("_case", "signing_secret", "expected_index"),
    [("old secret", OTHER_SECRET, 0), ("new secret", SECRET, 1)],
)
def test_rotation_accepts_either_secret_and_reports_which(_case, signing_secret, expected_index):
    # given
    header = shopify_signature(BODY, signing_secret)

    # when
    result = verifier.verify(
        body=BODY,
        headers={"X-Shopify-Hmac-Sha256": header},
        secrets=[OTHER_SECRET, SECRET],
        now=NOW,
    )

    # then
    assert result.secret_index == expected_index


_any_text = st.text(alphabet=st.characters(exclude_categories=[]), max_size=80)
_base64ish = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_",
    min_size=40,
    max_size=48,
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(header=st.one_of(_any_text, _base64ish), body=st.binary(max_size=256))
def test_random_header_and_body_only_ever_raise_signature_error(header, body):
    # when
    try:
        outcome: Verified | SignatureReason = ShopifyVerifier().verify(
            body=body, headers={"X-Shopify-Hmac-Sha256": header}, secrets=[SECRET], now=NOW
        )
    except SignatureError as error:
        outcome = error.reason

    # then
    assert isinstance(outcome, Verified | SignatureReason)
