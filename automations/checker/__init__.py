"""Save-time checks of a rule draft (SPEC 6): pure functions over plain data, no database.

``check_rule(draft, context)`` returns every :class:`Problem` of a draft, in document order.
"""

from __future__ import annotations

from automations.checker.context import CheckContext, EndpointInfo
from automations.checker.paths import PathNotFound, PathScope
from automations.checker.problems import Problem, ProblemCode
from automations.checker.typecheck import check_rule

__all__ = [
    "CheckContext",
    "EndpointInfo",
    "PathNotFound",
    "PathScope",
    "Problem",
    "ProblemCode",
    "check_rule",
]
