"""The accepted-delivery fast path: endpoints kept in memory, one statement to store.

Most deliveries are fresh, plain events (no domain change, no ordering, no capture): for them
the pipeline needs the endpoint (its secrets decrypted) and one write. Three things make that
cheap without trusting anything stale:

- ``EndpointCache`` keeps what the pipeline learnt about an endpoint, per web process, for a
  short time (``TYPEWIRE_ENDPOINT_CACHE_SECONDS``). Each entry carries the endpoint's
  *fingerprint*: an md5 PostgreSQL computes over every column the pipeline reads and the ids of
  the secrets active at the delivery's time (``fingerprint_sql``).
- ``store_accepted`` writes the event and its delivery row in **one statement** (atomic by
  itself: no BEGIN/COMMIT round trips), guarded by that fingerprint: when the endpoint changed
  since it was cached (disabled, a field changed, a secret rotated or expired, deleted) nothing
  is written and the caller starts again from a fresh load. The statement also tells a
  duplicate (the insert met the dedupe key) apart. Then it wakes the event publisher
  (``notify_publisher``: from a thread, folded with other deliveries' wake-ups).
- ``GroupCommit`` (``TYPEWIRE_WEBHOOK_GROUP_COMMIT``, on by default): the deliveries a web
  process's requests have in flight at once (greenlets of a gevent worker, or threads) share
  that statement. PostgreSQL then parses, checks and commits once for several; each request
  still answers only once the statement holding its rows has committed, and each gets its own
  answer (stored, duplicate, endpoint changed, or its error).

So an accepted delivery costs at most one round trip to PostgreSQL, and a change to an endpoint
takes effect at the next delivery in every process, cache or not.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, InterfaceError, OperationalError, connection, models

from catalog.events import notify_publisher
from catalog.models import Event
from catalog.sql import (
    cast_placeholders,
    column_list,
    execute_prepared,
    insert_fields,
    insert_values,
)
from catalog.types import FieldSpec
from webhooks.models import Endpoint, InboundDelivery, fingerprint_sql
from webhooks.verifiers.base import Verifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KnownEndpoint:
    """An endpoint as the pipeline uses it: the row, its secrets in clear, what they imply."""

    endpoint: Endpoint
    fingerprint: str | None
    secrets: tuple[str, ...]
    verifier: Verifier
    declared: dict[str, FieldSpec]
    networks: tuple[Any, ...]


class EndpointCache:
    """A small per-process map of endpoint token to ``KnownEndpoint``, entries expiring.

    Thread-safe (a process's requests share it). Only endpoints with a fingerprint are kept: the
    fingerprint is what makes a stale entry harmless. ``seconds`` 0 keeps nothing.
    """

    def __init__(self, *, seconds: float, size: int = 1024) -> None:
        """Keep at most ``size`` endpoints, each for ``seconds``."""
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[str, tuple[float, KnownEndpoint]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> KnownEndpoint | None:
        """Return the endpoint cached for ``token``, or None (absent or expired)."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self.seconds:
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return entry[1]

    def put(self, token: str, known: KnownEndpoint) -> None:
        """Keep ``known`` for ``token`` (nothing when it has no fingerprint or caching is off)."""
        if self.seconds <= 0 or known.fingerprint is None:
            return
        with self._lock:
            self._entries[token] = (time.monotonic(), known)
            self._entries.move_to_end(token)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def drop(self, token: str) -> None:
        """Forget ``token``."""
        with self._lock:
            self._entries.pop(token, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()


@dataclass(frozen=True, slots=True)
class Stored:
    """What ``store_accepted`` did.

    ``current`` is False when the endpoint's fingerprint no longer matched (nothing written);
    else ``event_id`` is the new event, or None for a duplicate, whose stored event is
    ``existing_id`` when the statement could see it (None when a concurrent delivery of the
    same event committed during the statement, or came in the same statement: look it up).
    """

    current: bool
    event_id: uuid.UUID | None = None
    existing_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """One delivery to store: its endpoint as cached, the verification time, the two rows."""

    endpoint_id: int
    fingerprint: str
    now: datetime
    event: Mapping[str, Any]
    delivery: Mapping[str, Any]


class _Slot[T, R]:
    """One submitted item: its result, and a lock held until its thread is to wake."""

    __slots__ = ("done", "item", "result", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.result: R | BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit[T, R]:
    """Fold the writes that threads (or greenlets) of one process ask for at once into one.

    ``submit`` writes its item at once when no write is under way. Otherwise the item queues
    and its thread sleeps; when the write under way ends, the first queued thread is woken to
    write everything queued by then (at most ``max_batch`` items) on its own database
    connection, and each thread of the batch is woken with its result: one wake-up per thread,
    no thundering herd. So a lone request writes at once, and under load the deliveries that
    came during one round trip share the next: PostgreSQL parses, plans and commits (one WAL
    flush) once for several.

    ``write`` returns one result per item, in order; an exception in that list is raised in the
    thread that submitted the item. Each caller gets its answer only after the statement
    holding its item committed.
    """

    def __init__(
        self, write: Callable[[list[T]], list[R | BaseException]], *, max_batch: int = 64
    ) -> None:
        """Write with ``write``, at most ``max_batch`` items at a time."""
        self._write = write
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []
        self._writing = False

    def submit(self, item: T) -> R:
        """Queue ``item``, wait until it is written (here or elsewhere); return its result."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            if self._writing:
                self._queue.append(slot)
                batch = None
            else:
                self._writing = True
                batch = [slot]
        if batch is None:
            slot.wake.acquire()  # released with the result, or to write the queue
            if not slot.done:
                with self._lock:
                    batch = self._queue[: self.max_batch]
                    del self._queue[: self.max_batch]
        if batch is not None:
            self._run(batch, slot)
        if isinstance(slot.result, BaseException):
            raise slot.result
        return slot.result  # type: ignore[return-value]

    def _run(self, batch: list[_Slot[T, R]], own: _Slot[T, R]) -> None:
        results: list[R | BaseException]
        try:
            results = self._write([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} items")
        except BaseException as exc:  # every waiter must wake, whatever went wrong
            results = [exc] * len(batch)
        for slot, result in zip(batch, results, strict=True):
            slot.result, slot.done = result, True
        with self._lock:
            successor = self._queue[0] if self._queue else None
            self._writing = successor is not None
        if successor is not None:
            successor.wake.release()  # the next write starts before these answers go out
        for slot in batch:
            if slot is not own:
                slot.wake.release()


def store_accepted(
    *,
    endpoint_id: int,
    fingerprint: str,
    now: datetime,
    event: Mapping[str, Any],
    delivery: Mapping[str, Any],
) -> Stored:
    """Insert ``event``, then ``delivery`` pointing at it, in one statement; wake the publisher.

    Writes nothing when the endpoint's fingerprint at ``now`` is not ``fingerprint`` or the
    event's dedupe key is taken. Outside a transaction the statement may carry other threads'
    deliveries too (``GROUP``); inside one it carries this delivery alone, in that transaction.
    PostgreSQL only.
    """
    item = Accepted(endpoint_id, fingerprint, now, event, delivery)
    if connection.in_atomic_block or not settings.TYPEWIRE_WEBHOOK_GROUP_COMMIT:
        (result,) = write_accepted([item])
    else:
        release_pooled_connection()
        result = GROUP.submit(item)
    if isinstance(result, BaseException):
        raise result
    return result


def release_pooled_connection() -> None:
    """Give this request's connection back to the process's pool, if it holds one.

    A delivery may wait in the group commit for another request's write. Were it to wait
    holding a pooled connection (one it took to load its endpoint), enough such waiters would
    empty the pool, and the write they wait for could not get a connection until the pool's
    timeout. Outside a transaction only: nothing is lost by giving it back.
    """
    if connection.connection is not None and getattr(connection, "pool", None) is not None:
        connection.close()


def write_accepted(items: list[Accepted]) -> list[Stored | BaseException]:
    """Store ``items`` in one statement on this thread's connection; one result per item.

    A batch the database refuses as a whole (a value it rejects in one of the rows) is written
    again item by item, so that only the item at fault fails.
    """
    try:
        rows = _execute(items)
    except (OperationalError, InterfaceError) as exc:
        return [exc] * len(items)
    except DatabaseError as exc:
        if len(items) == 1:
            return [exc]
        return [result for item in items for result in write_accepted([item])]
    by_id = {str(row[0]): row for row in rows}
    results: list[Stored | BaseException] = []
    for item in items:
        _, current, event_id, existing_id = by_id[str(item.event["id"])]
        results.append(Stored(current=current, event_id=event_id, existing_id=existing_id))
    if any(result.event_id is not None for result in results if isinstance(result, Stored)):
        notify_publisher()  # at once, or when the caller's transaction commits
    return results


def _execute(items: list[Accepted]) -> list[tuple[Any, ...]]:
    """Run the statement for ``items``; return (event id, current, new id, existing id) rows."""
    params: list[Any] = []
    if len(items) == 1:
        # One delivery (a lone request, or group commit off): the statement without a
        # VALUES list, a tenth cheaper for PostgreSQL and the driver.
        (item,) = items
        params += [item.endpoint_id, item.now, item.fingerprint, *_row_values(item)]
        params += [item.event["workspace_id"], item.event["dedupe_key"]]
        sql = _single_statement()
    else:
        for item in items:
            params += [item.endpoint_id, item.fingerprint, item.now, *_row_values(item)]
        sql = _statement(len(items))
    reused = connection.connection is not None
    try:
        rows = execute_prepared(sql, params)
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block or not reused:
            raise  # a connection just made or taken from the pool (checked then): no retry
        # A persistent connection the database dropped (a restart, an idle timeout): this path
        # skips the per-request health check, so it reconnects here and sends the statement
        # once more. Safe to repeat: had the first one committed, this one finds the duplicates.
        logger.info("database connection lost; storing the deliveries on a new one")
        connection.close()
        rows = execute_prepared(sql, params)
    if len(items) == 1:
        return [(items[0].event["id"], *row) for row in rows]
    return rows


def _row_values(item: Accepted) -> list[Any]:
    """The event's column values, then the delivery's, in the statements' column order."""
    return insert_values(item.event, insert_fields(Event)) + insert_values(
        item.delivery, _delivery_fields()
    )


def _checked_fields() -> tuple[tuple[models.Field[Any, Any], ...], ...]:
    event_fields, delivery_fields = insert_fields(Event), _delivery_fields()
    for field in (*event_fields, *delivery_fields):
        # Values are taken as given (``insert_values``): a column Django fills on save has no place.
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise ImproperlyConfigured(f"{field} is filled on save; give it a default instead")
    return event_fields, delivery_fields


@cache
def _single_statement() -> str:
    """The insert of one delivery, guarded as ``_statement`` is: (current, new id, existing id)."""
    event_fields, delivery_fields = _checked_fields()
    event_table = Event._meta.db_table
    delivery_table = InboundDelivery._meta.db_table
    event_id_column = InboundDelivery._meta.get_field("event").column
    return (
        "WITH guard AS ("
        f" SELECT 1 FROM {Endpoint._meta.db_table} e"
        f" WHERE e.id = %s AND {fingerprint_sql('e')} = %s"
        "), ev AS ("
        f" INSERT INTO {event_table} ({column_list(event_fields)})"
        f" SELECT {cast_placeholders(event_fields)} FROM guard"
        " ON CONFLICT DO NOTHING RETURNING id"
        "), dl AS ("
        f" INSERT INTO {delivery_table} ({column_list(delivery_fields)}, {event_id_column})"
        f" SELECT {cast_placeholders(delivery_fields)}, ev.id FROM ev"
        ")"
        " SELECT EXISTS (SELECT 1 FROM guard), (SELECT id FROM ev),"
        " CASE WHEN EXISTS (SELECT 1 FROM guard) AND NOT EXISTS (SELECT 1 FROM ev)"
        f" THEN (SELECT id FROM {event_table} WHERE workspace_id = %s AND dedupe_key = %s) END"
    )


@cache
def _statement(count: int) -> str:
    """The insert of ``count`` deliveries: a row of values each, then the two inserts.

    Each row is written only when its endpoint's fingerprint at its time still matches (the
    guard) and its dedupe key is free (ON CONFLICT), its delivery row only when its event was.
    The answer has one row per input row, by event id: (id, current, new id, existing id); the
    existing event is looked up for duplicates only. One statement per batch size (at most
    ``GroupCommit.max_batch``), each prepared once per connection, with scalar parameters:
    the driver sends those for a fraction of what arrays of them cost.
    """
    event_fields, delivery_fields = _checked_fields()
    event_table = Event._meta.db_table
    delivery_table = InboundDelivery._meta.db_table
    event_id_column = InboundDelivery._meta.get_field("event").column
    event_columns = [f"e{index}" for index in range(len(event_fields))]
    delivery_columns = [f"d{index}" for index in range(len(delivery_fields))]
    names = [field.name for field in event_fields]
    new_id = event_columns[names.index("id")]
    workspace = event_columns[names.index("workspace")]
    dedupe_key = event_columns[names.index("dedupe_key")]
    row = (
        f"(%s::integer, %s::text, %s::timestamptz, {cast_placeholders(event_fields)},"
        f" {cast_placeholders(delivery_fields)})"
    )
    fingerprint = (
        f"(SELECT {fingerprint_sql('e', 'input.at')} FROM {Endpoint._meta.db_table} e"
        " WHERE e.id = input.endpoint_id)"
    )
    return (
        f"WITH input (endpoint_id, fingerprint, at, {', '.join(event_columns + delivery_columns)})"
        f" AS (VALUES {', '.join([row] * count)})"
        f", guard AS (SELECT input.* FROM input WHERE input.fingerprint = {fingerprint})"
        ", ev AS ("
        f" INSERT INTO {event_table} ({column_list(event_fields)})"
        f" SELECT {', '.join(event_columns)} FROM guard"
        " ON CONFLICT DO NOTHING RETURNING id"
        "), dl AS ("
        f" INSERT INTO {delivery_table} ({column_list(delivery_fields)}, {event_id_column})"
        f" SELECT {', '.join(f'guard.{c}' for c in delivery_columns)}, ev.id"
        f" FROM guard JOIN ev ON ev.id = guard.{new_id}"
        ")"
        f" SELECT input.{new_id}, guard.{new_id} IS NOT NULL, ev.id,"
        f" CASE WHEN guard.{new_id} IS NOT NULL AND ev.id IS NULL THEN (SELECT x.id"
        f" FROM {event_table} x"
        f" WHERE x.workspace_id = input.{workspace} AND x.dedupe_key = input.{dedupe_key}) END"
        f" FROM input LEFT JOIN guard ON guard.{new_id} = input.{new_id}"
        f" LEFT JOIN ev ON ev.id = input.{new_id}"
    )


@cache
def _delivery_fields() -> tuple[models.Field[Any, Any], ...]:
    return tuple(field for field in insert_fields(InboundDelivery) if field.name != "event")


GROUP: GroupCommit[Accepted, Stored] = GroupCommit(write_accepted)
"""This process's group commit of accepted deliveries (``store_accepted``)."""
