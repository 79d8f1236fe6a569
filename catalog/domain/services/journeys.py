"""Journey services: create a journey, enroll a customer in it, and exit them from it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from catalog.domain.models import (
    Customer,
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    Order,
    OrderStatus,
)
from catalog.domain.services.guards import DomainError, relock, require_same_workspace
from catalog.events import Causation, record_event

ENTRY_STEP = "entry"


def create_journey(*, workspace: Workspace, name: str, slug: str) -> Journey:
    """Create a journey (no event: no trigger describes it)."""
    with transaction.atomic():
        return Journey.objects.create(workspace=workspace, name=name, slug=slug)


def enroll_journey(
    *,
    journey: Journey,
    customer: Customer,
    step: str = ENTRY_STEP,
    causation: Causation | None = None,
) -> bool:
    """Enroll the customer in the journey at ``step``; return whether a new enrollment began.

    Idempotent: a customer already active in the journey stays where they are and nothing is
    emitted. Otherwise emits ``journey_enrolled``. Raises ``WorkspaceMismatchError`` when the
    journey and the customer belong to different workspaces.
    """
    require_same_workspace(journey, customer)
    with transaction.atomic():
        # The customer's row lock serialises enrollments; the partial unique constraint backs it.
        locked = relock(customer)
        active = JourneyEnrollment.objects.filter(
            journey=journey, customer=locked, status=EnrollmentStatus.ACTIVE
        )
        if active.exists():
            return False
        JourneyEnrollment.objects.create(
            workspace_id=journey.workspace_id, journey=journey, customer=locked, step=step
        )
        record_event(
            workspace=journey.workspace,
            trigger_key="journey_enrolled",
            payload={"journey_id": journey.pk, "customer_id": locked.pk, "step": step},
            causation=causation,
        )
    return True


def exit_journey(
    *,
    journey: Journey,
    customer: Customer,
    reason: str,
    causation: Causation | None = None,
) -> bool:
    """End the customer's active enrollment in the journey; return whether there was one.

    Idempotent: without an active enrollment nothing changes and nothing is emitted.
    Otherwise emits ``journey_exited`` with ``exit_reason``.
    """
    require_same_workspace(journey, customer)
    with transaction.atomic():
        locked = relock(customer)
        exited = JourneyEnrollment.objects.filter(
            journey=journey, customer=locked, status=EnrollmentStatus.ACTIVE
        ).update(status=EnrollmentStatus.EXITED, exit_reason=reason, exited_at=timezone.now())
        if not exited:
            return False
        record_event(
            workspace=journey.workspace,
            trigger_key="journey_exited",
            payload={"journey_id": journey.pk, "customer_id": locked.pk, "exit_reason": reason},
            causation=causation,
        )
    return True


MAX_BUYERS = 10_000
"""The most customers one ``enroll_product_buyers`` call enrolls (one transaction)."""

# Orders that count as a purchase: paid, shipped, or paid and refunded since.
BOUGHT = (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.REFUNDED)


def product_buyer_ids(
    *, workspace: Workspace, product_ids: Sequence[int], since: dt.datetime | None = None
) -> list[int]:
    """Return the ids of the workspace's customers who bought any of ``product_ids``, once each.

    A purchase is an order paid, fulfilled or refunded (not pending nor cancelled) with a line
    item of one of the products, placed at or after ``since`` when given. Oldest customer first.
    """
    wanted = sorted({int(pk) for pk in product_ids})
    if not wanted:
        return []
    # One jsonb containment test per product (line_items @> '[{"product_id": n}]').
    bought = Q()
    for product_id in wanted:
        bought |= Q(line_items__contains=[{"product_id": product_id}])
    orders = Order.objects.filter(bought, workspace=workspace, status__in=BOUGHT)
    if since is not None:
        orders = orders.filter(placed_at__gte=since)
    return sorted(set(orders.order_by().values_list("customer_id", flat=True)))


@dataclass(frozen=True, slots=True)
class BuyersEnrolled:
    """What ``enroll_product_buyers`` did: the buyers it found and those it newly enrolled."""

    buyer_ids: tuple[int, ...]
    enrolled_ids: tuple[int, ...]


def enroll_product_buyers(
    *,
    journey: Journey,
    product_ids: Sequence[int],
    since: dt.datetime | None = None,
    causation: Causation | None = None,
) -> BuyersEnrolled:
    """Enroll every customer who bought one of ``product_ids`` in ``journey``, once each.

    Buyers as :func:`product_buyer_ids` finds them; each goes through :func:`enroll_journey`,
    so a customer already active in the journey is left alone and every new enrollment emits
    ``journey_enrolled``. All in one transaction. Raises ``DomainError`` when more than
    ``MAX_BUYERS`` customers bought the products (narrow the look-back instead).
    """
    with transaction.atomic():
        buyers = product_buyer_ids(
            workspace=journey.workspace, product_ids=product_ids, since=since
        )
        if len(buyers) > MAX_BUYERS:
            raise DomainError(
                f"{len(buyers)} customers bought these products, more than the {MAX_BUYERS} "
                "one step may enroll: set a shorter look-back"
            )
        enrolled = [
            customer.pk
            for customer in Customer.objects.filter(pk__in=buyers).order_by("pk")
            if enroll_journey(journey=journey, customer=customer, causation=causation)
        ]
    return BuyersEnrolled(buyer_ids=tuple(buyers), enrolled_ids=tuple(enrolled))
