"""The execution sweeper: resume due waits and retries, re-queue work left behind, release held.

Left behind by a dead worker (an expired lease) or a lost publish (a broker outage); held by a
rate cap whose next minute has room, or by a pause that has been lifted.

Run by ``automations.sweep_executions`` every few seconds. It only enqueues; the claim in
``automations.engine.run`` decides who runs what, so a duplicate message does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from automations.engine.limits import release_all_held
from automations.engine.queue import RUN_TASK, send_now
from automations.models import Execution, ExecutionStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """How many executions one sweep enqueued, by reason."""

    resumed: int
    expired: int
    pending: int
    released: int = 0

    @property
    def total(self) -> int:
        """Every execution enqueued."""
        return self.resumed + self.expired + self.pending + self.released


def sweep(*, now: dt.datetime | None = None, batch_size: int | None = None) -> SweepResult:
    """Enqueue ``run_execution`` for due waits and retries, expired leases and stale pendings.

    - waiting with ``resume_at`` passed (a wait step's end, a retry's next attempt);
    - running with ``lease_until`` passed (its worker died mid-step);
    - pending for longer than ``TYPEWIRE_SWEEP_AFTER_SECONDS`` (the publish was lost);
    - each sent at most once per ``TYPEWIRE_SWEEP_AFTER_SECONDS`` (``_mark_sent``);
    - held, of a rule that is not paused, as far as its rate cap lets this minute (these are
      released to pending first, oldest first per rule, and enqueued once released).

    Oldest first, at most ``batch_size`` of each (``TYPEWIRE_SWEEP_BATCH_SIZE``).
    """
    moment = now or timezone.now()
    limit = batch_size or int(getattr(settings, "TYPEWIRE_SWEEP_BATCH_SIZE", 500))
    after = dt.timedelta(seconds=float(getattr(settings, "TYPEWIRE_SWEEP_AFTER_SECONDS", 30)))
    # Each query is served by a partial index (execution_waiting/running/pending_idx).
    due = Execution.objects.filter(status=ExecutionStatus.WAITING, resume_at__lte=moment)
    expired = Execution.objects.filter(status=ExecutionStatus.RUNNING, lease_until__lt=moment)
    released = release_all_held(now=moment, limit=limit)
    # Released executions are pending since their release, not since their creation.
    stale = Execution.objects.filter(
        Q(resume_at__isnull=True) | Q(resume_at__lte=moment),
        Q(admitted_at__isnull=True) | Q(admitted_at__lt=moment - after),
        status=ExecutionStatus.PENDING,
        created_at__lt=moment - after,
    )
    counts = []
    for queryset, order in ((due, "resume_at"), (expired, "lease_until"), (stale, "created_at")):
        ids = list(queryset.order_by(order).values_list("pk", flat=True)[:limit])
        if queryset is not expired:
            _mark_sent(ids, moment, after)
        for execution_id in ids:
            send_now(RUN_TASK, execution_id)
        counts.append(len(ids))
    result = SweepResult(counts[0], counts[1], counts[2], released)
    if result.total:
        logger.info("execution sweeper enqueued %s", result)
    return result


def _mark_sent(ids: list[int], moment: dt.datetime, after: dt.timedelta) -> None:
    """Note that ``ids`` were sent, so that the next sweeps leave them alone for ``after``.

    A due wait becomes pending (queued; the claim takes a pending execution at once), and a
    pending one is not sent again before ``resume_at``, which the claim clears. Without this,
    an execution that waits in the broker's queue behind a backlog would get one more message
    per sweep: the backlog would feed itself.
    """
    if not ids:
        return
    again = moment + after
    Execution.objects.filter(
        pk__in=ids, status=ExecutionStatus.WAITING, resume_at__lte=moment
    ).update(status=ExecutionStatus.PENDING, resume_at=again)
    Execution.objects.filter(pk__in=ids, status=ExecutionStatus.PENDING).update(resume_at=again)
