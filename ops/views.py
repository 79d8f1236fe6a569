"""Health endpoints and the workspace home page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.access import READ_ONLY_AREA, WorkspaceRequest, public_view, workspace_view
from ops.models import Heartbeat
from ops.readiness import run_checks


@public_view
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Answer 200 while the process lives; touches nothing else."""
    return JsonResponse({"status": "ok"})


@public_view
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Answer 200 when database and broker answer, else 503 naming what does not."""
    checks = run_checks()
    failing = [c.name for c in checks if not c.ok]
    body = {
        "status": "ok" if not failing else "unavailable",
        "failing": failing,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    response = JsonResponse(body, status=200 if not failing else 503)
    if failing:
        response["Retry-After"] = "5"
    return response


@workspace_view(READ_ONLY_AREA)
def home(request: WorkspaceRequest) -> HttpResponse:
    """The workspace home: who you are here, and whether the workers are alive."""
    last_beat = Heartbeat.objects.filter(source=Heartbeat.Source.BEAT).first()
    return render(request, "ops/home.html", {"last_beat": last_beat})
