"""Built-in workflow steps: chain another rule, wait, branch on a condition.

The engine handles these itself; their nested steps (``then``/``else``) live on the rule model.
"""

from __future__ import annotations

from catalog.specs import ActionKind, ActionSpec, Category, PlanTier
from catalog.types import datetime, duration, fields, integer, object_of, optional, required

_RUNNERS = "automations.engine.runners.workflow"

RUN_RULE = ActionSpec(
    key="run_rule",
    category=Category.WORKFLOW,
    label="Run another rule",
    description=(
        "Starts another of your rules with the data you pass it, as if its trigger had fired. "
        "Use it to reuse a common sequence, such as a standard welcome, from several rules."
    ),
    inputs=fields(
        rule_id=required(integer(minimum=1), "Rule"),
        payload=required(object_of(is_open=True), "Data", "The payload the other rule gets."),
    ),
    runner=f"{_RUNNERS}.run_rule",
    example_inputs={"rule_id": 17, "payload": {"customer_id": 101}},
    plan=PlanTier.PRO,
    kind=ActionKind.WORKFLOW,
)

WAIT = ActionSpec(
    key="wait",
    category=Category.WORKFLOW,
    label="Wait",
    description=(
        "Pauses the rule for a while, such as 3 days, or until a date and time, then carries on "
        "with the next step. Waiting survives restarts of Typewire."
    ),
    inputs=fields(
        duration=optional(duration(), "For", "How long to wait; give this or a moment."),
        until=optional(datetime(), "Until", "The moment to carry on."),
    ),
    runner=f"{_RUNNERS}.wait",
    example_inputs={"duration": "P3D"},
    has_side_effects=False,
    kind=ActionKind.WORKFLOW,
    exactly_one_of=(("duration", "until"),),
)

BRANCH_BY_CONDITION = ActionSpec(
    key="branch_by_condition",
    category=Category.WORKFLOW,
    label="Branch",
    description=(
        "Checks a condition and runs one set of steps when it holds and another when it does "
        "not, for example post to #sales only when the sign-up uses a company email address."
    ),
    inputs=fields(
        condition=required(object_of(is_open=True), "Condition", "A condition group."),
    ),
    runner=f"{_RUNNERS}.branch_by_condition",
    example_inputs={
        "condition": {
            "all": [{"field": "email", "operator": "contains", "value": "@acme-corp.com"}],
        },
    },
    has_side_effects=False,
    kind=ActionKind.WORKFLOW,
)

ACTIONS: list[ActionSpec] = [RUN_RULE, WAIT, BRANCH_BY_CONDITION]
"""Workflow steps, in catalog order."""
