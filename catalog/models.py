"""The catalog's models: the internal ``Event`` outbox, plus the domain models re-exported.

Webhooks and automations both read and write ``Event``, so it lives here, below both. The
merchant-domain models are defined in ``catalog.domain.models`` and re-exported so that Django
registers them under the ``catalog`` app.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from catalog.domain.models import (
    Campaign,
    CampaignStatus,
    Channel,
    Customer,
    CustomerTag,
    CustomFieldDefinition,
    CustomFieldType,
    EnrollmentStatus,
    Journey,
    JourneyEnrollment,
    LifecycleStage,
    Message,
    Order,
    OrderStatus,
    Product,
    Segment,
    SegmentMembership,
)

__all__ = [
    "Campaign",
    "CampaignStatus",
    "Channel",
    "CustomFieldDefinition",
    "CustomFieldType",
    "Customer",
    "CustomerTag",
    "EnrollmentStatus",
    "Event",
    "EventSource",
    "EventStatus",
    "Journey",
    "JourneyEnrollment",
    "LifecycleStage",
    "Message",
    "Order",
    "OrderStatus",
    "Product",
    "Segment",
    "SegmentMembership",
]


class EventSource(models.TextChoices):
    """Where an event came from."""

    INTERNAL = "internal", "Internal (a domain change)"
    WEBHOOK = "webhook", "Inbound webhook"
    SCHEDULE = "schedule", "Schedule"
    MONITOR = "monitor", "Monitor"
    POLL = "poll", "Poll"
    RULE = "rule", "Rule"
    BACKFILL = "backfill", "Backfill"


class EventStatus(models.TextChoices):
    """An event's dispatch state: pending until the dispatcher has matched it against rules."""

    PENDING = "pending", "Pending"
    DISPATCHED = "dispatched", "Dispatched"
    STALE = "stale", "Stale (out of order, not applied)"
    SKIPPED = "skipped", "Skipped"


class Event(models.Model):
    """Something that happened in a workspace: one trigger key and its validated payload.

    Rows are written only by ``catalog.events.record_event``, in the transaction of the change
    they describe (the transactional outbox): a committed change always has its event.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by event_ws_trigger_idx and event_unique_dedupe_key, both led by the workspace: a
    # third index would only cost every insert (two per tagging execution) one more write.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    trigger_key = models.CharField(max_length=100)
    # Validated against the trigger's TriggerSpec before insert (record_event).
    payload = models.JSONField()
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(
        max_length=20, choices=EventSource.choices, default=EventSource.INTERNAL
    )
    # The automations Execution whose action caused this event. An id rather than a foreign key:
    # catalog sits below automations and must not import it.
    causation_execution_id = models.BigIntegerField(null=True, blank=True)
    # The first event of the causation chain (this event's own id when nothing caused it).
    root_event_id = models.UUIDField(null=True, blank=True)
    # How many rule executions lie between the root event and this one (0 for a root event).
    depth = models.PositiveSmallIntegerField(default=0)
    # A provider delivery id or a scheduled tick ("cron:<rule>:<instant>"): one event per key.
    dedupe_key = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=EventStatus.choices, default=EventStatus.PENDING
    )
    status_detail = models.CharField(max_length=255, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # When the dispatch task was handed to the broker. Empty for an event stored by the webhook
    # fast path: the event publisher (catalog.publisher) claims those in batches and fills it.
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        """Ordering, and the invariants the database enforces."""

        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(
                fields=["workspace", "trigger_key", "-occurred_at"], name="event_ws_trigger_idx"
            ),
            models.Index(fields=["root_event_id"], name="event_root_idx"),
            # The dispatcher and the sweeper read the pending queue: keep it small and indexed.
            models.Index(
                fields=["recorded_at"],
                condition=Q(status=EventStatus.PENDING),
                name="event_pending_idx",
            ),
            # The event publisher's queue: stored, not yet published.
            models.Index(
                fields=["recorded_at"],
                condition=Q(published_at__isnull=True),
                name="event_unpublished_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="event_unique_dedupe_key",
            ),
            models.CheckConstraint(
                condition=Q(status__in=EventStatus.values), name="event_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=EventSource.values), name="event_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(depth=0) | Q(causation_execution_id__isnull=False),
                name="event_depth_needs_causation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trigger_key} {self.id}"
