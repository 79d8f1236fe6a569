"""The event publisher: hands stored, unpublished events to the broker in batches.

The webhook fast path stores an event with ``published_at`` empty, so a request never waits on
the broker, and once it commits a thread of the web process sends a PostgreSQL ``NOTIFY``
(``catalog.events.notify_publisher``, folding a burst's wake-ups into a few). The publisher
wakes on that notification (or after a short poll), then, in one transaction:

1. claims up to a batch of unpublished events, oldest first (``FOR UPDATE SKIP LOCKED``: two
   publishers never claim the same rows, and neither waits for the other);
2. publishes one ``automations.dispatch_events`` message per chunk of pending ones;
3. marks every claimed row published and commits.

A publisher that dies between claiming and committing loses nothing: its transaction rolls
back, the rows are unpublished again and the next batch takes them. If it dies after
publishing but before committing, they are published twice, which dispatch tolerates (an event
is dispatched once, under its row lock). A broker outage leaves them unpublished, and the
sweeper (``catalog.sweep_pending_events``) still re-publishes any event pending too long.

It runs as a thread of each Celery worker that consumes the ingest queue (``config.celery``);
:func:`run` is the loop, :func:`publish_batch` one round (tests call it directly).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catalog.events import NOTIFY_CHANNEL
from catalog.models import Event, EventStatus

logger = logging.getLogger(__name__)

# Sent by name: the task lives in automations, which catalog must not import (STYLE 1).
DISPATCH_BATCH_TASK = "automations.dispatch_events"
# Events per dispatch message: one message carries this many ids to one worker.
CHUNK = 50


def publish_batch(limit: int | None = None) -> int:
    """Claim, publish and mark up to ``limit`` unpublished events; return how many were claimed.

    Raises the broker's error when a publish fails: the transaction then rolls back and the
    events stay unpublished for the next round (or the sweeper).
    """
    size = limit or int(getattr(settings, "TYPEWIRE_PUBLISH_BATCH_SIZE", 500))
    with transaction.atomic():
        walk_unpublished_index()
        claimed = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True)
            .order_by("recorded_at")
            .values_list("pk", "status")[:size]
        )
        if not claimed:
            return 0
        pending = [pk for pk, status in claimed if status == EventStatus.PENDING]
        for start in range(0, len(pending), CHUNK):
            send(pending[start : start + CHUNK])
        Event.objects.filter(pk__in=[pk for pk, _ in claimed]).update(published_at=timezone.now())
    return len(claimed)


def walk_unpublished_index() -> None:
    """Make this transaction's claim walk the partial index event_unpublished_idx in order.

    Every published event leaves a dead entry in that index until a vacuum removes it, and a
    burst leaves thousands. A bitmap scan (what PostgreSQL picks for the few rows it expects)
    visits all of them on every round: measured at 6 ms a round with 36,000 of them, on each of
    the two publishers, at every wake-up. An index scan in ``recorded_at`` order marks each dead
    entry it meets as dead in the index, so the next rounds skip them (0.15 ms). PostgreSQL only.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('enable_bitmapscan', 'off', true),"
            " set_config('enable_seqscan', 'off', true)"
        )


def send(event_ids: Sequence[uuid.UUID]) -> None:
    """Publish one dispatch message for ``event_ids`` (raises when the broker refuses it)."""
    current_app.send_task(DISPATCH_BATCH_TASK, args=[[str(pk) for pk in event_ids]])


def run(stop: threading.Event, *, poll: float | None = None, linger: float | None = None) -> None:
    """Publish until ``stop`` is set: drain while there is work, then wait for a NOTIFY or ``poll``.

    A full batch is followed by the next at once (a backlog). After a partial one the loop
    lingers ``linger`` seconds (``TYPEWIRE_PUBLISH_LINGER_SECONDS``) before the next round, so
    that under a steady stream of deliveries each round carries what arrived meanwhile: without
    it, two publishers spin through back-to-back rounds of a few events each, every round a
    transaction and a broker message, and take the CPU the web and the workers need (measured
    in the burst benchmark: the workers then ran a fifth of their usual rate).

    Errors (the broker or the database away) are logged and retried after ``poll`` seconds.
    """
    interval = poll if poll is not None else float(settings.TYPEWIRE_PUBLISH_POLL_SECONDS)
    if linger is None:
        linger = float(getattr(settings, "TYPEWIRE_PUBLISH_LINGER_SECONDS", 0.05))
    size = int(getattr(settings, "TYPEWIRE_PUBLISH_BATCH_SIZE", 500))
    listening: object = None
    try:
        while not stop.is_set():
            try:
                claimed = publish_batch(size)
                if claimed >= size:
                    continue
                if claimed:
                    stop.wait(linger)
                    continue
                listening = _wait(interval, listening)
            except Exception:
                logger.exception("event publisher: round failed; trying again shortly")
                # A fresh connection next round (it may be the one that failed).
                listening = None
                connection.close()
                stop.wait(interval)
    finally:
        connection.close()


def _wait(seconds: float, listening: object) -> object:
    """Sleep up to ``seconds``, waking early on a NOTIFY; return the connection listened on."""
    if connection.vendor != "postgresql":
        threading.Event().wait(seconds)
        return None
    connection.ensure_connection()
    raw = connection.connection
    if raw is not listening:
        raw.execute(f"LISTEN {NOTIFY_CHANNEL}")
    for _ in raw.notifies(timeout=seconds, stop_after=1):
        pass
    return raw


class PublisherThread(threading.Thread):
    """The publisher loop in a daemon thread (one per worker process that starts it)."""

    def __init__(self, poll: float | None = None, linger: float | None = None) -> None:
        super().__init__(name="typewire-event-publisher", daemon=True)
        self.stopping = threading.Event()
        self.poll = poll
        self.linger = linger

    def run(self) -> None:
        """Run the loop until :meth:`stop`."""
        run(self.stopping, poll=self.poll, linger=self.linger)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end and wait for it (at most ``timeout`` seconds)."""
        self.stopping.set()
        self.join(timeout)
