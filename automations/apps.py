"""Django app configuration for automations."""

from __future__ import annotations

from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    """The automations app."""

    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"
