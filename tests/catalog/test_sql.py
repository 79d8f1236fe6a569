"""``catalog.sql.execute_prepared``: Django's errors, Django's query log, the rows."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest
from django.db import ProgrammingError, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg import _queries as psycopg_queries

from catalog import sql
from catalog.models import Event
from catalog.sql import execute_prepared, insert_fields, insert_values, native_placeholders

pytestmark = pytest.mark.django_db

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
