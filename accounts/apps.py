"""Django app configuration for accounts."""

from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Workspaces, memberships and roles."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
