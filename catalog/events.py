"""record_event(): the internal-event outbox row, written in the caller's transaction.

Every change to the domain, every accepted webhook and every scheduled tick ends up here. The
row is inserted in the same transaction as the change it describes; dispatch to the rules is
scheduled only once that transaction commits, and a broker outage merely delays it: the sweeper
re-dispatches every event still ``pending`` (SPEC 8.1).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any

from celery import current_app
from django.db import connection, router, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from accounts.models import Workspace
from catalog.models import Event, EventSource, EventStatus
from catalog.registry import get_trigger
from catalog.sql import cast_type, column_list, execute_prepared, insert_fields, insert_values
from catalog.types import FieldSpec

logger = logging.getLogger(__name__)

# Sent by name: the task lives in automations, which catalog must not import (STYLE 1).
DISPATCH_TASK = "automations.dispatch_event"


@dataclass(frozen=True, slots=True)
class ListenerCheck:
    """Whether any enabled rule of a workspace (its id) listens to a trigger key, asked two ways.

    ``ask(workspace_id, trigger_key)`` answers with a query of its own. ``sql``, when given, is
    the same question as an SQL boolean expression with two ``%s`` (the workspace id, then the
    trigger key): on PostgreSQL ``record_event`` asks it inside the statement that inserts the
    event, so the answer costs no round trip.
    """

    ask: Callable[[int, str], bool]
    sql: str | None = None


_has_listeners: ListenerCheck | None = None
NO_LISTENER = "No enabled rule listens to this trigger."


def set_listener_check(check: ListenerCheck | None) -> ListenerCheck | None:
    """Install the check ``record_event`` asks before it publishes an internal event.

    Returns the check it replaces. The automations app installs one (rules live there, not in
    the catalog). An internal event no enabled rule listens to is stored already dispatched,
    matching nothing, and never published: most domain events (a tag, a paid order) have no
    rule, and each would otherwise cost a broker message and a dispatch task that finds none.
    """
    global _has_listeners
    previous, _has_listeners = _has_listeners, check
    return previous


# The PostgreSQL channel that wakes the event publisher (catalog.publisher).
NOTIFY_CHANNEL = "typewire_events"


@dataclass(frozen=True, slots=True)
class Causation:
    """What caused an event: a rule execution, itself started by an event of some chain.

    ``root_event_id`` is the first event of the chain and ``depth`` the depth of the event
    that started the execution; the new event gets ``depth + 1``.
    """

    execution_id: int
    root_event_id: uuid.UUID
    depth: int

    @classmethod
    def from_event(cls, event: Event, *, execution_id: int) -> Causation:
        """Return the causation of events emitted by an execution that ``event`` started."""
        return cls(
            execution_id=execution_id,
            root_event_id=event.root_event_id or event.id,
            depth=event.depth,
        )


class DuplicateEventError(Exception):
    """An event with the same ``dedupe_key`` already exists in the workspace.

    Nothing was inserted and the caller's transaction is still usable (the insert is an
    ``ON CONFLICT DO NOTHING``); ``existing`` is the event recorded first.
    """

    def __init__(self, existing: Event) -> None:
        super().__init__(f"event {existing.id} already has dedupe key {existing.dedupe_key!r}")
        self.existing = existing


def record_event(
    *,
    workspace: Workspace,
    trigger_key: str,
    payload: Mapping[str, Any],
    source: EventSource = EventSource.INTERNAL,
    occurred_at: datetime | None = None,
    causation: Causation | None = None,
    dedupe_key: str | None = None,
    declared: Mapping[str, FieldSpec] | None = None,
    publish_later: bool = False,
) -> Event:
    """Insert a pending event in the caller's transaction and dispatch it once that commits.

    An internal event that no enabled rule of the workspace listens to is stored dispatched
    (``NO_LISTENER``) and not published (see ``set_listener_check``).

    The payload is validated against the trigger's spec and stored in its normalised form.
    Raises ``RuntimeError`` outside ``transaction.atomic()`` (the event and the change it
    describes must commit together), the catalog's ``ValidationError`` when the payload does
    not fit the spec (a programming error for internal callers), and ``DuplicateEventError``
    when ``dedupe_key`` was recorded before. ``declared`` adds the fields an endpoint or a
    poll declares to the payload of an external trigger (webhook_received, poll_new_item).

    ``publish_later`` (the webhook fast path): no broker round trip here. The event is stored
    unpublished and the event publisher, woken once this transaction commits
    (``notify_publisher``), publishes it with others in one batch (``catalog.publisher``).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            f"record_event({trigger_key!r}) must run inside transaction.atomic(), in the same "
            "transaction as the change the event describes."
        )
    clean_payload = get_trigger(trigger_key).validate_payload(dict(payload), declared)
    event = build_event(
        workspace=workspace,
        trigger_key=trigger_key,
        clean_payload=clean_payload,
        source=source,
        occurred_at=occurred_at,
        causation=causation,
        dedupe_key=dedupe_key,
        published=not publish_later,
    )
    check = None if publish_later else _has_listeners
    if check is not None and check.sql is not None and connection.vendor == "postgresql":
        inserted = _insert_asking(event, check.sql)
    else:
        if check is not None and not check.ask(workspace.pk, trigger_key):
            _settle_unheard(event)
        if dedupe_key is None:
            event.save(force_insert=True)
            inserted = True
        else:
            inserted = _insert(event)
    if not inserted:
        raise DuplicateEventError(Event.objects.get(workspace=workspace, dedupe_key=dedupe_key))
    if publish_later:
        notify_publisher()
    elif event.status == EventStatus.PENDING:
        transaction.on_commit(partial(publish, event.id), robust=True)
    return event


def _settle_unheard(event: Event) -> None:
    """Mark ``event`` dispatched to nobody: no enabled rule listens to its trigger."""
    event.status = EventStatus.DISPATCHED
    event.status_detail = NO_LISTENER
    event.dispatched_at = event.recorded_at


def build_event(
    *,
    workspace: Workspace,
    trigger_key: str,
    clean_payload: dict[str, Any],
    source: EventSource,
    occurred_at: datetime | None = None,
    causation: Causation | None = None,
    dedupe_key: str | None = None,
    published: bool = True,
) -> Event:
    """Return the unsaved pending event row for an already validated payload."""
    return Event(
        **event_row(
            workspace_id=workspace.pk,
            trigger_key=trigger_key,
            clean_payload=clean_payload,
            source=source,
            occurred_at=occurred_at,
            causation=causation,
            dedupe_key=dedupe_key,
            published=published,
        )
    )


def event_row(
    *,
    workspace_id: int,
    trigger_key: str,
    clean_payload: dict[str, Any],
    source: EventSource,
    occurred_at: datetime | None = None,
    causation: Causation | None = None,
    dedupe_key: str | None = None,
    published: bool = True,
) -> dict[str, Any]:
    """Return the column values (by attribute name) of a new pending event; others default.

    ``record_event`` saves it as an ``Event``; the webhook fast path (``webhooks.fastpath``)
    inserts the values in its own one-statement write, without building a model instance.
    ``published`` False leaves the event for the event publisher.
    """
    event_id = uuid.uuid4()
    now = timezone.now()
    return {
        "id": event_id,
        "workspace_id": workspace_id,
        "trigger_key": trigger_key,
        "payload": clean_payload,
        "occurred_at": occurred_at or now,
        "recorded_at": now,
        "source": source,
        "causation_execution_id": causation.execution_id if causation else None,
        "root_event_id": causation.root_event_id if causation else event_id,
        "depth": causation.depth + 1 if causation else 0,
        "dedupe_key": dedupe_key,
        "published_at": now if published else None,
    }


def notify_publisher() -> None:
    """Wake the event publisher soon after the current transaction commits.

    Not a ``NOTIFY`` in the transaction: PostgreSQL serialises the commits of transactions that
    notify (one lock for the whole database, held through the commit's WAL flush), which capped
    webhook ingestion at one commit per disk flush. ``PublisherWaker`` sends the notification
    from its own connection once the transaction is visible; nothing happens on rollback.
    """
    transaction.on_commit(WAKER.poke)


class PublisherWaker:
    """Sends ``NOTIFY`` on the publisher's channel from a thread, at most once per interval.

    ``poke`` returns at once; a thread of this process (started on first use, so a forked web
    worker gets its own) notifies after every poke, folding the pokes of ``interval`` seconds
    into one notification: a burst of deliveries wakes the publisher tens of times a second,
    not thousands. A notification lost to a database error is logged; the publisher's poll
    (``TYPEWIRE_PUBLISH_POLL_SECONDS``) and the sweeper still find the events. Other databases
    than PostgreSQL have no ``NOTIFY``: there the publisher polls and pokes do nothing.
    """

    def __init__(self, interval: float = 0.05, idle_close: float = 2.0) -> None:
        """Notify at most every ``interval`` s; drop the connection after ``idle_close`` s idle."""
        self.interval = interval
        self.idle_close = idle_close
        self.notified = 0
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def poke(self) -> None:
        """Ask for a notification after now."""
        if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            if connection.vendor != "postgresql":
                return
            with self._lock:
                if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                    self._stop.clear()
                    self._thread = threading.Thread(
                        target=self._run, name="typewire-publisher-waker", daemon=True
                    )
                    self._thread.start()
                    self._pid = os.getpid()
        self._poked.set()

    def stop(self) -> None:
        """Stop the thread (it closes its connection); the next poke starts a new one."""
        thread = self._thread
        self._stop.set()
        self._poked.set()
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._poked.wait(self.idle_close):
                    connection.close()  # idle: hold no connection
                    continue
                if self._stop.is_set():
                    break
                # Cleared before sending: a poke from now on gets a notification of its own.
                self._poked.clear()
                self._notify()
                self._stop.wait(self.interval)
        finally:
            connection.close()

    def _notify(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")
            self.notified += 1
        except Exception:
            # A database restart or a closed test database: the poll and the sweeper remain.
            logger.warning("could not wake the event publisher", exc_info=True)
            connection.close()


# Wake-ups folded per 50 ms: a burst costs the database 20 notifications a second per process.
WAKER = PublisherWaker(interval=0.05)


def _insert(event: Event) -> bool:
    """Insert ``event`` unless its dedupe key exists; return whether it was inserted.

    One statement, ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: a duplicate must not abort
    the caller's transaction, and the returned row (none on conflict) says which case it was,
    so the common case needs no second query. ``bulk_create(ignore_conflicts=True)`` cannot
    return the row, hence the manager's ``_insert`` (what ``bulk_create`` itself calls).
    """
    meta = Event._meta
    using = router.db_for_write(Event)
    fields = [field for field in meta.concrete_fields if not field.generated]
    rows = Event.objects._insert(  # type: ignore[attr-defined]
        [event],
        fields=fields,
        returning_fields=[meta.pk],
        using=using,
        on_conflict=OnConflict.IGNORE,
    )
    if not rows:
        return False
    event._state.adding = False
    event._state.db = using
    return True


def _insert_asking(event: Event, listeners_sql: str) -> bool:
    """``_insert``, settling the event unheard in the same statement when nothing listens.

    PostgreSQL, prepared once per connection: the listener check (``listeners_sql``) is a
    subquery of the insert, so recording an internal event is one round trip, heard or not.
    """
    fields = insert_fields(Event)
    pending = insert_values({f.attname: getattr(event, f.attname) for f in fields}, fields)
    unheard = {
        "status": EventStatus.DISPATCHED.value,
        "status_detail": NO_LISTENER,
        "dispatched_at": event.recorded_at,
    }
    params: list[Any] = [event.workspace_id, event.trigger_key]
    for field, value in zip(fields, pending, strict=True):
        params += [value, unheard[field.name]] if field.name in unheard else [value]
    rows = execute_prepared(_asking_statement(listeners_sql), params)
    if not rows:
        return False
    ((status,),) = rows
    if status != EventStatus.PENDING:
        _settle_unheard(event)
    event._state.adding = False
    event._state.db = router.db_for_write(Event)
    return True


@cache
def _asking_statement(listeners_sql: str) -> str:
    fields = insert_fields(Event)
    values = [
        f"CASE WHEN listened.heard THEN %s::{cast_type(f)} ELSE %s::{cast_type(f)} END"
        if f.name in ("status", "status_detail", "dispatched_at")
        else f"%s::{cast_type(f)}"
        for f in fields
    ]
    return (
        f"WITH listened AS (SELECT {listeners_sql} AS heard)"
        f" INSERT INTO {Event._meta.db_table} ({column_list(fields)})"
        f" SELECT {', '.join(values)} FROM listened"
        f" ON CONFLICT DO NOTHING RETURNING {connection.ops.quote_name('status')}"
    )


def publish(event_id: uuid.UUID | str) -> None:
    """Send the dispatch task for one event; log broker errors instead of raising them.

    A lost publish is not a lost event: the row stays ``pending`` and the sweeper sends it
    again.
    """
    try:
        current_app.send_task(DISPATCH_TASK, args=[str(event_id)])
    except Exception:
        logger.exception("could not publish event %s; the sweeper will dispatch it", event_id)


def mark_event(event_id: uuid.UUID | str, *, status: EventStatus, detail: str = "") -> bool:
    """Move a pending event to ``status``; return False if it was no longer pending.

    A conditional update, so two dispatchers racing on one event cannot both settle it.
    """
    return mark_events([event_id], status=status, detail=detail) == 1


def mark_events(
    event_ids: Sequence[uuid.UUID | str], *, status: EventStatus, detail: str = ""
) -> int:
    """``mark_event`` for several events in one statement; return how many were still pending."""
    if status == EventStatus.PENDING:
        raise ValueError("an event can only leave the pending state")
    changes: dict[str, Any] = {"status": status, "status_detail": detail}
    if status == EventStatus.DISPATCHED:
        changes["dispatched_at"] = timezone.now()
    return int(
        Event.objects.filter(pk__in=list(event_ids), status=EventStatus.PENDING).update(**changes)
    )
