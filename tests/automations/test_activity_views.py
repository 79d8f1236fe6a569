"""The execution log, the execution page with replay, and the dashboard, through Django's client:
roles, tenancy, filters, search, query counts, escaping, and the chart maths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from automations import dashboard as charts
from automations import services
from automations.models import (
    Attempt,
    AttemptOutcome,
    Execution,
    ExecutionStatus,
    Rule,
    StepRun,
    StepStatus,
)
from catalog.models import Event, EventStatus
from webhooks import services as webhook_services
from webhooks.models import InboundDelivery

pytestmark = pytest.mark.django_db


def tag_rule(trigger: str = "customer_created") -> dict[str, Any]:
    config = {"tag": "vip"} if trigger == "customer_tagged" else {}
    return {
        "trigger": {"key": trigger, "config": config},
        "steps": [
            {
                "id": "welcome",
                "action": "tag",
                "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": "new"}},
            }
        ],
    }


@pytest.fixture
def rule(workspace) -> Rule:
    return services.save_rule(
        workspace=workspace, author=None, name="Welcome tag", definition=tag_rule()
    )


def make_execution(
    rule: Rule,
    *,
    status: str = ExecutionStatus.SUCCEEDED,
    payload: dict[str, Any] | None = None,
    trigger: str | None = None,
    ago: dt.timedelta = dt.timedelta(minutes=1),
    attempts: int = 1,
) -> Execution:
    """An execution as the engine leaves it: event, one step, its attempts (HTTP for dead ones)."""
    now = timezone.now()
    created = now - ago
    event = Event.objects.create(
        workspace=rule.workspace,
        trigger_key=trigger or rule.trigger_key,
        payload=payload or {"customer_id": 1, "email": "ann@example.com", "source": "web"},
        recorded_at=created - dt.timedelta(seconds=2),
        status=EventStatus.DISPATCHED,
    )
    dead = status == ExecutionStatus.DEAD
    execution = Execution.objects.create(
        workspace=rule.workspace,
        rule=rule,
        rule_version=rule.version,
        event=event,
        status=status,
        started_at=created,
        finished_at=created + dt.timedelta(seconds=1) if status in ("succeeded", "dead") else None,
        error="Step steps[0] (fire_webhook) failed: HTTP 500" if dead else "",
    )
    Execution.objects.filter(pk=execution.pk).update(created_at=created)
    run = StepRun.objects.create(
        execution=execution,
        path="steps[0]",
        step_id="welcome",
        action="fire_webhook" if dead else "tag",
        status=StepStatus.FAILED if dead else StepStatus.SUCCEEDED,
        idempotency_key=f"{execution.pk}:steps[0]",
        inputs={"customer_id": 1, "tag": "new"},
        output={} if dead else {"added": True},
        attempts=attempts,
        error="HTTP 500" if dead else "",
        started_at=created,
        finished_at=created + dt.timedelta(milliseconds=300),
    )
    for number in range(1, attempts + 1):
        last = number == attempts
        Attempt.objects.create(
            step_run=run,
            number=number,
            started_at=created,
            finished_at=created + dt.timedelta(milliseconds=120),
            outcome=(
                AttemptOutcome.SUCCEEDED
                if not dead and last
                else AttemptOutcome.FAILED
                if last
                else AttemptOutcome.RETRYABLE
            ),
            error="" if not dead else "HTTP 500 from crm.example.com",
            next_attempt_at=None if last else created + dt.timedelta(seconds=4),
            http_method="POST" if dead else "",
            http_url="https://crm.example.com/hooks" if dead else "",
            response_status=500 if dead else None,
            duration_ms=120,
        )
    execution.refresh_from_db()
    return execution


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(body: str) -> int:
    return body.count('<tr class="execution ')


# --- roles and tenancy ------------------------------------------------------------------------


def test_an_auditor_reads_executions_and_the_page_but_cannot_replay(auditor, rule):
    # given a dead-lettered execution
    execution = make_execution(rule, status=ExecutionStatus.DEAD)
    client = client_for(auditor)
    # when
    listing = client.get("/activity/")
    page = client.get(f"/executions/{execution.pk}/")
    answer = client.post(f"/executions/{execution.pk}/replay/")
    # then
    assert listing.status_code == 200
    assert f'id="execution-{execution.pk}"' in listing.content.decode()
    assert page.status_code == 200
    main = page.content.decode().split("<main", 1)[1]
    assert "Replay" not in main
    assert 'method="post"' not in main
    assert answer.status_code == 403
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD


def test_a_marketer_reads_the_page_and_gets_403_on_replay(marketer, rule):
    execution = make_execution(rule, status=ExecutionStatus.DEAD)
    client = client_for(marketer)
    page = client.get(f"/executions/{execution.pk}/").content.decode()
    assert "Replay from the failed step" not in page
    assert client.post(f"/executions/{execution.pk}/replay/").status_code == 403
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD


def test_an_admin_replays_a_dead_execution_from_its_page(admin, rule):
    # given
    execution = make_execution(rule, status=ExecutionStatus.DEAD, attempts=2)
    client = client_for(admin)
    page = client.get(f"/executions/{execution.pk}/").content.decode()
    assert "Replay from the failed step" in page
    # when
    answer = client.post(f"/executions/{execution.pk}/replay/", follow=True)
    # then the execution is pending again, its failed step reset, and the page says so
    assert answer.redirect_chain == [(f"/executions/{execution.pk}/", 302)]
    assert "is replaying from its failed step" in answer.content.decode()
    execution.refresh_from_db()
    assert (execution.status, execution.error) == (ExecutionStatus.PENDING, "")
    assert execution.steps.get().status == StepStatus.PENDING
    assert "Replay from the failed step" not in answer.content.decode()


def test_replaying_an_execution_that_is_not_dead_says_why(admin, rule):
    execution = make_execution(rule)
    client = client_for(admin)
    assert (
        "Replay from the failed step"
        not in client.get(f"/executions/{execution.pk}/").content.decode()
    )
    answer = client.post(f"/executions/{execution.pk}/replay/", follow=True)
    assert "only a dead-lettered execution can be replayed" in answer.content.decode()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED


def test_another_workspaces_execution_answers_404(outsider, rule):
    execution = make_execution(rule, status=ExecutionStatus.DEAD)
    client = client_for(outsider)
    assert client.get(f"/executions/{execution.pk}/").status_code == 404
    assert client.post(f"/executions/{execution.pk}/replay/").status_code == 404
    assert f'id="execution-{execution.pk}"' not in client.get("/activity/").content.decode()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.DEAD


def test_a_marketer_sees_executions_but_not_the_delivery_log(marketer, rule, workspace):
    endpoint = webhook_services.create_endpoint(
        workspace=workspace, name="Signups", preset="standard_webhooks"
    ).endpoint
    InboundDelivery.objects.create(
        workspace=workspace, endpoint=endpoint, status_code=202, token_prefix="x"
    )
    make_execution(rule)
    client = client_for(marketer)
    assert rows(client.get("/activity/").content.decode()) == 1
    deliveries = client.get("/activity/", {"tab": "deliveries"}).content.decode()
    assert 'class="delivery' not in deliveries
    assert "for admins and auditors" in deliveries


# --- the execution page ---------------------------------------------------------------------


def test_the_execution_page_shows_payload_version_steps_and_attempts(admin, rule):
    # given a dead execution with a retried HTTP step, and a chained child
    execution = make_execution(rule, status=ExecutionStatus.DEAD, attempts=2)
    child_rule = services.save_rule(
        workspace=rule.workspace, author=None, name="Child", definition=tag_rule()
    )
    child = Execution.objects.create(
        workspace=rule.workspace,
        rule=child_rule,
        rule_version=1,
        event=execution.event,
        parent=execution,
        parent_step="steps[1]",
        status=ExecutionStatus.SUCCEEDED,
    )
    # when
    body = client_for(admin).get(f"/executions/{execution.pk}/").content.decode()
    # then
    assert "ann@example.com" in body
    assert f'href="/rules/{rule.pk}/#version-1"' in body
    assert "POST https://crm.example.com/hooks" in body
    assert "<strong>500</strong>" in body
    assert "HTTP 500 from crm.example.com" in body
    assert body.count('<tr class="attempt outcome-') == 2
    assert "Failed, will retry" in body
    assert "120 ms" in body
    assert f'href="/executions/{child.pk}/"' in body
    child_body = client_for(admin).get(f"/executions/{child.pk}/").content.decode()
    assert f'href="/executions/{execution.pk}/"' in child_body


def test_payload_values_and_rule_names_with_markup_are_escaped(admin, workspace):
    rule = services.save_rule(
        workspace=workspace,
        author=None,
        name="<script>alert('rule')</script>",
        definition=tag_rule(),
    )
    payload = {"customer_id": 1, "email": "<script>alert(1)</script>", "source": "<b>x</b>"}
    execution = make_execution(rule, payload=payload)
    client = client_for(admin)
    for body in (
        client.get(f"/executions/{execution.pk}/").content.decode(),
        client.get("/activity/").content.decode(),
    ):
        assert "<script>alert" not in body
        assert "&lt;script&gt;alert(" in body
    assert "&lt;b&gt;x&lt;/b&gt;" in client.get(f"/executions/{execution.pk}/").content.decode()


def test_the_execution_page_takes_a_fixed_number_of_queries(
    admin, rule, django_assert_max_num_queries
):
    execution = make_execution(rule, status=ExecutionStatus.DEAD, attempts=3)
    for index in range(1, 5):
        StepRun.objects.create(
            execution=execution,
            path=f"steps[{index}]",
            step_id=f"s{index}",
            action="tag",
            status=StepStatus.SUCCEEDED,
            idempotency_key=f"{execution.pk}:steps[{index}]",
        )
    client = client_for(admin)
    with django_assert_max_num_queries(14):
        assert client.get(f"/executions/{execution.pk}/").status_code == 200


# --- the execution log: filters, search, pages, queries ---------------------------------------


def test_filters_by_rule_trigger_status_and_time(marketer, rule, workspace):
    other = services.save_rule(
        workspace=workspace,
        author=None,
        name="On tagging",
        definition=tag_rule("customer_tagged"),
    )
    tagged = {"customer_id": 1, "tag": "vip", "action": "added"}
    make_execution(rule)
    make_execution(rule, status=ExecutionStatus.DEAD, ago=dt.timedelta(hours=3))
    make_execution(other, payload=tagged, ago=dt.timedelta(days=3))
    client = client_for(marketer)

    def count(**params: str) -> int:
        return rows(client.get("/activity/", params).content.decode())

    assert count() == 3
    assert count(rule=str(rule.pk)) == 2
    assert count(trigger="customer_tagged") == 1
    assert count(status="dead") == 1
    assert count(range="hour") == 1
    assert count(range="day") == 2
    assert count(range="week") == 3
    since = (timezone.localtime() - dt.timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    until = (timezone.localtime() - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    assert count(since=since, until=until) == 1
    # nonsense is ignored and said so
    body = client.get("/activity/", {"since": "yesterday", "status": "exploded"}).content.decode()
    assert rows(body) == 3
    assert "&#x27;From&#x27; is not a date and time" in body


def test_search_finds_payload_values_and_event_ids(marketer, rule):
    jane = make_execution(rule, payload={"customer_id": 7, "email": "Jane@Example.com"})
    make_execution(rule, payload={"customer_id": 8, "email": "bob@example.com"})
    client = client_for(marketer)

    def found(text: str) -> list[str]:
        body = client.get("/activity/", {"q": text}).content.decode()
        return [part.split('"', 1)[0] for part in body.split('id="execution-')[1:]]

    assert found("jane@example") == [str(jane.pk)]
    assert len(found("example.com")) == 2
    assert found(str(jane.event_id)) == [str(jane.pk)]
    assert found(str(jane.event_id)[:8]) == [str(jane.pk)]
    assert found("nobody") == []


def test_the_log_is_paginated_and_takes_a_fixed_number_of_queries(
    auditor, rule, django_assert_max_num_queries
):
    for index in range(30):
        make_execution(rule, ago=dt.timedelta(minutes=index + 1))
    client = client_for(auditor)
    with django_assert_max_num_queries(10):
        first = client.get("/activity/").content.decode()
    assert rows(first) == 25
    assert "Page 1 of 2" in first
    second = client.get("/activity/", {"page": "2", "rule": str(rule.pk)}).content.decode()
    assert rows(second) == 5


def test_the_changes_tab_lists_rule_versions_with_author_and_note(marketer, rule):
    services.save_rule(
        workspace=rule.workspace,
        author=marketer,
        name=rule.name,
        definition=tag_rule(),
        rule=rule,
        note="Second go",
    )
    body = client_for(marketer).get("/activity/", {"tab": "changes"}).content.decode()
    assert "Second go" in body
    assert "mia" in body
    assert f'href="/rules/{rule.pk}/#version-2"' in body


# --- the dashboard ------------------------------------------------------------------------------


def test_the_dashboard_draws_non_empty_charts_from_traffic(auditor, rule, workspace):
    # given traffic: two successes, one dead, a retry, a pending event and a held execution
    endpoint = webhook_services.create_endpoint(
        workspace=workspace, name="Signups", preset="standard_webhooks"
    ).endpoint
    InboundDelivery.objects.create(
        workspace=workspace, endpoint=endpoint, status_code=202, token_prefix="x"
    )
    make_execution(rule)
    make_execution(rule, attempts=2)
    make_execution(rule, status=ExecutionStatus.DEAD)
    make_execution(rule, status=ExecutionStatus.HELD)
    Event.objects.create(workspace=workspace, trigger_key="customer_created", payload={})
    # when
    response = client_for(auditor).get("/dashboard/")
    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="chart-arrivals" data-total="5"' in body
    assert 'id="chart-outcomes" data-total="4"' in body
    assert body.count('<rect class="bar') >= 4
    assert "Signups" in body
    assert '<span class="stat-value" id="stat-dead">1</span>' in body
    assert '<span class="stat-value" id="stat-backlog">2</span>' in body
    assert 'hx-trigger="every 10s"' in body
    assert "33.3 %" in body  # failure rate: 1 dead of 3 finished
    # the reconciliation report flags the rule-day with an unfinished (held) execution
    assert '<tr class="gap has-dead">' in body
    assert "1 not finished" in body
    assert "<script" not in body.split("<main", 1)[1]


def test_the_dashboard_answers_htmx_polls_with_its_panels_only(marketer, rule):
    make_execution(rule)
    response = client_for(marketer).get(
        "/dashboard/", {"window": "week"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="dashboard-panels"')
    assert "window=week" in body
    assert "<html" not in body
    assert "Last week" in body


def test_an_empty_dashboard_says_so(marketer):
    body = client_for(marketer).get("/dashboard/", {"window": "day"}).content.decode()
    assert "Nothing in this window." in body
    assert "No activity in the last 7 days." in body


# --- chart maths -------------------------------------------------------------------------------


def test_buckets_align_and_sum_counts():
    window = charts.WINDOWS["hour"]
    now = dt.datetime(2025, 3, 1, 10, 7, 30, tzinfo=dt.UTC)
    starts = charts.bucket_starts(window, now)
    assert starts[-1] == dt.datetime(2025, 3, 1, 10, 5, tzinfo=dt.UTC)
    assert starts[0] == dt.datetime(2025, 3, 1, 9, 10, tzinfo=dt.UTC)
    rows_ = [
        (dt.datetime(2025, 3, 1, 10, 6, tzinfo=dt.UTC), 2),
        (dt.datetime(2025, 3, 1, 10, 5, tzinfo=dt.UTC), 1),
        (dt.datetime(2025, 3, 1, 9, 12, tzinfo=dt.UTC), 4),
        (dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC), 9),  # before the window: left out
    ]
    counts = charts.bucketize(rows_, starts, window.step)
    assert counts[0] == 4
    assert counts[-1] == 3
    assert sum(counts) == 7


def test_percentiles_by_nearest_rank():
    assert charts.percentile([], 50) is None
    assert charts.percentile([3.0], 95) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert charts.percentile(values, 50) == 50.0
    assert charts.percentile(values, 95) == 95.0


def test_column_chart_scales_to_the_peak_and_keeps_small_counts_visible():
    chart = charts.column_chart("x", [0, 1, 100], ["a", "b", "c"], width=300, height=100)
    zero, one, peak = chart.bars
    assert (zero.height, peak.height) == (0, 98)
    assert one.height == 1
    assert peak.y == 100 - 98
    assert chart.total == 101
    assert not chart.is_empty
    assert charts.column_chart("x", [0, 0], ["a", "b"]).is_empty


def test_row_chart_and_formats():
    chart = charts.row_chart("o", [("succeeded", 4), ("dead", 1)], classes={"dead": "bad"})
    assert chart.bars[0].width > chart.bars[1].width > 0
    assert chart.bars[1].css_class == "bad"
    assert charts.format_rate(charts.ratio(1, 3)) == "33.3 %"
    assert charts.format_rate(charts.ratio(1, 0)) == "—"
    assert charts.format_seconds(0.25) == "250 ms"
    assert charts.format_seconds(4.2) == "4.2 s"
    assert charts.get_window("nonsense").key == "hour"
