"""Re-declares the built-in ``tag`` action."""

from __future__ import annotations

from dataclasses import replace

from catalog.builtin.actions.customer import ACTIONS as CUSTOMER_ACTIONS

TRIGGERS: list[object] = []
ACTIONS = [replace(next(a for a in CUSTOMER_ACTIONS if a.key == "tag"), label="Tag (copy)")]
