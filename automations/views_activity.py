"""Activity pages: the execution log, one execution's timeline with replay, rule changes, dashboard.

Every member reads executions and the dashboard (SPEC 9); the inbound delivery log belongs to the
admin area; replaying a dead-lettered execution is for admins only. Another workspace's
execution answers 404. Charts are computed by :mod:`automations.dashboard` from counts the
database aggregates here, and drawn as inline SVG by the template.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import CharField, Count, Prefetch, Q, QuerySet, TextField
from django.db.models.functions import Cast, TruncHour, TruncMinute
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.access import (
    ADMIN_AREA,
    MARKETER_AREA,
    READ_ONLY_AREA,
    WorkspaceRequest,
    workspace_view,
)
from accounts.audit import filter_audit
from accounts.models import AuditEntry, AuditObject, Role, Workspace
from automations import dashboard as charts
from automations.engine.replay import NotReplayable, replay
from automations.models import (
    Attempt,
    AttemptOutcome,
    Execution,
    ExecutionStatus,
    Rule,
    RuleVersion,
    StepRun,
)
from automations.triggers.reconcile import RuleDay, daily_report
from catalog.models import Event, EventStatus
from catalog.registry import registry
from webhooks.models import Endpoint, InboundDelivery

PAGE_SIZE = 25
RANGES: dict[str, tuple[str, timedelta]] = {
    "hour": ("Last hour", timedelta(hours=1)),
    "day": ("Last day", timedelta(days=1)),
    "week": ("Last week", timedelta(weeks=1)),
}
TABS = ("executions", "deliveries", "changes", "audit")
BACKLOG_STATUSES = (ExecutionStatus.PENDING, ExecutionStatus.WAITING, ExecutionStatus.HELD)
OUTCOME_ORDER = [
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.DEAD,
    ExecutionStatus.LOOP,
    ExecutionStatus.PENDING,
    ExecutionStatus.RUNNING,
    ExecutionStatus.WAITING,
    ExecutionStatus.HELD,
]
LATENCY_SAMPLE = 5000


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def can_replay(request: WorkspaceRequest) -> bool:
    """Return whether the member may replay dead-lettered executions (admins only, SPEC 9)."""
    return request.membership.role == Role.ADMIN


def can_see_deliveries(request: WorkspaceRequest) -> bool:
    """Return whether the member may read the inbound delivery log (the admin area)."""
    return ADMIN_AREA.allows(request.membership.role, "GET")


# --- the execution log -------------------------------------------------------------------------


def _parse_moment(raw: str) -> datetime | None:
    """Parse a ``datetime-local`` (or ISO 8601) value; naive times are in the current zone."""
    if not raw:
        return None
    try:
        parsed = parse_datetime(raw.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


@dataclass(slots=True)
class ExecutionFilters:
    """The execution log's filters as read from the query string (invalid values are ignored)."""

    rule: str = ""
    trigger: str = ""
    status: str = ""
    range: str = ""
    since: str = ""
    until: str = ""
    q: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: QueryDict) -> ExecutionFilters:
        """Read the filters from ``request.GET``."""
        return cls(
            rule=query.get("rule", "").strip(),
            trigger=query.get("trigger", "").strip(),
            status=query.get("status", "").strip(),
            range=query.get("range", "").strip(),
            since=query.get("since", "").strip(),
            until=query.get("until", "").strip(),
            q=query.get("q", "").strip()[:200],
        )

    def apply(self, executions: QuerySet[Execution], now: datetime) -> QuerySet[Execution]:
        """Return ``executions`` narrowed by every filter that is set and valid."""
        if self.rule.isdigit():
            executions = executions.filter(rule_id=int(self.rule))
        if self.trigger:
            executions = executions.filter(event__trigger_key=self.trigger)
        if self.status in ExecutionStatus.values:
            executions = executions.filter(status=self.status)
        if self.range in RANGES:
            executions = executions.filter(created_at__gte=now - RANGES[self.range][1])
        since, until = _parse_moment(self.since), _parse_moment(self.until)
        if self.since and since is None:
            self.errors.append("'From' is not a date and time: it was ignored.")
        if self.until and until is None:
            self.errors.append("'To' is not a date and time: it was ignored.")
        if since is not None:
            executions = executions.filter(created_at__gte=since)
        if until is not None:
            executions = executions.filter(created_at__lt=until)
        if self.q:
            executions = search_executions(executions, self.q)
        return executions


def search_executions(executions: QuerySet[Execution], text: str) -> QuerySet[Execution]:
    """Narrow ``executions`` to those whose event id or payload values contain ``text``.

    The payload is searched as its JSON text (case-insensitive), which works on PostgreSQL
    (``jsonb::text``) and on SQLite alike; a whole event id matches exactly.
    """
    match = Q(event_text__icontains=text) | Q(payload_text__icontains=text)
    with contextlib.suppress(ValueError):
        match |= Q(event_id=uuid.UUID(text))
    return executions.annotate(
        event_text=Cast("event_id", CharField()),
        payload_text=Cast("event__payload", TextField()),
    ).filter(match)


def execution_list(workspace: Workspace, filters: ExecutionFilters) -> QuerySet[Execution]:
    """Return the workspace's executions, newest first, filtered, with rule and event joined."""
    executions = (
        Execution.objects.filter(workspace=workspace)
        .select_related("rule", "event")
        .defer("event__payload", "rule__definition")
        .order_by("-created_at", "-id")
    )
    return filters.apply(executions, timezone.now())


def _delivery_context(request: WorkspaceRequest) -> dict[str, Any]:
    deliveries = InboundDelivery.objects.filter(workspace=request.workspace).select_related(
        "endpoint"
    )
    endpoint_filter = request.GET.get("endpoint", "")
    status_filter = request.GET.get("status", "")
    if endpoint_filter.isdigit():
        deliveries = deliveries.filter(endpoint_id=int(endpoint_filter))
    if status_filter == "accepted":
        deliveries = deliveries.filter(status_code__lt=300)
    elif status_filter == "rejected":
        deliveries = deliveries.filter(status_code__gte=400)
    elif status_filter == "duplicate":
        deliveries = deliveries.filter(is_duplicate=True)
    elif status_filter.isdigit():
        deliveries = deliveries.filter(status_code=int(status_filter))
    page = Paginator(deliveries.order_by("-received_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return {
        "page": page,
        "endpoints": Endpoint.objects.filter(workspace=request.workspace).order_by("name"),
        "endpoint_filter": endpoint_filter,
        "status_filter": status_filter,
        "statuses": [
            ("", "Any status"),
            ("accepted", "Accepted (2xx)"),
            ("rejected", "Rejected (4xx/5xx)"),
            ("duplicate", "Duplicates"),
            ("401", "401 bad signature"),
            ("422", "422 payload does not fit"),
        ],
    }


def _execution_context(request: WorkspaceRequest) -> dict[str, Any]:
    filters = ExecutionFilters.from_query(request.GET)
    executions = execution_list(request.workspace, filters)
    page = Paginator(executions, PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "page": page,
        "filters": filters,
        "rules": Rule.objects.filter(workspace=request.workspace)
        .order_by("name", "id")
        .only("id", "name"),
        "triggers": [(t.key, t.label) for t in registry.triggers()],
        "execution_statuses": ExecutionStatus.choices,
        "ranges": [(key, label) for key, (label, _) in RANGES.items()],
    }


def _changes_context(request: WorkspaceRequest) -> dict[str, Any]:
    versions = (
        RuleVersion.objects.filter(rule__workspace=request.workspace)
        .select_related("rule", "author")
        .defer("definition", "rule__definition")
        .order_by("-created_at", "-id")
    )
    return {"page": Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))}


def _audit_context(request: WorkspaceRequest) -> dict[str, Any]:
    object_type = request.GET.get("object_type", "")
    actor = request.GET.get("actor", "")
    if object_type not in AuditObject.values:
        object_type = ""
    entries: QuerySet[AuditEntry] = AuditEntry.objects.filter(workspace=request.workspace)
    entries = filter_audit(entries, object_type=object_type, actor=actor[:150])
    actors = (
        AuditEntry.objects.filter(workspace=request.workspace)
        .exclude(actor_name="")
        .order_by("actor_name")
        .values_list("actor_name", flat=True)
        .distinct()
    )
    return {
        "page": Paginator(entries.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
            request.GET.get("page")
        ),
        "object_types": AuditObject.choices,
        "object_type_filter": object_type,
        "actor_filter": actor,
        "actors": list(actors),
    }


@require_GET
@workspace_view(MARKETER_AREA)
def activity(request: WorkspaceRequest) -> HttpResponse:
    """The Activity page: executions, rule changes; deliveries and the audit log (admin area).

    ``?tab=`` picks the table; each tab has its own filters and pages.
    """
    tab = request.GET.get("tab", "executions")
    if tab not in TABS:
        tab = "executions"
    deliveries_allowed = can_see_deliveries(request)
    context: dict[str, Any] = {"tab": tab, "can_see_deliveries": deliveries_allowed}
    if tab == "executions":
        context.update(_execution_context(request))
    elif tab == "deliveries" and deliveries_allowed:
        context.update(_delivery_context(request))
    elif tab == "changes":
        context.update(_changes_context(request))
    elif tab == "audit" and deliveries_allowed:
        context.update(_audit_context(request))
    query = request.GET.copy()
    query.pop("page", None)
    context["query"] = query.urlencode()
    return render(request, "automations/activity.html", context)


# --- one execution -----------------------------------------------------------------------------


def _duration_ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def pretty_json(value: Any) -> str:
    """Return ``value`` as indented JSON for a <pre> block (the template escapes it)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def get_execution(request: WorkspaceRequest, execution_id: int) -> Execution:
    """Return the workspace's execution with everything its page shows, or raise 404."""
    steps = StepRun.objects.order_by("id").prefetch_related(
        Prefetch("attempt_log", queryset=Attempt.objects.order_by("number"))
    )
    queryset = Execution.objects.select_related("rule", "event", "parent__rule").prefetch_related(
        Prefetch("steps", queryset=steps),
        Prefetch("children", queryset=Execution.objects.select_related("rule").order_by("id")),
        "alerts",
    )
    return get_object_or_404(queryset, pk=execution_id, workspace=request.workspace)


@require_GET
@workspace_view(MARKETER_AREA)
def execution_detail(request: WorkspaceRequest, execution_id: int) -> HttpResponse:
    """One execution: its event's payload, the rule version that ran, the steps and attempts."""
    execution = get_execution(request, execution_id)
    version = (
        RuleVersion.objects.filter(rule_id=execution.rule_id, number=execution.rule_version)
        .select_related("author")
        .first()
    )
    steps = [
        {
            "run": run,
            "duration_ms": _duration_ms(run.started_at, run.finished_at),
            "attempts": list(run.attempt_log.all()),
            "inputs_json": pretty_json(run.inputs),
            "output_json": pretty_json(run.output),
        }
        for run in execution.steps.all()
    ]
    return render(
        request,
        "automations/execution_detail.html",
        {
            "execution": execution,
            "event": execution.event,
            "payload_json": pretty_json(execution.event.payload),
            "version": version,
            "steps": steps,
            "children": list(execution.children.all()),
            "alerts": list(execution.alerts.all()),
            "duration_ms": _duration_ms(execution.started_at, execution.finished_at),
            "latency": charts.format_seconds(
                (execution.finished_at - execution.event.recorded_at).total_seconds()
                if execution.finished_at
                else None
            ),
            "can_replay": can_replay(request) and execution.status == ExecutionStatus.DEAD,
            "retrying": AttemptOutcome.RETRYABLE,
        },
    )


@require_POST
@workspace_view(ADMIN_AREA)
def execution_replay(request: WorkspaceRequest, execution_id: int) -> HttpResponse:
    """Replay a dead-lettered execution from its failed step (admins only), then show it."""
    execution = get_object_or_404(Execution, pk=execution_id, workspace=request.workspace)
    try:
        replay(execution)
    except NotReplayable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Execution {execution.pk} is replaying from its failed step; "
            "steps that succeeded are not run again.",
        )
    return redirect("automations:execution-detail", execution.pk)


# --- the dashboard -----------------------------------------------------------------------------


def _trunc(window: charts.Window, field_name: str) -> TruncMinute | TruncHour:
    if window.trunc == "minute":
        return TruncMinute(field_name, tzinfo=UTC)
    return TruncHour(field_name, tzinfo=UTC)


def _series_by(
    queryset: QuerySet[Any], time_field: str, key_field: str, window: charts.Window
) -> dict[str, list[tuple[datetime, int]]]:
    rows = (
        queryset.annotate(bucket=_trunc(window, time_field))
        .values("bucket", key_field)
        .annotate(n=Count("pk"))
        .order_by()
    )
    series: dict[str, list[tuple[datetime, int]]] = {}
    for row in rows:
        series.setdefault(str(row[key_field]), []).append((row["bucket"], row["n"]))
    return series


@dataclass(frozen=True, slots=True)
class Series:
    """One named time series on the dashboard, with its chart and average rate."""

    name: str
    chart: charts.Chart
    per_minute: str


def _series_list(
    named: dict[str, list[tuple[datetime, int]]],
    names: dict[str, str],
    window: charts.Window,
    now: datetime,
) -> list[Series]:
    result = []
    for key, rows in named.items():
        label = names.get(key, key)
        chart = charts.series_chart(label, rows, window, now)
        rate = charts.per_minute(chart.total, window)
        result.append(Series(label, chart, f"{rate:.2f}"))
    return sorted(result, key=lambda s: (-s.chart.total, s.name))


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    """A reconciliation row and whether it shows a gap (accepted, not finished)."""

    day: RuleDay
    gap: bool
    dead: bool


def dashboard_context(workspace: Workspace, window: charts.Window, now: datetime) -> dict[str, Any]:
    """Compute every figure and chart of the dashboard for ``workspace`` over ``window``."""
    since = now - window.span
    events = Event.objects.filter(workspace=workspace, recorded_at__gte=since)
    deliveries = InboundDelivery.objects.filter(
        workspace=workspace, received_at__gte=since, status_code__lt=300, is_duplicate=False
    )
    endpoint_names = {
        str(pk): name
        for pk, name in Endpoint.objects.filter(workspace=workspace).values_list("pk", "name")
    }
    trigger_names = {t.key: t.label for t in registry.triggers()}
    per_endpoint = _series_list(
        _series_by(deliveries, "received_at", "endpoint_id", window), endpoint_names, window, now
    )
    per_trigger = _series_list(
        _series_by(events, "recorded_at", "trigger_key", window), trigger_names, window, now
    )
    all_events = charts.series_chart(
        "All events",
        [
            (row["bucket"], row["n"])
            for row in events.annotate(bucket=_trunc(window, "recorded_at"))
            .values("bucket")
            .annotate(n=Count("pk"))
            .order_by()
        ],
        window,
        now,
    )
    executions = Execution.objects.filter(workspace=workspace, created_at__gte=since)
    by_status = dict(
        executions.values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("status", "n")
    )
    labels = dict(ExecutionStatus.choices)
    outcomes = charts.row_chart(
        "Executions by outcome",
        [(str(status), by_status.get(status, 0)) for status in OUTCOME_ORDER],
        classes={str(s): f"outcome-{s}" for s in OUTCOME_ORDER},
    )
    attempts = Attempt.objects.filter(
        step_run__execution__workspace=workspace, started_at__gte=since
    ).aggregate(
        total=Count("pk"),
        retries=Count("pk", filter=Q(number__gt=1)),
        failed=Count("pk", filter=~Q(outcome=AttemptOutcome.SUCCEEDED)),
    )
    finished = sum(by_status.get(s, 0) for s in (ExecutionStatus.SUCCEEDED, ExecutionStatus.DEAD))
    latencies = [
        (done - recorded).total_seconds()
        for done, recorded in executions.filter(
            status=ExecutionStatus.SUCCEEDED, finished_at__isnull=False, parent__isnull=True
        )
        .order_by("-finished_at")
        .values_list("finished_at", "event__recorded_at")[:LATENCY_SAMPLE]
        if done is not None
    ]
    backlog_events = Event.objects.filter(workspace=workspace, status=EventStatus.PENDING).count()
    backlog_runs = dict(
        Execution.objects.filter(workspace=workspace, status__in=BACKLOG_STATUSES)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("status", "n")
    )
    backlog = charts.row_chart(
        "Queue backlog",
        [("events pending", backlog_events)]
        + [(f"executions {s}", backlog_runs.get(s, 0)) for s in BACKLOG_STATUSES],
    )
    return {
        "window": window,
        "windows": list(charts.WINDOWS.values()),
        "now": now,
        "all_events": all_events,
        "per_endpoint": per_endpoint,
        "per_trigger": per_trigger,
        "outcomes": outcomes,
        "outcome_labels": labels,
        "executions_total": outcomes.total,
        "attempts_total": attempts["total"],
        "retry_rate": charts.format_rate(charts.ratio(attempts["retries"], attempts["total"])),
        "attempt_failure_rate": charts.format_rate(
            charts.ratio(attempts["failed"], attempts["total"])
        ),
        "failure_rate": charts.format_rate(
            charts.ratio(by_status.get(ExecutionStatus.DEAD, 0), finished)
        ),
        "p50": charts.format_seconds(charts.percentile(latencies, 50)),
        "p95": charts.format_seconds(charts.percentile(latencies, 95)),
        "latency_samples": len(latencies),
        "dead_letters": by_status.get(ExecutionStatus.DEAD, 0),
        "dead_letters_open": Execution.objects.filter(
            workspace=workspace, status=ExecutionStatus.DEAD
        ).count(),
        "backlog": backlog,
        "backlog_total": backlog.total,
    }


def reconciliation(workspace: Workspace, today: date, days: int = 7) -> list[ReconciliationRow]:
    """Return the reconciliation report of the last ``days`` days, newest day first, with gaps.

    A gap is a rule-day with executions still unfinished (events accepted, effect not done);
    dead-lettered executions are flagged separately.
    """
    rows = daily_report(workspace, since=today - timedelta(days=days - 1), until=today)
    return [
        ReconciliationRow(day=row, gap=row.unfinished > 0, dead=row.dead > 0)
        for row in sorted(rows, key=lambda r: (r.day, r.rule), reverse=True)
    ]


@vary_on_headers("HX-Request")
@require_GET
@workspace_view(READ_ONLY_AREA)
def dashboard(request: WorkspaceRequest) -> HttpResponse:
    """The health dashboard over the last hour, day or week (``?window=``); htmx polls panels."""
    window = charts.get_window(request.GET.get("window"))
    now = timezone.now()
    context = dashboard_context(request.workspace, window, now)
    context["reconciliation"] = reconciliation(request.workspace, now.astimezone(UTC).date())
    context["gaps"] = sum(1 for row in context["reconciliation"] if row.gap)
    template = "automations/dashboard.html"
    if _is_htmx(request):
        template += "#panels"
    return render(request, template, context)
