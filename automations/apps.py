"""Django app configuration for automations."""

from __future__ import annotations

from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    """The automations app."""

    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Let ``record_event`` skip publishing internal events no enabled rule listens to."""
        from automations.engine.dispatch import has_listeners, listeners_sql
        from catalog.events import ListenerCheck, set_listener_check

        set_listener_check(ListenerCheck(ask=has_listeners, sql=listeners_sql()))
