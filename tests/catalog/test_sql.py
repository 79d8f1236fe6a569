"""``catalog.sql.execute_prepared``: Django's errors, Django's query log, the rows."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import ProgrammingError, connection, transaction
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from django.test.utils import CaptureQueriesContext
from psycopg import _queries as psycopg_queries
from psycopg.postgres import types as pg_types
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader as PythonTimestamptzLoader

from catalog import sql
from catalog.models import Event
from catalog.sql import execute_prepared, insert_fields, insert_values, native_placeholders
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

TIMESTAMPTZ_OID = pg_types["timestamptz"].oid

STATEMENT = "SELECT %s::integer + 1, %s::text"


def test_rows_come_back_and_the_query_is_logged_only_when_queries_are_logged():
    # given nothing logging queries, then a capture that does
    rows = execute_prepared(STATEMENT, [41, "x"])
    with CaptureQueriesContext(connection) as captured:
        logged_rows = execute_prepared(STATEMENT, [1, "y"])
    # then
    assert rows == [(42, "x")]
    assert logged_rows == [(2, "y")]
    [query] = captured.captured_queries
    assert query["sql"].startswith("SELECT")
    assert "+ 1" in query["sql"]


@pytest.mark.parametrize("logged", [False, True], ids=["unlogged", "logged"])
def test_a_failing_statement_raises_djangos_error(logged):
    # given
    capture = CaptureQueriesContext(connection) if logged else nullcontext()
    # when
    with capture, pytest.raises(ProgrammingError), transaction.atomic():
        execute_prepared("SELECT no_such_column FROM catalog_event", [])
    # then the connection still serves
    assert execute_prepared(STATEMENT, [0, "ok"]) == [(1, "ok")]


def test_a_long_statement_is_not_rewritten_by_the_driver_on_each_run(monkeypatch):
    # given a statement of more parameters than the driver keeps rewrites for (50)
    statement = "SELECT " + ", ".join(["%s::integer"] * 60)
    rewrites: list[bytes] = []
    original = psycopg_queries._query2pg_nocache

    def counted(query: bytes, encoding: str) -> Any:
        rewrites.append(query)
        return original(query, encoding)

    monkeypatch.setattr(psycopg_queries, "_query2pg_nocache", counted)
    # when it runs three times
    results = [execute_prepared(statement, list(range(run, run + 60))) for run in range(3)]
    # then
    assert [row[0][:2] for row in results] == [(0, 1), (1, 2), (2, 3)]
    assert rewrites == []


@pytest.mark.parametrize(
    ("sql", "native"),
    [
        ("SELECT %s, %s::int", "SELECT $1, $2::int"),
        ("SELECT 100%% WHERE a = %s", "SELECT 100% WHERE a = $1"),
        ("SELECT 1", "SELECT 1"),
    ],
)
def test_native_placeholders_number_the_parameters(sql, native):
    assert native_placeholders(sql) == native


def test_native_placeholders_refuse_named_ones():
    with pytest.raises(ValueError, match="not %\\("):
        native_placeholders("SELECT %(name)s")


def test_column_sets_built_per_call_do_not_grow_the_plans_for_ever():
    # given a caller that passes a new tuple of the same fields each time
    fields = insert_fields(Event)
    row = {"trigger_key": "customer_tagged"}
    # when
    values = [insert_values(row, tuple(fields)) for _ in range(600)]
    # then
    assert len(sql._plans) <= 256
    assert values[-1][[field.attname for field in fields].index("trigger_key")] == "customer_tagged"


# --- reading timestamps -------------------------------------------------------------------------

TIMESTAMPS = [
    "2026-11-27 13:02:38.123456+00",
    "2026-11-27 13:02:38+00",
    "2026-11-27 13:02:38.5+05:30",
    "1930-01-01 10:30:45+05:21:10",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "0044-03-15 12:00:00+00 BC",
    "infinity",
    "-infinity",
]


def _read(loader: type[Any], text: str, session_zone: str) -> Any:
    """What ``loader`` makes of ``text`` as PostgreSQL writes it in ``session_zone``."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET TIME ZONE '{session_zone}'")
        raw = cursor.connection.cursor()
        raw.adapters.register_loader("timestamptz", loader)
        try:
            return raw.execute("SELECT %s::timestamptz", [text]).fetchone()[0]
        except Exception as exc:  # compared by type and message below
            return (type(exc), str(exc))
        finally:
            cursor.execute("SET TIME ZONE 'UTC'")


@pytest.mark.parametrize("text", TIMESTAMPS)
@pytest.mark.parametrize(
    ("timezone", "zone"),
    [
        (dt.UTC, "UTC"),
        (ZoneInfo("Asia/Kolkata"), "Asia/Kolkata"),
        (None, "UTC"),
        (None, "Asia/Kolkata"),
    ],
    ids=str,
)
def test_timestamps_read_as_djangos_own_loader_reads_them(text, zone, timezone):
    # given Django's loader for this timezone, and ours
    class Djangos(BaseTzLoader):  # type: ignore[misc]
        pass

    Djangos.timezone = timezone
    # when both read the same value, written by PostgreSQL in the session's time zone (the
    # loader's, as on every connection Django makes)
    ours = _read(sql.timestamptz_loader(timezone), text, zone)
    theirs = _read(Djangos, text, zone)
    # then the same value, or the same error, comes back
    assert ours == theirs
    if isinstance(ours, dt.datetime) and timezone is dt.UTC:
        assert ours.tzinfo is dt.UTC


def test_connections_read_timestamps_with_the_fast_loader(monkeypatch):
    # given the connection the test runs on, and a count of the pure-Python parses
    connection.ensure_connection()
    parsed_in_python = []
    python_parse = PythonTimestamptzLoader._load_iso

    def count(self, data):
        parsed_in_python.append(bytes(data))
        return python_parse(self, data)

    monkeypatch.setattr(PythonTimestamptzLoader, "_load_iso", staticmethod(count))
    # then its timestamps go through the loader that parses in C
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    assert loader is sql.timestamptz_loader(connection.timezone)
    # and what the ORM reads back is what was written
    event = Event.objects.create(
        workspace=WorkspaceFactory.create(), trigger_key="order_paid", payload={}, dedupe_key="t"
    )
    stored = Event.objects.get(pk=event.pk)
    assert stored.occurred_at == event.occurred_at
    assert stored.occurred_at.tzinfo is dt.UTC
    assert parsed_in_python == []
