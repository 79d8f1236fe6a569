from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.verifiers import (
    SignatureError,
    SignatureReason,
    StandardWebhooksVerifier,
    Verified,
    get_verifier,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
BODY = b'{"type": "order.paid", "data": {"order_id": "ord_1042"}}'

verifier = get_verifier("standard_webhooks")


def standard_headers(
    body: bytes = BODY,
    secret: str = SECRET,
    timestamp: datetime = NOW,
    msg_id: str = MSG_ID,
    prefix: str = "webhook",
) -> dict[str, str]:
    """Headers signed by the standardwebhooks package itself."""
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(int(timestamp.timestamp())),
        f"{prefix}-signature": Webhook(secret).sign(msg_id, timestamp, body.decode()),
    }


def test_standard_webhooks_test_suite_vector_verifies():
    # given
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    now = datetime.fromtimestamp(1614265330, tz=UTC)

    # when
    result = verifier.verify(
        body=b'{"test": 2432232314}', headers=headers, secrets=[SECRET], now=now
    )

    # then
    assert result == Verified(
        secret_index=0, event_id="msg_p5jXN8AQM9LWM0D4loKWxJek", event_type=None, timestamp=now
    )


@pytest.mark.parametrize("prefix", ["webhook", "svix", "Webhook", "SVIX"])
def test_signature_from_package_verifies_under_either_header_family(prefix):
    # when
    result = verifier.verify(
        body=BODY, headers=standard_headers(prefix=prefix), secrets=[SECRET], now=NOW
    )

    # then
    assert result == Verified(
        secret_index=0, event_id=MSG_ID, event_type="order.paid", timestamp=NOW
    )


def test_any_v1_entry_may_match_and_other_versions_are_ignored():
    # given
    headers = standard_headers()
    good = headers["webhook-signature"]
    wrong = Webhook(OTHER_SECRET).sign(MSG_ID, NOW, BODY.decode())
    headers["webhook-signature"] = f"v1a,{good[3:]} v1,not-base64 {wrong} {good}"

    # when
    result = verifier.verify(body=BODY, headers=headers, secrets=[SECRET], now=NOW)

    # then
    assert result.secret_index == 0


@pytest.mark.parametrize(("_case", "offset"), [("5 minutes old", -300), ("5 minutes ahead", 300)])
def test_timestamp_at_the_tolerance_edge_is_accepted(_case, offset):
    # given
    timestamp = NOW + timedelta(seconds=offset)

    # when
    result = verifier.verify(
        body=BODY, headers=standard_headers(timestamp=timestamp), secrets=[SECRET], now=NOW
    )

    # then
    assert result.timestamp == timestamp


def _with(headers: dict[str, str], **changes: str | None) -> dict[str, str]:
    """Copy of ``headers`` with webhook-<name> replaced, or removed when None."""
    result = dict(headers)
    for name, value in changes.items():
        key = f"webhook-{name}"
        if value is None:
            del result[key]
        else:
            result[key] = value
    return result


GOOD = standard_headers()


@pytest.mark.parametrize(
    ("_case", "body", "headers", "secrets", "reason"),
    [
        ("tampered body", BODY + b" ", GOOD, [SECRET], SignatureReason.SIGNATURE_MISMATCH),
        ("wrong secret", BODY, GOOD, [OTHER_SECRET], SignatureReason.SIGNATURE_MISMATCH),
        (
            "message id changed",
            BODY,
            _with(GOOD, id="msg_other"),
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "timestamp changed",
            BODY,
            _with(GOOD, timestamp=str(int(NOW.timestamp()) + 1)),
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "expired timestamp",
            BODY,
            standard_headers(timestamp=NOW - timedelta(seconds=301)),
            [SECRET],
            SignatureReason.TIMESTAMP_EXPIRED,
        ),
        (
            "future timestamp",
            BODY,
            standard_headers(timestamp=NOW + timedelta(seconds=301)),
            [SECRET],
            SignatureReason.TIMESTAMP_IN_FUTURE,
        ),
        ("no headers", BODY, {}, [SECRET], SignatureReason.MISSING_HEADER),
        ("missing id", BODY, _with(GOOD, id=None), [SECRET], SignatureReason.MISSING_HEADER),
        (
            "missing timestamp",
            BODY,
            _with(GOOD, timestamp=None),
            [SECRET],
            SignatureReason.MISSING_HEADER,
        ),
        (
            "missing signature",
            BODY,
            _with(GOOD, signature=None),
            [SECRET],
            SignatureReason.MISSING_HEADER,
        ),
        (
            "garbage signature",
            BODY,
            _with(GOOD, signature="garbage"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "bad base64",
            BODY,
            _with(GOOD, signature="v1,not*base64*at*all"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "empty v1 entry",
            BODY,
            _with(GOOD, signature="v1,"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "only asymmetric signature",
            BODY,
            _with(GOOD, signature="v1a," + GOOD["webhook-signature"][3:]),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "non-ASCII signature",
            BODY,
            _with(GOOD, signature="v1,\u00e9\u00e9\u00e9\u00e9"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "lone surrogate in message id",
            BODY,
            _with(GOOD, id="msg_\udcff"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "timestamp not a number",
            BODY,
            _with(GOOD, timestamp="yesterday"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "fractional timestamp",
            BODY,
            _with(GOOD, timestamp=f"{int(NOW.timestamp())}.0"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "body not UTF-8",
            b'{"type": "\xff"}',
            GOOD,
            [SECRET],
            SignatureReason.MALFORMED_BODY,
        ),
        ("no secret configured", BODY, GOOD, [], SignatureReason.NO_SECRET),
        (
            "secret that decodes to nothing",
            BODY,
            GOOD,
            ["whsec_%%%%"],
            SignatureReason.INVALID_SECRET,
        ),
        (
            "secret that is not ASCII",
            BODY,
            GOOD,
            ["whsec_\u00e9t\u00e9"],
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
    # when
    result = verifier.verify(
        body=BODY,
        headers=standard_headers(secret=signing_secret),
        secrets=[OTHER_SECRET, SECRET],
        now=NOW,
    )

    # then
    assert result.secret_index == expected_index


def test_unusable_secret_is_skipped_during_rotation():
    # when
    result = verifier.verify(
        body=BODY, headers=standard_headers(), secrets=["whsec_%%%%", SECRET], now=NOW
    )

    # then
    assert result.secret_index == 1


# The package's Webhook.verify reads the wall clock, so these cases use the real time; each pins
# which SignatureReason a package error maps to.
@pytest.mark.parametrize(
    ("_case", "offset", "body", "secret", "drop", "package_message", "reason"),
    [
        ("valid", 0, BODY, SECRET, None, None, None),
        ("tampered", 0, BODY + b" ", SECRET, None, "No matching signature found", "mismatch"),
        ("wrong secret", 0, BODY, OTHER_SECRET, None, "No matching signature found", "mismatch"),
        ("expired", -600, BODY, SECRET, None, "Message timestamp too old", "expired"),
        ("future", 600, BODY, SECRET, None, "Message timestamp too new", "future"),
        ("missing", 0, BODY, SECRET, "webhook-id", "Missing required headers", "missing"),
    ],
)
def test_verdicts_agree_with_the_package_verify(
    _case, offset, body, secret, drop, package_message, reason
):
    # given
    reasons = {
        "mismatch": SignatureReason.SIGNATURE_MISMATCH,
        "expired": SignatureReason.TIMESTAMP_EXPIRED,
        "future": SignatureReason.TIMESTAMP_IN_FUTURE,
        "missing": SignatureReason.MISSING_HEADER,
    }
    now = datetime.now(UTC).replace(microsecond=0)
    headers = standard_headers(timestamp=now + timedelta(seconds=offset), secret=SECRET)
    if drop:
        del headers[drop]
    package = Webhook(secret)

    package_verdict: str | None = None
    our_reason: SignatureReason | None = None

    # when
    try:
        package.verify(body, headers)
    except WebhookVerificationError as error:
        package_verdict = str(error)
    try:
        verifier.verify(body=body, headers=headers, secrets=[secret], now=now)
    except SignatureError as error:
        our_reason = error.reason

    # then
    assert package_verdict == package_message
    assert our_reason == (reasons[reason] if reason else None)


_any_text = st.text(alphabet=st.characters(exclude_categories=[]), max_size=60)
_signature = st.one_of(
    _any_text,
    st.builds(
        lambda version, sig: f"{version},{sig}",
        st.sampled_from(["v1", "v1a", "v2", ""]),
        st.one_of(
            st.text(
                alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
                min_size=40,
                max_size=48,
            ),
            _any_text,
        ),
    ),
)
_timestamp = st.one_of(
    _any_text, st.integers(min_value=-(10**20), max_value=10**20).map(str), st.just("1768478400")
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(
    msg_id=_any_text,
    timestamp=_timestamp,
    signature=_signature,
    svix=st.booleans(),
    body=st.binary(max_size=256),
)
def test_random_headers_and_body_only_ever_raise_signature_error(
    msg_id, timestamp, signature, svix, body
):
    # given
    prefix = "svix" if svix else "webhook"
    headers = {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": timestamp,
        f"{prefix}-signature": signature,
    }

    # when
    try:
        outcome: Verified | SignatureReason = StandardWebhooksVerifier().verify(
            body=body, headers=headers, secrets=[SECRET], now=NOW
        )
    except SignatureError as error:
        outcome = error.reason

    # then
    assert isinstance(outcome, Verified | SignatureReason)
