"""Standard Webhooks (and Svix): ``v1,<base64>`` signatures over ``"<id>.<timestamp>.<body>"``.

The signing maths and the ``whsec_<base64>`` secret decoding come from the ``standardwebhooks``
package. Its ``Webhook.verify`` is not called: it checks timestamps against the wall clock rather
than the ``now`` it is given, gives up on the first malformed signature in the list before trying
the others, and decodes base64 leniently. The timestamp window, header parsing and constant-time
comparison are therefore done here, with the same rules (5 minutes either way, inclusive).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from webhooks.verifiers.base import (
    BaseVerifier,
    SignatureError,
    SignatureReason,
    Verified,
    check_timestamp,
    decode_base64,
    json_fields,
    match_secret,
    parse_unix_timestamp,
    require_header,
    usable_secrets,
)

TOLERANCE = timedelta(minutes=5)
# Svix sends the same scheme under its own header names; Standard Webhooks' win when both appear.
HEADER_FAMILIES = ("webhook", "svix")


class StandardWebhooksVerifier(BaseVerifier):
    """Verify ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (or ``svix-*``).

    The signature header is a space-separated list of ``<version>,<base64>``; any ``v1`` entry may
    match and other versions (e.g. the asymmetric ``v1a``) are ignored. Secrets are
    ``whsec_<base64>``. ``event_id`` is the message id, ``event_type`` the body's "type".
    """

    def _verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: datetime,
    ) -> Verified:
        family = _header_family(headers)
        msg_id = require_header(headers, f"{family}-id")
        timestamp_text = require_header(headers, f"{family}-timestamp")
        signatures = _parse_signatures(require_header(headers, f"{family}-signature"), family)
        timestamp = parse_unix_timestamp(timestamp_text, f"{family}-timestamp")
        try:
            # The package signs text; a JSON body is UTF-8, so decoding keeps the signed bytes.
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SignatureError(
                SignatureReason.MALFORMED_BODY,
                "The body is not UTF-8 text, so its Standard Webhooks signature cannot be checked.",
            ) from exc

        def expected_for(hook: Webhook) -> bytes:
            versioned = hook.sign(msg_id=msg_id, timestamp=timestamp, data=text)
            return base64.b64decode(versioned.partition(",")[2])

        index = match_secret(usable_secrets(secrets, _webhook), expected_for, signatures)
        check_timestamp(timestamp, now=now, tolerance=TOLERANCE)
        (event_type,) = json_fields(body, "type")
        return Verified(
            secret_index=index, event_id=msg_id, event_type=event_type, timestamp=timestamp
        )


def _header_family(headers: Mapping[str, str]) -> str:
    """Return "webhook" or "svix": the first family with any of its three headers present."""
    for family in HEADER_FAMILIES:
        if any(headers.get(f"{family}-{part}") for part in ("id", "timestamp", "signature")):
            return family
    return HEADER_FAMILIES[0]


def _parse_signatures(value: str, family: str) -> list[bytes]:
    """Return the decodable v1 signatures of the list; raise MALFORMED_HEADER if there is none."""
    signatures: list[bytes] = []
    for entry in value.split():
        version, _, encoded = entry.partition(",")
        if version == "v1" and (signature := decode_base64(encoded, 32)) is not None:
            signatures.append(signature)
    if not signatures:
        raise SignatureError(
            SignatureReason.MALFORMED_HEADER,
            f"The {family}-signature header has no well-formed v1 signature.",
        )
    return signatures


@lru_cache(maxsize=256)
def _webhook(secret: str) -> Webhook:
    """Return the package's signer for a ``whsec_<base64>`` secret; raise ValueError if unusable.

    Cached (the secret decoded once, not per delivery); a signer only holds its key.
    """
    try:
        return Webhook(secret)
    except (EmptyWebhookSecretError, RuntimeError) as exc:
        raise ValueError(str(exc)) from exc
