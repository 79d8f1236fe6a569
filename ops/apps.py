"""Django app configuration for ops."""

from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health, readiness, heartbeats and the demo loader."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"
