"""Built-in customer actions: tags, profile fields, journeys, transactional email."""

from __future__ import annotations

from catalog.builtin.vocabulary import CUSTOMER_ID
from catalog.specs import ActionSpec, Category
from catalog.types import (
    FieldSpec,
    any_value,
    boolean,
    email,
    fields,
    integer,
    list_of,
    optional,
    phone,
    ref,
    required,
    string,
    text,
)

_RUNNERS = "automations.engine.runners.customer"

TAG = ActionSpec(
    key="tag",
    category=Category.CUSTOMER,
    label="Tag customer",
    description=(
        "Adds a tag to the customer, such as vip or churned. Tags are how you group customers "
        "by hand or by rule; other rules can start when a tag is added. Adding a tag the "
        "customer already has does nothing."
    ),
    inputs=fields(customer_id=CUSTOMER_ID, tag=required(string(), "Tag")),
    runner=f"{_RUNNERS}.tag",
    example_inputs={"customer_id": 101, "tag": "vip"},
    emits=("customer_tagged",),
)

UNTAG = ActionSpec(
    key="untag",
    category=Category.CUSTOMER,
    label="Remove tag",
    description=(
        "Removes a tag from the customer, for example take off trial when they become a paying "
        "customer. Removing a tag the customer does not have does nothing."
    ),
    inputs=fields(customer_id=CUSTOMER_ID, tag=required(string(), "Tag")),
    runner=f"{_RUNNERS}.untag",
    example_inputs={"customer_id": 101, "tag": "trial"},
    emits=("customer_tagged",),
)

UPDATE_FIELD = ActionSpec(
    key="update_field",
    category=Category.CUSTOMER,
    label="Update customer field",
    description=(
        "Sets one field of the customer profile, either a standard one such as the lifecycle "
        "stage or an SMS opt-in, or one of your workspace's custom fields such as "
        "app_install_date. The value must have that field's type."
    ),
    inputs=fields(
        customer_id=CUSTOMER_ID,
        field=required(string(), "Field", "A profile field or a custom field key."),
        value=FieldSpec(
            any_value(),
            label="Value",
            description="The new value, of the chosen field's type.",
            type_from="field",
        ),
    ),
    runner=f"{_RUNNERS}.update_field",
    example_inputs={"customer_id": 101, "field": "app_install_date", "value": "2025-03-01"},
    emits=("customer_updated", "lifecycle_changed", "opt_in_changed"),
)

ENROLL_JOURNEY = ActionSpec(
    key="enroll_journey",
    category=Category.CUSTOMER,
    label="Enroll in journey",
    description=(
        "Puts the customer into a journey, such as the VIP welcome series, starting at its "
        "first step. A customer already in the journey is not enrolled twice."
    ),
    inputs=fields(customer_id=CUSTOMER_ID, journey_id=required(ref("journey"), "Journey")),
    runner=f"{_RUNNERS}.enroll_journey",
    example_inputs={"customer_id": 101, "journey_id": 3},
    emits=("journey_enrolled",),
)

EXIT_JOURNEY = ActionSpec(
    key="exit_journey",
    category=Category.CUSTOMER,
    label="Remove from journey",
    description=(
        "Takes the customer out of a journey, for example stop the win-back series once they "
        "order again. You can give a reason, which later rules and reports can see."
    ),
    inputs=fields(
        customer_id=CUSTOMER_ID,
        journey_id=required(ref("journey"), "Journey"),
        reason=optional(string(), "Reason"),
    ),
    runner=f"{_RUNNERS}.exit_journey",
    example_inputs={"customer_id": 101, "journey_id": 3, "reason": "converted"},
    emits=("journey_exited",),
)

UPSERT_CUSTOMER = ActionSpec(
    key="upsert_customer",
    category=Category.CUSTOMER,
    label="Create or update customer",
    description=(
        "Finds the customer with this email address and updates the details you give, or "
        "creates the customer when there is none, for example from a Stripe payment. Later "
        "steps can use the customer, such as to send them a welcome email. Details left empty "
        "are not changed."
    ),
    inputs=fields(
        email=required(email(), "Email", "Who the customer is: their email address."),
        first_name=optional(string(), "First name"),
        last_name=optional(string(), "Last name"),
        phone=optional(phone(), "Phone"),
        source=optional(string(), "Source", "Where a new customer came from, such as stripe."),
        accepts_marketing=optional(
            boolean(), "Accepts marketing email", "Sets the customer's email opt-in."
        ),
    ),
    outputs=fields(
        customer_id=required(ref("customer"), "Customer"),
        created=required(boolean(), "Created", "Whether the customer is new."),
    ),
    runner=f"{_RUNNERS}.upsert_customer",
    example_inputs={
        "email": "jane.doe@example.com",
        "first_name": "Jane",
        "source": "stripe",
        "accepts_marketing": True,
    },
    emits=("customer_created", "customer_updated", "opt_in_changed"),
)

ENROLL_PRODUCT_BUYERS = ActionSpec(
    key="enroll_product_buyers",
    category=Category.CUSTOMER,
    label="Enroll buyers of products in journey",
    description=(
        "Puts every customer who bought one of these products into a journey, for example "
        "an apology series for the buyers of a product with many refunds. Each customer is "
        "enrolled once, however many times they bought; customers already in the journey stay "
        "where they are. Set a look-back to only reach recent buyers."
    ),
    inputs=fields(
        product_ids=required(list_of(ref("product"), min_items=1), "Products"),
        journey_id=required(ref("journey"), "Journey"),
        within_days=optional(
            integer(minimum=1, maximum=3650),
            "Look back (days)",
            "Only customers who ordered in this many last days; all buyers when empty.",
        ),
    ),
    outputs=fields(
        buyers=required(integer(minimum=0), "Buyers", "Customers who bought the products."),
        enrolled=required(integer(minimum=0), "Enrolled", "Customers newly enrolled."),
    ),
    runner=f"{_RUNNERS}.enroll_product_buyers",
    example_inputs={"product_ids": [501, 502], "journey_id": 3, "within_days": 90},
    emits=("journey_enrolled",),
)

SEND_TRANSACTIONAL_EMAIL = ActionSpec(
    key="send_transactional_email",
    category=Category.CUSTOMER,
    label="Send email",
    description=(
        "Sends one email, such as an order confirmation or a welcome message, to an address or "
        "to a customer. Subject and body can include fields from the trigger, like the "
        "customer's first name or the order total."
    ),
    inputs=fields(
        to=optional(email(), "To", "An email address; give this or a customer."),
        customer_id=optional(ref("customer"), "Customer", "Send to this customer's email."),
        subject=required(string(), "Subject"),
        body=required(text(), "Body"),
    ),
    runner=f"{_RUNNERS}.send_transactional_email",
    example_inputs={
        "customer_id": 101,
        "subject": "Welcome to Acme, {{ customer.first_name }}!",
        "body": "Thanks for joining us. Here is 10% off your next order: WELCOME10.",
    },
    exactly_one_of=(("to", "customer_id"),),
)

ACTIONS: list[ActionSpec] = [
    TAG,
    UNTAG,
    UPDATE_FIELD,
    UPSERT_CUSTOMER,
    ENROLL_JOURNEY,
    EXIT_JOURNEY,
    ENROLL_PRODUCT_BUYERS,
    SEND_TRANSACTIONAL_EMAIL,
]
"""Customer actions, in catalog order."""
