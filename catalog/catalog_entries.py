"""The built-in catalog's entries, registered by ``CatalogConfig.ready()`` like any app's."""

from __future__ import annotations

from catalog.builtin.actions import ai, catalog, customer, external, marketing, workflow
from catalog.builtin.triggers import customer as customer_triggers
from catalog.builtin.triggers import external as external_triggers
from catalog.builtin.triggers import marketing as marketing_triggers
from catalog.builtin.triggers import monitoring, order, product, time
from catalog.specs import ActionSpec, TriggerSpec

TRIGGERS: list[TriggerSpec] = [
    *customer_triggers.TRIGGERS,
    *order.TRIGGERS,
    *product.TRIGGERS,
    *marketing_triggers.TRIGGERS,
    *external_triggers.TRIGGERS,
    *time.TRIGGERS,
    *monitoring.TRIGGERS,
]
"""Every built-in trigger (SPEC 4)."""

ACTIONS: list[ActionSpec] = [
    *customer.ACTIONS,
    *marketing.ACTIONS,
    *catalog.ACTIONS,
    *external.ACTIONS,
    *ai.ACTIONS,
    *workflow.ACTIONS,
]
"""Every built-in action (SPEC 5)."""
