from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.verifiers import (
    HmacVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    VerifierConfigError,
    get_verifier,
)
from webhooks.verifiers.generic_hmac import Algorithm, Encoding

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SECRET = "s3cr3t-for-a-generic-sender"
OTHER_SECRET = "another-secret"
BODY = b'{"event": "customer.created", "id": "cus_42"}'


def digest(body: bytes, secret: str, algorithm: str = "sha256", encoding: str = "hex") -> str:
    """The header digest, computed independently of the verifier."""
    raw = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).digest()
    return raw.hex() if encoding == "hex" else base64.b64encode(raw).decode()


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", ["", "sha256="])
def test_each_algorithm_encoding_and_prefix_verifies(algorithm, encoding, prefix):
    # given
    verifier = get_verifier(
        "hmac",
        {"header": "X-Signature", "algorithm": algorithm, "encoding": encoding, "prefix": prefix},
    )
    headers = {"x-signature": prefix + digest(BODY, SECRET, algorithm, encoding)}

    # when
    result = verifier.verify(body=BODY, headers=headers, secrets=[SECRET], now=NOW)

    # then
    assert result == Verified(secret_index=0)


def test_defaults_are_sha256_hex_without_prefix_and_event_id_is_read():
    # given
    verifier = get_verifier("hmac", {"header": "X-Signature", "event_id_header": "X-Request-Id"})
    headers = {"X-SIGNATURE": digest(BODY, SECRET).upper(), "x-request-id": "req_123"}

    # when
    result = verifier.verify(body=BODY, headers=headers, secrets=[SECRET], now=NOW)

    # then
    assert verifier == HmacVerifier(
        header="x-signature",
        algorithm=Algorithm.SHA256,
        encoding=Encoding.HEX,
        prefix="",
        event_id_header="x-request-id",
    )
    assert result == Verified(secret_index=0, event_id="req_123")


SHA256_HEX = get_verifier("hmac", {"header": "X-Signature", "prefix": "sha256="})
SHA512_B64 = get_verifier(
    "hmac", {"header": "X-Signature", "algorithm": "sha512", "encoding": "base64"}
)


@pytest.mark.parametrize(
    ("_case", "verifier", "body", "header", "secrets", "reason"),
    [
        (
            "tampered body",
            SHA256_HEX,
            BODY + b"!",
            "sha256=" + digest(BODY, SECRET),
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "wrong secret",
            SHA512_B64,
            BODY,
            digest(BODY, OTHER_SECRET, "sha512", "base64"),
            [SECRET],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        ("missing header", SHA256_HEX, BODY, None, [SECRET], SignatureReason.MISSING_HEADER),
        (
            "prefix missing",
            SHA256_HEX,
            BODY,
            digest(BODY, SECRET),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "digest of another algorithm",
            SHA256_HEX,
            BODY,
            "sha256=" + digest(BODY, SECRET, "sha1"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "hex where base64 is configured",
            SHA512_B64,
            BODY,
            digest(BODY, SECRET, "sha512", "hex"),
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "bad base64",
            SHA512_B64,
            BODY,
            "%%%" + digest(BODY, SECRET, "sha512", "base64")[3:],
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "non-ASCII",
            SHA256_HEX,
            BODY,
            "sha256=" + "\u00e9" * 64,
            [SECRET],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "no secret configured",
            SHA256_HEX,
            BODY,
            "sha256=" + digest(BODY, SECRET),
            [],
            SignatureReason.NO_SECRET,
        ),
    ],
)
def test_bad_delivery_is_refused_with_exact_reason(_case, verifier, body, header, secrets, reason):
    # given
    headers = {} if header is None else {"X-Signature": header}

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
    result = SHA256_HEX.verify(
        body=BODY,
        headers={"X-Signature": "sha256=" + digest(BODY, signing_secret)},
        secrets=[OTHER_SECRET, SECRET],
        now=NOW,
    )

    # then
    assert result.secret_index == expected_index


@pytest.mark.parametrize(
    ("_case", "options"),
    [
        ("no options", None),
        ("no header", {"algorithm": "sha256"}),
        ("blank header", {"header": " "}),
        ("unsupported algorithm", {"header": "X-Signature", "algorithm": "md5"}),
        ("unsupported encoding", {"header": "X-Signature", "encoding": "base32"}),
        ("prefix not a string", {"header": "X-Signature", "prefix": 1}),
        ("event id header not a string", {"header": "X-Signature", "event_id_header": 1}),
        ("unknown option", {"header": "X-Signature", "tolerance": 300}),
    ],
)
def test_bad_options_are_a_configuration_error(_case, options):
    # when / then
    with pytest.raises(VerifierConfigError):
        get_verifier("hmac", options)


_any_text = st.text(alphabet=st.characters(exclude_categories=[]), max_size=100)
_digestish = st.text(alphabet="0123456789abcdefABCDEF+/=", min_size=60, max_size=140).map(
    lambda text: "sha256=" + text
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(
    header=st.one_of(_any_text, _digestish),
    body=st.binary(max_size=256),
    algorithm=st.sampled_from(["sha256", "sha1", "sha512"]),
    encoding=st.sampled_from(["hex", "base64"]),
)
def test_random_header_and_body_only_ever_raise_signature_error(header, body, algorithm, encoding):
    # given
    verifier = HmacVerifier(
        header="x-signature",
        algorithm=Algorithm(algorithm),
        encoding=Encoding(encoding),
        prefix="sha256=",
    )

    # when
    try:
        outcome: Verified | SignatureReason = verifier.verify(
            body=body, headers={"X-Signature": header}, secrets=[SECRET], now=NOW
        )
    except SignatureError as error:
        outcome = error.reason

    # then
    assert isinstance(outcome, Verified | SignatureReason)
