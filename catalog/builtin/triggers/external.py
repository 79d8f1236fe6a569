"""Built-in external triggers: inbound webhooks, Zapier, polled HTTP sources.

Their payloads are declared elsewhere (per endpoint, per poll configuration): the base payload
here has a free-form object (``body``, ``item``) into which the declared fields are merged by
``TriggerSpec.payload_type_with``.
"""

from __future__ import annotations

from catalog.specs import Category, TriggerSpec
from catalog.types import duration, fields, integer, object_of, optional, string, url

_ENDPOINT_CONFIG = fields(
    endpoint_id=integer(minimum=1),
)

WEBHOOK_RECEIVED = TriggerSpec(
    key="webhook_received",
    category=Category.EXTERNAL,
    label="Webhook received",
    description=(
        "Fires when another system posts to one of your webhook endpoints, such as Stripe, "
        "Shopify, GitHub or your own app. The fields in the body are the ones declared for that "
        "endpoint: typed by hand, inferred from a captured sample, or given by a provider preset."
    ),
    payload=fields(
        endpoint_id=integer(minimum=1),
        event_type=optional(string(), "Event type", "The provider's event type, when it has one."),
        body=object_of(is_open=True),
    ),
    config=_ENDPOINT_CONFIG,
    example={
        "endpoint_id": 4,
        "event_type": "app.installed",
        "body": {"email": "jane.doe@example.com", "installed_at": "2025-03-01T09:00:00Z"},
    },
    example_config={"endpoint_id": 4},
    source="a webhook endpoint",
    payload_from_endpoint=True,
    declared_under="body",
)

ZAPIER_EVENT = TriggerSpec(
    key="zapier_event",
    category=Category.EXTERNAL,
    label="Zapier event",
    description=(
        "Fires when one of your Zaps posts to a Zapier endpoint in Typewire. It works like a "
        "webhook: the fields in the body are the ones declared for the endpoint, so any of the "
        "thousands of apps on Zapier can start your rules."
    ),
    payload=fields(
        endpoint_id=integer(minimum=1),
        event_type=optional(string(), "Event type", "The event name the Zap sends, if any."),
        body=object_of(is_open=True),
    ),
    config=_ENDPOINT_CONFIG,
    example={
        "endpoint_id": 5,
        "body": {"name": "Jane Doe", "email": "jane.doe@example.com", "plan": "trial"},
    },
    example_config={"endpoint_id": 5},
    source="Zapier",
    payload_from_endpoint=True,
    declared_under="body",
)

POLL_NEW_ITEM = TriggerSpec(
    key="poll_new_item",
    category=Category.EXTERNAL,
    label="New item in a polled feed",
    description=(
        "Fires when Typewire checks a JSON feed on another site at a set interval and finds an "
        "item it has not seen before, such as a new review or a new sign-up in another tool. The "
        "item's fields are the ones declared in the trigger's configuration."
    ),
    payload=fields(
        source_url=url(),
        item_id=string(),
        item=object_of(is_open=True),
    ),
    config=fields(
        url=url(),
        interval=duration(),
        items_path=optional(
            string(), "Items path", "Where the list of items is in the response (data.items)."
        ),
        id_field=string(),
    ),
    example={
        "source_url": "https://reviews.example.com/api/reviews.json",
        "item_id": "rev_8841",
        "item": {"rating": 5, "author": "Jane", "text": "Lovely fabric."},
    },
    example_config={
        "url": "https://reviews.example.com/api/reviews.json",
        "interval": "PT15M",
        "items_path": "data.reviews",
        "id_field": "id",
    },
    source="a polled HTTP feed",
    payload_from_config=True,
    declared_under="item",
)

TRIGGERS: list[TriggerSpec] = [WEBHOOK_RECEIVED, ZAPIER_EVENT, POLL_NEW_ITEM]
"""External triggers, in catalog order."""
