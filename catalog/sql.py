"""Prepared, server-bound statements for the hot paths (webhook ingestion, dispatch).

Django's cursors bind parameters on the client and prepare nothing, so that connection poolers
work. The few statements that run for nearly every delivery or event go through
:func:`execute_prepared` instead: bound and prepared by PostgreSQL once per connection (no
quoting of values in Python, no parsing and planning per call). They raise Django's database
errors, and go through Django's cursor wrapper whenever anything logs or wraps queries (tests
counting queries, ``DEBUG``, an instrumentation's execute wrapper), so they are counted and
logged like any query; otherwise the wrapper's work is done inline, without the objects.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models

# The driver prepares a statement after this many runs of it: never, unless asked (below).
PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


class _PreparedCursor(psycopg.Cursor[Any]):
    """A cursor whose statements PostgreSQL parses and plans once per connection."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        kwargs["prepare"] = True
        return super().execute(query, params, **kwargs)


def execute_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``%s`` placeholders) prepared and bound on the server; return its rows."""
    db = connections[DEFAULT_DB_ALIAS]  # one lookup: each use of the proxy costs another
    db.ensure_connection()
    driver = db.connection
    if driver.prepare_threshold is None:
        # Django switches preparing off (None) for poolers; its own client-side cursors never
        # prepare anyway, and no other statement reaches the threshold set here.
        driver.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
    # One cursor per statement and connection, kept open: a cursor that runs the same query
    # object again keeps its adaptation state (the dumper of each parameter's type), which a
    # new cursor would look up again for every parameter of every call.
    cursors: dict[tuple[str, bool], psycopg.Cursor[Any] | psycopg.RawCursor[Any]] | None = getattr(
        driver, "_typewire_cursors", None
    )
    if cursors is None:
        cursors = {}
        driver._typewire_cursors = cursors
    logged = db.queries_logged
    if not logged and not db.execute_wrappers:
        # What Django's cursor wrapper does around a query when nothing logs or wraps it (the
        # common case in production), without building a wrapper per call.
        native = native_placeholders(sql)
        raw = cursors.get((native, True))
        if raw is None or raw.closed:
            # PostgreSQL's own $n placeholders: the driver keeps its rewrite of %s ones only
            # for statements of at most 50 parameters, so the batched inserts (several rows of
            # %s) would be parsed anew on every call; given $n it has nothing to rewrite.
            raw = cursors[native, True] = psycopg.RawCursor(driver)
        db.validate_no_broken_transaction()
        with db.wrap_database_errors:
            raw.execute(native, params, prepare=True)
            return raw.fetchall()
    # Logged or wrapped: through Django's wrapper, with the statement as written, which is
    # what Django knows how to show with its values.
    raw = cursors.get((sql, False))
    if raw is None or raw.closed:
        raw = cursors[sql, False] = _PreparedCursor(driver)
    # (django-stubs type these as taking a wrapper; they take the driver's cursor.)
    wrap = db.make_debug_cursor if logged else db.make_cursor
    cursor = wrap(raw)  # type: ignore[arg-type]
    cursor.execute(sql, params)
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    log: Any = db.queries_log if logged else None
    if log and log[-1]["sql"] is None:
        # Django cannot show a prepared statement's text; log the statement itself.
        log[-1]["sql"] = sql
    return rows


_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)


@lru_cache(maxsize=512)
def native_placeholders(sql: str) -> str:
    """``sql`` with PostgreSQL's numbered placeholders (``$1``, ``$2``...) for its ``%s`` ones.

    ``%%`` becomes ``%``, as the driver would make it; any other ``%`` sequence (a named
    placeholder) is refused.
    """
    numbers = itertools.count(1)

    def replace(match: re.Match[str]) -> str:
        if match[1] == "s":
            return f"${next(numbers)}"
        if match[1] == "%":
            return "%"
        raise ValueError(f"only %s placeholders are supported, not %{match[1]}")

    return _PLACEHOLDER.sub(replace, sql)


def cast_type(field: models.Field[Any, Any]) -> str:
    """The field's column type for a cast, without a length.

    ``INSERT ... SELECT`` types its values as given unless told: the statements cast each to
    its column's type, and without the length an over-long value fails instead of being cut.
    """
    return re.sub(r"\(\d+\)", "", field.db_type(connection) or "text")


@cache
def insert_fields(model: type[models.Model]) -> tuple[models.Field[Any, Any], ...]:
    """The columns an ``INSERT`` of ``model`` writes: all but generated and auto-increment ones."""
    return tuple(
        field
        for field in model._meta.concrete_fields
        if not field.generated and not isinstance(field, models.AutoField)
    )


def insert_values(row: Mapping[str, Any], fields: Sequence[models.Field[Any, Any]]) -> list[Any]:
    """Return the parameters of ``row`` (values by attribute name; absent ones default)."""
    adapt_json = connection.ops.adapt_json_value
    values = []
    for attname, is_json, encoder, default in _value_plan(fields):
        value = row[attname] if attname in row else default()
        # The driver takes the others as they are (str, int, bool, None, UUID, aware datetime).
        values.append(adapt_json(value, encoder) if is_json else value)
    return values


type _Plan = tuple[tuple[str, bool, Any, Callable[[], Any]], ...]
_plans: dict[int, tuple[Sequence[models.Field[Any, Any]], _Plan]] = {}


def _value_plan(fields: Sequence[models.Field[Any, Any]]) -> _Plan:
    """Per field, what ``insert_values`` needs: attribute name, JSON or not, encoder, default.

    Kept per column set, found by identity: callers pass ``insert_fields``'s cached tuples,
    and hashing a tuple of fields would cost more than the plan saves.
    """
    known = _plans.get(id(fields))
    if known is not None and known[0] is fields:
        return known[1]
    if len(_plans) >= 256:
        _plans.clear()  # callers building a column set per call must not grow this for ever
    plan = tuple(
        (
            field.attname,
            isinstance(field, models.JSONField),
            getattr(field, "encoder", None),
            field.get_default,
        )
        for field in fields
    )
    _plans[id(fields)] = (fields, plan)
    return plan


def column_list(fields: Sequence[models.Field[Any, Any]]) -> str:
    """The quoted column names of ``fields``, comma-separated."""
    return ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)


def cast_placeholders(fields: Sequence[models.Field[Any, Any]]) -> str:
    """One ``%s`` per field, each cast to its column's type (``cast_type``)."""
    return ", ".join(f"%s::{cast_type(field)}" for field in fields)


# --- reading timestamps -------------------------------------------------------------------------


@cache
def timestamptz_loader(timezone: dt.tzinfo | None) -> type[Any]:
    """Django's loader of ``timestamptz`` values for ``timezone``, parsing in C when it can.

    Django registers a subclass of psycopg's pure-Python loader (so it can set the tzinfo),
    which keeps the driver's C loader out of every query that reads a timestamp: about 4 µs
    per value, a millisecond for the 100 rules of one dispatch. PostgreSQL writes
    ``timestamptz`` in ISO format (the DateStyle Django's connections use), which
    ``datetime.fromisoformat`` reads in C; anything it refuses (BC dates, ``infinity``, another
    DateStyle, a value at the edge of the calendar) goes to Django's loader, which answers or
    raises as it always did. Same values on the connections Django makes (their session time
    zone is ``timezone``): the instant in ``timezone``, or the wall time when it is None.
    """
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    fromisoformat = dt.datetime.fromisoformat

    class TimestamptzLoader(BaseTzLoader):  # type: ignore[misc]
        def load(self, data: Any) -> dt.datetime:
            try:
                value = fromisoformat(bytes(data).decode())
                return (
                    value.replace(tzinfo=None) if timezone is None else value.astimezone(timezone)
                )
            except (ValueError, OverflowError):
                return super().load(data)  # type: ignore[no-any-return]

    TimestamptzLoader.timezone = timezone  # what Django's cursors compare theirs with
    return TimestamptzLoader


def read_timestamps_in_c(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created``: give a new PostgreSQL connection :func:`timestamptz_loader`."""
    if connection.vendor != "postgresql":
        return
    connection.connection.adapters.register_loader(
        "timestamptz", timestamptz_loader(connection.timezone)
    )
