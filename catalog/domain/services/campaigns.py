"""Campaign services: create a campaign, launch it to its audience, and complete it."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from catalog.domain.models import Campaign, CampaignStatus, Segment, SegmentMembership
from catalog.domain.money import money_payload, quantize
from catalog.domain.services.guards import (
    DomainError,
    InvalidTransitionError,
    WorkspaceMismatchError,
    lock,
    require_amount,
    require_currency,
)
from catalog.events import Causation, record_event


def create_campaign(
    *,
    workspace: Workspace,
    name: str,
    currency: str,
    audience_segment: Segment | None = None,
) -> Campaign:
    """Create a draft campaign (no event: no trigger describes it).

    Raises ``DomainError`` for a bad currency and ``WorkspaceMismatchError`` for a segment of
    another workspace.
    """
    require_currency(currency)
    if audience_segment is not None and audience_segment.workspace_id != workspace.pk:
        raise WorkspaceMismatchError("the audience segment belongs to another workspace")
    with transaction.atomic():
        return Campaign.objects.create(
            workspace=workspace, name=name, currency=currency, audience_segment=audience_segment
        )


def launch_campaign(
    *,
    campaign: Campaign,
    audience_size: int | None = None,
    causation: Causation | None = None,
) -> Campaign:
    """Take a draft campaign live; return it. Emits ``campaign_launched`` (audience_size).

    The audience size defaults to the members of the audience segment at launch (0 without
    a segment). Raises ``InvalidTransitionError`` unless the campaign is a draft.
    """
    if audience_size is not None and audience_size < 0:
        raise DomainError("the audience size must be at least 0")
    with transaction.atomic():
        locked = lock(Campaign, campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            raise InvalidTransitionError(
                f"cannot launch campaign {locked.pk}: it is {locked.status}"
            )
        if audience_size is None:
            segment_id = locked.audience_segment_id
            audience_size = (
                SegmentMembership.objects.filter(segment_id=segment_id).count()
                if segment_id is not None
                else 0
            )
        locked.status = CampaignStatus.LIVE
        locked.audience_size = audience_size
        locked.launched_at = timezone.now()
        locked.save(update_fields=["status", "audience_size", "launched_at"])
        record_event(
            workspace=locked.workspace,
            trigger_key="campaign_launched",
            payload={"campaign_id": locked.pk, "audience_size": audience_size},
            causation=causation,
        )
    return locked


def complete_campaign(
    *,
    campaign: Campaign,
    revenue: Decimal,
    lift: Decimal,
    causation: Causation | None = None,
) -> Campaign:
    """Close a live campaign with its attributed revenue and lift; return it.

    Emits ``campaign_completed`` (revenue in the campaign's currency, lift as a decimal
    fraction). Raises ``InvalidTransitionError`` unless the campaign is live.
    """
    require_amount(revenue, what="revenue")
    with transaction.atomic():
        locked = lock(Campaign, campaign.pk)
        if locked.status != CampaignStatus.LIVE:
            raise InvalidTransitionError(
                f"cannot complete campaign {locked.pk}: it is {locked.status}"
            )
        locked.status = CampaignStatus.COMPLETED
        locked.revenue = quantize(revenue)
        locked.lift = lift
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "revenue", "lift", "completed_at"])
        record_event(
            workspace=locked.workspace,
            trigger_key="campaign_completed",
            payload={
                "campaign_id": locked.pk,
                "revenue": money_payload(locked.revenue, locked.currency),
                "lift": str(lift),
            },
            causation=causation,
        )
    return locked
