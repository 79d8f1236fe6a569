"""Domain services: the only writers of the merchant-domain models.

Each is a module-level function with keyword-only arguments that opens one transaction, locks
the row it changes (``SELECT ... FOR UPDATE``, so concurrent changes serialise), and records its
internal events through ``record_event`` in that same transaction. ``causation`` links the
events to the rule execution that asked for the change.
"""

from __future__ import annotations

from catalog.domain.services.campaigns import complete_campaign, create_campaign, launch_campaign
from catalog.domain.services.customers import (
    change_lifecycle_stage,
    create_customer,
    define_custom_field,
    delete_custom_field,
    set_opt_in,
    tag_customer,
    untag_customer,
    update_customer_field,
    upsert_customer,
)
from catalog.domain.services.guards import (
    DomainError,
    InvalidTransitionError,
    WorkspaceMismatchError,
)
from catalog.domain.services.journeys import (
    create_journey,
    enroll_journey,
    enroll_product_buyers,
    exit_journey,
)
from catalog.domain.services.messages import (
    create_message,
    record_message_click,
    record_message_open,
)
from catalog.domain.services.orders import (
    cancel_order,
    create_order,
    fulfil_order,
    pay_order,
    refund_order,
)
from catalog.domain.services.products import adjust_inventory, create_product, update_product
from catalog.domain.services.segments import create_segment, join_segment, leave_segment

__all__ = [
    "DomainError",
    "InvalidTransitionError",
    "WorkspaceMismatchError",
    "adjust_inventory",
    "cancel_order",
    "change_lifecycle_stage",
    "complete_campaign",
    "create_campaign",
    "delete_custom_field",
    "create_customer",
    "create_journey",
    "create_message",
    "create_order",
    "create_product",
    "create_segment",
    "define_custom_field",
    "enroll_journey",
    "enroll_product_buyers",
    "exit_journey",
    "fulfil_order",
    "join_segment",
    "launch_campaign",
    "leave_segment",
    "pay_order",
    "record_message_click",
    "record_message_open",
    "refund_order",
    "set_opt_in",
    "tag_customer",
    "untag_customer",
    "update_customer_field",
    "update_product",
    "upsert_customer",
]
