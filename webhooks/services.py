"""Endpoint services: create an endpoint with its first secret, rotate secrets, accept a capture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from accounts.audit import field_changes, record_change
from accounts.models import AuditObject, Workspace
from webhooks.models import Endpoint, EndpointSecret
from webhooks.presets import get_preset

if TYPE_CHECKING:
    from accounts.audit import Actor

DEFAULT_GRACE = timedelta(hours=24)
# What the audit log keeps of an endpoint (never its token or secrets).
AUDITED_FIELDS = (
    "name",
    "preset",
    "scheme",
    "scheme_options",
    "preset_options",
    "tolerance_seconds",
    "ip_allowlist",
    "rate_limit_per_minute",
    "max_body_bytes",
    "is_enabled",
    "declared_fields",
    "capture_mode",
    "ordering_key",
    "version_field",
)


def _facts(endpoint: Endpoint) -> dict[str, Any]:
    return {name: getattr(endpoint, name) for name in AUDITED_FIELDS}


def _record(endpoint: Endpoint, actor: Actor, action: str, changes: dict[str, Any]) -> None:
    record_change(
        workspace=endpoint.workspace_id,
        actor=actor,
        action=action,
        object_type=AuditObject.ENDPOINT,
        object_id=endpoint.pk,
        object_label=endpoint.name,
        changes=changes,
    )


@dataclass(frozen=True, slots=True)
class Revealed:
    """An endpoint and its new secret in plaintext: shown once, then only stored encrypted."""

    endpoint: Endpoint
    secret: str


def create_endpoint(
    *, workspace: Workspace, secret: str | None = None, actor: Actor = None, **attributes: Any
) -> Revealed:
    """Create an endpoint with its first secret (``secret``, else a new one of the preset's form).

    ``attributes`` are Endpoint fields, already validated; the scheme defaults to the preset's.
    """
    preset = get_preset(attributes.get("preset", "generic"))
    attributes.setdefault("scheme", preset.scheme.value)
    plaintext = secret or preset.make_secret()
    with transaction.atomic():
        endpoint = Endpoint.objects.create(workspace=workspace, **attributes)
        EndpointSecret.build(endpoint, plaintext).save()
        _record(endpoint, actor, "created", _facts(endpoint))
    return Revealed(endpoint, plaintext)


def rotate_secret(
    *,
    endpoint: Endpoint,
    grace: timedelta = DEFAULT_GRACE,
    secret: str | None = None,
    actor: Actor = None,
) -> Revealed:
    """Add a new current secret; the previous one keeps verifying for ``grace``, then expires.

    A secret still in an earlier grace period expires now, so at most two secrets verify at
    any time. ``grace`` 0 retires the previous secret at once.
    """
    now = timezone.now()
    plaintext = secret or get_preset(endpoint.preset).make_secret()
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.secrets.filter(expires_at__gt=now).update(expires_at=now)
        locked.secrets.filter(expires_at__isnull=True).update(expires_at=now + grace)
        EndpointSecret.build(locked, plaintext).save()
        _record(locked, actor, "secret_rotated", {"grace_seconds": int(grace.total_seconds())})
    return Revealed(locked, plaintext)


def accept_capture(
    *,
    endpoint: Endpoint,
    declared: Mapping[str, str],
    keep_capturing: bool = False,
    actor: Actor = None,
) -> Endpoint:
    """Set the endpoint's declared fields (validated declarations) and leave capture mode."""
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _facts(locked)
        locked.declared_fields = dict(declared)
        locked.capture_mode = keep_capturing
        locked.save(update_fields=["declared_fields", "capture_mode", "updated_at"])
        _record(locked, actor, "fields_declared", field_changes(before, _facts(locked)))
    return locked


def set_capture_mode(*, endpoint: Endpoint, enabled: bool, actor: Actor = None) -> Endpoint:
    """Switch capture mode on (the next body is kept as a sample) or off."""
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        was = locked.capture_mode
        locked.capture_mode = enabled
        locked.save(update_fields=["capture_mode", "updated_at"])
        if was != enabled:
            _record(locked, actor, "capture_on" if enabled else "capture_off", {})
    return locked


def update_endpoint(
    *, endpoint: Endpoint, changes: Mapping[str, Any], actor: Actor = None
) -> Endpoint:
    """Apply validated field changes (never the token or a secret) and audit what moved.

    The entry's action is ``re_enabled`` or ``disabled`` when the endpoint is switched on or
    off, ``fields_declared`` when only its declared fields change, else ``updated``.
    """
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _facts(locked)
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save()
        moved = field_changes(before, _facts(locked))
        if moved:
            action = "updated"
            if set(moved) == {"is_enabled"}:
                action = "re_enabled" if locked.is_enabled else "disabled"
            elif set(moved) == {"declared_fields"}:
                action = "fields_declared"
            _record(locked, actor, action, moved)
    return locked


def delete_endpoint(*, endpoint: Endpoint, actor: Actor = None) -> None:
    """Delete an endpoint with its secrets; the audit log keeps a trace."""
    with transaction.atomic():
        _record(endpoint, actor, "deleted", {"preset": endpoint.preset})
        endpoint.delete()
