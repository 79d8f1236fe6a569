"""Sending engine tasks by name once the current transaction commits (never from inside it).

A lost publish is not lost work: every row the engine enqueues stays in a state the sweeper
picks up again (``automations.engine.sweep``), so a broker outage only delays it.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

RUN_TASK = "automations.run_execution"
ALERT_TASK = "automations.send_alert"


def send_now(task_name: str, *args: object) -> bool:
    """Publish ``task_name(*args)``; log and return False when the broker does not take it."""
    try:
        current_app.send_task(task_name, args=list(args))
    except Exception:
        logger.exception("could not publish %s%r; the sweeper will catch up", task_name, args)
        return False
    return True


def enqueue_after_commit(task_name: str, *args: object) -> None:
    """Publish ``task_name(*args)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(send_now, task_name, *args), robust=True)


def enqueue_run(execution_id: int) -> None:
    """Queue ``automations.run_execution`` for one execution, after commit."""
    enqueue_after_commit(RUN_TASK, execution_id)
