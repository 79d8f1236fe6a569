"""Built-in customer triggers: profile created or changed, tags, lifecycle, opt-ins, segments."""

from __future__ import annotations

from catalog.builtin.vocabulary import CHANNELS, CUSTOMER_ID, LIFECYCLE_STAGES
from catalog.specs import Category, TriggerSpec
from catalog.types import email, enum_of, fields, list_of, object_of, optional, phone, ref, string

CUSTOMER_CREATED = TriggerSpec(
    key="customer_created",
    category=Category.CUSTOMER,
    label="Customer created",
    description=(
        "Fires when a new customer profile appears, whether they signed up, placed a first order "
        "or were imported from another tool. Use it to send a welcome email, add the new customer "
        "to a journey or tell your team in Slack. The source says where the customer came from."
    ),
    payload=fields(
        customer_id=CUSTOMER_ID,
        email=email(),
        phone=optional(phone()),
        source=string(),
    ),
    example={
        "customer_id": 101,
        "email": "jane.doe@example.com",
        "phone": "+4915112345678",
        "source": "shopify",
    },
)

CUSTOMER_UPDATED = TriggerSpec(
    key="customer_updated",
    category=Category.CUSTOMER,
    label="Customer updated",
    description=(
        "Fires when one or more fields of a customer profile change, such as a new phone number "
        "or a custom field filled in by an app. It lists the fields that changed, with their old "
        "and new values, so a rule can react only to the change it cares about."
    ),
    payload=fields(
        customer_id=CUSTOMER_ID,
        changed_fields=list_of(string()),
        old_values=object_of(is_open=True),
        new_values=object_of(is_open=True),
    ),
    example={
        "customer_id": 101,
        "changed_fields": ["phone", "app_install_date"],
        "old_values": {"phone": None, "app_install_date": None},
        "new_values": {"phone": "+4915112345678", "app_install_date": "2025-03-01"},
    },
)

CUSTOMER_TAGGED = TriggerSpec(
    key="customer_tagged",
    category=Category.CUSTOMER,
    label="Customer tagged",
    description=(
        "Fires when a tag is added to or removed from a customer, by a person, an import or "
        "another rule. Set a tag filter to react to one tag only, for example start the VIP "
        "welcome journey when the tag vip is added."
    ),
    payload=fields(
        customer_id=CUSTOMER_ID,
        tag=string(),
        action=enum_of("added", "removed"),
    ),
    config=fields(
        tag=optional(string(), "Tag", "Only fire for this tag (any tag when empty)."),
        action=optional(
            enum_of("added", "removed"), "Change", "Only fire when the tag is added or removed."
        ),
    ),
    example={"customer_id": 101, "tag": "vip", "action": "added"},
    example_config={"tag": "vip", "action": "added"},
)

LIFECYCLE_CHANGED = TriggerSpec(
    key="lifecycle_changed",
    category=Category.CUSTOMER,
    label="Lifecycle stage changed",
    description=(
        "Fires when a customer moves from one lifecycle stage to another, for example from first "
        "purchase to repeat buyer, or from repeat buyer to at risk. Use it to thank loyal "
        "customers or to win back the ones drifting away."
    ),
    payload=fields(
        customer_id=CUSTOMER_ID,
        from_stage=LIFECYCLE_STAGES,
        to_stage=LIFECYCLE_STAGES,
    ),
    config=fields(
        to_stage=optional(LIFECYCLE_STAGES, "New stage", "Only fire when entering this stage."),
    ),
    example={"customer_id": 101, "from_stage": "first_purchase", "to_stage": "repeat"},
    example_config={"to_stage": "repeat"},
)

OPT_IN_CHANGED = TriggerSpec(
    key="opt_in_changed",
    category=Category.CUSTOMER,
    label="Opt-in changed",
    description=(
        "Fires when a customer opts in to or out of email, SMS or WhatsApp messages. Use it to "
        "confirm a subscription, sync the choice to your ad audiences or stop a running journey "
        "for a customer who no longer wants to hear from you."
    ),
    payload=fields(
        customer_id=CUSTOMER_ID,
        channel=CHANNELS,
        action=enum_of("opted_in", "opted_out"),
    ),
    config=fields(
        channel=optional(CHANNELS, "Channel", "Only fire for this channel."),
    ),
    example={"customer_id": 101, "channel": "sms", "action": "opted_in"},
)

_SEGMENT_FILTER = fields(
    segment_id=optional(ref("segment"), "Segment", "Only fire for this segment."),
)

CUSTOMER_SEGMENT_JOINED = TriggerSpec(
    key="customer_segment_joined",
    category=Category.CUSTOMER,
    label="Customer joined a segment",
    description=(
        "Fires when a customer becomes a member of a segment, for example when they start to "
        'match "spent over 500 this year". Use it to greet newcomers to a group with a tailored '
        "offer."
    ),
    payload=fields(customer_id=CUSTOMER_ID, segment_id=ref("segment")),
    config=_SEGMENT_FILTER,
    example={"customer_id": 101, "segment_id": 7},
    example_config={"segment_id": 7},
)

CUSTOMER_SEGMENT_LEFT = TriggerSpec(
    key="customer_segment_left",
    category=Category.CUSTOMER,
    label="Customer left a segment",
    description=(
        "Fires when a customer stops being a member of a segment, for example when they no "
        "longer count as an active buyer. Use it to follow up before they drift further away."
    ),
    payload=fields(customer_id=CUSTOMER_ID, segment_id=ref("segment")),
    config=_SEGMENT_FILTER,
    example={"customer_id": 101, "segment_id": 7},
)

TRIGGERS: list[TriggerSpec] = [
    CUSTOMER_CREATED,
    CUSTOMER_UPDATED,
    CUSTOMER_TAGGED,
    LIFECYCLE_CHANGED,
    OPT_IN_CHANGED,
    CUSTOMER_SEGMENT_JOINED,
    CUSTOMER_SEGMENT_LEFT,
]
"""Customer triggers, in catalog order."""
