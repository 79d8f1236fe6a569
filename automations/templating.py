"""Text templates with ``{{ path }}`` placeholders: parsing and human-readable rendering (pure).

A template is plain text with placeholders such as ``Order {{ order_id }} by
{{ order.customer.email }}`` or ``{{ steps.copy.text }}``. A placeholder holds exactly one
*path*: dotted names (letters, digits, underscores; starting with a letter) each optionally
followed by list indexes (``line_items[0].sku``). Whitespace is allowed just inside the braces.

There is deliberately no expression language: no filters, no arithmetic, no calls, no
attribute access, no tags. ``{{ ''.__class__ }}`` and ``{{ 7*7 }}`` are syntax errors, and
``{% ... %}``, a lone ``{`` or a stray ``}}`` are ordinary text. Rendering looks values up
through an injected ``resolve(path)`` that returns JSON data, and substitutes each value exactly
once, so a value containing ``{{ ... }}`` is printed, never evaluated. Nothing in a template
can execute code.

Values are formatted for people (see :func:`format_value`): money as ``120.00 EUR``, missing
or null as the empty string, lists joined by ``", "``, objects as compact JSON, booleans as
``yes``/``no``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

__all__ = [
    "MISSING",
    "MAX_TEMPLATE_LENGTH",
    "Missing",
    "Placeholder",
    "Template",
    "TemplateSyntaxError",
    "format_value",
    "is_valid_path",
    "parse",
    "parse_path",
]

MAX_TEMPLATE_LENGTH: Final = 100_000
"""Longest template accepted, in characters (a guard, far above any real message)."""

_MAX_PATH_LENGTH: Final = 500

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_SEGMENT = rf"{_NAME}(?:\[\d{{1,9}}\])*"
_PATH_RE: Final = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")
_INDEX_RE: Final = re.compile(r"\[(\d+)\]")


class Missing(enum.Enum):
    """Type of :data:`MISSING`; an enum so that ``value is MISSING`` narrows for mypy."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = Missing.MISSING
"""Returned by a resolver when a path leads nowhere (absent field, index out of range)."""


class TemplateSyntaxError(ValueError):
    """A template cannot be parsed; ``position`` is the 0-based offset of the offending ``{{``.

    The message is plain English and counts characters from 1, as people do:
    ``Unclosed {{ at character 12: close it with }}.``
    """

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(message)

    def __reduce__(self) -> tuple[type[TemplateSyntaxError], tuple[str, int]]:
        return (TemplateSyntaxError, (self.message, self.position))


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``{{ path }}`` of a template; ``position`` is the 0-based offset of its ``{{``."""

    path: str
    position: int


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and placeholders, in order. Immutable and reusable."""

    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The paths of every placeholder, in order of appearance (repeats included)."""
        return tuple(part.path for part in self.parts if isinstance(part, Placeholder))

    @property
    def fields(self) -> tuple[Placeholder, ...]:
        """Every placeholder with its position, in order of appearance."""
        return tuple(part for part in self.parts if isinstance(part, Placeholder))

    def render(self, resolve: Callable[[str], Any]) -> str:
        """Return the text with each placeholder replaced by ``format_value(resolve(path))``.

        ``resolve`` returns the JSON value at a path or :data:`MISSING`; whatever it raises
        propagates. Substitution is single-pass: rendered values are never parsed again.
        """
        out: list[str] = []
        for part in self.parts:
            out.append(format_value(resolve(part.path)) if isinstance(part, Placeholder) else part)
        return "".join(out)


def is_valid_path(path: str) -> bool:
    """Return whether ``path`` is a well-formed field path (``order.customer.email``)."""
    return len(path) <= _MAX_PATH_LENGTH and _PATH_RE.fullmatch(path) is not None


@lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[str | int, ...]:
    """Split a path into names and list indexes: ``a.b[2].c`` → ``("a", "b", 2, "c")``.

    Raises ValueError when the path is not well formed. Cached: the same few paths of the
    rules' conditions and bindings are resolved for every event they see.
    """
    if not is_valid_path(path):
        raise ValueError(f"{path!r} is not a field path")
    segments: list[str | int] = []
    for segment in path.split("."):
        bracket = segment.find("[")
        if bracket < 0:
            segments.append(segment)
            continue
        segments.append(segment[:bracket])
        segments.extend(int(index) for index in _INDEX_RE.findall(segment[bracket:]))
    return tuple(segments)


def _bad_placeholder(content: str, position: int) -> TemplateSyntaxError:
    where = f"at character {position + 1}"
    stripped = content.strip()
    if not stripped:
        return TemplateSyntaxError(
            f"Empty placeholder {where}: put a field name between {{{{ and }}}}, "
            "like {{ customer.first_name }}.",
            position,
        )
    shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
    if "|" in stripped:
        reason = "placeholders take a field name only, without filters"
    elif any(word.startswith("_") for word in re.split(r"[.\[\]\s]+", stripped) if word):
        reason = "field names start with a letter"
    elif re.search(rf"^{_SEGMENT}(?:\.{_SEGMENT})*\s", stripped):
        reason = "a placeholder holds one field name, without spaces inside it"
    else:
        reason = "a placeholder holds a field name like order.total or line_items[0].sku"
    return TemplateSyntaxError(f"{{{{ {shown} }}}} {where} is not a field: {reason}.", position)


@lru_cache(maxsize=2048)
def parse(template: str) -> Template:
    """Return the parsed template; raise TemplateSyntaxError for any malformed placeholder.

    Raises TemplateSyntaxError (a ValueError) and nothing else, for any string. Results are
    cached: templates are immutable.
    """
    if not isinstance(template, str):
        raise TemplateSyntaxError("A template is text.", 0)
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise TemplateSyntaxError(
            f"The text is too long: at most {MAX_TEMPLATE_LENGTH} characters.",
            MAX_TEMPLATE_LENGTH,
        )
    parts: list[str | Placeholder] = []
    cursor = 0
    while True:
        start = template.find("{{", cursor)
        if start < 0:
            break
        end = template.find("}}", start + 2)
        nested = template.find("{{", start + 2)
        if end < 0 or 0 <= nested < end:
            # An inner "{{" before the closing braces means this one was never closed.
            raise TemplateSyntaxError(
                f"Unclosed {{{{ at character {start + 1}: close it with }}}}.", start
            )
        content = template[start + 2 : end]
        path = content.strip()
        if not is_valid_path(path):
            raise _bad_placeholder(content, start)
        if start > cursor:
            parts.append(template[cursor:start])
        parts.append(Placeholder(path, start))
        cursor = end + 2
    if cursor < len(template):
        parts.append(template[cursor:])
    return Template(template, tuple(parts))


def _is_money(value: Mapping[str, Any]) -> bool:
    return (
        set(value) == {"amount", "currency"}
        and isinstance(value["currency"], str)
        and isinstance(value["amount"], str | int | float | Decimal)
        and not isinstance(value["amount"], bool)
    )


def format_value(value: Any) -> str:
    """Return ``value`` as text for people.

    - :data:`MISSING` and ``None``: the empty string (a template never prints "None");
    - booleans: ``yes`` / ``no`` (templates are read by people; use a ref for machine JSON);
    - money ``{"amount": "120.00", "currency": "EUR"}`` (or a Money): ``120.00 EUR``;
    - numbers and Decimals: their plain form, without exponent;
    - lists: items formatted the same way, joined by ``", "``;
    - other objects: compact JSON (``{"a":1}``);
    - strings: unchanged. Anything else: ``str(value)``.
    """
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, Mapping):
        if _is_money(value):
            return f"{format_value(value['amount'])} {value['currency']}"
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            return str(dict(value))
    return str(value)
