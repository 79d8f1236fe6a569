"""Models of the trigger sources beyond webhooks: metric samples, KPI baselines, poll state.

Imported by ``automations.models`` (so Django registers them under the ``automations`` app);
the code that writes them lives in ``automations.triggers``. Rules are named by string so this
module imports nothing of ``automations.models`` (which imports it at its end).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace

__all__ = [
    "KpiBaseline",
    "MetricSample",
    "MetricState",
    "PollSeenItem",
    "PollState",
]


class MetricSample(models.Model):
    """One value of a named metric at an instant, pushed through the API or computed (KPIs)."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="metric_samples"
    )
    name = models.CharField(max_length=100)
    value = models.DecimalField(max_digits=24, decimal_places=6)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        """Threshold evaluation reads the latest samples of one metric, newest first."""

        ordering = ["workspace", "name", "-recorded_at", "-id"]
        indexes = [
            models.Index(
                fields=["workspace", "name", "-recorded_at"], name="metric_sample_series_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


class MetricState(models.Model):
    """Where a metric_threshold rule stands on its metric: past the threshold or back.

    A cache of what the samples say (``automations.triggers.metrics`` recomputes it from them):
    ``since`` is when the current crossing started, ``fired`` whether its one event was
    recorded. The periodic evaluation reads the rows past the threshold and not fired yet.
    """

    rule = models.ForeignKey(
        "automations.Rule", on_delete=models.CASCADE, related_name="metric_states"
    )
    metric = models.CharField(max_length=100)
    is_past = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True)
    fired = models.BooleanField(default=False)
    last_value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        """One state per (rule, metric); crossings waiting for their duration are indexed."""

        ordering = ["rule", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "metric"], name="metric_state_unique"),
            models.CheckConstraint(
                condition=Q(is_past=False) | Q(since__isnull=False),
                name="metric_state_past_has_since",
            ),
        ]
        indexes = [
            # automations.evaluate_metrics: crossings whose duration may have elapsed.
            models.Index(
                fields=["since"],
                condition=Q(is_past=True, fired=False),
                name="metric_state_waiting_idx",
            ),
        ]

    def __str__(self) -> str:
        side = f"past since {self.since}" if self.is_past else "back"
        return f"rule {self.rule_id} on {self.metric}: {side}"


class KpiBaseline(models.Model):
    """The rolling baseline of one KPI of a workspace: EWMA mean and deviation per hour.

    ``last_bucket`` is the start of the last hour folded in; ``episode_start`` the start of the
    hour an open anomaly episode began (None when the KPI is normal).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="kpi_baselines")
    kpi = models.CharField(max_length=40)
    mean = models.FloatField(default=0.0)
    variance = models.FloatField(default=0.0)
    samples = models.PositiveIntegerField(default=0)
    last_bucket = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    episode_start = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """One baseline per (workspace, KPI)."""

        ordering = ["workspace", "kpi"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kpi"], name="kpi_baseline_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi} of workspace {self.workspace_id}: {self.mean:.4g}"


class PollState(models.Model):
    """When a poll_new_item rule last polled its source, and what happened.

    ``url`` is the source the seen items belong to: when the rule's URL changes, the items of
    the new source are taken in as seen without firing (like the first poll).
    """

    rule = models.OneToOneField(
        "automations.Rule", on_delete=models.CASCADE, related_name="poll_state"
    )
    url = models.URLField(max_length=2000)
    polled_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"poll of rule {self.rule_id} at {self.polled_at}"


class PollSeenItem(models.Model):
    """An item id a poll_new_item rule has seen: one event per id, ever."""

    rule = models.ForeignKey(
        "automations.Rule", on_delete=models.CASCADE, related_name="poll_seen_items"
    )
    item_id = models.CharField(max_length=255)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        """Unique per (rule, item): two polls racing record an item once."""

        ordering = ["rule", "seen_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "item_id"], name="poll_seen_item_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} (rule {self.rule_id})"
