"""Outbound webhook targets that answered 410 Gone: disabled per workspace until an admin says so.

A receiver answering 410 says the URL is gone for good. :func:`disable_target` records the URL
as a :class:`DisabledTarget` of the workspace (idempotent); from then on :func:`refused_target`
makes ``fire_webhook`` fail at once, without calling the URL, from every rule of the workspace.
The failing step dead-letters its execution, so the rule's alert target is told. An admin lifts
it with :func:`enable_target` (``POST /api/v1/disabled-targets/<id>/enable/``).
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from automations.engine.http import redact_url
from automations.models import DisabledTarget

logger = logging.getLogger(__name__)


def refused_target(workspace_id: int, url: str) -> DisabledTarget | None:
    """Return the active disabling of ``url`` in the workspace, or None when it may be called."""
    return DisabledTarget.objects.filter(
        workspace_id=workspace_id, url=url, enabled_at__isnull=True
    ).first()


def disable_target(
    *,
    workspace_id: int,
    url: str,
    reason: str,
    rule_id: int | None = None,
    execution_id: int | None = None,
) -> DisabledTarget:
    """Stop calling ``url`` from the workspace; return the active row (new or already there)."""
    found = refused_target(workspace_id, url)
    if found is not None:
        return found
    try:
        with transaction.atomic():
            target = DisabledTarget.objects.create(
                workspace_id=workspace_id,
                url=url,
                reason=reason[:500],
                rule_id=rule_id,
                execution_id=execution_id,
                disabled_at=timezone.now(),
            )
    except IntegrityError:  # another worker disabled it at the same moment
        again = refused_target(workspace_id, url)
        if again is None:
            raise
        return again
    logger.warning("workspace %s: outbound target disabled: %s", workspace_id, reason)
    return target


def enable_target(
    target: DisabledTarget, *, by: AbstractBaseUser | AnonymousUser | None
) -> DisabledTarget:
    """Let ``fire_webhook`` call the URL again (a no-op for a row enabled already)."""
    if target.enabled_at is None:
        DisabledTarget.objects.filter(pk=target.pk, enabled_at__isnull=True).update(
            enabled_at=timezone.now(), enabled_by=by if isinstance(by, AbstractBaseUser) else None
        )
        target.refresh_from_db()
    return target


def refusal_message(target: DisabledTarget) -> str:
    """Plain English for a step refused because its URL is disabled."""
    when = target.disabled_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Not sent: {redact_url(target.url)} is disabled for this workspace since {when} "
        f"({target.reason}). An admin can enable it again (disabled target #{target.pk})."
    )
