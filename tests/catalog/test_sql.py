"""``catalog.sql.execute_prepared``: Django's errors, Django's query log, the rows."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from django.db import ProgrammingError, connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.sql import execute_prepared

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
