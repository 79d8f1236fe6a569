"""Django app configuration for catalog: fills the catalog registry at start-up."""

from __future__ import annotations

import importlib

from django.apps import AppConfig, apps
from django.utils.module_loading import autodiscover_modules, module_has_submodule


class CatalogConfig(AppConfig):
    """The catalog app; ``ready()`` registers every app's ``catalog_entries`` module."""

    name = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Import ``<app>.catalog_entries`` for every installed app and register its entries.

        Idempotent (the registry ignores the same declaration from the same module), while a
        key declared by two modules raises ImproperlyConfigured naming both.
        """
        from django.db.backends.signals import connection_created

        from catalog.registry import registry
        from catalog.sql import read_timestamps_in_c

        # Timestamps parsed in C on every PostgreSQL connection (catalog.sql).
        connection_created.connect(read_timestamps_in_c, dispatch_uid="typewire-timestamps")

        # Same mechanism as admin.py discovery; it also re-raises import errors of a module.
        autodiscover_modules("catalog_entries")
        for app_config in apps.get_app_configs():
            if app_config.module is not None and module_has_submodule(
                app_config.module, "catalog_entries"
            ):
                registry.register_module(
                    importlib.import_module(f"{app_config.name}.catalog_entries")
                )
        registry.check()
