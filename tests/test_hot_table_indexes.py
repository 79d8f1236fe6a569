"""The tables every delivery and every execution write carry no index another one makes redundant.

An index whose columns lead another index of the same table serves no query the longer one
cannot, and still costs every insert one more write (Django adds one per foreign key unless told
not to). Read from PostgreSQL's catalog after the migrations ran.
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

# Full (not partial) indexes of a table: name, key columns, unique, LIKE-only operator class.
INDEXES = """
SELECT ci.relname, string_to_array(i.indkey::text, ' '), i.indisunique,
       pg_get_indexdef(i.indexrelid) LIKE '%%pattern_ops%%'
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
WHERE i.indrelid = %s::regclass AND i.indpred IS NULL
"""


def _redundant(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [table])
        rows = cursor.fetchall()
    found = []
    for name, columns, unique, like_only in rows:
        if unique or like_only:  # a constraint, or one that serves LIKE 'prefix%'
            continue
        for other, other_columns, _, other_like in rows:
            if other != name and not other_like and other_columns[: len(columns)] == columns:
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
