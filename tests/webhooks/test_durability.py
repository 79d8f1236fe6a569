"""Races and outages against real servers: concurrent duplicates, broker down, database down."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from django.conf import settings
from django.core.servers.basehttp import WSGIServer
from django.test import override_settings
from kombu import Connection

from catalog.models import Event, EventStatus
from catalog.publisher import publish_batch
from catalog.tasks import sweep_pending_events
from tests.webhooks.conftest import as_json, make_endpoint, standard_headers
from tests.webhooks.servers import free_port, gunicorn
from webhooks.models import InboundDelivery

DISPATCH_QUEUE = "ingest"  # where CELERY_TASK_ROUTES sends automations.dispatch_*

# The live server listens with Django's backlog of 10: 50 simultaneous connects overflow it and
# get reset. Set at import, before pytest-django starts the (session-wide) live server.
WSGIServer.request_queue_size = 128


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deliveries_of_one_event_store_it_once(live_server, workspace):
    # given one signed delivery, sent 50 times at once
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    body = as_json({"type": "user.created", "email": "jane@example.com"})
    headers = {"Content-Type": "application/json", **standard_headers(body, secret)}
    url = f"{live_server.url}/hooks/{hook.token}"
    barrier = threading.Barrier(50)
    answers: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()

    def deliver() -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            response = client.post(url, content=body, headers=headers)
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    event = Event.objects.get()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 49 + [202]
    assert {answer["event_id"] for _, answer in answers} == {str(event.id)}
    assert sum(1 for _, answer in answers if answer.get("duplicate") is True) == 49
    assert InboundDelivery.objects.count() == 50
    assert InboundDelivery.objects.filter(is_duplicate=True).count() == 49


def _dispatch_messages(url: str) -> list[str]:
    """Drain the dispatch queue of the real broker; return the event ids its messages carry."""
    event_ids = []
    with Connection(url) as conn:
        queue = conn.SimpleQueue(DISPATCH_QUEUE)
        try:
            while True:
                try:
                    message = queue.get(block=True, timeout=2)
                except queue.Empty:
                    break
                task = message.headers.get("task")
                if task == "automations.dispatch_event":
                    args, _kwargs, _embed = message.decode()
                    event_ids.append(args[0])
                elif task == "automations.dispatch_events":  # the event publisher's batches
                    args, _kwargs, _embed = message.decode()
                    event_ids.extend(args[0])
                message.ack()
        finally:
            queue.close()
    return event_ids


def _purge(url: str) -> None:
    with Connection(url) as conn:
        queue = conn.SimpleQueue(DISPATCH_QUEUE)
        queue.clear()
        queue.close()


@pytest.mark.django_db(transaction=True)
def test_broker_down_deliveries_are_accepted_and_published_once_it_is_back(workspace):
    # given the web app running with its broker URL on a closed port
    hook, secret = make_endpoint(workspace)
    closed_broker = f"redis://127.0.0.1:{free_port()}/0"
    bodies = [as_json({"type": "user.created", "n": n}) for n in range(3)]
    # when deliveries arrive during the outage
    with (
        gunicorn({"CELERY_BROKER_URL": closed_broker}, name="broker-down") as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        responses = [
            client.post(
                f"/hooks/{hook.token}",
                content=body,
                headers={"Content-Type": "application/json", **standard_headers(body, secret)},
            )
            for body in bodies
        ]
    # then they are answered 202 and stored, pending and not yet published (a request never
    # talks to the broker: the event publisher does, in batches)
    assert [r.status_code for r in responses] == [202, 202, 202]
    stored = {r.json()["event_id"] for r in responses}
    assert set(Event.objects.values_list("id", flat=True)) == {uuid.UUID(i) for i in stored}
    assert set(Event.objects.values_list("status", flat=True)) == {EventStatus.PENDING}
    assert set(Event.objects.values_list("published_at", flat=True)) == {None}
    # and when the broker is back, the event publisher sends them in one batch
    broker = settings.CELERY_BROKER_URL
    _purge(broker)
    assert publish_batch() == 3
    # (only this test's events count: another test's late publish may share the real queue)
    assert sorted(i for i in _dispatch_messages(broker) if i in stored) == sorted(stored)
    assert None not in set(Event.objects.values_list("published_at", flat=True))
    # and the sweeper, the safety net, still re-publishes any event left pending too long
    with override_settings(TYPEWIRE_SWEEP_AFTER_SECONDS=0):
        published = sweep_pending_events()
    assert published == 3
    assert sorted(i for i in _dispatch_messages(broker) if i in stored) == sorted(stored)


@pytest.mark.usefixtures("every_trigger_heard")
@pytest.mark.django_db(transaction=True)
def test_sweeper_leaves_recent_and_settled_events_alone(workspace):
    # given one fresh pending event and one dispatched long ago
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from catalog.events import record_event

    with transaction.atomic():
        fresh = record_event(
            workspace=workspace,
            trigger_key="webhook_received",
            payload={"endpoint_id": 1, "body": {}},
        )
        old = record_event(
            workspace=workspace,
            trigger_key="webhook_received",
            payload={"endpoint_id": 1, "body": {}},
        )
    Event.objects.filter(pk=old.pk).update(
        status=EventStatus.DISPATCHED, recorded_at=timezone.now() - timedelta(hours=1)
    )
    broker = settings.CELERY_BROKER_URL
    _purge(broker)
    # when
    with override_settings(TYPEWIRE_SWEEP_AFTER_SECONDS=30):
        published = sweep_pending_events()
    # then
    assert published == 0
    assert Event.objects.get(pk=fresh.pk).status == EventStatus.PENDING


def test_database_down_answers_503_with_retry_after():
    # given the web app pointed at a database that does not answer
    dead_db = f"postgres://root@127.0.0.1:{free_port()}/nowhere"
    body = as_json({"type": "user.created"})
    # when
    with gunicorn({"DATABASE_URL": dead_db}, name="db-down") as base:
        response = httpx.post(
            f"{base}/hooks/some-endpoint-token",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    # then
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json() == {
        "error": "unavailable",
        "detail": "The event could not be stored; retry later.",
    }
