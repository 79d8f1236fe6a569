"""The engine's per-execution statements, prepared on PostgreSQL (the ORM elsewhere).

Every execution reads its event's chain (the loop guard) and every step goes through the same
few writes: the step run stored running before its try, then its success (the step run, its
attempt row, an internal action's :class:`AppliedEffect`, and the execution's success when it
was the last step). Through the ORM each is a statement compiled in Python and sent on its
own; here each is prepared once per connection, and the success is **one statement** whose
parts are data-modifying CTEs. Their rules are the ORM's: the success is written in the
caller's transaction (the effect's, for an internal action), and the execution's part is
fenced by its lease, so a worker that lost it rolls the whole transaction back
(:func:`write_success` returns False).

Other databases (the SQLite demo) take the ORM path with the same outcome.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connection

from automations.models import (
    AppliedEffect,
    Attempt,
    Execution,
    ExecutionStatus,
    StepRun,
    StepStatus,
)
from catalog.models import Event
from catalog.sql import column_list, execute_prepared, insert_fields, insert_values


def _prepared() -> bool:
    return connection.vendor == "postgresql"


def chain_events(root: uuid.UUID, *, but: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the events of the chain started by event ``root`` (itself included), but ``but``.

    Through event_root_idx and the primary key.
    """
    if not _prepared():
        chain = Event.objects.filter(root_event_id=root) | Event.objects.filter(pk=root)
        return list(chain.exclude(pk=but).values_list("pk", flat=True))
    return [pk for (pk,) in execute_prepared(_chain_select(), [root, root, but])]


def insert_step_run(step_run: StepRun) -> None:
    """Insert ``step_run`` (not stored yet) and set its primary key."""
    if not _prepared():
        step_run.save(force_insert=True)
        return
    fields = insert_fields(StepRun)
    row = {field.attname: getattr(step_run, field.attname) for field in fields}
    ((pk,),) = execute_prepared(_step_run_insert(), insert_values(row, fields))
    step_run.pk = pk
    step_run._state.adding = False
    step_run._state.db = connection.alias


@dataclass(frozen=True, slots=True)
class StepSuccess:
    """A step's success as the engine writes it.

    ``effect_key``: the :class:`AppliedEffect` to record with it (an internal action applied
    in this transaction), or None. ``settle``: the execution's lease, when this success also
    settles the execution as succeeded.
    """

    step_run: StepRun
    output: dict[str, Any]
    attempt: Attempt
    finished_at: dt.datetime
    effect_key: str | None = None
    settle: dt.datetime | None = None


def write_success(success: StepSuccess, execution: Execution) -> bool:
    """Store ``success``; return False when the execution's lease was lost (settle only).

    On False the caller must roll back its transaction: the other parts were written.
    """
    step_run = success.step_run
    if not _prepared():
        return _write_success_orm(success, execution)
    attempt_fields = insert_fields(Attempt)
    attempt = {f.attname: getattr(success.attempt, f.attname) for f in attempt_fields}
    params: list[Any] = insert_values(
        {"output": success.output, "finished_at": success.finished_at},
        _step_run_success_fields(),
    )
    params.append(step_run.pk)
    params += insert_values(attempt, attempt_fields)
    if success.effect_key is not None:
        params += insert_values(
            {
                "idempotency_key": success.effect_key,
                "output": success.output,
                "applied_at": success.finished_at,
            },
            insert_fields(AppliedEffect),
        )
    if success.settle is not None:
        params += [success.finished_at, execution.pk, success.settle]
    statement = _success_statement(
        effect=success.effect_key is not None, settle=success.settle is not None
    )
    ((settled,),) = execute_prepared(statement, params)
    _apply_success(success, execution, step_only=not settled)
    return bool(settled)


def _write_success_orm(success: StepSuccess, execution: Execution) -> bool:
    step_run = success.step_run
    if success.effect_key is not None:
        AppliedEffect.objects.create(idempotency_key=success.effect_key, output=success.output)
    _apply_success(success, execution, step_only=True)
    step_run.save(update_fields=["status", "output", "error", "finished_at"])
    success.attempt.save(force_insert=True)
    if success.settle is None:
        return True
    fenced = Execution.objects.filter(
        pk=execution.pk, status=ExecutionStatus.RUNNING, lease_until=success.settle
    )
    if not fenced.update(
        status=ExecutionStatus.SUCCEEDED,
        finished_at=success.finished_at,
        error="",
        lease_until=None,
    ):
        return False
    _apply_success(success, execution)
    return True


def _apply_success(success: StepSuccess, execution: Execution, *, step_only: bool = False) -> None:
    """Set on the in-memory rows what the success stored."""
    step_run = success.step_run
    step_run.status = StepStatus.SUCCEEDED
    step_run.output = success.output
    step_run.error = ""
    step_run.finished_at = success.finished_at
    if success.settle is not None and not step_only:
        execution.status = ExecutionStatus.SUCCEEDED
        execution.finished_at = success.finished_at
        execution.error = ""
        execution.lease_until = None


@cache
def _chain_select() -> str:
    return (
        f"SELECT id FROM {Event._meta.db_table} WHERE (root_event_id = %s OR id = %s) AND id <> %s"
    )


@cache
def _step_run_insert() -> str:
    fields = insert_fields(StepRun)
    return (
        f"INSERT INTO {StepRun._meta.db_table} ({column_list(fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id"
    )


@cache
def _step_run_success_fields() -> tuple[Any, ...]:
    return tuple(StepRun._meta.get_field(name) for name in ("output", "finished_at"))


@cache
def _success_statement(*, effect: bool, settle: bool) -> str:
    """The success's writes as CTEs; the final SELECT says whether the execution settled."""
    quote = connection.ops.quote_name
    attempt_fields = insert_fields(Attempt)
    parts = [
        f"sr AS (UPDATE {StepRun._meta.db_table} SET status = '{StepStatus.SUCCEEDED.value}',"
        " output = %s, error = '', finished_at = %s WHERE id = %s)",
        f"at AS (INSERT INTO {Attempt._meta.db_table} ({column_list(attempt_fields)})"
        f" VALUES ({', '.join(['%s'] * len(attempt_fields))}))",
    ]
    if effect:
        effect_fields = insert_fields(AppliedEffect)
        parts.append(
            f"ae AS (INSERT INTO {AppliedEffect._meta.db_table} ({column_list(effect_fields)})"
            f" VALUES ({', '.join(['%s'] * len(effect_fields))}))"
        )
    if settle:
        running = ExecutionStatus.RUNNING.value
        parts.append(
            f"ex AS (UPDATE {Execution._meta.db_table}"
            f" SET status = '{ExecutionStatus.SUCCEEDED.value}', finished_at = %s, error = '',"
            f" {quote('lease_until')} = NULL"
            f" WHERE id = %s AND status = '{running}' AND {quote('lease_until')} = %s"
            " RETURNING 1)"
        )
    answer = "SELECT EXISTS (SELECT 1 FROM ex)" if settle else "SELECT true"
    return f"WITH {', '.join(parts)} {answer}"
