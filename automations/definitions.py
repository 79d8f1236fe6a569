"""Small builders for rule definition JSON (see ``automations.draft``), for code that writes rules.

The demo data and the tests build rules with these instead of spelling the JSON out each time.
"""

from __future__ import annotations

from typing import Any


def literal(value: Any) -> dict[str, Any]:
    """Return a binding to a fixed value."""
    return {"literal": value}


def ref(path: str) -> dict[str, Any]:
    """Return a binding to a typed field (``order.customer.email``)."""
    return {"ref": path}


def template(text: str) -> dict[str, Any]:
    """Return a binding to a text with ``{{ path }}`` placeholders."""
    return {"template": text}


def condition(field: str, operator: str, *value: Any) -> dict[str, Any]:
    """Return a condition leaf; the value is left out for operators that take none."""
    node: dict[str, Any] = {"field": field, "operator": operator}
    if value:
        node["value"] = value[0]
    return node


def step(step_id: str, action: str, **inputs: dict[str, Any]) -> dict[str, Any]:
    """Return an action step with its input bindings."""
    return {"id": step_id, "action": action, "inputs": inputs}
