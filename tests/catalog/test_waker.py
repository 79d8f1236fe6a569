"""The publisher waker: a notification after every poke, a burst folded into a few."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from catalog.events import NOTIFY_CHANNEL, PublisherWaker

pytestmark = pytest.mark.django_db(transaction=True)


def _listener() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}"
    listener = psycopg.connect(url, autocommit=True)
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return listener


def _received(listener: psycopg.Connection, seconds: float) -> int:
    return len(list(listener.notifies(timeout=seconds)))


def test_a_burst_of_pokes_is_folded_into_a_few_notifications():
    # given a waker that notifies at most every 50 ms, and a listener
    waker = PublisherWaker(interval=0.05)
    listener = _listener()
    try:
        # when 2,000 deliveries poke it within about a fifth of a second
        started = time.monotonic()
        for _ in range(2000):
            waker.poke()
        elapsed = time.monotonic() - started
        # then a handful of notifications arrive, not thousands
        received = _received(listener, 1.0)
        assert 1 <= received <= 2 + int(elapsed / 0.05) + 2
        assert waker.notified == received
    finally:
        waker.stop()
        listener.close()


def test_every_poke_is_followed_by_a_notification():
    # given a waker that has just notified
    waker = PublisherWaker(interval=0.2)
    listener = _listener()
    try:
        waker.poke()
        assert _received(listener, 1.0) == 1
        # when it is poked again inside its interval
        waker.poke()
        # then the notification still comes, once the interval is over
        assert _received(listener, 1.0) == 1
    finally:
        waker.stop()
        listener.close()


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_a_stopped_waker_holds_no_database_connection():
    # given a waker that notified once, on a connection of its own
    before = _backends()
    waker = PublisherWaker(interval=0.01)
    waker.poke()
    deadline = time.monotonic() + 5
    while waker.notified == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waker.notified == 1
    assert _backends() == before + 1
    # when it stops
    waker.stop()
    # then its connection is gone (the test database can be dropped)
    assert _backends() == before
