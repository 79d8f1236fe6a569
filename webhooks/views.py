"""``POST /hooks/<token>``: the inbound webhook view, a thin shell around ``ingest.receive``.

A plain Django view rather than a DRF one (STYLE 6 suggests DRF): it needs none of DRF's
content negotiation, parsers or authentication, must read the raw body without letting a
parser buffer it, and sits on the hottest path. It is CSRF-exempt (senders authenticate by
signature) and public (``public_view``): the endpoint token and the signature are the checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.request import HttpHeaders
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.access import public_view
from webhooks import ingest


@public_view
@csrf_exempt
@require_POST
def receive_hook(request: HttpRequest, token: str) -> HttpResponse:
    """Hand the request to the pipeline, reading at most the endpoint's limit plus one byte."""
    outcome = ingest.receive(
        token,
        request.read,
        _headers(request.META),
        request.META.get("REMOTE_ADDR"),
        _content_length(request),
    )
    response = HttpResponse(
        json.dumps(outcome.body), content_type="application/json", status=outcome.status
    )
    for name, value in outcome.headers.items():
        response[name] = value
    return response


def _headers(meta: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name: what ``request.headers`` holds, built in one pass.

    (``request.headers`` title-cases every name only for the pipeline to lower-case it again.)
    """
    headers = {}
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
        elif key in _UNPREFIXED:
            headers[key.replace("_", "-").lower()] = value
    return headers


_UNPREFIXED = frozenset(HttpHeaders.UNPREFIXED_HEADERS)


def _content_length(request: HttpRequest) -> int | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None
