"""Benchmark-only views, routed only when ``TYPEWIRE_BENCH=1`` (``python -m bench`` sets it).

``POST /bench/hello`` is the baseline the ingest benchmark compares the webhook endpoint with in
the same run: the thinnest DRF view that still parses a JSON body (no authentication, no
permission, no database). It is public (``public_view``) so the URL-conf access test, which
walks whatever the URL conf holds, stays green when the route is present.
"""

from __future__ import annotations

import os

from django.urls import URLPattern, path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import public_view

BENCH_ENV = "TYPEWIRE_BENCH"


@public_view
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def hello(request: Request) -> Response:
    """Parse the JSON body and answer 200 with how many top-level keys it had."""
    data = request.data
    return Response({"hello": "world", "keys": len(data) if isinstance(data, dict) else 0})


def bench_urlpatterns() -> list[URLPattern]:
    """Return the benchmark routes when ``TYPEWIRE_BENCH=1``, else none."""
    if os.environ.get(BENCH_ENV) != "1":
        return []
    return [path("bench/hello", hello, name="bench-hello")]
