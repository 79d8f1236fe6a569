"""Celery tasks of the catalog: the sweeper that re-publishes events a lost publish left pending."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from catalog.events import publish
from catalog.models import Event, EventStatus

logger = logging.getLogger(__name__)


def sweep_pending(*, older_than: timedelta, batch_size: int) -> int:
    """Publish the dispatch task again for up to ``batch_size`` events pending for ``older_than``.

    Oldest first; returns how many were published. Safe to run concurrently and repeatedly:
    the dispatcher settles an event with a conditional update, so a second message for the
    same event does nothing.
    """
    now = timezone.now()
    cutoff = now - older_than
    # Served by the partial index event_pending_idx (status = pending, by recorded_at). An event
    # published (or swept) less than ``older_than`` ago is left alone: it is most likely in the
    # broker's queue still, behind a backlog, and sending it once per sweep would add a message
    # per sweep to that backlog for every event in it.
    ids = list(
        Event.objects.filter(status=EventStatus.PENDING, recorded_at__lt=cutoff)
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=cutoff))
        .order_by("recorded_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if ids:
        Event.objects.filter(pk__in=ids).update(published_at=now)
    for event_id in ids:
        publish(event_id)
    if ids:
        logger.info("sweeper re-published %d pending event(s)", len(ids))
    return len(ids)


@shared_task(name="catalog.sweep_pending_events", queue=settings.QUEUE_PERIODIC, ignore_result=True)
def sweep_pending_events() -> int:
    """Re-publish events pending longer than ``TYPEWIRE_SWEEP_AFTER_SECONDS`` (one batch)."""
    if settings.TYPEWIRE_FAULT_INJECT == "no-sweeper":  # a test-only broken build
        return 0
    return sweep_pending(
        older_than=timedelta(seconds=settings.TYPEWIRE_SWEEP_AFTER_SECONDS),
        batch_size=settings.TYPEWIRE_SWEEP_BATCH_SIZE,
    )
