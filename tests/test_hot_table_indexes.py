"""The tables every delivery and every execution write carry no index another one makes redundant.

An index whose columns lead another index of the same table serves no query the longer one
cannot, and still costs every insert one more write (Django adds one per foreign key unless told
not to). A partial index counts as the longer one when its condition is only that its leading
column is set: every lookup by that column's value can use it. Read from PostgreSQL's catalog
after the migrations ran.
"""

from __future__ import annotations

import pytest
from django.db import connection

from automations.models import Attempt, Execution, StepRun
from catalog.domain.models import CustomerTag
from catalog.models import Event
from webhooks.models import InboundDelivery

pytestmark = pytest.mark.django_db

HOT = [Event, InboundDelivery, Execution, StepRun, Attempt, CustomerTag]

# Indexes of a table: name, key columns, unique, LIKE-only operator class, whether it covers
# every row whose leading column is set (full, or partial on "<leading column> IS NOT NULL").
INDEXES = """
SELECT ci.relname, string_to_array(i.indkey::text, ' '), i.indisunique,
       pg_get_indexdef(i.indexrelid) LIKE '%%pattern_ops%%',
       i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) = format(
           '(%%s IS NOT NULL)', quote_ident(a.attname))
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = %s::regclass
"""


def _redundant(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [table])
        rows = cursor.fetchall()
    found = []
    for name, columns, unique, like_only, covering in rows:
        if unique or like_only or not covering:  # a constraint, LIKE 'prefix%', a subset of rows
            continue
        for other, other_columns, _, other_like, other_covering in rows:
            if (
                other != name
                and not other_like
                and other_covering
                and other_columns[: len(columns)] == columns
            ):
                found.append(f"{name} (led by the same columns as {other})")
    return found


@pytest.mark.parametrize("model", HOT, ids=lambda m: m._meta.db_table)
def test_no_index_on_a_hot_table_is_a_prefix_of_another(model):
    assert _redundant(model._meta.db_table) == []


def test_the_check_finds_a_redundant_index():
    # given an index on the event's workspace, which event_ws_trigger_idx already leads with
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX tw_check_redundant ON catalog_event (workspace_id)")
    # then the check names it
    assert _redundant("catalog_event") == [
        "tw_check_redundant (led by the same columns as event_ws_trigger_idx)"
    ]


def test_the_check_counts_a_partial_index_on_rows_whose_leading_column_is_set():
    # given an index on the child executions' parent, which execution_unique_child_step
    # (parent, parent_step) where parent is set already leads with
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX tw_check_parent ON automations_execution (parent_id)")
    # then the check names it
    assert _redundant("automations_execution") == [
        "tw_check_parent (led by the same columns as execution_unique_child_step)"
    ]


def test_a_child_lookup_uses_the_partial_index():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM automations_execution WHERE parent_id = 1")
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "execution_unique_child_step" in plan
