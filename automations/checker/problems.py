"""What the checker reports: a code, a path into the draft, and a plain-English message."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProblemCode(StrEnum):
    """Every kind of save-time problem; the API returns the value as ``code``."""

    STRUCTURE = "structure"
    UNKNOWN_TRIGGER = "unknown_trigger"
    UNKNOWN_ACTION = "unknown_action"
    TRIGGER_CONFIG = "trigger_config"
    UNKNOWN_ENDPOINT = "unknown_endpoint"
    MISSING_INPUT = "missing_input"
    UNKNOWN_INPUT = "unknown_input"
    CONFLICTING_INPUTS = "conflicting_inputs"
    TYPE_MISMATCH = "type_mismatch"
    UNKNOWN_FIELD = "unknown_field"
    OPERATOR_NOT_ALLOWED = "operator_not_allowed"
    VALUE_TYPE_MISMATCH = "value_type_mismatch"
    MISSING_VALUE = "missing_value"
    UNEXPECTED_VALUE = "unexpected_value"
    OPTIONAL_UNGUARDED = "optional_unguarded"
    TEMPLATE_SYNTAX = "template_syntax"
    PLAN_REQUIRED = "plan_required"
    CYCLE = "cycle"
    UNKNOWN_RULE = "unknown_rule"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a rule draft.

    ``path`` points into the definition JSON (``conditions[0].children[2].value``,
    ``steps[1].inputs.text``, ``trigger.config.cron``); ``message`` is a plain-English sentence
    for a marketer; ``hint`` says how to fix it, when there is something to say.
    """

    code: ProblemCode
    path: str
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the JSON form the API answers with: ``{code, path, message, hint}``."""
        return {
            "code": self.code.value,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }
