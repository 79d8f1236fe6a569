"""GET a JSON document from a provider or a polled source, through the guarded outbound client.

Polls and backfills are not steps of an execution, so they call
``automations.engine.http.request`` without a step context: the same SSRF guard, timeouts,
size cap and refusal of redirects apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automations.engine.contract import StepError
from automations.engine.http import decode_json, request


class SourceError(Exception):
    """The source could not be read: refused, unreachable, an error status or not JSON."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A JSON document and the URL of its next page (a ``Link: <...>; rel="next"`` header)."""

    document: Any
    next_url: str | None = None


def get_json(url: str, *, headers: Mapping[str, str] | None = None) -> Fetched:
    """Return the JSON answer of ``GET url``; raise SourceError with the reason otherwise."""
    try:
        response = request(
            None, "GET", url, headers={"Accept": "application/json", **(headers or {})}
        )
        next_url = response.links.get("next", {}).get("url")
        return Fetched(decode_json(response), str(next_url) if next_url else None)
    except StepError as exc:
        raise SourceError(exc.detail) from exc
