from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.verifiers import (
    SignatureError,
    SignatureReason,
    StripeVerifier,
    Verified,
    get_verifier,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
SECRET = "whsec_test_4eC39HqLyjWDarjtT1zdp7dc"
OTHER_SECRET = "whsec_test_other_0000000000000000"
BODY = b'{"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "type": "payment_intent.succeeded"}'

verifier = get_verifier("stripe")


def stripe_header(body: bytes, secret: str, timestamp: int = T) -> str:
    """The header as Stripe's own library generates it."""
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return str(header)


def v1(body: bytes, secret: str, timestamp: int = T) -> str:
    """One v1 signature, computed independently of Stripe's library."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_header_generated_by_stripe_library_verifies():
    # given
    header = stripe_header(BODY, SECRET)

    # when
    result = verifier.verify(
        body=BODY, headers={"Stripe-Signature": header}, secrets=[SECRET], now=NOW
    )

    # then
    assert result == Verified(
        secret_index=0,
        event_id="evt_1NG8Du2eZvKYlo2CUI79vXWy",
        event_type="payment_intent.succeeded",
        timestamp=NOW,
    )
    assert stripe.WebhookSignature.verify_header(BODY, header, SECRET, tolerance=None)


@pytest.mark.parametrize(
    "header_name", ["Stripe-Signature", "stripe-signature", "STRIPE-SIGNATURE"]
)
def test_header_name_is_case_insensitive(header_name):
    # given
    headers = {header_name: stripe_header(BODY, SECRET)}

    # when
    result = verifier.verify(body=BODY, headers=headers, secrets=[SECRET], now=NOW)

    # then
    assert result.secret_index == 0


def test_any_v1_signature_may_match_and_v0_is_ignored():
    # given
    header = (
        f"t={T},v0={v1(BODY, SECRET)},v1={v1(BODY, OTHER_SECRET)},"
        f"v1={v1(BODY, SECRET)},scheme2=whatever"
    )

    # when
    result = verifier.verify(
        body=BODY, headers={"Stripe-Signature": header}, secrets=[SECRET], now=NOW
    )

    # then
    assert result.secret_index == 0


def test_v0_signature_alone_is_not_accepted():
    # given
    header = f"t={T},v0={v1(BODY, SECRET)}"

    # when
    with pytest.raises(SignatureError) as error:
        verifier.verify(body=BODY, headers={"Stripe-Signature": header}, secrets=[SECRET], now=NOW)

    # then
    assert error.value.reason is SignatureReason.MALFORMED_HEADER


def test_signature_covers_the_raw_body_bytes_even_when_not_utf8():
    # given
    body = b'{"id": "evt_\xff"}'
    header = f"t={T},v1={v1(body, SECRET)}"

    # when
    result = verifier.verify(
        body=body, headers={"Stripe-Signature": header}, secrets=[SECRET], now=NOW
    )

    # then
    assert result == Verified(secret_index=0, event_id=None, event_type=None, timestamp=NOW)


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("not json", b"not json"),
        ("json array", b'["evt_1"]'),
        ("non-string fields", b'{"id": 1, "type": null}'),
        ("empty body", b""),
    ],
)
def test_event_fields_are_none_when_the_body_does_not_carry_them(_case, body):
    # given
    header = f"t={T},v1={v1(body, SECRET)}"

    # when
    result = verifier.verify(
        body=body, headers={"Stripe-Signature": header}, secrets=[SECRET], now=NOW
    )

    # then
    assert result == Verified(secret_index=0, event_id=None, event_type=None, timestamp=NOW)


@pytest.mark.parametrize(
    ("_case", "offset"), [("300 s old", -300), ("300 s ahead", 300), ("now", 0)]
)
def test_timestamp_within_300_seconds_either_way_is_accepted(_case, offset):
    # given
    header = stripe_header(BODY, SECRET, timestamp=T + offset)

    # when
    result = verifier.verify(
        body=BODY, headers={"Stripe-Signature": header}, secrets=[SECRET], now=NOW
    )

    # then
    assert result.timestamp == NOW + timedelta(seconds=offset)


@pytest.mark.parametrize(
    ("_case", "body", "headers", "secrets", "reason"),
    [
        (
            "tampered body",
            BODY + b" ",
            {"Stripe-Signature": stripe_header(BODY, SECRET)},
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "wrong secret",
            BODY,
            {"Stripe-Signature": stripe_header(BODY, OTHER_SECRET)},
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "timestamp changed after signing",
            BODY,
            {"Stripe-Signature": f"t={T + 1},v1={v1(BODY, SECRET)}"},
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "expired timestamp",
            BODY,
            {"Stripe-Signature": stripe_header(BODY, SECRET, timestamp=T - 301)},
            [SECRET],
            SignatureReason.TIMESTAMP_EXPIRED,
        ),
        (
            "future timestamp",
            BODY,
            {"Stripe-Signature": stripe_header(BODY, SECRET, timestamp=T + 301)},
            [SECRET],
            SignatureReason.TIMESTAMP_IN_FUTURE,
        ),
        ("missing header", BODY, {}, [SECRET], SignatureReason.MISSING_HEADER),
        (
            "empty header",
            BODY,
            {"Stripe-Signature": "  "},
            [SECRET],
            SignatureReason.MISSING_HEADER,
        ),
        (
            "garbage",
            BODY,
            {"Stripe-Signature": "garbage"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "no timestamp",
            BODY,
            {"Stripe-Signature": f"v1={v1(BODY, SECRET)}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "two timestamps",
            BODY,
            {"Stripe-Signature": f"t={T},t={T},v1={v1(BODY, SECRET)}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "timestamp not a number",
            BODY,
            {"Stripe-Signature": f"t=soon,v1={v1(BODY, SECRET)}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "non-ASCII digits in timestamp",
            BODY,
            {"Stripe-Signature": f"t=\u0661\u0662\u0663,v1={v1(BODY, SECRET)}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "timestamp beyond year 9999",
            BODY,
            {"Stripe-Signature": f"t=99999999999999999999,v1={v1(BODY, SECRET)}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "no v1 signature",
            BODY,
            {"Stripe-Signature": f"t={T}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "v1 not hex",
            BODY,
            {"Stripe-Signature": f"t={T},v1={'zz' * 32}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "v1 truncated",
            BODY,
            {"Stripe-Signature": f"t={T},v1={v1(BODY, SECRET)[:-2]}"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "non-ASCII signature",
            BODY,
            {"Stripe-Signature": f"t={T},v1=\u00e9\u00e9\u00e9"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "no secret configured",
            BODY,
            {"Stripe-Signature": stripe_header(BODY, SECRET)},
            [],
            SignatureReason.NO_SECRET,
        ),
        (
            "only a blank secret, even with a signature made with an empty key",
            BODY,
            {"Stripe-Signature": f"t={T},v1={v1(BODY, '')}"},
            [""],
            SignatureReason.INVALID_SECRET,
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
    header = stripe_header(BODY, signing_secret)

    # when
    result = verifier.verify(
        body=BODY,
        headers={"Stripe-Signature": header},
        secrets=[OTHER_SECRET, SECRET],
        now=NOW,
    )

    # then
    assert result.secret_index == expected_index


def test_rotation_with_one_v1_per_secret_reports_first_matching_secret():
    # given: Stripe signs with both secrets while one is being rolled
    header = f"t={T},v1={v1(BODY, OTHER_SECRET)},v1={v1(BODY, SECRET)}"

    # when
    result = verifier.verify(
        body=BODY, headers={"Stripe-Signature": header}, secrets=[SECRET, OTHER_SECRET], now=NOW
    )

    # then
    assert result.secret_index == 0


def test_blank_secret_is_skipped_but_keeps_indexes():
    # given
    header = stripe_header(BODY, SECRET)

    # when
    result = verifier.verify(
        body=BODY, headers={"Stripe-Signature": header}, secrets=["", SECRET], now=NOW
    )

    # then
    assert result.secret_index == 1


_any_text = st.text(alphabet=st.characters(exclude_categories=[]), max_size=80)
_near_valid = st.builds(
    lambda t, sig, extra: f"t={t},v1={sig}{extra}",
    st.one_of(st.integers(min_value=-(10**15), max_value=10**15).map(str), _any_text),
    st.one_of(st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=68), _any_text),
    _any_text,
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(header=st.one_of(_any_text, _near_valid), body=st.binary(max_size=256))
def test_random_header_and_body_only_ever_raise_signature_error(header, body):
    # when
    try:
        outcome: Verified | SignatureReason = StripeVerifier().verify(
            body=body, headers={"Stripe-Signature": header}, secrets=[SECRET], now=NOW
        )
    except SignatureError as error:
        outcome = error.reason

    # then
    assert isinstance(outcome, Verified | SignatureReason)
