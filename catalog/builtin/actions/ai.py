"""Built-in AI actions (Pro plan): copy, segments, churn scores, recommendations.

They call the OpenAI-compatible endpoint set in settings and change nothing themselves: their
typed outputs feed later steps.
"""

from __future__ import annotations

from catalog.builtin.vocabulary import CUSTOMER_ID
from catalog.specs import ActionSpec, Category, PlanTier
from catalog.types import decimal, fields, integer, list_of, optional, ref, required, string, text

_RUNNERS = "automations.engine.runners.ai"

GENERATE_COPY = ActionSpec(
    key="generate_copy",
    category=Category.AI,
    label="Write copy (AI)",
    description=(
        "Writes marketing copy with AI from your instructions, such as a subject line or a "
        "short product blurb. Later steps can use the text, for example as an email body."
    ),
    inputs=fields(
        prompt=required(text(), "Instructions"),
        tone=optional(string(), "Tone", "e.g. friendly, playful, formal."),
        max_words=optional(integer(minimum=1, maximum=2000), "Maximum words"),
    ),
    outputs=fields(text=required(text(), "Text")),
    runner=f"{_RUNNERS}.generate_copy",
    example_inputs={
        "prompt": "Write a subject line announcing our summer sale on organic tees.",
        "tone": "playful",
        "max_words": 12,
    },
    plan=PlanTier.PRO,
    has_side_effects=False,
    is_http=True,
)

SUGGEST_SEGMENT = ActionSpec(
    key="suggest_segment",
    category=Category.AI,
    label="Suggest segment (AI)",
    description=(
        'Asks AI to pick the segment of your customers that best fits a goal, such as "people '
        'likely to buy the new collection". Later steps can send to that segment.'
    ),
    inputs=fields(goal=required(text(), "Goal")),
    outputs=fields(segment_id=required(ref("segment"), "Segment")),
    runner=f"{_RUNNERS}.suggest_segment",
    example_inputs={"goal": "Customers most likely to buy the new summer collection."},
    plan=PlanTier.PRO,
    has_side_effects=False,
    is_http=True,
)

PREDICT_CHURN = ActionSpec(
    key="predict_churn",
    category=Category.AI,
    label="Predict churn (AI)",
    description=(
        "Estimates how likely the customer is to stop buying, as a score from 0 (loyal) to 1 "
        "(about to leave). Combine it with a branch to win back customers at risk."
    ),
    inputs=fields(customer_id=CUSTOMER_ID),
    outputs=fields(score=required(decimal(), "Churn score", "From 0 to 1.")),
    runner=f"{_RUNNERS}.predict_churn",
    example_inputs={"customer_id": 101},
    plan=PlanTier.PRO,
    has_side_effects=False,
    is_http=True,
)

RUN_RECOMMENDATION = ActionSpec(
    key="run_recommendation",
    category=Category.AI,
    label="Recommend products (AI)",
    description=(
        "Picks the products this customer is most likely to want next, based on what they and "
        "similar customers bought. Later steps can feature them in an email."
    ),
    inputs=fields(
        customer_id=CUSTOMER_ID,
        limit=optional(integer(minimum=1, maximum=50), "How many", "At most 50."),
    ),
    outputs=fields(product_ids=required(list_of(ref("product")), "Products")),
    runner=f"{_RUNNERS}.run_recommendation",
    example_inputs={"customer_id": 101, "limit": 3},
    plan=PlanTier.PRO,
    has_side_effects=False,
    is_http=True,
)

ACTIONS: list[ActionSpec] = [GENERATE_COPY, SUGGEST_SEGMENT, PREDICT_CHURN, RUN_RECOMMENDATION]
"""AI actions, in catalog order."""
