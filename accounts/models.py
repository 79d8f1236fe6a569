"""Workspaces and memberships: every rule, endpoint, entity and log belongs to one workspace."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Plan(models.TextChoices):
    """Plan tiers, cheapest first; each includes everything of the ones before it (SPEC 6)."""

    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    PRO = "pro", "Pro"
    AGENCY = "agency", "Agency"
    ENTERPRISE = "enterprise", "Enterprise"

    @classmethod
    def rank(cls, plan: str) -> int:
        """Return the plan's position in the tier order (Free is 0)."""
        return list(cls.values).index(plan)

    @classmethod
    def includes(cls, plan: str, required: str) -> bool:
        """Return whether ``plan`` includes what ``required`` unlocks."""
        return cls.rank(plan) >= cls.rank(required)


class Role(models.TextChoices):
    """What a member may do in a workspace (SPEC 9)."""

    MARKETER = "marketer", "Marketer"
    ADMIN = "admin", "Admin"
    AUDITOR = "auditor", "Auditor"


class Workspace(models.Model):
    """A merchant's tenant. Objects of one workspace are invisible to members of another."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(plan__in=Plan.values), name="workspace_plan_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one workspace."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} as {self.role}"


class AuditObject(models.TextChoices):
    """The kinds of things whose changes the audit log records."""

    RULE = "rule", "Rule"
    ENDPOINT = "endpoint", "Endpoint"
    MEMBER = "member", "Member"


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """Audit entries are history: a queryset refuses bulk updates."""

    def update(self, **kwargs: object) -> int:
        """Refuse: audit entries are never changed."""
        raise TypeError("Audit entries are append-only.")


class AuditEntry(models.Model):
    """One change to a rule, an endpoint or a membership: who, what, when, and what changed.

    Written by the services (``accounts.audit.record_change``) in the transaction of the change,
    so the UI, the API and the Django admin all leave the same trail. Append-only: an entry is
    never edited; ``changes`` never holds a secret. ``actor`` is None for changes Typewire made
    itself (a breaker pause, a rule switched off after a vocabulary change); ``actor_name`` keeps
    the username after the user is gone.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=20, choices=AuditObject.choices)
    object_id = models.CharField(max_length=64)
    object_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        """Newest first; the log page filters a workspace's entries by type and actor."""

        ordering = ["-created_at", "-id"]
        indexes = [
            # The Activity page and the API list one workspace's entries, newest first.
            models.Index(fields=["workspace", "-created_at"], name="audit_workspace_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(object_type__in=AuditObject.values), name="audit_object_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name or 'Typewire'} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        """Insert the entry; an entry already stored is never saved again."""
        if not self._state.adding:
            raise TypeError("Audit entries are append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]
