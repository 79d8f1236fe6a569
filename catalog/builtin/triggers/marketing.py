"""Built-in marketing triggers: campaigns, journeys and message engagement."""

from __future__ import annotations

from catalog.builtin.vocabulary import CHANNELS, CUSTOMER_ID
from catalog.specs import Category, TriggerSpec
from catalog.types import decimal, fields, integer, money, optional, ref, string, url

_JOURNEY_FILTER = fields(
    journey_id=optional(ref("journey"), "Journey", "Only fire for this journey."),
)
_CHANNEL_FILTER = fields(
    channel=optional(CHANNELS, "Channel", "Only fire for messages sent on this channel."),
)

CAMPAIGN_LAUNCHED = TriggerSpec(
    key="campaign_launched",
    category=Category.MARKETING,
    label="Campaign launched",
    description=(
        "Fires when a campaign goes live, with the size of its audience. Use it to tell the team "
        "or to log launches in a spreadsheet."
    ),
    payload=fields(campaign_id=ref("campaign"), audience_size=integer(minimum=0)),
    example={"campaign_id": 12, "audience_size": 4800},
)

CAMPAIGN_COMPLETED = TriggerSpec(
    key="campaign_completed",
    category=Category.MARKETING,
    label="Campaign completed",
    description=(
        "Fires when a campaign has finished and its attribution window has closed, with the "
        "revenue it brought in and its lift over the control group. Use it to report results."
    ),
    payload=fields(campaign_id=ref("campaign"), revenue=money(), lift=decimal()),
    example={
        "campaign_id": 12,
        "revenue": {"amount": "15230.50", "currency": "EUR"},
        "lift": "0.085",
    },
)

JOURNEY_ENROLLED = TriggerSpec(
    key="journey_enrolled",
    category=Category.MARKETING,
    label="Customer entered a journey",
    description=(
        "Fires when a customer is enrolled in a journey, with the step they start at. Use it to "
        "record the enrolment elsewhere or to tell the account owner."
    ),
    payload=fields(journey_id=ref("journey"), customer_id=CUSTOMER_ID, step=string()),
    config=_JOURNEY_FILTER,
    example={"journey_id": 3, "customer_id": 101, "step": "welcome_email"},
    example_config={"journey_id": 3},
)

JOURNEY_EXITED = TriggerSpec(
    key="journey_exited",
    category=Category.MARKETING,
    label="Customer left a journey",
    description=(
        "Fires when a customer leaves a journey, because they finished it, converted or were "
        "taken out. The exit reason tells which, so you can follow up differently."
    ),
    payload=fields(journey_id=ref("journey"), customer_id=CUSTOMER_ID, exit_reason=string()),
    config=_JOURNEY_FILTER,
    example={"journey_id": 3, "customer_id": 101, "exit_reason": "completed"},
)

MESSAGE_OPENED = TriggerSpec(
    key="message_opened",
    category=Category.MARKETING,
    label="Message opened",
    description=(
        "Fires when a customer opens an email, WhatsApp or SMS message you sent them. Use it to "
        "score engagement or to follow up with people who showed interest."
    ),
    payload=fields(message_id=ref("message"), customer_id=CUSTOMER_ID, channel=CHANNELS),
    config=_CHANNEL_FILTER,
    example={"message_id": 9001, "customer_id": 101, "channel": "email"},
)

MESSAGE_CLICKED = TriggerSpec(
    key="message_clicked",
    category=Category.MARKETING,
    label="Message link clicked",
    description=(
        "Fires when a customer clicks a link in an email, WhatsApp or SMS message, with the link "
        "they clicked. Use it to tag interested customers or to start a follow-up journey."
    ),
    payload=fields(
        message_id=ref("message"), customer_id=CUSTOMER_ID, channel=CHANNELS, link=url()
    ),
    config=_CHANNEL_FILTER,
    example={
        "message_id": 9001,
        "customer_id": 101,
        "channel": "email",
        "link": "https://shop.example.com/collections/summer",
    },
)

TRIGGERS: list[TriggerSpec] = [
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_COMPLETED,
    JOURNEY_ENROLLED,
    JOURNEY_EXITED,
    MESSAGE_OPENED,
    MESSAGE_CLICKED,
]
"""Marketing triggers, in catalog order."""
