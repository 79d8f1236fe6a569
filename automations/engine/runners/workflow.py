"""Workflow steps (branch_by_condition, wait, run_rule) are steered by the engine itself.

``automations.engine.run`` evaluates branches, stores waits as due times and runs chained rules
as child executions; these runners only exist because every catalog action names one. Calling
one directly is a programming error.
"""

from __future__ import annotations

from typing import Any

from automations.engine.contract import PermanentError, StepContext


def _engine_only(ctx: StepContext) -> dict[str, Any]:
    raise PermanentError(
        f"step {ctx.step_path} is a workflow step: the engine runs it, not a runner"
    )


def run_rule(ctx: StepContext) -> dict[str, Any]:
    """Engine-only (a child execution, see ``automations.engine.run``); raises PermanentError."""
    return _engine_only(ctx)


def wait(ctx: StepContext) -> dict[str, Any]:
    """Engine-only (a due time resumed by the sweeper); raises PermanentError."""
    return _engine_only(ctx)


def branch_by_condition(ctx: StepContext) -> dict[str, Any]:
    """Engine-only (the engine follows the arm the condition picks); raises PermanentError."""
    return _engine_only(ctx)
