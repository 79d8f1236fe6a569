"""Rules and their versions: what a marketer saved, and every earlier shape of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Workspace


class Rule(models.Model):
    """A saved rule: a trigger, conditions and steps that passed the checker.

    ``definition`` holds the current definition JSON (see ``automations.draft``), which always
    passed ``check_rule`` when it was saved; ``trigger_key`` is copied out of it so dispatch finds
    the enabled rules of a trigger with one indexed query.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_enabled = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="rules"
    )
    trigger_key = models.CharField(max_length=100)
    definition = models.JSONField()
    sentence = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    # Why the rule was switched off by Typewire rather than by a person (a vocabulary change).
    disabled_reason = models.CharField(max_length=500, blank=True)
    # Blast-radius limits (``automations.engine.limits``); None switches each one off.
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    breaker_threshold = models.PositiveIntegerField(null=True, blank=True)
    breaker_failure_ratio = models.FloatField(null=True, blank=True)
    # A paused rule still matches events, but their executions are held until it is resumed.
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=500, blank=True)
    # The breaker and the spike check count from here: a resume gives the rule a fresh start.
    resumed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """Dispatch reads the enabled rules of one trigger; limits are positive when set."""

        ordering = ["name", "id"]
        indexes = [
            models.Index(
                fields=["workspace", "trigger_key"],
                condition=Q(is_enabled=True),
                name="rule_enabled_trigger_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_limit_per_minute__isnull=True) | Q(rate_limit_per_minute__gte=1),
                name="rule_rate_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(breaker_threshold__isnull=True) | Q(breaker_threshold__gte=1),
                name="rule_breaker_threshold_positive",
            ),
            models.CheckConstraint(
                condition=Q(breaker_failure_ratio__isnull=True)
                | Q(breaker_failure_ratio__gt=0, breaker_failure_ratio__lte=1),
                name="rule_breaker_ratio_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_paused(self) -> bool:
        """Whether the rule is paused (its new executions are held until it is resumed)."""
        return self.paused_at is not None


class RuleVersion(models.Model):
    """One saved shape of a rule: who saved it, when, and the full definition."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    definition = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """Versions are numbered 1, 2, 3... per rule."""

        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.number}"


class ExecutionStatus(models.TextChoices):
    """Where an execution stands."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting (a wait step or a retry is due later)"
    HELD = "held", "Held (rule paused or over its rate cap)"
    SUCCEEDED = "succeeded", "Succeeded"
    DEAD = "dead", "Dead-lettered (gave up after the last attempt)"
    LOOP = "loop", "Stopped as a loop"


class Execution(models.Model):
    """One run of one rule for one event. At most one per (event, rule) at the top level.

    A ``run_rule`` step starts a child execution (``parent`` and ``parent_step`` set); children
    are unique per (parent, parent step) instead.
    """

    # Indexed by execution_rule_idx, which it leads.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="executions", db_index=False
    )
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="executions")
    rule_version = models.PositiveIntegerField()
    event = models.ForeignKey("catalog.Event", on_delete=models.PROTECT, related_name="executions")
    # Indexed by execution_unique_child_step (parent, parent_step) where parent is set, which
    # every lookup of a parent's children can use: most executions have none to index.
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        db_index=False,
    )
    parent_step = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING
    )
    # When a waiting execution is due again (a wait step's end, or a step's next attempt).
    resume_at = models.DateTimeField(null=True, blank=True)
    # A worker that claims the execution holds it until then; past it, the sweeper re-queues it.
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it was let through to run: at creation, or when released from held. A rule's rate
    # cap counts these per minute; a held execution has none yet.
    admitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        """One execution per (event, rule); the sweeper reads the waiting and running ones."""

        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "rule"],
                condition=Q(parent__isnull=True),
                name="execution_unique_event_rule",
            ),
            models.UniqueConstraint(
                fields=["parent", "parent_step"],
                condition=Q(parent__isnull=False),
                name="execution_unique_child_step",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ExecutionStatus.values), name="execution_status_valid"
            ),
        ]
        indexes = [
            # The sweeper: due waits and retries, and expired leases.
            models.Index(
                fields=["resume_at"],
                condition=Q(status="waiting"),
                name="execution_waiting_idx",
            ),
            models.Index(
                fields=["lease_until"],
                condition=Q(status="running"),
                name="execution_running_idx",
            ),
            models.Index(fields=["workspace", "rule", "-created_at"], name="execution_rule_idx"),
            # The sweeper: executions whose run_execution message was lost (broker outage).
            models.Index(
                fields=["created_at"],
                condition=Q(status="pending"),
                name="execution_pending_idx",
            ),
            # The sweeper and a resume: held executions of a rule, oldest first.
            models.Index(
                fields=["rule", "created_at"],
                condition=Q(status="held"),
                name="execution_held_idx",
            ),
            # Dispatch under a rate cap: executions of a rule let through this minute.
            models.Index(
                fields=["rule", "admitted_at"],
                condition=Q(admitted_at__isnull=False),
                name="execution_admitted_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"execution {self.pk} of rule {self.rule_id} ({self.status})"


class StepStatus(models.TextChoices):
    """Where a step of an execution stands."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class StepRun(models.Model):
    """One step of one execution: its resolved inputs, output, and attempts.

    ``idempotency_key`` (execution id + step path) is stable across retries, redeliveries and
    replays: HTTP actions send it, internal actions record it with their effect.
    """

    # Indexed by step_run_unique_path, which it leads.
    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, related_name="steps", db_index=False
    )
    path = models.CharField(max_length=200)
    step_id = models.CharField(max_length=64)
    action = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING)
    idempotency_key = models.CharField(max_length=255, unique=True)
    inputs = models.JSONField(default=dict)
    output = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        """Steps of an execution in the order they ran."""

        ordering = ["execution", "id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "path"], name="step_run_unique_path"),
            models.CheckConstraint(
                condition=Q(status__in=StepStatus.values), name="step_run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id} {self.path} {self.action} ({self.status})"


class AttemptOutcome(models.TextChoices):
    """How one try of a step ended."""

    SUCCEEDED = "succeeded", "Succeeded"
    RETRYABLE = "retryable", "Failed, will retry"
    FAILED = "failed", "Failed"


class Attempt(models.Model):
    """One try of one step: when, how it ended, and for HTTP what was sent and received."""

    # Indexed by attempt_unique_number, which it leads.
    step_run = models.ForeignKey(
        StepRun, on_delete=models.CASCADE, related_name="attempt_log", db_index=False
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    error = models.TextField(blank=True)
    # Stored on the attempt row, not in a Celery countdown: long schedules survive restarts.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    http_method = models.CharField(max_length=10, blank=True)
    http_url = models.CharField(max_length=2000, blank=True)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        """Attempts numbered 1, 2, 3... per step."""

        ordering = ["step_run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["step_run", "number"], name="attempt_unique_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.step_run_id}: {self.outcome}"


class AppliedEffect(models.Model):
    """The proof that an internal step's effect was applied: written in the effect's transaction.

    A retried or redelivered step whose key is here does not apply its effect again.
    """

    idempotency_key = models.CharField(max_length=255, primary_key=True)
    output = models.JSONField(default=dict)
    applied_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.idempotency_key


class AlertStatus(models.TextChoices):
    """Whether a failure alert reached its target."""

    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Alert(models.Model):
    """An alert about an execution (dead-lettered, looped) or a rule (paused), and its delivery.

    Written in the transaction that settles the execution (or pauses the rule);
    ``automations.send_alert`` delivers it to its target (email, Slack or webhook) once that
    commits. A rule alert (a spike) may have no execution; every new alert names its rule.
    """

    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    kind = models.CharField(max_length=20)
    target = models.CharField(max_length=2000)
    reason = models.CharField(max_length=20)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(
        max_length=20, choices=AlertStatus.choices, default=AlertStatus.PENDING
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        """Newest first; the status is one of AlertStatus."""

        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AlertStatus.values), name="alert_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(execution__isnull=False) | Q(rule__isnull=False),
                name="alert_about_something",
            ),
        ]

    def __str__(self) -> str:
        about = f"execution {self.execution_id}" if self.execution_id else f"rule {self.rule_id}"
        return f"{self.kind} alert about {about} ({self.status})"


from automations.trigger_models import *  # noqa: F403, E402


class CatalogCheck(models.Model):
    """The catalog every rule was last re-checked against (one row per installation).

    A deploy that changes a plug-in's declarations changes the fingerprint; the periodic
    reconciliation then re-checks every rule and switches off, with the reason, those the new
    catalog breaks, so none is left to fail at run time.
    """

    name = models.CharField(max_length=50, primary_key=True)
    fingerprint = models.CharField(max_length=64)
    checked_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.fingerprint[:12]}"


class DisabledTarget(models.Model):
    """An outbound webhook URL Typewire stopped calling in a workspace: it answered 410 Gone.

    While a row is active (``enabled_at`` empty), every ``fire_webhook`` to that exact URL from
    any rule of the workspace fails at once without calling it. An admin re-enables the URL
    through the API, which keeps the row as history.
    """

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="disabled_targets"
    )
    url = models.CharField(max_length=2000)
    reason = models.CharField(max_length=500)
    rule = models.ForeignKey(
        Rule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    execution = models.ForeignKey(
        Execution, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    disabled_at = models.DateTimeField()
    enabled_at = models.DateTimeField(null=True, blank=True)
    enabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        """Newest first; at most one active row per (workspace, URL)."""

        ordering = ["-disabled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "url"],
                condition=Q(enabled_at__isnull=True),
                name="disabled_target_one_active",
            ),
        ]

    def __str__(self) -> str:
        state = "enabled again" if self.enabled_at else "disabled"
        return f"{self.url} ({state})"

    @property
    def is_active(self) -> bool:
        """Whether sends to the URL are still refused."""
        return self.enabled_at is None
