"""Journey services: create a journey, enroll a customer in it, and exit them from it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from catalog.domain.models import Customer, EnrollmentStatus, Journey, JourneyEnrollment
from catalog.domain.services.guards import lock, require_same_workspace
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
        locked = lock(Customer, customer.pk)
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
        locked = lock(Customer, customer.pk)
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
