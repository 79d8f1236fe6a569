"""Endpoint services: create an endpoint with its first secret, rotate secrets, accept a capture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from webhooks.models import Endpoint, EndpointSecret
from webhooks.presets import get_preset

DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Revealed:
    """An endpoint and its new secret in plaintext: shown once, then only stored encrypted."""

    endpoint: Endpoint
    secret: str


def create_endpoint(
    *, workspace: Workspace, secret: str | None = None, **attributes: Any
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
    return Revealed(endpoint, plaintext)


def rotate_secret(
    *, endpoint: Endpoint, grace: timedelta = DEFAULT_GRACE, secret: str | None = None
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
    return Revealed(locked, plaintext)


def accept_capture(
    *, endpoint: Endpoint, declared: Mapping[str, str], keep_capturing: bool = False
) -> Endpoint:
    """Set the endpoint's declared fields (validated declarations) and leave capture mode."""
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.declared_fields = dict(declared)
        locked.capture_mode = keep_capturing
        locked.save(update_fields=["declared_fields", "capture_mode", "updated_at"])
    return locked


def set_capture_mode(*, endpoint: Endpoint, enabled: bool) -> Endpoint:
    """Switch capture mode on (the next body is kept as a sample) or off."""
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.capture_mode = enabled
        locked.save(update_fields=["capture_mode", "updated_at"])
    return locked
