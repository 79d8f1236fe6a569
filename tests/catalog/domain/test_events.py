"""record_event(): validation, the caller's transaction, causation, dedupe keys, dispatch."""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest
import redis
from celery import Celery, _state
from django.conf import settings
from django.db import transaction

from catalog.events import (
    DISPATCH_TASK,
    Causation,
    DuplicateEventError,
    mark_event,
    publish,
    record_event,
)
from catalog.models import Event, EventSource, EventStatus
from catalog.registry import UnknownEntryError
from catalog.types import FieldError, ValidationError

TAGGED = {"customer_id": 7, "tag": "vip", "action": "added"}


# These tests are about the publish path: every trigger counts as listened to.
pytestmark = pytest.mark.usefixtures("every_trigger_heard")


def _record(workspace, **kwargs) -> Event:
    with transaction.atomic():
        return record_event(
            workspace=workspace,
            trigger_key=kwargs.pop("trigger_key", "customer_tagged"),
            payload=kwargs.pop("payload", TAGGED),
            **kwargs,
        )


def _record_then_fail(workspace) -> None:
    with transaction.atomic():
        record_event(workspace=workspace, trigger_key="customer_tagged", payload=TAGGED)
        _ = 1 / 0


@pytest.mark.django_db
def test_root_event_is_pending_at_depth_0_and_is_its_own_root(workspace):
    # given / when
    event = _record(workspace)
    # then
    stored = Event.objects.get()
    assert stored.id == event.id
    assert (stored.trigger_key, stored.payload, stored.source) == (
        "customer_tagged",
        TAGGED,
        EventSource.INTERNAL,
    )
    assert (stored.status, stored.depth, stored.root_event_id) == (
        EventStatus.PENDING,
        0,
        stored.id,
    )
    assert (stored.causation_execution_id, stored.dedupe_key, stored.dispatched_at) == (
        None,
        None,
        None,
    )
    assert stored.occurred_at == stored.recorded_at


@pytest.mark.django_db
def test_payload_is_stored_in_its_normalized_form(workspace):
    # given
    payload = {"customer_id": 7, "email": "Ada@EXAMPLE.com", "phone": None, "source": "api"}
    # when
    _record(workspace, trigger_key="customer_created", payload=payload)
    # then
    assert Event.objects.get().payload == {
        "customer_id": 7,
        "email": "Ada@example.com",
        "phone": None,
        "source": "api",
    }


@pytest.mark.django_db
def test_event_caused_by_an_execution_continues_the_chain(workspace):
    # given
    root = _record(workspace)
    causation = Causation.from_event(root, execution_id=42)
    # when
    child = _record(workspace, causation=causation, source=EventSource.RULE)
    grandchild = _record(workspace, causation=Causation.from_event(child, execution_id=43))
    # then
    assert causation == Causation(execution_id=42, root_event_id=root.id, depth=0)
    assert (child.root_event_id, child.depth, child.causation_execution_id) == (root.id, 1, 42)
    assert (grandchild.root_event_id, grandchild.depth) == (root.id, 2)
    assert Event.objects.filter(root_event_id=root.id).count() == 3


@pytest.mark.django_db
def test_bad_payload_raises_validation_error_naming_every_field_and_records_nothing(workspace):
    # given
    payload = {"customer_id": "seven", "tag": "vip", "action": "toggled", "extra": 1}
    # when
    with pytest.raises(ValidationError) as raised:
        _record(workspace, payload=payload)
    # then
    assert raised.value.errors == [
        FieldError("customer_id", 'expected ref(customer) (a positive integer id), got "seven"'),
        FieldError("action", 'expected one of added, removed, got "toggled"'),
        FieldError("extra", "unknown field"),
    ]
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_unknown_trigger_key_raises_and_records_nothing(workspace):
    # given / when
    with pytest.raises(UnknownEntryError, match='Unknown trigger "customer_taged"'):
        _record(workspace, trigger_key="customer_taged")
    # then
    assert Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_record_event_outside_a_transaction_raises_and_records_nothing(workspace):
    # given: autocommit, no atomic block
    # when
    with pytest.raises(RuntimeError, match=r"must run inside transaction\.atomic\(\)"):
        record_event(workspace=workspace, trigger_key="customer_tagged", payload=TAGGED)
    # then
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_duplicate_dedupe_key_raises_with_the_first_event_and_keeps_the_transaction(workspace):
    # given
    first = _record(workspace, dedupe_key="cron:7:2025-03-01T09:00:00Z")
    # when
    with transaction.atomic():
        with pytest.raises(DuplicateEventError) as raised:
            record_event(
                workspace=workspace,
                trigger_key="customer_tagged",
                payload=TAGGED,
                dedupe_key="cron:7:2025-03-01T09:00:00Z",
            )
        still_usable = Event.objects.count()
    # then
    assert raised.value.existing.id == first.id
    assert still_usable == 1
    assert list(Event.objects.values_list("id", flat=True)) == [first.id]


@pytest.mark.django_db
def test_same_dedupe_key_in_another_workspace_is_a_different_event(workspace, other_workspace):
    # given
    _record(workspace, dedupe_key="evt_1")
    # when
    _record(other_workspace, dedupe_key="evt_1")
    # then
    assert Event.objects.filter(dedupe_key="evt_1").count() == 2


@pytest.mark.django_db
def test_dispatch_is_scheduled_on_commit_with_the_event_id(
    workspace, django_capture_on_commit_callbacks
):
    # given / when
    with django_capture_on_commit_callbacks() as callbacks:
        event = _record(workspace)
    # then
    assert [(cb.func, cb.args) for cb in callbacks] == [(publish, (event.id,))]


@pytest.mark.django_db
def test_rolled_back_event_schedules_no_dispatch(workspace, django_capture_on_commit_callbacks):
    # given / when
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ZeroDivisionError):
        _record_then_fail(workspace)
    # then
    assert callbacks == []
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_committed_event_is_published_to_the_broker_by_task_name(
    workspace, django_capture_on_commit_callbacks
):
    # given
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(settings.QUEUE_INGEST)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        event = _record(workspace)
    # then
    raw = [json.loads(item) for item in broker.lrange(settings.QUEUE_INGEST, 0, -1)]
    bodies = [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))) for m in raw]
    # (only messages about this event count: another test's late publish may share the queue)
    mine = [(task, body) for task, body in bodies if body[0] == [str(event.id)]]
    assert [(task, body[0], body[1]) for task, body in mine] == [
        (DISPATCH_TASK, [str(event.id)], {})
    ]
    broker.delete(settings.QUEUE_INGEST)


@pytest.fixture
def unreachable_broker(monkeypatch):
    """Make the current Celery app one whose broker address has nothing listening."""
    # Celery prefers the CELERY_BROKER_URL environment variable to the configured URL.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    previous = _state.get_current_app()
    broken = Celery("broken", broker="redis://127.0.0.1:1/0", set_as_current=False)
    broken.conf.broker_connection_timeout = 0.5
    broken.conf.task_publish_retry_policy = {"max_retries": 0}
    broken.set_current()
    yield broken
    previous.set_current()


def test_publish_logs_a_broker_outage_instead_of_raising(unreachable_broker, caplog):
    # given
    event_id = uuid.uuid4()
    # when
    with caplog.at_level(logging.ERROR, logger="catalog.events"):
        publish(event_id)
    # then
    assert [r.getMessage() for r in caplog.records if r.name == "catalog.events"] == [
        f"could not publish event {event_id}; the sweeper will dispatch it"
    ]


@pytest.mark.django_db
def test_mark_event_settles_a_pending_event_once(workspace):
    # given
    event = _record(workspace)
    # when
    first = mark_event(event.id, status=EventStatus.DISPATCHED)
    second = mark_event(event.id, status=EventStatus.SKIPPED, detail="late")
    # then
    assert (first, second) == (True, False)
    event.refresh_from_db()
    assert (event.status, event.status_detail) == (EventStatus.DISPATCHED, "")
    assert event.dispatched_at is not None


@pytest.mark.django_db
def test_mark_event_refuses_to_go_back_to_pending(workspace):
    # given
    event = _record(workspace)
    # when
    with pytest.raises(ValueError, match="can only leave the pending state"):
        mark_event(event.id, status=EventStatus.PENDING)
    # then
    assert Event.objects.get().status == EventStatus.PENDING
