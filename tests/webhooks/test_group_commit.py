"""Group commit: concurrent deliveries of one web process share one statement.

``GroupCommit`` on its own (threads, a stand-in write), then ``write_accepted``: a batch of
deliveries in one statement, each answered for itself (stored, duplicate, endpoint changed), and
a row the database refuses failing alone.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.db import DataError, connection
from django.utils import timezone

from catalog.events import event_row
from catalog.models import Event, EventSource
from tests.webhooks.conftest import as_json, make_endpoint, standard_headers
from webhooks import fastpath, ingest
from webhooks.fastpath import Accepted, GroupCommit, Stored, write_accepted
from webhooks.models import Endpoint, InboundDelivery


class _Recorder:
    """A write that records its batches and can be held until released."""

    def __init__(self, answer: Callable[[int], Any] = lambda item: item * 10) -> None:
        self.batches: list[list[int]] = []
        self.answer = answer
        self.release = threading.Event()
        self.release.set()

    def __call__(self, items: list[int]) -> list[Any]:
        self.batches.append(list(items))
        assert self.release.wait(5)
        return [self.answer(item) for item in items]


def _submit_in_threads(
    group: GroupCommit[int, Any], items: list[int]
) -> tuple[dict[int, Any], list[threading.Thread]]:
    """Submit each item from its own thread; return once all are queued."""
    results: dict[int, Any] = {}

    def submit(item: int) -> None:
        try:
            results[item] = group.submit(item)
        except Exception as exc:  # noqa: BLE001 - the test looks at what each thread got
            results[item] = exc

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(group._queue) == len(items))
    return results, threads


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_lone_item_is_written_at_once():
    write = _Recorder()
    group = GroupCommit(write)
    assert group.submit(4) == 40
    assert write.batches == [[4]]


def test_items_that_arrive_during_a_write_share_the_next_one():
    # given a write under way (held)
    write = _Recorder()
    write.release.clear()
    group: GroupCommit[int, Any] = GroupCommit(write)
    first = threading.Thread(target=group.submit, args=(1,))
    first.start()
    _wait_until(lambda: write.batches == [[1]])
    # when three more items come meanwhile
    results, threads = _submit_in_threads(group, [2, 3, 4])
    write.release.set()
    for thread in [first, *threads]:
        thread.join(5)
    # then they were written together, in one more write, each thread getting its own answer
    assert len(write.batches) == 2
    assert sorted(write.batches[1]) == [2, 3, 4]
    assert results == {2: 20, 3: 30, 4: 40}


def test_a_batch_is_at_most_max_batch_items():
    write = _Recorder()
    write.release.clear()
    group: GroupCommit[int, Any] = GroupCommit(write, max_batch=2)
    first = threading.Thread(target=group.submit, args=(1,))
    first.start()
    _wait_until(lambda: write.batches == [[1]])
    results, threads = _submit_in_threads(group, [2, 3, 4, 5, 6])
    write.release.set()
    for thread in [first, *threads]:
        thread.join(5)
    assert [len(batch) for batch in write.batches] == [1, 2, 2, 1]
    assert results == {2: 20, 3: 30, 4: 40, 5: 50, 6: 60}


def test_an_error_for_one_item_is_raised_in_its_thread_only():
    def answer(item: int) -> Any:
        return ValueError(f"item {item} refused") if item == 3 else item * 10

    write = _Recorder(answer)
    write.release.clear()
    group: GroupCommit[int, Any] = GroupCommit(write)
    first = threading.Thread(target=group.submit, args=(1,))
    first.start()
    _wait_until(lambda: len(write.batches) == 1)
    results, threads = _submit_in_threads(group, [2, 3, 4])
    write.release.set()
    for thread in [first, *threads]:
        thread.join(5)
    assert (results[2], results[4]) == (20, 40)
    assert isinstance(results[3], ValueError)
    assert str(results[3]) == "item 3 refused"


def test_a_write_that_fails_wakes_every_waiter_with_the_error():
    def boom(items: list[int]) -> list[Any]:
        raise RuntimeError("database gone")

    group: GroupCommit[int, Any] = GroupCommit(boom)
    with pytest.raises(RuntimeError, match="database gone"):
        group.submit(1)
    # and the group is not left busy: the next item is written (and fails the same way)
    with pytest.raises(RuntimeError, match="database gone"):
        group.submit(2)


# --- write_accepted: the statement ------------------------------------------------------------


def _accepted(
    endpoint: Endpoint, *, key: str | None = None, fingerprint: str | None = None, **event: Any
) -> Accepted:
    now = timezone.now()
    row = event_row(
        workspace_id=endpoint.workspace_id,
        trigger_key=endpoint.trigger_key,
        clean_payload={"endpoint_id": endpoint.pk, "body": {"n": 1}},
        source=EventSource.WEBHOOK,
        occurred_at=now,
        dedupe_key=f"hook:{endpoint.pk}:{key or uuid.uuid4().hex}",
        published=False,
    )
    row.update(event)
    delivery = {
        "endpoint_id": endpoint.pk,
        "workspace_id": endpoint.workspace_id,
        "token_prefix": "",
        "received_at": now,
        "remote_ip": "127.0.0.1",
        "status_code": 202,
        "error": "",
        "detail": "",
        "is_duplicate": False,
        "latency_ms": 1,
        "headers": {"content-type": "application/json"},
        "body": '{"n": 1}',
        "body_size": 8,
        "is_body_truncated": False,
        "provider_event_id": key or "",
        "event_type": "",
    }
    return Accepted(endpoint.pk, fingerprint or _fingerprint(endpoint, now), now, row, delivery)


def _fingerprint(endpoint: Endpoint, now: datetime) -> str:
    fingerprint = getattr(
        Endpoint.objects.with_active_secrets(now).get(pk=endpoint.pk), "_fingerprint", None
    )
    assert isinstance(fingerprint, str)
    return fingerprint


@pytest.mark.django_db
def test_one_statement_answers_each_delivery_of_a_batch(workspace, django_assert_num_queries):
    # given an event already stored for key "seen"
    hook, _ = make_endpoint(workspace)
    (first,) = write_accepted([_accepted(hook, key="seen")])
    assert isinstance(first, Stored)
    assert first.event_id is not None
    fresh, again, stale = (
        _accepted(hook),
        _accepted(hook, key="seen"),
        _accepted(hook, fingerprint="an endpoint since changed"),
    )
    # when a fresh delivery, a redelivery and one checked against an outdated endpoint come
    with django_assert_num_queries(1):
        results = write_accepted([fresh, again, stale])
    # then each got its own answer
    assert results == [
        Stored(current=True, event_id=fresh.event["id"]),
        Stored(current=True, event_id=None, existing_id=first.event_id),
        Stored(current=False),
    ]
    stored = set(Event.objects.values_list("pk", flat=True))
    assert stored == {first.event_id, fresh.event["id"]}
    delivery = InboundDelivery.objects.get(event_id=fresh.event["id"])
    assert (delivery.endpoint_id, delivery.status_code) == (hook.pk, 202)
    assert InboundDelivery.objects.count() == 2  # the duplicate's row is the caller's to write


@pytest.mark.django_db
def test_two_deliveries_of_one_event_in_a_batch_store_it_once(workspace):
    hook, _ = make_endpoint(workspace)
    one, other = _accepted(hook, key="evt_1"), _accepted(hook, key="evt_1")
    results = write_accepted([one, other])
    assert results[0] == Stored(current=True, event_id=one.event["id"])
    # the other is a duplicate; its event committed in the same statement, looked up after
    assert results[1] == Stored(current=True, event_id=None, existing_id=None)
    assert Event.objects.count() == InboundDelivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_fails_alone(workspace):
    # given a batch where one event's trigger key is longer than its column
    hook, _ = make_endpoint(workspace)
    good, bad, other = _accepted(hook), _accepted(hook, trigger_key="x" * 500), _accepted(hook)
    # when
    results = write_accepted([good, bad, other])
    # then the two others are stored, the bad one gets the database's error
    assert results[0] == Stored(current=True, event_id=good.event["id"])
    assert results[2] == Stored(current=True, event_id=other.event["id"])
    assert isinstance(results[1], DataError)
    assert set(Event.objects.values_list("pk", flat=True)) == {
        good.event["id"],
        other.event["id"],
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_are_stored_by_one_statement_and_each_answered(
    workspace, monkeypatch, settings
):
    # given a cached endpoint, and the process's group commit with its first write held
    ingest.forget_endpoints()
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    batches: list[int] = []
    release = threading.Event()

    def write(items: list[Accepted]) -> list[Stored | BaseException]:
        batches.append(len(items))
        if len(batches) == 1:
            assert release.wait(5)
        try:
            return write_accepted(items)
        finally:
            connection.close()  # each writer is a thread of its own here

    group: GroupCommit[Accepted, Stored] = GroupCommit(write)
    monkeypatch.setattr(fastpath, "GROUP", group)
    settings.TYPEWIRE_WEBHOOK_GROUP_COMMIT = True
    bodies = [as_json({"type": "customer.created", "id": f"cus_{n}"}) for n in range(5)]
    answers: dict[int, ingest.Outcome] = {}

    def deliver(n: int) -> None:
        headers = {"Content-Type": "application/json", **standard_headers(bodies[n], secret)}
        try:
            answers[n] = ingest.receive(hook.token, bodies[n], headers, "127.0.0.1")
        finally:
            connection.close()

    warm = as_json({"type": "customer.created", "id": "cus_warm"})
    warm_headers = {"Content-Type": "application/json", **standard_headers(warm, secret)}
    release.set()
    assert ingest.receive(hook.token, warm, warm_headers, "127.0.0.1").status == 202
    batches.clear()
    release.clear()
    # when five deliveries come, four of them while the first one's statement is under way
    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(5)]
    threads[0].start()
    _wait_until(lambda: batches == [1])
    for thread in threads[1:]:
        thread.start()
    _wait_until(lambda: len(group._queue) == 4)
    release.set()
    for thread in threads:
        thread.join(10)
    # then the four that waited shared one statement, and every delivery got its own event
    assert batches == [1, 4]
    assert [answers[n].status for n in range(5)] == [202] * 5
    event_ids = {uuid.UUID(str(answers[n].event_id)) for n in range(5)}
    assert len(event_ids) == 5
    logged = InboundDelivery.objects.filter(event_id__in=event_ids)
    assert sorted(logged.values_list("event_id", flat=True)) == sorted(event_ids)
    assert Event.objects.filter(pk__in=event_ids).count() == 5
