"""Sending engine tasks by name once the current transaction commits (never from inside it).

A lost publish is not lost work: every row the engine enqueues stays in a state the sweeper
picks up again (``automations.engine.sweep``), so a broker outage only delays it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

RUN_TASK = "automations.run_execution"
RUN_MANY_TASK = "automations.run_executions"
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


def enqueue_runs(execution_ids: Sequence[int]) -> None:
    """Queue many executions after commit, ``TYPEWIRE_RUN_BATCH`` per message.

    An event that 100 rules match would otherwise cost 100 broker round trips in its dispatch.
    Each message (``automations.run_executions``) runs its executions one after the other;
    several messages still spread them over the workers. One execution goes alone.
    """
    size = max(1, int(getattr(settings, "TYPEWIRE_RUN_BATCH", 20)))
    ids = list(execution_ids)
    if len(ids) == 1:
        enqueue_run(ids[0])
    elif ids:
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
        transaction.on_commit(partial(_send_chunks, chunks), robust=True)


def _send_chunks(chunks: list[list[int]]) -> None:
    # One producer (one broker connection from the pool) for every message of the dispatch,
    # and one batch: on Redis the messages go in one pipelined round trip (kombu's
    # ``Producer.batch``); a transport without batches publishes each at once, as before.
    # The arguments are lists of ints, so their plain repr is what Celery's ``saferepr``
    # would write in the message's ``argsrepr``, at a fraction of its cost.
    try:
        with current_app.producer_or_acquire() as producer, producer.batch():
            for chunk in chunks:
                current_app.send_task(
                    RUN_MANY_TASK,
                    args=[chunk],
                    producer=producer,
                    argsrepr=repr([chunk]),
                    kwargsrepr="{}",
                )
    except Exception:
        logger.exception(
            "could not publish %d run batch(es); the sweeper will catch up", len(chunks)
        )
