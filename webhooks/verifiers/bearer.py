"""A shared bearer token in ``Authorization``, for senders that cannot sign their bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

from webhooks.verifiers.base import (
    BaseVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    match_secret,
    require_header,
    usable_secrets,
)

HEADER = "authorization"


class BearerVerifier(BaseVerifier):
    """Verify ``Authorization: Bearer <token>`` against each secret, in constant time.

    Token and secret are compared through their SHA-256 digests, so neither their content nor
    their length leaks through timing. The body is not authenticated by this scheme.
    """

    def _verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        scheme, _, token = require_header(headers, HEADER).partition(" ")
        token = token.strip()
        # The auth scheme name is case-insensitive (RFC 9110, section 11.1).
        if scheme.lower() != "bearer" or not token:
            raise SignatureError(
                SignatureReason.MALFORMED_HEADER,
                "The Authorization header is not 'Bearer <token>'.",
            )
        try:
            presented = _digest(token)
        except UnicodeEncodeError as exc:
            raise SignatureError(
                SignatureReason.MALFORMED_HEADER, "The bearer token is not valid text."
            ) from exc
        index = match_secret(usable_secrets(secrets, _digest), lambda digest: digest, [presented])
        return Verified(secret_index=index)


def _digest(token: str) -> bytes:
    """Return the SHA-256 of the token's UTF-8; raise UnicodeEncodeError for lone surrogates."""
    return hashlib.sha256(token.encode("utf-8")).digest()
