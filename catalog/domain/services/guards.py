"""What every domain service checks first: row locks, workspace boundaries, domain errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from django.db import models

from catalog.domain.money import is_currency_code


class DomainError(Exception):
    """A service was asked for something the domain forbids (the message says what)."""


class InvalidTransitionError(DomainError):
    """The entity's current state does not allow the change (paying a cancelled order)."""


class WorkspaceMismatchError(DomainError):
    """The objects handed to a service belong to different workspaces."""


class _InWorkspace(Protocol):
    workspace_id: int


def require_same_workspace(*objects: _InWorkspace) -> None:
    """Raise ``WorkspaceMismatchError`` unless all objects belong to one workspace."""
    workspace_ids = {obj.workspace_id for obj in objects}
    if len(workspace_ids) > 1:
        names = ", ".join(f"{type(obj).__name__}" for obj in objects)
        raise WorkspaceMismatchError(f"{names} belong to different workspaces")


def lock[M: models.Model](model: type[M], pk: object) -> M:
    """Return a fresh copy of the row, locked ``FOR UPDATE`` until the transaction ends.

    Services change the locked copy, so concurrent changes to one entity serialise and each
    sees the state the previous one committed.
    """
    return model._default_manager.select_for_update().get(pk=pk)


def relock[M: models.Model](obj: M) -> M:
    """``lock`` the row of ``obj``, keeping the related objects ``obj`` already holds.

    The locked copy is fresh from the database; a foreign key ``obj`` had loaded (a customer's
    workspace, say) is handed over while it still points at the same row, so reading it from
    the copy costs no query.

    The lock also checks the workspace when ``obj`` names one: a reference built from an id
    and a workspace (``Customer(pk=..., workspace=...)``, no query) is locked only if the row
    is in that workspace, else the model's ``DoesNotExist`` is raised.
    """
    workspace_id = getattr(obj, "workspace_id", None)
    if workspace_id is None:
        locked = lock(type(obj), obj.pk)
    else:
        manager = type(obj)._default_manager
        locked = manager.select_for_update().get(pk=obj.pk, workspace_id=workspace_id)
    for field in obj._meta.concrete_fields:
        if not field.is_relation or not field.is_cached(obj):  # type: ignore[attr-defined]
            continue
        if getattr(locked, field.attname) == getattr(obj, field.attname):
            field.set_cached_value(locked, field.get_cached_value(obj))  # type: ignore[attr-defined]
    return locked


def require_currency(currency: str) -> None:
    """Raise ``DomainError`` unless ``currency`` is an ISO 4217 code."""
    if not is_currency_code(currency):
        raise DomainError(f"{currency!r} is not an ISO 4217 currency code such as 'EUR'")


def require_amount(amount: Decimal, *, what: str, positive: bool = False) -> None:
    """Raise ``DomainError`` if ``amount`` is negative (or zero, when ``positive``)."""
    if amount < 0 or (positive and amount == 0):
        raise DomainError(f"{what} must be {'above' if positive else 'at least'} 0, not {amount}")
