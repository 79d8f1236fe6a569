"""Rules and their versions: what a marketer saved, and every earlier shape of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Workspace


class Rule(models.Model):
    """A saved rule: a trigger, conditions and steps that passed the checker.

    ``definition`` holds the current definition JSON (see ``automations.draft``), which always
    passed ``check_rule`` when it was saved; ``trigger_key`` is copied out of it so dispatch finds
    the enabled rules of a trigger with one indexed query.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_enabled = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="rules"
    )
    trigger_key = models.CharField(max_length=100)
    definition = models.JSONField()
    sentence = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    # Why the rule was switched off by Typewire rather than by a person (a vocabulary change).
    disabled_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """Dispatch reads the enabled rules of one trigger in one workspace."""

        ordering = ["name", "id"]
        indexes = [
            models.Index(
                fields=["workspace", "trigger_key"],
                condition=Q(is_enabled=True),
                name="rule_enabled_trigger_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RuleVersion(models.Model):
    """One saved shape of a rule: who saved it, when, and the full definition."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    definition = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Versions are numbered 1, 2, 3... per rule."""

        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.number}"
