"""The verifier contract (protocol, result, error) and the signature maths the schemes share."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

# Exceptions that malformed input can raise from parsing or decoding (UnicodeError, binascii.Error
# and json.JSONDecodeError are ValueErrors; OverflowError is an ArithmeticError; OSError comes from
# datetime.fromtimestamp on some platforms). Programming errors such as AttributeError still escape.
INPUT_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    LookupError,
    ArithmeticError,
    OSError,
)

_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # 12 digits reach year 9999, datetime's limit
_HEX = re.compile(r"[0-9a-fA-F]+")


class SignatureReason(StrEnum):
    """Why a delivery failed verification: the code logged and returned as ``{"error": ...}``."""

    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    SIGNATURE_MISMATCH = "signature_mismatch"
    TIMESTAMP_EXPIRED = "timestamp_expired"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    MALFORMED_BODY = "malformed_body"
    NO_SECRET = "no_secret"
    INVALID_SECRET = "invalid_secret"


class SignatureError(Exception):
    """A delivery is not authentic: ``reason`` is the code, ``detail`` says why in plain English."""

    def __init__(self, reason: SignatureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def __repr__(self) -> str:
        return f"SignatureError({self.reason.value!r}, {self.detail!r})"


class VerifierConfigError(ValueError):
    """An unknown scheme or bad options for one: a configuration mistake, never a bad request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """What a successful verification learnt: which secret matched and the delivery's identity.

    ``secret_index`` is the position in the ``secrets`` argument of the secret that matched, so
    the caller can tell when senders have moved to a rotated secret.
    """

    secret_index: int
    event_id: str | None = None
    event_type: str | None = None
    timestamp: datetime | None = None


class Verifier(Protocol):
    """One signature scheme, checked over the raw request body."""

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        """Return what was verified if any secret matches; raise SignatureError otherwise.

        ``now`` must be timezone-aware. No exception other than SignatureError escapes for any
        body or header content.
        """
        ...


class BaseVerifier(ABC):
    """Template for verifiers: normalises headers once and turns parse errors into SignatureError.

    Subclasses implement ``_verify`` and receive headers keyed by lower-case name, values stripped.
    """

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        """Return what was verified if any secret matches; raise SignatureError otherwise.

        Raises ValueError (not SignatureError) for a naive ``now``: that is the caller's bug.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        try:
            normalised = {name.lower(): value.strip() for name, value in headers.items()}
            return self._verify(body=body, headers=normalised, secrets=secrets, now=now)
        except SignatureError:
            raise
        except INPUT_ERRORS as exc:
            raise SignatureError(
                SignatureReason.MALFORMED_HEADER,
                f"The signature headers could not be read ({type(exc).__name__}).",
            ) from exc

    @abstractmethod
    def _verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        """Check one delivery; ``headers`` are already lower-cased and stripped."""


def require_header(headers: Mapping[str, str], name: str) -> str:
    """Return the value of header ``name`` (lower-case); raise MISSING_HEADER if absent or empty."""
    value = headers.get(name, "")
    if not value:
        raise SignatureError(SignatureReason.MISSING_HEADER, f"The {name} header is missing.")
    return value


def optional_header(headers: Mapping[str, str], *names: str) -> str | None:
    """Return the first non-empty value among headers ``names`` (lower-case), else None."""
    for name in names:
        if value := headers.get(name):
            return value
    return None


def usable_secrets[K](secrets: Sequence[str], to_key: Callable[[str], K]) -> list[tuple[int, K]]:
    """Return ``(index, key)`` for every secret ``to_key`` accepts, keeping the original indexes.

    Blank secrets are never usable: an empty HMAC key would let anyone sign. Raises NO_SECRET for
    an empty sequence and INVALID_SECRET when no secret is usable.
    """
    if not secrets:
        raise SignatureError(
            SignatureReason.NO_SECRET, "The endpoint has no secret to verify deliveries with."
        )
    keys: list[tuple[int, K]] = []
    for index, secret in enumerate(secrets):
        if not secret.strip():
            continue
        try:
            keys.append((index, to_key(secret)))
        except INPUT_ERRORS:
            continue
    if not keys:
        raise SignatureError(
            SignatureReason.INVALID_SECRET, "None of the endpoint's secrets is usable."
        )
    return keys


def utf8_key(secret: str) -> bytes:
    """Return the secret's UTF-8 bytes, the HMAC key as is; raise ValueError if unencodable."""
    return secret.encode("utf-8")


def match_secret[K](
    keys: Iterable[tuple[int, K]],
    expected_for: Callable[[K], bytes],
    candidates: Sequence[bytes],
) -> int:
    """Return the index of the first key whose expected digest equals any candidate.

    Compares in constant time (``hmac.compare_digest``). Raises SIGNATURE_MISMATCH if none does.
    """
    for index, key in keys:
        expected = expected_for(key)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return index
    raise SignatureError(
        SignatureReason.SIGNATURE_MISMATCH,
        "The signature does not match the body for any of the endpoint's secrets.",
    )


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """Return the raw HMAC of ``message`` under ``key`` with the hashlib ``algorithm``."""
    return hmac.new(key, message, algorithm).digest()


def decode_hex(text: str, size: int) -> bytes | None:
    """Return the bytes of a hex digest of ``size`` bytes (either case), or None if not one."""
    if len(text) != 2 * size or not _HEX.fullmatch(text):
        return None
    return bytes.fromhex(text)


def decode_base64(text: str, size: int) -> bytes | None:
    """Return the bytes of a padded standard-base64 digest of ``size`` bytes, or None if not one."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeError, binascii.Error):
        return None
    return raw if len(raw) == size else None


def digest_size(algorithm: str) -> int:
    """Return the digest size in bytes of a hashlib algorithm name."""
    return hashlib.new(algorithm).digest_size


def parse_unix_timestamp(text: str, header: str) -> datetime:
    """Return the aware UTC datetime of whole Unix seconds ``text``; raise MALFORMED_HEADER."""
    if _UNIX_SECONDS.fullmatch(text):
        try:
            return datetime.fromtimestamp(int(text), tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise SignatureError(
        SignatureReason.MALFORMED_HEADER, f"The {header} timestamp is not whole Unix seconds."
    )


def check_timestamp(timestamp: datetime, *, now: datetime, tolerance: timedelta) -> None:
    """Raise TIMESTAMP_EXPIRED or TIMESTAMP_IN_FUTURE unless ``timestamp`` is within tolerance.

    A timestamp exactly ``tolerance`` away is accepted, as in the providers' own libraries.
    """
    seconds = int(tolerance.total_seconds())
    if timestamp < now - tolerance:
        raise SignatureError(
            SignatureReason.TIMESTAMP_EXPIRED,
            f"The signature timestamp is more than {seconds} seconds old.",
        )
    if timestamp > now + tolerance:
        raise SignatureError(
            SignatureReason.TIMESTAMP_IN_FUTURE,
            f"The signature timestamp is more than {seconds} seconds in the future.",
        )


def json_fields(body: bytes, *names: str) -> tuple[str | None, ...]:
    """Return the top-level string fields ``names`` of a JSON object body; None where unavailable.

    Lenient by design: the body is only read for metadata here, and validated later on ingest.
    """
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        return tuple(None for _ in names)
    if not isinstance(document, dict):
        return tuple(None for _ in names)
    return tuple(value if isinstance(value := document.get(name), str) else None for name in names)
