"""Membership services: invite, add, change a role, remove; one transaction and audit entry each.

The member pages, the members API and the Django admin all change memberships through these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.audit import record_change
from accounts.models import AuditObject, Membership, Role, Workspace

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from accounts.audit import Actor


class MembershipError(Exception):
    """The change is not allowed (already a member, the last admin leaving...); says why."""


def _record(membership: Membership, actor: Actor, action: str, changes: dict[str, Any]) -> None:
    record_change(
        workspace=membership.workspace_id,
        actor=actor,
        action=action,
        object_type=AuditObject.MEMBER,
        object_id=membership.pk,
        object_label=membership.user.get_username(),
        changes=changes,
    )


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise MembershipError(f"'{role}' is not a role; choose one of {', '.join(Role.values)}.")


def add_member(
    *,
    workspace: Workspace,
    user: AbstractBaseUser,
    role: str,
    actor: Actor,
    action: str = "added",
) -> Membership:
    """Make an existing user a member with ``role``; MembershipError if they already are."""
    _check_role(role)
    with transaction.atomic():
        if Membership.objects.filter(workspace=workspace, user_id=user.pk).exists():
            raise MembershipError(f"{user.get_username()} is already a member.")
        membership = Membership.objects.create(workspace=workspace, user_id=user.pk, role=role)
        _record(membership, actor, action, {"role": role})
    return membership


def invite_member(
    *, workspace: Workspace, username: str, email: str, role: str, actor: Actor
) -> Membership:
    """Add ``username`` as a member, creating the account (no password yet) when it is new."""
    _check_role(role)
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(username=username, email=email)
            user.set_unusable_password()
            user.save()
        return add_member(workspace=workspace, user=user, role=role, actor=actor, action="invited")


def change_role(*, membership: Membership, role: str, actor: Actor) -> Membership:
    """Give a member another role; the last admin of a workspace keeps theirs."""
    _check_role(role)
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        before = locked.role
        if before == role:
            return locked
        _keep_an_admin(locked)
        locked.role = role
        locked.save(update_fields=["role"])
        _record(locked, actor, "role_changed", {"role": {"before": before, "after": role}})
    return locked


def remove_member(*, membership: Membership, actor: Actor) -> None:
    """Remove a member from the workspace; the last admin cannot be removed."""
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        _keep_an_admin(locked)
        _record(locked, actor, "removed", {"role": locked.role})
        locked.delete()


def _keep_an_admin(membership: Membership) -> None:
    if membership.role != Role.ADMIN:
        return
    admins = Membership.objects.select_for_update().filter(
        workspace_id=membership.workspace_id, role=Role.ADMIN
    )
    # FOR UPDATE does not mix with COUNT(): lock the rows, then count them.
    if len(admins.values_list("pk", flat=True)) <= 1:
        raise MembershipError("A workspace keeps at least one admin.")
