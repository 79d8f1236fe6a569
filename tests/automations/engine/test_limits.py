"""Blast-radius limits: the rate cap holds the excess, the breaker and the spike check pause."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from kombu import Connection

from accounts.models import Workspace
from automations.engine.alerts import deliver_alert
from automations.engine.dispatch import dispatch_event
from automations.engine.limits import (
    admission,
    breaker_verdict,
    check_spikes,
    resume_rule,
    spike_verdict,
    window_start,
)
from automations.engine.run import run_execution
from automations.engine.sweep import sweep
from automations.models import Alert, AlertStatus, Execution, ExecutionStatus, Rule
from catalog.models import Event, EventStatus
from tests.automations.engine.conftest import emit, make_rule, step
from tests.automations.http.conftest import LocalServer, Reply
from tests.factories import CustomerFactory
from tests.workers import QUEUES, celery_worker, wait_for

CUSTOMER = {"ref": "customer_id"}
DEAD, OK = ExecutionStatus.DEAD.value, ExecutionStatus.SUCCEEDED.value
PENDING, HELD = ExecutionStatus.PENDING, ExecutionStatus.HELD


# ---------------------------------------------------------------------------------------------
# Pure decisions (no database)


@pytest.mark.parametrize(
    ("_case", "paused", "cap", "admitted", "backlog", "expected"),
    [
        ("no cap", False, None, 10_000, False, PENDING),
        ("paused", True, None, 0, False, HELD),
        ("paused under its cap", True, 5, 0, False, HELD),
        ("room left", False, 3, 2, False, PENDING),
        ("window full", False, 3, 3, False, HELD),
        ("older ones held", False, 3, 0, True, HELD),
    ],
)
def test_admission_creates_pending_or_held(_case, paused, cap, admitted, backlog, expected):
    assert (
        admission(is_paused=paused, cap=cap, admitted_in_window=admitted, has_backlog=backlog)
        == expected
    )


@pytest.mark.parametrize(
    ("_case", "statuses", "threshold", "ratio", "expected"),
    [
        ("off", [DEAD] * 9, None, None, None),
        ("streak reached", [DEAD, DEAD, DEAD, OK], 3, None, "its last 3 executions were"),
        ("streak broken by a success", [DEAD, DEAD, OK, DEAD], 3, None, None),
        ("too few yet", [DEAD, DEAD], 3, None, None),
        ("ratio reached", [DEAD, OK, DEAD, OK], None, 0.5, "2 of its last 4 executions"),
        ("ratio under", [DEAD, OK, OK, OK], None, 0.5, None),
        ("ratio window not full", [DEAD, DEAD, DEAD], None, 0.5, None),
    ],
)
def test_breaker_verdict_counts_consecutive_deaths_or_the_ratio(
    _case, statuses, threshold, ratio, expected
):
    verdict = breaker_verdict(statuses, threshold=threshold, ratio=ratio, ratio_window=4)
    if expected is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert verdict.startswith(expected)


@pytest.mark.parametrize(
    ("_case", "current", "hourly", "spiking"),
    [
        ("over 10x the median", 31, [3] * 24, True),
        ("at 10x the median", 30, [3] * 24, False),
        ("tiny rule", 9, [0] * 24, False),
        ("quiet rule waking up", 10, [0] * 24, True),
        ("too little history", 500, [1] * 23, False),
        ("median, not mean", 50, [0] * 20 + [1000] * 4, True),
    ],
)
def test_spike_verdict_compares_with_the_hourly_median(_case, current, hourly, spiking):
    spike = spike_verdict(current, hourly, factor=10, min_count=10, min_hours=24)
    assert (spike is not None) is spiking


def test_the_rate_window_is_the_clock_minute():
    moment = dt.datetime(2026, 3, 1, 9, 41, 59, 999_999, tzinfo=dt.UTC)
    assert window_start(moment) == dt.datetime(2026, 3, 1, 9, 41, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def target(settings) -> Iterator[LocalServer]:
    """A local webhook receiver; one attempt per step, so each failure dead-letters at once."""
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.TYPEWIRE_MAX_ATTEMPTS = 1
    server = LocalServer()
    server.start()
    yield server
    server.stop()


def _webhook_rule(workspace: Workspace, server: LocalServer, **limits: object) -> Rule:
    rule = make_rule(
        workspace,
        "Sync",
        "customer_created",
        [step("w", "fire_webhook", url=f"{server.url}/hook", body={"hello": "world"})],
    )
    Rule.objects.filter(pk=rule.pk).update(**limits)
    rule.refresh_from_db()
    return rule


def _signup(workspace: Workspace) -> Event:
    customer = CustomerFactory.create(workspace=workspace)
    return emit(
        workspace,
        "customer_created",
        {"customer_id": customer.pk, "email": customer.email, "source": "shopify"},
    )


def _dispatched(workspace: Workspace, now: dt.datetime | None = None) -> Execution:
    event = _signup(workspace)
    dispatch_event(event.pk, now=now)
    return Execution.objects.get(event=event)


def _is_paused(rule: Rule) -> bool:
    return Rule.objects.get(pk=rule.pk).is_paused


def _paused_alerts_sent() -> int:
    return Alert.objects.filter(reason="paused", status=AlertStatus.SENT).count()


def _status(execution: Execution) -> str:
    execution.refresh_from_db()
    return execution.status


# ---------------------------------------------------------------------------------------------
# The circuit breaker


@pytest.mark.django_db
def test_a_rule_whose_target_always_fails_trips_pauses_alerts_and_resumes_to_run_held_events(
    workspace, marketer, target, mailoutbox, api_client_for, django_capture_on_commit_callbacks
):
    # given a rule whose target answers 500, breaking after 3 dead executions in a row
    target.default = Reply(500, "down")
    rule = _webhook_rule(workspace, target, breaker_threshold=3, owner=marketer)
    executions = [_dispatched(workspace) for _ in range(4)]
    # when the first three run and die
    statuses = []
    for execution in executions[:3]:
        statuses.append(run_execution(execution.pk))
        rule.refresh_from_db()
        statuses.append("paused" if rule.is_paused else "running")
    # then the third trips the breaker, and the fourth (still pending) is held, not run
    assert statuses == [DEAD, "running", DEAD, "running", DEAD, "paused"]
    assert rule.paused_reason == (
        "Paused by Typewire (breaker): its last 3 executions were dead-lettered "
        "(the breaker trips at 3 in a row)."
    )
    assert _status(executions[3]) == HELD
    assert run_execution(executions[3].pk) is None
    assert len(target.requests) == 3
    # and the alert target and the owner are told, naming the execution that tripped it
    paused_alerts = list(Alert.objects.filter(reason="paused").order_by("id"))
    assert [(a.kind, a.target, a.execution_id, a.rule_id) for a in paused_alerts] == [
        ("email", "ops@example.com", executions[2].pk, rule.pk),
        ("email", "mia@example.com", executions[2].pk, rule.pk),
    ]
    assert Alert.objects.filter(reason="dead").count() == 3
    for alert in paused_alerts:
        assert deliver_alert(alert.pk) is True
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["ops@example.com"], "[Typewire] Rule 'Sync' paused"),
        (["mia@example.com"], "[Typewire] Rule 'Sync' paused"),
    ]
    assert rule.paused_reason in mailoutbox[0].body
    assert f"POST /api/v1/rules/{rule.pk}/resume/" in mailoutbox[0].body

    # when a further event matches while the rule is paused
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        later = _signup(workspace)
        result = dispatch_event(later.pk)
    # then its execution is held and nothing is enqueued
    held = Execution.objects.get(event=later)
    assert (result.execution_ids, result.held_ids, held.status) == ([], [held.pk], HELD)
    assert len(callbacks) == 1  # the event's own dispatch, published on commit; no run
    assert Event.objects.get(pk=later.pk).status == EventStatus.DISPATCHED

    # when the target is fixed and the marketer resumes the rule
    target.default = Reply(200, {"ok": True})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = api_client_for(marketer).post(f"/api/v1/rules/{rule.pk}/resume/")
    # then the pause is lifted and both held executions are enqueued, oldest first, and run
    assert answer.status_code == 200
    body = answer.json()
    assert (body["paused_at"], body["paused_reason"], body["released"]) == (None, "", 2)
    assert body["resumed_at"] is not None
    # (one message carries both, oldest first)
    assert [callback.args for callback in callbacks] == [([[executions[3].pk, held.pk]],)]
    assert [_status(executions[3]), _status(held)] == [PENDING, PENDING]
    assert [run_execution(executions[3].pk), run_execution(held.pk)] == [OK, OK]
    assert [r.headers["webhook-id"] for r in target.requests[3:]] == [
        f"{executions[3].pk}:steps[0]",
        f"{held.pk}:steps[0]",
    ]
    assert [_status(e) for e in executions[:3]] == [DEAD, DEAD, DEAD]


@pytest.mark.django_db
def test_a_success_resets_the_count_of_consecutive_failures(workspace, target):
    # given: dead, succeeded, dead, dead with a threshold of 2
    target.reply(Reply(500), Reply(200), Reply(500), Reply(500))
    rule = _webhook_rule(workspace, target, breaker_threshold=2)
    executions = [_dispatched(workspace) for _ in range(4)]
    # when
    paused_after = []
    for execution in executions:
        run_execution(execution.pk)
        rule.refresh_from_db()
        paused_after.append(rule.is_paused)
    # then only the second death in a row trips it
    assert [_status(e) for e in executions] == [DEAD, OK, DEAD, DEAD]
    assert paused_after == [False, False, False, True]


@pytest.mark.django_db
def test_a_failure_ratio_over_the_window_trips_the_breaker(workspace, target, settings):
    # given half of 4 executions dead trips it
    settings.TYPEWIRE_BREAKER_RATIO_WINDOW = 4
    target.reply(Reply(200), Reply(500), Reply(200), Reply(500))
    rule = _webhook_rule(workspace, target, breaker_failure_ratio=0.5)
    executions = [_dispatched(workspace) for _ in range(4)]
    # when
    paused_after = []
    for execution in executions:
        run_execution(execution.pk)
        rule.refresh_from_db()
        paused_after.append(rule.is_paused)
    # then it trips once the window is full (checked when an execution dies)
    assert paused_after == [False, False, False, True]
    assert rule.paused_reason == (
        "Paused by Typewire (breaker): 2 of its last 4 executions were dead-lettered "
        "(the breaker trips at 50%)."
    )


@pytest.mark.django_db
def test_after_a_resume_the_breaker_counts_afresh(workspace, target):
    # given a rule paused by its breaker (threshold 2), target still failing
    target.default = Reply(500)
    rule = _webhook_rule(workspace, target, breaker_threshold=2)
    for _ in range(2):
        run_execution(_dispatched(workspace).pk)
    assert _is_paused(rule)
    resume_rule(rule=rule)
    # when one more execution dies
    run_execution(_dispatched(workspace).pk)
    # then the deaths before the resume do not count
    assert not _is_paused(rule)
    # when a second one dies
    run_execution(_dispatched(workspace).pk)
    # then it trips again
    assert _is_paused(rule)


@pytest.mark.django_db
def test_without_a_threshold_the_breaker_never_trips(workspace, target):
    # given
    target.default = Reply(500)
    rule = _webhook_rule(workspace, target)
    # when
    for _ in range(5):
        run_execution(_dispatched(workspace).pk)
    # then
    rule.refresh_from_db()
    assert (rule.paused_at, rule.paused_reason) == (None, "")
    assert not Alert.objects.filter(reason="paused").exists()


# ---------------------------------------------------------------------------------------------
# The rate cap


@pytest.mark.django_db
def test_a_rule_over_its_rate_cap_holds_the_excess_and_the_sweeper_releases_it_in_order(
    workspace, django_capture_on_commit_callbacks
):
    # given a rule capped at 2 executions per minute
    rule = make_rule(
        workspace, "Capped", "customer_created", [step("t", "tag", customer_id=CUSTOMER, tag="x")]
    )
    Rule.objects.filter(pk=rule.pk).update(rate_limit_per_minute=2)
    minute = timezone.now().replace(second=0, microsecond=0)
    # when 5 events arrive within one minute
    executions = [_dispatched(workspace, now=minute + dt.timedelta(seconds=i)) for i in range(5)]
    # then 2 are pending and the excess is held
    assert [_status(e) for e in executions] == [PENDING, PENDING, HELD, HELD, HELD]
    assert [run_execution(e.pk) for e in executions[:2]] == [OK, OK]
    # when the sweeper runs later in the same minute
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        same = sweep(now=minute + dt.timedelta(seconds=50))
    # then nothing is released
    assert (same.released, len(callbacks)) == (0, 0)
    # when it runs in the next minute
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        nxt = sweep(now=minute + dt.timedelta(seconds=61))
    # then the two oldest held ones are released and enqueued
    assert (nxt.released, len(callbacks)) == (2, 1)  # both in one message
    assert [_status(e) for e in executions[2:]] == [PENDING, PENDING, HELD]
    # when a new event arrives in that minute, behind the one still held
    newest = _dispatched(workspace, now=minute + dt.timedelta(seconds=62))
    # then it is held too (the minute is full, and it queues behind the older one)
    assert _status(newest) == HELD
    assert [run_execution(e.pk) for e in executions[2:4]] == [OK, OK]
    # when the sweeper runs in the minute after
    after = sweep(now=minute + dt.timedelta(seconds=121))
    # then the rest is released, oldest first, and runs
    assert after.released == 2
    released = Execution.objects.filter(rule=rule, status=PENDING).order_by("admitted_at", "id")
    assert list(released.values_list("pk", flat=True)) == [executions[4].pk, newest.pk]
    assert [run_execution(e.pk) for e in (executions[4], newest)] == [OK, OK]
    assert Execution.objects.filter(rule=rule, status=OK).count() == 6


@pytest.mark.django_db
def test_the_sweeper_keeps_the_held_executions_of_a_paused_rule(workspace):
    # given a paused rule with a held execution
    rule = make_rule(
        workspace, "Paused", "customer_created", [step("t", "tag", customer_id=CUSTOMER, tag="x")]
    )
    Rule.objects.filter(pk=rule.pk).update(paused_at=timezone.now(), paused_reason="by hand")
    execution = _dispatched(workspace)
    # when
    result = sweep(now=timezone.now() + dt.timedelta(minutes=5))
    # then
    assert (result.released, _status(execution)) == (0, HELD)


@pytest.mark.django_db
def test_a_resume_releases_only_what_the_rate_cap_allows(workspace):
    # given a paused rule capped at 1 per minute, with 3 held executions
    rule = make_rule(
        workspace, "Paused", "customer_created", [step("t", "tag", customer_id=CUSTOMER, tag="x")]
    )
    Rule.objects.filter(pk=rule.pk).update(
        rate_limit_per_minute=1, paused_at=timezone.now(), paused_reason="by hand"
    )
    executions = [_dispatched(workspace) for _ in range(3)]
    assert [_status(e) for e in executions] == [HELD, HELD, HELD]
    moment = timezone.now()
    # when
    result = resume_rule(rule=rule, now=moment)
    # then the oldest runs now, the sweeper releases the others in later minutes
    assert result.released == [executions[0].pk]
    assert [_status(e) for e in executions] == [PENDING, HELD, HELD]
    assert sweep(now=moment + dt.timedelta(minutes=1)).released == 1
    assert [_status(e) for e in executions] == [PENDING, PENDING, HELD]


# ---------------------------------------------------------------------------------------------
# The spike check


def _history(
    rule: Rule, now: dt.datetime, per_hour: int, hours: int, current: int
) -> list[Execution]:
    """Executions of ``rule``: ``per_hour`` in each of the ``hours`` before the last hour
    (succeeded), and ``current`` in the last hour (pending); return the current ones."""
    workspace = rule.workspace
    last_hour = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    # Created a minute into the hour before the history: its whole hours are the history.
    born = last_hour - dt.timedelta(hours=hours + 1) + dt.timedelta(minutes=1)
    Rule.objects.filter(pk=rule.pk).update(created_at=born)
    plan = [
        (last_hour - dt.timedelta(hours=h + 1) + dt.timedelta(minutes=m), OK)
        for h in range(hours)
        for m in range(per_hour)
    ] + [(now - dt.timedelta(minutes=m + 1), PENDING) for m in range(current)]
    events = Event.objects.bulk_create(
        [
            Event(
                workspace=workspace,
                trigger_key="customer_created",
                payload={},
                status=EventStatus.DISPATCHED,
            )
            for _ in plan
        ]
    )
    current_ones = []
    for event, (created, status) in zip(events, plan, strict=True):
        execution = Execution.objects.create(
            workspace=workspace, rule=rule, rule_version=1, event=event, status=status
        )
        Execution.objects.filter(pk=execution.pk).update(created_at=created)
        if status == PENDING:
            current_ones.append(execution)
    return current_ones


@pytest.mark.django_db
def test_a_spike_over_ten_times_the_median_pauses_the_rule_and_alerts(
    workspace, settings, mailoutbox
):
    # given rules with 24 h of history, judged from 10 executions in the last hour
    settings.TYPEWIRE_SPIKE_MIN_EXECUTIONS = 10
    settings.TYPEWIRE_SPIKE_MIN_HISTORY_HOURS = 24
    now = timezone.now()
    steps = [step("t", "tag", customer_id=CUSTOMER, tag="x")]
    spiky = make_rule(workspace, "Spiky", "customer_created", steps)
    steady = make_rule(workspace, "Steady", "customer_created", steps)
    tiny = make_rule(workspace, "Tiny", "customer_created", steps)
    running = _history(spiky, now, per_hour=1, hours=24, current=12)  # 12 > 10 x 1
    _history(steady, now, per_hour=2, hours=24, current=12)  # 12 < 10 x 2
    _history(tiny, now, per_hour=0, hours=0, current=5)  # under the minimum count
    # when
    paused = check_spikes(now=now)
    # then only the spiking rule is paused, its pending executions held, its target told
    assert paused == [spiky.pk]
    spiky.refresh_from_db()
    assert spiky.paused_reason == (
        "Paused by Typewire (spike): it fired 12 times in the last hour, over 10x its usual "
        "1 per hour (the median of the last 7 days)."
    )
    assert {_status(e) for e in running} == {HELD}
    assert Rule.objects.filter(paused_at__isnull=False).count() == 1
    alert = Alert.objects.get()
    assert (alert.reason, alert.rule_id, alert.execution_id, alert.target) == (
        "paused",
        spiky.pk,
        None,
        "ops@example.com",
    )
    assert deliver_alert(alert.pk) is True
    alert.refresh_from_db()
    assert alert.status == AlertStatus.SENT
    [mail] = mailoutbox
    assert mail.subject == "[Typewire] Rule 'Spiky' paused"
    assert "it fired 12 times in the last hour" in mail.body
    # when the check runs again
    again = check_spikes(now=now)
    # then the paused rule is not paused (or told) twice
    assert again == []
    assert Alert.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# The API


def _paused_rule(workspace: Workspace) -> Rule:
    rule = make_rule(
        workspace, "Paused", "customer_created", [step("t", "tag", customer_id=CUSTOMER, tag="x")]
    )
    Rule.objects.filter(pk=rule.pk).update(paused_at=timezone.now(), paused_reason="by hand")
    return rule


@pytest.mark.django_db
def test_an_auditor_cannot_resume_a_rule(workspace, auditor, api_client_for):
    # given
    rule = _paused_rule(workspace)
    held = _dispatched(workspace)
    # when
    answer = api_client_for(auditor).post(f"/api/v1/rules/{rule.pk}/resume/")
    # then
    assert answer.status_code == 403
    rule.refresh_from_db()
    assert (rule.is_paused, _status(held)) == (True, HELD)


@pytest.mark.django_db
def test_another_workspaces_rule_cannot_be_resumed(workspace, outsider, api_client_for):
    # given
    rule = _paused_rule(workspace)
    # when
    answer = api_client_for(outsider).post(f"/api/v1/rules/{rule.pk}/resume/")
    # then
    assert answer.status_code == 404
    rule.refresh_from_db()
    assert rule.is_paused


@pytest.mark.django_db
def test_a_marketer_sets_the_limits_without_a_new_version(workspace, marketer, api_client_for):
    # given
    rule = _paused_rule(workspace)
    client = api_client_for(marketer)
    # when
    answer = client.patch(
        f"/api/v1/rules/{rule.pk}/",
        {"rate_limit_per_minute": 30, "breaker_threshold": 5, "paused_at": None},
        format="json",
    )
    bad = client.patch(
        f"/api/v1/rules/{rule.pk}/",
        {"rate_limit_per_minute": 0, "breaker_failure_ratio": 1.5},
        format="json",
    )
    # then
    assert answer.status_code == 200
    body = answer.json()
    assert (body["rate_limit_per_minute"], body["breaker_threshold"]) == (30, 5)
    assert (body["breaker_failure_ratio"], body["version"]) == (None, 1)
    assert body["paused_reason"] == "by hand"  # read-only: a pause is lifted by resume
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid",
        "rate_limit_per_minute": ["Ensure this value is greater than or equal to 1."],
        "breaker_failure_ratio": ["Ensure this value is less than or equal to 1.0."],
    }
    rule.refresh_from_db()
    assert (rule.rate_limit_per_minute, rule.breaker_threshold, rule.is_paused) == (30, 5, True)


# ---------------------------------------------------------------------------------------------
# On a real worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_on_a_real_worker_the_breaker_pauses_alerts_and_a_resume_runs_the_held_event(
    workspace, marketer
):
    # given a rule whose target answers 500, breaking after 2 dead executions, and a worker
    with Connection(django_settings.CELERY_BROKER_URL) as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]
    server = LocalServer()
    server.default = Reply(500, "down")
    server.start()
    rule = _webhook_rule(workspace, server, breaker_threshold=2, owner=marketer)
    env = {"TYPEWIRE_MAX_ATTEMPTS": "1", "TYPEWIRE_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1"}
    try:
        with celery_worker(name=f"limits-{os.getpid()}", extra_env=env):
            # when two events fail
            first = [_signup(workspace) for _ in range(2)]
            # then the rule is paused and its target and owner are told
            wait_for(lambda: _is_paused(rule), 30)
            wait_for(lambda: _paused_alerts_sent() == 2, 30)
            # when a third event matches while paused
            later = _signup(workspace)
            # then its execution is held
            wait_for(lambda: Execution.objects.filter(event=later, status=HELD).exists(), 30)
            # when the target is fixed and the rule resumed
            server.default = Reply(200, {"ok": True})
            resume_rule(rule=rule)
            # then the held execution runs on the worker and succeeds
            wait_for(lambda: Execution.objects.get(event=later).status == OK, 30)
    finally:
        server.stop()
    assert [Execution.objects.get(event=e).status for e in first] == [DEAD, DEAD]
    assert len(server.requests) == 3
