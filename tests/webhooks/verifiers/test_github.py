from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.verifiers import (
    GitHubVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    get_verifier,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SECRET = "It's a Secret to Everybody"
OTHER_SECRET = "a different secret"
BODY = b"Hello, World!"
# Published in GitHub's "Validating webhook deliveries" documentation.
DOCUMENTED_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

verifier = get_verifier("github")


def github_signature(body: bytes, secret: str) -> str:
    """The header value, computed independently of the verifier."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_documented_example_verifies():
    # when
    result = verifier.verify(
        body=BODY,
        headers={
            "X-Hub-Signature-256": DOCUMENTED_SIGNATURE,
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-GitHub-Event": "issues",
        },
        secrets=[SECRET],
        now=NOW,
    )

    # then
    assert result == Verified(
        secret_index=0,
        event_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        event_type="issues",
        timestamp=None,
    )


def test_signature_from_githubkit_verifies():
    # given
    webhooks = pytest.importorskip(
        "githubkit.webhooks",
        reason="githubkit does not import in this environment",
        exc_type=ImportError,
    )
    body = b'{"action": "opened", "issue": {"number": 1}}'
    header = webhooks.sign(SECRET, body, "sha256")

    # when
    result = verifier.verify(
        body=body, headers={"X-Hub-Signature-256": header}, secrets=[SECRET], now=NOW
    )

    # then
    assert result == Verified(secret_index=0)


def test_upper_case_hex_digest_verifies():
    # given
    header = "sha256=" + DOCUMENTED_SIGNATURE.removeprefix("sha256=").upper()

    # when
    result = verifier.verify(
        body=BODY, headers={"x-hub-signature-256": header}, secrets=[SECRET], now=NOW
    )

    # then
    assert result == Verified(secret_index=0)


@pytest.mark.parametrize(
    ("_case", "body", "headers", "secrets", "reason"),
    [
        (
            "tampered body",
            b"Hello, World?",
            {"X-Hub-Signature-256": DOCUMENTED_SIGNATURE},
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "wrong secret",
            BODY,
            {"X-Hub-Signature-256": DOCUMENTED_SIGNATURE},
            [OTHER_SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        ("missing header", BODY, {}, [SECRET], SignatureReason.MISSING_HEADER),
        (
            "only the legacy SHA-1 header",
            BODY,
            {"X-Hub-Signature": "sha1=" + "0" * 40},
            [SECRET],
            SignatureReason.MISSING_HEADER,
        ),
        (
            "garbage",
            BODY,
            {"X-Hub-Signature-256": "garbage"},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "digest without prefix",
            BODY,
            {"X-Hub-Signature-256": DOCUMENTED_SIGNATURE.removeprefix("sha256=")},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "sha1 prefix",
            BODY,
            {"X-Hub-Signature-256": "sha1=" + DOCUMENTED_SIGNATURE.removeprefix("sha256=")},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "truncated digest",
            BODY,
            {"X-Hub-Signature-256": DOCUMENTED_SIGNATURE[:-1]},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "non-hex digest",
            BODY,
            {"X-Hub-Signature-256": "sha256=" + "g" * 64},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "non-ASCII",
            BODY,
            {"X-Hub-Signature-256": "sha256=\u00e9" * 8},
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "no secret configured",
            BODY,
            {"X-Hub-Signature-256": DOCUMENTED_SIGNATURE},
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
    header = github_signature(BODY, signing_secret)

    # when
    result = verifier.verify(
        body=BODY,
        headers={"X-Hub-Signature-256": header},
        secrets=[OTHER_SECRET, SECRET],
        now=NOW,
    )

    # then
    assert result.secret_index == expected_index


_any_text = st.text(alphabet=st.characters(exclude_categories=[]), max_size=80)
_near_valid = st.builds(
    lambda prefix, digest: f"{prefix}{digest}",
    st.sampled_from(["sha256=", "sha1=", "SHA256=", ""]),
    st.one_of(st.text(alphabet="0123456789abcdefABCDEF", min_size=62, max_size=66), _any_text),
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(header=st.one_of(_any_text, _near_valid), body=st.binary(max_size=256))
def test_random_header_and_body_only_ever_raise_signature_error(header, body):
    # when
    try:
        outcome: Verified | SignatureReason = GitHubVerifier().verify(
            body=body, headers={"X-Hub-Signature-256": header}, secrets=[SECRET], now=NOW
        )
    except SignatureError as error:
        outcome = error.reason

    # then
    assert isinstance(outcome, Verified | SignatureReason)
