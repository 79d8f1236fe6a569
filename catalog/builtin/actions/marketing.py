"""Built-in marketing actions: campaigns, ad audiences, Slack."""

from __future__ import annotations

from catalog.builtin.vocabulary import CUSTOMER_ID
from catalog.specs import ActionSpec, Category
from catalog.types import fields, ref, required, string, text

_RUNNERS = "automations.engine.runners.marketing"

SEND_CAMPAIGN = ActionSpec(
    key="send_campaign",
    category=Category.MARKETING,
    label="Send campaign",
    description=(
        "Launches a campaign you prepared, sending it to its whole audience. Use it to start a "
        "campaign at the right moment, for example when a product is back in stock."
    ),
    inputs=fields(campaign_id=required(ref("campaign"), "Campaign")),
    runner=f"{_RUNNERS}.send_campaign",
    example_inputs={"campaign_id": 12},
    emits=("campaign_launched",),
)

_AUDIENCE_INPUTS = fields(
    customer_id=CUSTOMER_ID,
    audience_id=required(string(), "Audience", "The audience id in the ad platform."),
)

SYNC_TO_META_AUDIENCE = ActionSpec(
    key="sync_to_meta_audience",
    category=Category.MARKETING,
    label="Add to Meta audience",
    description=(
        "Adds the customer to a custom audience in Meta (Facebook and Instagram ads), so you "
        "can target them, or leave them out, in your ad campaigns."
    ),
    inputs=_AUDIENCE_INPUTS,
    runner=f"{_RUNNERS}.sync_to_meta_audience",
    example_inputs={"customer_id": 101, "audience_id": "23851234567890123"},
    is_http=True,
)

SYNC_TO_GOOGLE_AUDIENCE = ActionSpec(
    key="sync_to_google_audience",
    category=Category.MARKETING,
    label="Add to Google audience",
    description=(
        "Adds the customer to a customer-match audience in Google Ads, so your search, YouTube "
        "and shopping campaigns can reach them."
    ),
    inputs=_AUDIENCE_INPUTS,
    runner=f"{_RUNNERS}.sync_to_google_audience",
    example_inputs={"customer_id": 101, "audience_id": "5512345678"},
    is_http=True,
)

POST_TO_SLACK = ActionSpec(
    key="post_to_slack",
    category=Category.MARKETING,
    label="Post to Slack",
    description=(
        "Posts a message to a Slack channel, such as #sales or #urgent. The text can include "
        "fields from the trigger, like the order total or the customer's email."
    ),
    inputs=fields(
        channel=required(string(), "Channel", "The Slack channel, e.g. #sales."),
        text=required(text(), "Message"),
    ),
    runner=f"{_RUNNERS}.post_to_slack",
    example_inputs={"channel": "#sales", "text": "New order of 120.00 EUR from jane@example.com"},
    is_http=True,
)

ACTIONS: list[ActionSpec] = [
    SEND_CAMPAIGN,
    SYNC_TO_META_AUDIENCE,
    SYNC_TO_GOOGLE_AUDIENCE,
    POST_TO_SLACK,
]
"""Marketing actions, in catalog order."""
