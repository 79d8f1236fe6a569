"""Worker heartbeats: proof that a task went through the broker and a worker ran it."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """One task run by a worker: from beat's schedule, or a ping sent to check the round trip."""

    class Source(models.TextChoices):
        BEAT = "beat", "Beat schedule"
        PING = "ping", "Ping"

    source = models.CharField(max_length=10, choices=Source.choices)
    token = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source} {self.token} from {self.worker} at {self.created_at:%H:%M:%S}"
