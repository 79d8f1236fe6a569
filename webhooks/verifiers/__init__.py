"""Webhook signature verifiers: one pure class per scheme behind the Verifier protocol.

Nothing here imports Django: verifiers take the raw body, the request headers, the endpoint's
secrets (newest first or in any order) and the current time, and either return ``Verified`` or
raise ``SignatureError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from webhooks.verifiers.base import (
    SignatureError,
    SignatureReason,
    Verified,
    Verifier,
    VerifierConfigError,
)
from webhooks.verifiers.bearer import BearerVerifier
from webhooks.verifiers.generic_hmac import HmacVerifier
from webhooks.verifiers.github import GitHubVerifier
from webhooks.verifiers.shopify import ShopifyVerifier
from webhooks.verifiers.standard import StandardWebhooksVerifier
from webhooks.verifiers.stripe import StripeVerifier

__all__ = [
    "BearerVerifier",
    "GitHubVerifier",
    "HmacVerifier",
    "Scheme",
    "ShopifyVerifier",
    "SignatureError",
    "SignatureReason",
    "StandardWebhooksVerifier",
    "StripeVerifier",
    "Verified",
    "Verifier",
    "VerifierConfigError",
    "get_verifier",
]


class Scheme(StrEnum):
    """The signature schemes an endpoint can be configured with."""

    STRIPE = "stripe"
    GITHUB = "github"
    SHOPIFY = "shopify"
    STANDARD_WEBHOOKS = "standard_webhooks"
    HMAC = "hmac"
    BEARER = "bearer"


_FIXED: dict[Scheme, Verifier] = {
    Scheme.STRIPE: StripeVerifier(),
    Scheme.GITHUB: GitHubVerifier(),
    Scheme.SHOPIFY: ShopifyVerifier(),
    Scheme.STANDARD_WEBHOOKS: StandardWebhooksVerifier(),
    Scheme.BEARER: BearerVerifier(),
}


def get_verifier(scheme: str, options: Mapping[str, Any] | None = None) -> Verifier:
    """Return the verifier for ``scheme`` configured with ``options``.

    Only the "hmac" scheme takes options (header, algorithm, encoding, prefix, event_id_header);
    the others take none. Raises VerifierConfigError for an unknown scheme or bad options.
    """
    try:
        known = Scheme(scheme)
    except ValueError as exc:
        raise VerifierConfigError(f"Unknown signature scheme {scheme!r}.") from exc
    if known is Scheme.HMAC:
        return HmacVerifier.from_options(options or {})
    if options:
        raise VerifierConfigError(f"The {known} scheme takes no options.")
    return _FIXED[known]
