"""Provider presets, one module each (Zulip's shape): look one up with ``get_preset``."""

from __future__ import annotations

from webhooks.presets import generic, github, shopify, standard, stripe, zapier
from webhooks.presets.base import Delivery, ProviderPreset, Version

__all__ = ["PRESETS", "Delivery", "ProviderPreset", "Version", "get_preset"]

PRESETS: dict[str, ProviderPreset] = {
    preset.key: preset
    for preset in (
        stripe.PRESET,
        shopify.PRESET,
        github.PRESET,
        zapier.PRESET,
        standard.PRESET,
        generic.PRESET,
    )
}


def get_preset(key: str) -> ProviderPreset:
    """Return the preset named ``key``; raise KeyError for an unknown one."""
    return PRESETS[key]
