from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from webhooks.verifiers import (
    BearerVerifier,
    GitHubVerifier,
    HmacVerifier,
    Scheme,
    ShopifyVerifier,
    SignatureError,
    SignatureReason,
    StandardWebhooksVerifier,
    StripeVerifier,
    Verified,
    VerifierConfigError,
    get_verifier,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("scheme", "options", "expected_type"),
    [
        ("stripe", None, StripeVerifier),
        ("github", None, GitHubVerifier),
        ("shopify", {}, ShopifyVerifier),
        ("standard_webhooks", None, StandardWebhooksVerifier),
        ("hmac", {"header": "X-Signature"}, HmacVerifier),
        ("bearer", None, BearerVerifier),
        (Scheme.STRIPE, None, StripeVerifier),
    ],
)
def test_each_scheme_key_gives_its_verifier(scheme, options, expected_type):
    # when
    verifier = get_verifier(scheme, options)

    # then
    assert type(verifier) is expected_type


def test_scheme_keys_are_exactly_the_six_documented_ones():
    # then
    assert [scheme.value for scheme in Scheme] == [
        "stripe",
        "github",
        "shopify",
        "standard_webhooks",
        "hmac",
        "bearer",
    ]


@pytest.mark.parametrize(
    ("_case", "scheme", "options"),
    [
        ("unknown scheme", "paypal", None),
        ("wrong case", "Stripe", None),
        ("options for a fixed scheme", "stripe", {"tolerance": 600}),
    ],
)
def test_unknown_scheme_or_stray_options_are_a_configuration_error(_case, scheme, options):
    # when / then
    with pytest.raises(VerifierConfigError):
        get_verifier(scheme, options)


@pytest.mark.parametrize("scheme", [scheme for scheme in Scheme if scheme is not Scheme.HMAC])
def test_naive_now_is_a_programming_error_not_a_signature_error(scheme):
    # given
    verifier = get_verifier(scheme)

    # when / then
    with pytest.raises(ValueError, match="timezone-aware") as error:
        verifier.verify(body=b"{}", headers={}, secrets=["s"], now=datetime(2026, 1, 15, 12, 0))
    assert not isinstance(error.value, SignatureError)


def test_signature_error_carries_reason_and_detail():
    # when
    error = SignatureError(SignatureReason.SIGNATURE_MISMATCH, "The signature does not match.")

    # then
    assert error.reason is SignatureReason.SIGNATURE_MISMATCH
    assert error.detail == "The signature does not match."
    assert str(error) == "The signature does not match."


def test_verified_is_frozen():
    # given
    verified = Verified(secret_index=0)

    # when / then
    with pytest.raises(dataclasses.FrozenInstanceError):
        verified.secret_index = 1  # type: ignore[misc]


def test_verifiers_import_without_django_configured():
    # given
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, webhooks.verifiers; "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )

    # when
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    # then
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
