"""Django app configuration for the loyalty example plug-in."""

from __future__ import annotations

from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    """Nothing to do at start-up: the catalog app discovers ``catalog_entries`` by itself."""

    name = "plugins.loyalty"
    label = "loyalty"
