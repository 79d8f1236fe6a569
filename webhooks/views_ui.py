"""Endpoint pages (admin area; auditors read): list, create, secret once, rotate, capture, test.

The declared-fields form posts to ``automations:endpoint-fields``: changing an endpoint's
fields can break rules, and the rules side guards it (webhooks never imports automations).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import ADMIN_AREA, WorkspaceRequest, workspace_view
from webhooks import services
from webhooks.capture import infer_declaration
from webhooks.forms import DeclaredFieldsForm, EndpointCreateForm, declaration_text
from webhooks.models import Endpoint, InboundDelivery
from webhooks.sample_delivery import NoSecret, send_test_event

RECENT_DELIVERIES = 20


def can_change_endpoints(request: WorkspaceRequest) -> bool:
    """Return whether the member may change endpoints (admins)."""
    return ADMIN_AREA.allows(request.membership.role, "POST")


def get_endpoint(request: WorkspaceRequest, endpoint_id: int) -> Endpoint:
    """Return the workspace's endpoint, or 404 (another workspace's endpoint included)."""
    return get_object_or_404(Endpoint, pk=endpoint_id, workspace=request.workspace)


def hook_url(request: WorkspaceRequest, endpoint: Endpoint) -> str:
    """Return the absolute URL senders post to."""
    return request.build_absolute_uri(reverse("webhook-receive", args=[endpoint.token]))


def _recent(endpoint: Endpoint) -> list[InboundDelivery]:
    return list(
        InboundDelivery.objects.filter(endpoint=endpoint).order_by("-received_at", "-id")[
            :RECENT_DELIVERIES
        ]
    )


def detail_context(request: WorkspaceRequest, endpoint: Endpoint, **extra: Any) -> dict[str, Any]:
    """Return the context of the endpoint page; ``extra`` adds a revealed secret, forms..."""
    declared = endpoint.declared_fields or {}
    inferred = (
        infer_declaration(endpoint.captured_sample)
        if isinstance(endpoint.captured_sample, dict)
        else {}
    )
    context: dict[str, Any] = {
        "endpoint": endpoint,
        "url": hook_url(request, endpoint),
        "secrets": endpoint.secrets.order_by("-created_at", "-id"),
        "deliveries": _recent(endpoint),
        "can_change": can_change_endpoints(request),
        "fields_form": DeclaredFieldsForm(initial={"declared": declaration_text(declared)}),
        "capture_form": DeclaredFieldsForm(
            initial={"declared": declaration_text(inferred)}, prefix="capture"
        ),
        "inferred": inferred,
        "now": timezone.now(),
    }
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
@workspace_view(ADMIN_AREA)
def endpoint_list(request: WorkspaceRequest) -> HttpResponse:
    """List the workspace's endpoints; admins create one (its secret is shown once)."""
    form = EndpointCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        revealed = services.create_endpoint(
            workspace=request.workspace,
            name=data["name"],
            preset=data["preset"],
            scheme=data["scheme"],
            scheme_options=data["scheme_options"],
            declared_fields=data.get("declared_fields") or {},
            actor=request.user,
        )
        messages.success(request, f"Endpoint '{revealed.endpoint.name}' created.")
        # Rendered, not redirected: the secret exists in plaintext only in this response.
        return render(
            request,
            "webhooks/endpoint_detail.html",
            detail_context(request, revealed.endpoint, revealed_secret=revealed.secret),
        )
    endpoints = Endpoint.objects.filter(workspace=request.workspace).order_by("name", "id")
    return render(
        request,
        "webhooks/endpoint_list.html",
        {
            "endpoints": [(e, hook_url(request, e)) for e in endpoints],
            "form": form,
            "can_change": can_change_endpoints(request),
        },
    )


@require_GET
@workspace_view(ADMIN_AREA)
def endpoint_detail(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    """Show an endpoint: its URL, secrets (dates only), fields, capture and deliveries."""
    endpoint = get_endpoint(request, endpoint_id)
    return render(request, "webhooks/endpoint_detail.html", detail_context(request, endpoint))


@require_GET
@workspace_view(ADMIN_AREA)
def endpoint_deliveries(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    """Return the ``delivery-rows`` partial (polled by the endpoint page every 5 seconds)."""
    endpoint = get_endpoint(request, endpoint_id)
    return render(
        request,
        "webhooks/endpoint_detail.html#delivery-rows",
        {"endpoint": endpoint, "deliveries": _recent(endpoint)},
    )


@require_POST
@workspace_view(ADMIN_AREA)
def endpoint_rotate(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    """Add a new secret (shown once); the old one keeps verifying for 24 hours."""
    endpoint = get_endpoint(request, endpoint_id)
    revealed = services.rotate_secret(endpoint=endpoint, actor=request.user)
    messages.success(request, "New secret created; the previous one works for 24 more hours.")
    return render(
        request,
        "webhooks/endpoint_detail.html",
        detail_context(request, revealed.endpoint, revealed_secret=revealed.secret),
    )


@require_POST
@workspace_view(ADMIN_AREA)
def endpoint_capture(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    """Switch capture mode on or off."""
    endpoint = get_endpoint(request, endpoint_id)
    endpoint = services.set_capture_mode(
        endpoint=endpoint, enabled=not endpoint.capture_mode, actor=request.user
    )
    messages.success(
        request,
        "Capture mode is on: the next delivery's body is kept as a sample."
        if endpoint.capture_mode
        else "Capture mode is off.",
    )
    return redirect("webhooks:endpoint-detail", endpoint.pk)


@require_POST
@workspace_view(ADMIN_AREA)
def endpoint_test_event(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    """Send a signed sample delivery through the ingest pipeline and say how it was answered."""
    endpoint = get_endpoint(request, endpoint_id)
    try:
        outcome, _ = send_test_event(endpoint)
    except NoSecret as exc:
        messages.error(request, str(exc))
    else:
        text = f"Test event answered {outcome.status}"
        if outcome.status < 300:
            messages.success(request, f"{text}: accepted as event {outcome.event_id}.")
        else:
            messages.error(request, f"{text}: {outcome.body.get('detail', outcome.body)}")
    return redirect("webhooks:endpoint-detail", endpoint.pk)
