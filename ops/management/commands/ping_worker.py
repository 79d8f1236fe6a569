"""Send a heartbeat task through the broker and wait until a worker has run it."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ops.models import Heartbeat
from ops.tasks import record_heartbeat


class Command(BaseCommand):
    """``manage.py ping_worker``: a task round trip through the configured broker."""

    help = "Send a task through the broker and wait for a worker to run it."

    def add_arguments(self, parser: Any) -> None:
        """Accept how long to wait."""
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args: Any, **options: Any) -> None:
        """Publish the ping and poll the database for its heartbeat row."""
        token = uuid.uuid4().hex
        started = time.monotonic()
        record_heartbeat.delay(source=Heartbeat.Source.PING, token=token)
        while time.monotonic() - started < options["timeout"]:
            beat = Heartbeat.objects.filter(token=token).first()
            if beat is not None:
                elapsed = (time.monotonic() - started) * 1000
                self.stdout.write(f"pong from {beat.worker} in {elapsed:.0f} ms")
                return
            time.sleep(0.2)
        raise CommandError(f"No worker ran the ping within {options['timeout']:.0f} s.")
