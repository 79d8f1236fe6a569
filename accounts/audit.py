"""The audit log's one writer: services call :func:`record_change` inside their transaction.

Rules, endpoints and memberships change only through their services, and each service records
one entry per change here, so the UI, the API and the Django admin leave the same trail.
Values that could be secrets are dropped before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from accounts.models import AuditEntry, AuditObject, Workspace

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    type Actor = AbstractBaseUser | AnonymousUser | None

SECRET_WORDS = ("secret", "token", "password", "signing_key", "api_key")
"""Keys whose values never reach the log (matched case-insensitively, anywhere in the key)."""


def is_secret_key(key: str) -> bool:
    """Return whether a key names something that may hold a secret."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact(value: Any) -> Any:
    """Return ``value`` with every secret-looking key left out, at any depth."""
    if isinstance(value, Mapping):
        return {str(k): redact(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _actor(actor: Actor) -> tuple[Any, str]:
    if actor is None or not getattr(actor, "pk", None):
        return None, ""
    return actor, str(actor.get_username())


def record_change(
    *,
    workspace: Workspace | int,
    actor: Actor,
    action: str,
    object_type: AuditObject,
    object_id: object,
    object_label: str = "",
    changes: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Store one audit entry (call it in the transaction of the change it describes)."""
    user, name = _actor(actor)
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    return AuditEntry.objects.create(
        workspace_id=workspace_id,
        actor=user,
        actor_name=name,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_label=object_label[:200],
        changes=redact(dict(changes or {})),
    )


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``{field: {"before": ..., "after": ...}}`` for the fields whose value differs."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in dict.fromkeys([*before, *after])
        if before.get(key) != after.get(key)
    }


def filter_audit(
    entries: QuerySet[AuditEntry], *, object_type: str = "", actor: str = "", object_id: str = ""
) -> QuerySet[AuditEntry]:
    """Return ``entries`` narrowed by object type, actor username and object id (empty: all).

    The actor ``typewire`` selects the changes Typewire made itself (no user).
    """
    if object_type:
        entries = entries.filter(object_type=object_type)
    if actor:
        entries = entries.filter(actor_name="" if actor == "typewire" else actor)
    if object_id:
        entries = entries.filter(object_id=object_id)
    return entries
