"""Replay: run a dead-lettered execution again from its failed step, with the same keys."""

from __future__ import annotations

from django.db import transaction

from automations.engine.queue import enqueue_run
from automations.models import Execution, ExecutionStatus, StepRun, StepStatus


class NotReplayable(Exception):
    """Only a dead-lettered execution can be replayed; the message says what state it is in."""


def replay(execution: Execution) -> Execution:
    """Reset a dead execution to pending from its failed step and enqueue it; return it.

    Steps that succeeded keep their outputs and are not run again; the failed step keeps its
    idempotency key and its attempt log (new attempts are numbered on). Raises NotReplayable
    for an execution that is not dead.
    """
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.status != ExecutionStatus.DEAD:
            raise NotReplayable(
                f"Execution {locked.pk} is {locked.get_status_display().lower()}; "
                "only a dead-lettered execution can be replayed."
            )
        _reset(locked)
        enqueue_run(locked.pk)
    return locked


def _reset(execution: Execution) -> None:
    # A new round of attempts: started_at marks where the attempt count starts again.
    StepRun.objects.filter(execution=execution, status=StepStatus.FAILED).update(
        status=StepStatus.PENDING,
        error="",
        next_attempt_at=None,
        started_at=None,
        finished_at=None,
    )
    execution.status = ExecutionStatus.PENDING
    execution.error = ""
    execution.finished_at = None
    execution.resume_at = None
    execution.lease_until = None
    execution.save(update_fields=["status", "error", "finished_at", "resume_at", "lease_until"])
    # A run_rule step failed because its chained rule died: that one starts again too.
    for child in execution.children.select_for_update().filter(status=ExecutionStatus.DEAD):
        _reset(child)
