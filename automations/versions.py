"""What changed between two versions of a rule, as a list of readable changes (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_ABSENT = object()


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: the path in the definition, the value before and the value after."""

    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.before is _ABSENT:
            return "added"
        if self.after is _ABSENT:
            return "removed"
        return "changed"

    def as_dict(self) -> dict[str, Any]:
        """Return the change as JSON (absent sides are null)."""
        return {
            "path": self.path,
            "kind": self.kind,
            "before": None if self.before is _ABSENT else self.before,
            "after": None if self.after is _ABSENT else self.after,
        }


def diff_definitions(before: Any, after: Any, path: str = "") -> list[Change]:
    """Return every leaf difference between two definition JSON values, in document order."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[Change] = []
        for key in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{key}" if path else str(key)
            changes += diff_definitions(before.get(key, _ABSENT), after.get(key, _ABSENT), sub)
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            b = before[index] if index < len(before) else _ABSENT
            a = after[index] if index < len(after) else _ABSENT
            changes += diff_definitions(b, a, f"{path}[{index}]")
        return changes
    if before == after:
        return []
    return [Change(path, before, after)]
