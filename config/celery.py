"""The Celery application: configured from Django settings (``CELERY_*``), tasks autodiscovered."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("typewire")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_postrun.connect
def _recycle_database_connections(sender: Any = None, **kwargs: Any) -> None:
    """Keep a worker's database connection across tasks, as a web process does per request.

    Celery's Django fix-up closes the connection around every task unless
    ``CELERY_DB_REUSE_MAX`` is set (settings set it): opening one costs more than a short task.
    Here a connection that failed or outlived ``CONN_MAX_AGE`` is closed after the task (the
    next one reconnects), exactly what Django does at the end of a request.
    """
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


class EventPublisherStep(bootsteps.StartStopStep):
    """Run the event publisher (``catalog.publisher``) in every worker consuming the ingest queue.

    A thread of the worker's main process, started once the pool exists: it publishes the
    webhook events stored unpublished, in batches, woken by PostgreSQL ``NOTIFY``. Several
    workers may run one each (they claim rows with ``SKIP LOCKED``). Off with
    ``TYPEWIRE_EVENT_PUBLISHER=false``.
    """

    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.thread: Any = None

    def include_if(self, parent: Any) -> bool:
        """Only for a worker that consumes the ingest queue, when the publisher is on."""
        from django.conf import settings

        queues = parent.app.amqp.queues.consume_from
        return bool(settings.TYPEWIRE_EVENT_PUBLISHER) and settings.QUEUE_INGEST in queues

    def start(self, parent: Any) -> None:
        """Start the publisher thread."""
        from catalog.publisher import PublisherThread

        self.thread = PublisherThread()
        self.thread.start()

    def stop(self, parent: Any) -> None:
        """Stop the publisher thread (it finishes its current round)."""
        if self.thread is not None:
            self.thread.stop()
            self.thread = None


app.steps["worker"].add(EventPublisherStep)
