"""Celery tasks of the trigger sources: thin shells over ``automations.triggers``.

All run on the periodic queue. ``automations.fire_schedule`` is sent by django-celery-beat
from each cron rule's periodic task; the others are entries of ``CELERY_BEAT_SCHEDULE``. Each
is safe to run twice at once: the events they record carry dedupe keys.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from automations.triggers import anomaly, backfill, metrics, poll, reconcile, schedule
from webhooks.models import Endpoint

logger = logging.getLogger(__name__)


@shared_task(name="automations.fire_schedule", queue=settings.QUEUE_PERIODIC, ignore_result=True)
def fire_schedule(rule_id: int) -> str | None:
    """Record the cron rule's tick for its latest scheduled instant; return the event id.

    None when this tick was recorded already (two beats, a redelivery) or the rule is gone.
    """
    event = schedule.fire_tick(rule_id)
    return str(event.pk) if event else None


@shared_task(name="automations.evaluate_metrics", queue=settings.QUEUE_PERIODIC, ignore_result=True)
def evaluate_metrics() -> int:
    """Fire metric crossings whose duration elapsed without a new sample; return how many."""
    return len(metrics.evaluate_due())


@shared_task(name="automations.detect_anomalies", queue=settings.QUEUE_PERIODIC, ignore_result=True)
def detect_anomalies() -> int:
    """Fold the last complete hours into each workspace's KPI baselines; return anomalies."""
    return len(anomaly.detect_all())


@shared_task(name="automations.poll_sources", queue=settings.QUEUE_PERIODIC, ignore_result=True)
def poll_sources() -> int:
    """Poll the sources of poll_new_item rules whose interval is due; return new items."""
    return sum(len(result.events) for result in poll.poll_due())


@shared_task(
    name="automations.backfill_webhooks", queue=settings.QUEUE_PERIODIC, ignore_result=True
)
def backfill_webhooks() -> int:
    """Ask Stripe and Shopify what the endpoints missed and ingest it; return how many."""
    return sum(result.ingested for result in backfill.backfill_all())


@shared_task(
    name="automations.backfill_endpoint", queue=settings.QUEUE_PERIODIC, ignore_result=True
)
def backfill_endpoint(endpoint_id: int, since_hours: int = 48) -> int:
    """Backfill one endpoint (the "backfill now" button); return how many events it ingested."""
    endpoint = Endpoint.objects.select_related("workspace").filter(pk=endpoint_id).first()
    if endpoint is None:
        return 0
    result = backfill.backfill_endpoint(endpoint, timezone.now() - timedelta(hours=since_hours))
    return result.ingested if result else 0


@shared_task(name="automations.reconcile", queue=settings.QUEUE_PERIODIC, ignore_result=True)
def reconcile_events() -> int:
    """Alert on unprocessed events, repair cron tasks, re-check rules after a catalog change.

    A deploy that changes a plug-in's declarations switches off, with the reason, every rule
    the new catalog breaks.
    """
    from automations.services import recheck_if_catalog_changed

    impacts = recheck_if_catalog_changed()
    if impacts:
        logger.warning("the catalog changed: %d rule(s) no longer pass the checker", len(impacts))
    with transaction.atomic():
        kept, removed = schedule.sync_all_schedules()
    if removed:
        logger.warning("removed %d periodic task(s) of rules no longer on a schedule", removed)
    return len(reconcile.reconcile())
