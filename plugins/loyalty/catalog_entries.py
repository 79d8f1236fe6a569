"""The loyalty plug-in's catalog entries: one trigger, one action, typed like the built-ins.

This module is the whole SDK surface: export ``TRIGGERS`` and ``ACTIONS`` lists of specs from a
``catalog_entries`` module of any installed Django app, and Typewire registers them at start-up,
type-checks rules that use them, and lists them in the UI and the API.
"""

from __future__ import annotations

from catalog.specs import ActionSpec, Category, PlanTier, TriggerSpec
from catalog.types import integer, optional, ref, required, string

POINTS_EARNED = TriggerSpec(
    key="loyalty_points_earned",
    category=Category.CUSTOMER,
    label="Loyalty points earned",
    description=(
        "Fires when a customer earns loyalty points, from a purchase, a review or a referral. "
        "Use it to thank customers as they climb tiers, or to tag those who pass a balance."
    ),
    payload={
        "customer_id": required(ref("customer"), "Customer"),
        "points": required(integer(minimum=1), "Points earned"),
        "balance": required(integer(minimum=0), "New balance"),
        "reason": required(string(), "Reason"),
    },
    example={"customer_id": 42, "points": 120, "balance": 860, "reason": "order"},
    plan=PlanTier.ENTERPRISE,
    source="Loyalty plug-in",
)

AWARD_POINTS = ActionSpec(
    key="award_loyalty_points",
    category=Category.CUSTOMER,
    label="Award loyalty points",
    description=(
        "Adds points to a customer's loyalty balance, with a reason shown on their statement. "
        "The balance change fires 'Loyalty points earned'."
    ),
    inputs={
        "customer_id": required(ref("customer"), "Customer"),
        "points": required(integer(minimum=1), "Points"),
        "reason": optional(string(), "Reason"),
    },
    runner="plugins.loyalty.runners.award_points",
    example_inputs={"customer_id": 42, "points": 50, "reason": "birthday"},
    emits=("loyalty_points_earned",),
    plan=PlanTier.ENTERPRISE,
)

TRIGGERS = [POINTS_EARNED]
ACTIONS = [AWARD_POINTS]
