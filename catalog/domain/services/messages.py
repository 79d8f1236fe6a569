"""Message services: record a sent message, and its opens and clicks."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from catalog.domain.models import Campaign, Channel, Customer, Message
from catalog.domain.services.guards import lock, require_same_workspace
from catalog.events import Causation, record_event


def create_message(
    *,
    customer: Customer,
    channel: str,
    subject: str = "",
    campaign: Campaign | None = None,
) -> Message:
    """Record a message sent to the customer on ``channel`` (no event: no trigger for it).

    Raises ``ValueError`` for an unknown channel and ``WorkspaceMismatchError`` for a campaign
    of another workspace.
    """
    channel = Channel(channel).value
    if campaign is not None:
        require_same_workspace(customer, campaign)
    with transaction.atomic():
        return Message.objects.create(
            workspace_id=customer.workspace_id,
            customer=customer,
            channel=channel,
            subject=subject,
            campaign=campaign,
        )


def record_message_open(
    *,
    message: Message,
    opened_at: datetime | None = None,
    causation: Causation | None = None,
) -> bool:
    """Record the first open of a message; return whether this was it.

    Emits ``message_opened`` on the first open only: later opens (image reloads, forwards)
    change and emit nothing.
    """
    with transaction.atomic():
        locked = lock(Message, message.pk)
        if locked.opened_at is not None:
            return False
        _open(locked, opened_at or timezone.now(), causation)
    return True


def record_message_click(
    *,
    message: Message,
    link: str,
    clicked_at: datetime | None = None,
    causation: Causation | None = None,
) -> Message:
    """Record a click on ``link`` in the message; return the updated message.

    Emits ``message_clicked`` on every click (each may be a different link), preceded by
    ``message_opened`` when no open was recorded yet: a click implies an open. The first
    click sets ``clicked_at``; every click sets ``last_link``.
    """
    when = clicked_at or timezone.now()
    with transaction.atomic():
        locked = lock(Message, message.pk)
        if locked.opened_at is None:
            _open(locked, when, causation)
        locked.clicked_at = locked.clicked_at or when
        locked.last_link = link
        locked.save(update_fields=["clicked_at", "last_link"])
        record_event(
            workspace=locked.workspace,
            trigger_key="message_clicked",
            payload={
                "message_id": locked.pk,
                "customer_id": locked.customer_id,
                "channel": locked.channel,
                "link": link,
            },
            occurred_at=when,
            causation=causation,
        )
    return locked


def _open(message: Message, when: datetime, causation: Causation | None) -> None:
    message.opened_at = when
    message.save(update_fields=["opened_at"])
    record_event(
        workspace=message.workspace,
        trigger_key="message_opened",
        payload={
            "message_id": message.pk,
            "customer_id": message.customer_id,
            "channel": message.channel,
        },
        occurred_at=when,
        causation=causation,
    )
