"""Segment services: create a segment, and customers joining or leaving it."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Workspace
from catalog.domain.models import Customer, Segment, SegmentMembership
from catalog.domain.services.guards import relock, require_same_workspace
from catalog.events import Causation, record_event


def create_segment(*, workspace: Workspace, name: str, description: str = "") -> Segment:
    """Create an empty segment (no event: no trigger describes it)."""
    with transaction.atomic():
        return Segment.objects.create(workspace=workspace, name=name, description=description)


def join_segment(
    *, segment: Segment, customer: Customer, causation: Causation | None = None
) -> bool:
    """Add the customer to the segment; return whether they were not in it yet.

    Emits ``customer_segment_joined`` only when the membership is new. Raises
    ``WorkspaceMismatchError`` when the two belong to different workspaces.
    """
    require_same_workspace(segment, customer)
    with transaction.atomic():
        locked = relock(customer)
        _, created = SegmentMembership.objects.get_or_create(segment=segment, customer=locked)
        if created:
            _record(locked, segment, "customer_segment_joined", causation)
    return created


def leave_segment(
    *, segment: Segment, customer: Customer, causation: Causation | None = None
) -> bool:
    """Remove the customer from the segment; return whether they were in it.

    Emits ``customer_segment_left`` only when a membership was removed.
    """
    require_same_workspace(segment, customer)
    with transaction.atomic():
        locked = relock(customer)
        deleted, _ = SegmentMembership.objects.filter(segment=segment, customer=locked).delete()
        if deleted:
            _record(locked, segment, "customer_segment_left", causation)
    return bool(deleted)


def _record(
    customer: Customer, segment: Segment, trigger_key: str, causation: Causation | None
) -> None:
    record_event(
        workspace=customer.workspace,
        trigger_key=trigger_key,
        payload={"customer_id": customer.pk, "segment_id": segment.pk},
        causation=causation,
    )
