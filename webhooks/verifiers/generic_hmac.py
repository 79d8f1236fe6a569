"""A configurable HMAC scheme for providers without a preset: header, hash, encoding, prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from webhooks.verifiers.base import (
    BaseVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    VerifierConfigError,
    decode_base64,
    decode_hex,
    digest_size,
    hmac_digest,
    match_secret,
    optional_header,
    require_header,
    usable_secrets,
    utf8_key,
)


class Algorithm(StrEnum):
    """Hash functions a generic HMAC endpoint may use."""

    SHA256 = "sha256"
    SHA1 = "sha1"
    SHA512 = "sha512"


class Encoding(StrEnum):
    """How the digest is written in the header."""

    HEX = "hex"
    BASE64 = "base64"


OPTION_NAMES = frozenset({"header", "algorithm", "encoding", "prefix", "event_id_header"})


@dataclass(frozen=True, slots=True)
class HmacVerifier(BaseVerifier):
    """Verify ``<header>: <prefix><digest>``: the HMAC of the raw body keyed with the secret.

    The key is the secret's UTF-8. Hex digests are accepted in either case; base64 must be
    standard and padded. ``event_id`` is read from ``event_id_header`` when one is configured.
    No timestamp is signed.
    """

    header: str
    algorithm: Algorithm = Algorithm.SHA256
    encoding: Encoding = Encoding.HEX
    prefix: str = ""
    event_id_header: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HmacVerifier:
        """Build from endpoint options; raise VerifierConfigError naming the bad option."""
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise VerifierConfigError(f"Unknown hmac option(s): {', '.join(unknown)}.")
        header = options.get("header")
        if not isinstance(header, str) or not header.strip():
            raise VerifierConfigError("The hmac scheme needs a 'header' option naming the header.")
        prefix = options.get("prefix", "")
        event_id_header = options.get("event_id_header")
        if not isinstance(prefix, str):
            raise VerifierConfigError("The hmac 'prefix' option must be a string.")
        if event_id_header is not None and not isinstance(event_id_header, str):
            raise VerifierConfigError("The hmac 'event_id_header' option must be a string.")
        try:
            algorithm = Algorithm(options.get("algorithm", Algorithm.SHA256))
            encoding = Encoding(options.get("encoding", Encoding.HEX))
        except ValueError as exc:
            raise VerifierConfigError(
                "The hmac 'algorithm' must be sha256, sha1 or sha512 and 'encoding' hex or base64."
            ) from exc
        return cls(
            header=header.strip().lower(),
            algorithm=algorithm,
            encoding=encoding,
            prefix=prefix,
            event_id_header=event_id_header.strip().lower() if event_id_header else None,
        )

    def _verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        value = require_header(headers, self.header.lower())
        signature = self._decode(value.removeprefix(self.prefix))
        if not value.startswith(self.prefix) or signature is None:
            raise SignatureError(
                SignatureReason.MALFORMED_HEADER,
                f"The {self.header} header is not {self.prefix!r} followed by a "
                f"{self.encoding} {self.algorithm} digest.",
            )
        index = match_secret(
            usable_secrets(secrets, utf8_key),
            lambda key: hmac_digest(key, body, self.algorithm),
            [signature],
        )
        event_id = (
            optional_header(headers, self.event_id_header.lower()) if self.event_id_header else None
        )
        return Verified(secret_index=index, event_id=event_id)

    def _decode(self, text: str) -> bytes | None:
        """Return the digest bytes written in the configured encoding, or None if malformed."""
        size = digest_size(self.algorithm)
        if self.encoding is Encoding.HEX:
            return decode_hex(text, size)
        return decode_base64(text, size)
