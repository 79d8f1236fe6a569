"""Django app configuration for webhooks."""

from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """The webhooks app."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"
