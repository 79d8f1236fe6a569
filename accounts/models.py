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
