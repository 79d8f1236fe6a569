from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.verifiers import (
    BearerVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    get_verifier,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOKEN = "tw_live_Zx8q1M2n3B4v5C6x7Z8a9S0d"
OTHER_TOKEN = "tw_live_old_token_000000000000"
BODY = b'{"anything": true}'

verifier = get_verifier("bearer")


@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("canonical", {"Authorization": f"Bearer {TOKEN}"}),
        ("lower-case scheme and header", {"authorization": f"bearer {TOKEN}"}),
        ("surrounding whitespace", {"AUTHORIZATION": f"  Bearer   {TOKEN}  "}),
    ],
)
def test_matching_token_verifies(_case, headers):
    # when
    result = verifier.verify(body=BODY, headers=headers, secrets=[TOKEN], now=NOW)

    # then
    assert result == Verified(secret_index=0)


@pytest.mark.parametrize(
    ("_case", "headers", "secrets", "reason"),
    [
        (
            "wrong token",
            {"Authorization": f"Bearer {OTHER_TOKEN}"},
            [TOKEN],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        (
            "prefix of the token",
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            [TOKEN],
            SignatureReason.SIGNATURE_MISMATCH,
        ),
        ("missing header", {}, [TOKEN], SignatureReason.MISSING_HEADER),
        ("empty header", {"Authorization": ""}, [TOKEN], SignatureReason.MISSING_HEADER),
        (
            "basic auth",
            {"Authorization": f"Basic {TOKEN}"},
            [TOKEN],
            SignatureReason.MALFORMED_HEADER,
        ),
        ("scheme only", {"Authorization": "Bearer"}, [TOKEN], SignatureReason.MALFORMED_HEADER),
        ("token only", {"Authorization": TOKEN}, [TOKEN], SignatureReason.MALFORMED_HEADER),
        (
            "lone surrogate in token",
            {"Authorization": "Bearer \udcff"},
            [TOKEN],
            SignatureReason.MALFORMED_HEADER,
        ),
        (
            "no secret configured",
            {"Authorization": f"Bearer {TOKEN}"},
            [],
            SignatureReason.NO_SECRET,
        ),
        (
            "blank secret only",
            {"Authorization": f"Bearer {TOKEN}"},
            ["  "],
            SignatureReason.INVALID_SECRET,
        ),
    ],
)
def test_bad_delivery_is_refused_with_exact_reason(_case, headers, secrets, reason):
    # when
    with pytest.raises(SignatureError) as error:
        verifier.verify(body=BODY, headers=headers, secrets=secrets, now=NOW)

    # then
    assert error.value.reason is reason


@pytest.mark.parametrize(
    ("_case", "token", "expected_index"),
    [("old token", OTHER_TOKEN, 0), ("new token", TOKEN, 1)],
)
def test_rotation_accepts_either_token_and_reports_which(_case, token, expected_index):
    # when
    result = verifier.verify(
        body=BODY,
        headers={"Authorization": f"Bearer {token}"},
        secrets=[OTHER_TOKEN, TOKEN],
        now=NOW,
    )

    # then
    assert result.secret_index == expected_index


_any_text = st.text(alphabet=st.characters(exclude_categories=[]), max_size=80)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(
    header=st.one_of(_any_text, _any_text.map(lambda text: "Bearer " + text)),
    body=st.binary(max_size=64),
)
def test_random_header_only_ever_raises_signature_error(header, body):
    # when
    try:
        outcome: Verified | SignatureReason = BearerVerifier().verify(
            body=body, headers={"Authorization": header}, secrets=[TOKEN], now=NOW
        )
    except SignatureError as error:
        outcome = error.reason

    # then
    assert isinstance(outcome, Verified | SignatureReason)
