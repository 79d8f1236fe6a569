"""Capture mode: infer an endpoint's declared fields from one sample body (pure).

Types are read from the JSON values: booleans, integers, decimals (JSON fractions and decimal
strings such as Shopify's ``"19.99"``), datetimes (ISO 8601 with an offset), emails, URLs,
lists (of the first item's type) and nested objects (dotted names, up to ``MAX_DEPTH``). A
``null`` gives an optional string. Keys that cannot be a rule path (``first-name``) are left
out. The admin reviews and edits the result before accepting it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from catalog.types import FieldSpec
from webhooks.fields import parse_declared

__all__ = ["MAX_DEPTH", "infer_declaration", "infer_fields", "infer_type"]

MAX_DEPTH = 4
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_URL_RE = re.compile(r"^https?://[^\s/]+\S*$")
_DECIMAL_RE = re.compile(r"^-?\d+\.\d+$")
_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def infer_type(value: Any) -> str:
    """Return the declaration type name of one JSON value (``object`` for any object)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    if isinstance(value, str):
        text = value.strip()
        if _DATETIME_RE.match(text):
            return "datetime"
        if _DATE_RE.match(text):
            return "date"
        if _EMAIL_RE.match(text):
            return "email"
        if _URL_RE.match(text):
            return "url"
        if _DECIMAL_RE.match(text):
            return "decimal"
        return "string"
    if isinstance(value, list):
        items = [item for item in value if item is not None]
        if not items:
            return "list(string)"
        kinds = {infer_type(item) for item in items}
        return f"list({kinds.pop()})" if len(kinds) == 1 else "list(string)"
    if isinstance(value, Mapping):
        return "object"
    return "string"


def infer_declaration(
    sample: Mapping[str, Any], prefix: str = "", depth: int = 1
) -> dict[str, str]:
    """Return a declaration mapping (``{"customer.email": "email"}``) inferred from ``sample``."""
    declared: dict[str, str] = {}
    for key, value in sample.items():
        if not isinstance(key, str) or not _NAME_RE.match(key):
            continue
        name = f"{prefix}{key}"
        if value is None:
            declared[name] = "string?"
        elif isinstance(value, Mapping) and value and depth < MAX_DEPTH:
            nested = infer_declaration(value, f"{name}.", depth + 1)
            declared.update(nested or {name: "object"})
        elif isinstance(value, list) and any(isinstance(item, list) for item in value):
            continue  # lists of lists cannot be declared; leave the field undeclared
        else:
            declared[name] = infer_type(value)
    return declared


def infer_fields(sample: Mapping[str, Any]) -> dict[str, FieldSpec]:
    """Return the FieldSpecs inferred from ``sample`` (``parse_declared`` of the declaration)."""
    return parse_declared(infer_declaration(sample))
