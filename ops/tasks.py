"""Celery tasks of ops: the heartbeat that proves broker, worker (and beat) are alive."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from ops.models import Heartbeat


@shared_task(name="ops.record_heartbeat", bind=True, ignore_result=True)
def record_heartbeat(
    self: Task[Any, Any], source: str = Heartbeat.Source.PING, token: str = ""
) -> None:
    """Store one heartbeat row naming the worker that ran the task."""
    Heartbeat.objects.create(source=source, token=token, worker=self.request.hostname or "")
