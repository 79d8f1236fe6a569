"""The accepted-delivery fast path: endpoints kept in memory, one statement to store.

Most deliveries are fresh, plain events (no domain change, no ordering, no capture): for them
the pipeline needs the endpoint (its secrets decrypted) and one write. Two things make that
cheap without trusting anything stale:

- ``EndpointCache`` keeps what the pipeline learnt about an endpoint, per web process, for a
  short time (``TYPEWIRE_ENDPOINT_CACHE_SECONDS``). Each entry carries the endpoint's
  *fingerprint*: an md5 PostgreSQL computes over every column the pipeline reads and the ids of
  the secrets active at the delivery's time (``fingerprint_sql``).
- ``store_accepted`` writes the event and its delivery row in **one statement** (atomic by
  itself: no BEGIN/COMMIT round trips), then wakes the event publisher (``notify_publisher``:
  from a thread, folded with other deliveries' wake-ups), guarded by
  that fingerprint: when the endpoint changed since it was cached (disabled, a field changed, a
  secret rotated or expired, deleted) nothing is written and the caller starts again from a
  fresh load. The statement also tells a duplicate (the insert met the dedupe key) apart.

So an accepted delivery costs one round trip to PostgreSQL, and a change to an endpoint takes
effect at the next delivery in every process, cache or not.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError, connection, models

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

    Thread-safe (gunicorn threads share it). Only endpoints with a fingerprint are kept: the
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
    same event committed during the statement: look it up).
    """

    current: bool
    event_id: uuid.UUID | None = None
    existing_id: uuid.UUID | None = None


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
    event's dedupe key is taken. PostgreSQL only.
    """
    event_fields, delivery_fields = insert_fields(Event), _delivery_fields()
    params: list[Any] = [endpoint_id, now, fingerprint]
    params += insert_values(event, event_fields)
    params += insert_values(delivery, delivery_fields)
    params += [event["workspace_id"], event["dedupe_key"]]
    try:
        (row,) = execute_prepared(_statement(), params)
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        # A persistent connection the database dropped (a restart, an idle timeout): this path
        # skips the per-request health check, so it reconnects here and sends the statement
        # once more. Safe to repeat: had the first one committed, this one finds the duplicate.
        logger.info("database connection lost; storing the delivery on a new one")
        connection.close()
        (row,) = execute_prepared(_statement(), params)
    current, event_id, existing_id = row
    if event_id is not None:
        notify_publisher()  # at once, or when the caller's transaction commits
    return Stored(current=current, event_id=event_id, existing_id=existing_id)


@cache
def _statement() -> str:
    event_fields, delivery_fields = insert_fields(Event), _delivery_fields()
    event_table = Event._meta.db_table
    delivery_table = InboundDelivery._meta.db_table
    event_id_column = InboundDelivery._meta.get_field("event").column
    for field in (*event_fields, *delivery_fields):
        # Values are taken as given (``insert_values``): a column Django fills on save has no place.
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise ImproperlyConfigured(f"{field} is filled on save; give it a default instead")
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
        f" (SELECT id FROM {event_table} WHERE workspace_id = %s AND dedupe_key = %s)"
    )


@cache
def _delivery_fields() -> tuple[models.Field[Any, Any], ...]:
    return tuple(field for field in insert_fields(InboundDelivery) if field.name != "event")
