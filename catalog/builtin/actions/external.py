"""Built-in external actions: signed webhooks, Zapier and Make hooks, Airtable rows."""

from __future__ import annotations

from catalog.specs import ActionSpec, Category
from catalog.types import fields, integer, object_of, optional, required, string, url

_RUNNERS = "automations.engine.runners.external"

FIRE_WEBHOOK = ActionSpec(
    key="fire_webhook",
    category=Category.EXTERNAL,
    label="Send webhook",
    description=(
        "Sends the data you choose to another system's web address, signed so the receiver can "
        "check it came from you (Standard Webhooks). Use it to notify a warehouse, provision an "
        "account or start a job elsewhere. Failed sends are retried."
    ),
    inputs=fields(
        url=required(url(), "URL"),
        body=required(object_of(is_open=True), "Body", "The JSON fields to send."),
        signing_secret=optional(
            string(), "Signing secret", "The receiver's secret (whsec_...); unsigned when empty."
        ),
    ),
    outputs=fields(status_code=required(integer(), "Response status")),
    runner=f"{_RUNNERS}.fire_webhook",
    example_inputs={
        "url": "https://warehouse.example.com/hooks/orders",
        "body": {"order_id": 1042, "items": 3},
        "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    },
    is_http=True,
)

_HOOK_INPUTS = fields(
    hook_url=required(url(), "Hook URL"),
    data=required(object_of(is_open=True), "Data", "The fields to send."),
)

POST_ZAPIER = ActionSpec(
    key="post_zapier",
    category=Category.EXTERNAL,
    label="Send to Zapier",
    description=(
        "Sends data to a Zapier catch hook, so one of your Zaps can carry it on to any of the "
        "apps Zapier connects."
    ),
    inputs=_HOOK_INPUTS,
    runner=f"{_RUNNERS}.post_zapier",
    example_inputs={
        "hook_url": "https://hooks.zapier.com/hooks/catch/123456/abcdef/",
        "data": {"email": "jane.doe@example.com", "plan": "trial"},
    },
    is_http=True,
)

POST_TO_MAKE = ActionSpec(
    key="post_to_make",
    category=Category.EXTERNAL,
    label="Send to Make",
    description=(
        "Sends data to a Make (formerly Integromat) webhook, so one of your scenarios can carry "
        "it on to other apps."
    ),
    inputs=_HOOK_INPUTS,
    runner=f"{_RUNNERS}.post_to_make",
    example_inputs={
        "hook_url": "https://hook.eu1.make.com/abcdefghijklmnop",
        "data": {"order_id": 1042, "total": "120.00"},
    },
    is_http=True,
)

CREATE_AIRTABLE_ROW = ActionSpec(
    key="create_airtable_row",
    category=Category.EXTERNAL,
    label="Create Airtable row",
    description=(
        "Adds a row to a table in one of your Airtable bases, with the values you map to its "
        "columns. Handy for sign-up logs, lead lists or launch trackers."
    ),
    inputs=fields(
        base=required(string(), "Base", "The Airtable base id (app...)."),
        table=required(string(), "Table", "The table name or id."),
        fields=required(object_of(is_open=True), "Fields", "Column names and their values."),
    ),
    outputs=fields(record_id=required(string(), "Record id")),
    runner=f"{_RUNNERS}.create_airtable_row",
    example_inputs={
        "base": "appX1y2Z3a4B5c6D7",
        "table": "Trial signups",
        "fields": {"Email": "jane.doe@example.com", "Signed up": "2025-03-01"},
    },
    is_http=True,
)

ACTIONS: list[ActionSpec] = [FIRE_WEBHOOK, POST_ZAPIER, POST_TO_MAKE, CREATE_AIRTABLE_ROW]
"""External actions, in catalog order."""
