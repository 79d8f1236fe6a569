"""``POST /hooks/<token>``: the inbound webhook view, a thin shell around ``ingest.receive``.

A plain Django view rather than a DRF one (STYLE 6 suggests DRF): it needs none of DRF's
content negotiation, parsers or authentication, must read the raw body without letting a
parser buffer it, and sits on the hottest path. It is CSRF-exempt (senders authenticate by
signature) and public (``public_view``): the endpoint token and the signature are the checks.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
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
        request.headers,
        request.META.get("REMOTE_ADDR"),
        _content_length(request),
    )
    response = JsonResponse(outcome.body, status=outcome.status)
    for name, value in outcome.headers.items():
        response[name] = value
    return response


def _content_length(request: HttpRequest) -> int | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None
