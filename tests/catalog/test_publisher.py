"""The event publisher: webhook events stored unpublished are published in batches, none lost.

Against the real PostgreSQL and the real Redis broker of the test settings: messages are read
back from the broker's ingest queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from kombu import Connection

from catalog.events import record_event
from catalog.models import Event, EventStatus
from catalog.publisher import PublisherThread, publish_batch, walk_unpublished_index

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "ingest"


def _store(workspace, count: int, *, later: bool = True) -> list[Event]:
    with transaction.atomic():
        return [
            record_event(
                workspace=workspace,
                trigger_key="webhook_received",
                payload={"endpoint_id": 1, "body": {"n": n}},
                publish_later=later,
            )
            for n in range(count)
        ]


def _copy_unpublished(template: Event, count: int) -> None:
    """Insert ``count`` copies of ``template`` (new ids, unpublished) in one statement."""
    columns = [str(f.column) for f in Event._meta.concrete_fields]
    values = [
        {"id": "gen_random_uuid()", "dedupe_key": "NULL", "published_at": "NULL"}.get(c, c)
        for c in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO catalog_event ({', '.join(columns)})"
            f" SELECT {', '.join(values)} FROM catalog_event, generate_series(1, %s)"
            " WHERE id = %s",
            [count, template.pk],
        )


def _drain() -> list[list[str]]:
    """Empty the ingest queue; return the id lists of its dispatch_events messages."""
    batches = []
    with Connection(settings.CELERY_BROKER_URL) as conn:
        queue = conn.SimpleQueue(QUEUE)
        try:
            while True:
                try:
                    message = queue.get(block=True, timeout=1)
                except queue.Empty:
                    break
                if message.headers.get("task") == "automations.dispatch_events":
                    args, _kwargs, _embed = message.decode()
                    batches.append(list(args[0]))
                message.ack()
        finally:
            queue.close()
    return batches


def _mine(batches: list[list[str]], events: list[Event]) -> list[str]:
    wanted = {str(e.pk) for e in events}
    return sorted(i for batch in batches for i in batch if i in wanted)


def test_events_stored_for_later_are_published_in_batches_and_marked(workspace):
    # given 120 webhook events stored unpublished
    _drain()
    events = _store(workspace, 120)
    assert Event.objects.filter(published_at__isnull=True).count() == 120
    # when the publisher runs one round
    claimed = publish_batch()
    # then all are published, in a few messages of many ids each, and marked published
    assert claimed == 120
    batches = _drain()
    assert _mine(batches, events) == sorted(str(e.pk) for e in events)
    assert len(batches) == 3  # chunks of 50
    assert not Event.objects.filter(published_at__isnull=True).exists()
    # and a second round finds nothing to publish
    assert publish_batch() == 0
    assert _drain() == []


def test_events_published_on_commit_are_not_published_again(workspace):
    # given internal events (published by their own transaction's commit)
    _store(workspace, 2, later=False)
    _drain()
    # when the publisher runs, then it has nothing to do
    assert publish_batch() == 0
    assert _drain() == []


def test_an_event_no_longer_pending_is_marked_but_not_sent(workspace):
    # given two unpublished events, one of them marked stale by its delivery
    fresh, stale = _store(workspace, 2)
    Event.objects.filter(pk=stale.pk).update(status=EventStatus.STALE)
    _drain()
    # when
    assert publish_batch() == 2
    # then only the pending one is sent; both are settled for the publisher
    assert _mine(_drain(), [fresh, stale]) == [str(fresh.pk)]
    assert not Event.objects.filter(published_at__isnull=True).exists()


def test_a_publisher_dying_between_claim_and_publish_loses_nothing(workspace):
    # given unpublished events claimed by a first publisher (its own database connection)
    events = _store(workspace, 5)
    _drain()
    claimed = threading.Event()
    crash = threading.Event()
    seen: list[int] = []

    def first_publisher() -> None:
        try:
            with transaction.atomic():
                rows = list(
                    Event.objects.select_for_update(skip_locked=True)
                    .filter(published_at__isnull=True)
                    .values_list("pk", flat=True)
                )
                seen.append(len(rows))
                claimed.set()
                crash.wait(10)
                # the process dies here, before publishing: its transaction never commits
                raise SystemExit("publisher killed")
        except SystemExit:
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=first_publisher)
    thread.start()
    assert claimed.wait(10)
    # when a second publisher runs meanwhile, it skips the claimed rows (no wait, no double)
    assert publish_batch() == 0
    # and when the first one dies
    crash.set()
    thread.join(10)
    assert seen == [5]
    # then the rows are unpublished again and the next round publishes every one of them
    assert Event.objects.filter(published_at__isnull=True).count() == 5
    assert publish_batch() == 5
    assert _mine(_drain(), events) == sorted(str(e.pk) for e in events)


@contextmanager
def _running(**options: float) -> Iterator[PublisherThread]:
    """Run the publisher loop in its thread (the ingest queue emptied first); stop it after."""
    _drain()
    publisher = PublisherThread(**options)
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stopping.set()
        # a NOTIFY ends its wait at once
        with connection.cursor() as cursor:
            cursor.execute("NOTIFY typewire_events")
        publisher.join(10)
    assert not publisher.is_alive()


def _wait_published(pks: list[Any], seconds: float = 10) -> None:
    """Return once every one of ``pks`` is marked published (or ``seconds`` went by)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Event.objects.filter(pk__in=pks, published_at__isnull=True).exists():
            return
        time.sleep(0.05)


def test_the_publisher_thread_wakes_on_the_notify_of_a_stored_event(workspace):
    # given the publisher loop running with a long poll: only a NOTIFY can wake it in time
    with _running(poll=30):
        time.sleep(0.5)  # it has drained the (empty) backlog and is listening
        # when a webhook event is stored
        started = time.monotonic()
        (event,) = _store(workspace, 1)
        # then it is published within a moment, not after the poll
        _wait_published([event.pk])
        assert Event.objects.get(pk=event.pk).published_at is not None
        assert time.monotonic() - started < 5
        assert _mine(_drain(), [event]) == [str(event.pk)]


def test_a_stream_of_deliveries_is_published_in_a_few_rounds_not_one_per_event(workspace):
    # given the publisher loop running, lingering 0.3 s after a round that was not full
    events: list[Event] = []
    with _running(poll=30, linger=0.3):
        time.sleep(0.5)
        # when webhook events arrive one at a time, every 20 ms for about 1.5 s
        for _ in range(75):
            events += _store(workspace, 1)
            time.sleep(0.02)
        pks = [e.pk for e in events]
        _wait_published(pks)
        # then every one is published, once
        assert _mine(_drain(), events) == sorted(str(pk) for pk in pks)
        # in rounds that each took what arrived meanwhile (a round marks its events with one
        # time): about one per linger, not one per event as a loop going round at once made
        rounds = Event.objects.filter(pk__in=pks).values("published_at").distinct().count()
        assert rounds <= 12, rounds


def test_the_claim_walks_the_unpublished_index_in_order(workspace):
    # given a published burst of 20,000 events, whose entries linger in the partial index
    # until a vacuum
    (template,) = _store(workspace, 1)
    _copy_unpublished(template, 20_000)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_event SET published_at = now()")
    _store(workspace, 3)
    claim = (
        Event.objects.select_for_update(skip_locked=True)
        .filter(published_at__isnull=True)
        .order_by("recorded_at")
        .values_list("pk", "status")[:500]
    )
    # when the publisher's transaction sets up its claim
    with transaction.atomic():
        walk_unpublished_index()
        plan = claim.explain()
    # then it is an index scan in recorded_at order, which marks dead entries as it passes
    # them (a bitmap scan would visit every one of them again on each round)
    assert "Index Scan using event_unpublished_idx" in plan
    assert "Bitmap" not in plan
    # and the setting ends with the transaction
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_bitmapscan")
        assert cursor.fetchone() == ("on",)
