"""Template context: the current workspace, the user's role and their other workspaces."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import Membership


def workspace(request: HttpRequest) -> dict[str, Any]:
    """Expose ``workspace``, ``membership`` and ``memberships`` to templates for the app shell."""
    current = getattr(request, "membership", None)
    if current is None or not request.user.is_authenticated:
        return {}
    others = Membership.objects.filter(user_id=request.user.pk or 0).select_related("workspace")
    return {"workspace": current.workspace, "membership": current, "memberships": list(others)}
