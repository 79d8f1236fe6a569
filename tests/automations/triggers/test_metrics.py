"""metric_threshold: a crossing that lasts the duration fires once, and re-arms once back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from automations.trigger_models import MetricSample, MetricState
from automations.triggers.metrics import SampleInvalid, evaluate_due, record_sample
from catalog.models import Event, EventSource

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CPU_ABOVE_90_FOR_5_MIN = {
    "metric": "cpu",
    "threshold": "90",
    "direction": "above",
    "duration": "PT5M",
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def push(workspace, values: Sequence[tuple[float, str]], name: str = "cpu") -> None:
    for minute, value in values:
        record_sample(workspace=workspace, name=name, value=value, at=at(minute))


def crossings() -> list[dict[str, object]]:
    return [
        e.payload
        for e in Event.objects.filter(trigger_key="metric_threshold").order_by("occurred_at")
    ]


def test_a_metric_held_above_the_threshold_for_the_duration_fires_exactly_once(
    workspace, make_rule
):
    # given
    rule = make_rule("metric_threshold", CPU_ABOVE_90_FOR_5_MIN)

    # when: above 90 from 09:01, a sample a minute until 09:10
    push(workspace, [(0, "50")] + [(minute, "95.5") for minute in range(1, 11)])

    # then
    event = Event.objects.get(trigger_key="metric_threshold")
    assert event.payload == {
        "metric": "cpu",
        "value": "95.5",
        "threshold": "90",
        "direction": "above",
        "since": "2025-03-01T09:01:00Z",
    }
    assert event.dedupe_key == f"metric:{rule.pk}:2025-03-01T09:01:00Z"
    assert event.source == EventSource.MONITOR
    state = MetricState.objects.get(rule=rule)
    assert (state.is_past, state.since, state.fired) == (True, at(1), True)


def test_the_event_fires_with_the_sample_that_completes_the_duration(workspace, make_rule):
    # given
    make_rule("metric_threshold", CPU_ABOVE_90_FOR_5_MIN)
    push(workspace, [(0, "95"), (4, "96")])
    assert crossings() == []

    # when
    recorded = record_sample(workspace=workspace, name="cpu", value=97, at=at(5))

    # then
    assert [event.payload["value"] for event in recorded.fired] == ["97"]


def test_the_rule_re_arms_after_the_metric_goes_back_below_the_threshold(workspace, make_rule):
    # given: a first crossing that fired
    make_rule("metric_threshold", CPU_ABOVE_90_FOR_5_MIN)
    push(workspace, [(minute, "95") for minute in range(0, 7)])

    # when: back to 90 (not above), then above again for 5 minutes
    push(workspace, [(7, "90")] + [(minute, "99") for minute in range(8, 14)])

    # then
    assert [(p["since"], p["value"]) for p in crossings()] == [
        ("2025-03-01T09:00:00Z", "95"),
        ("2025-03-01T09:08:00Z", "99"),
    ]


def test_a_dip_below_the_threshold_before_the_duration_fires_nothing(workspace, make_rule):
    # given
    rule = make_rule("metric_threshold", CPU_ABOVE_90_FOR_5_MIN)

    # when: above for 4 minutes, a dip, above for 4 minutes again
    push(workspace, [(0, "95"), (4, "95"), (4.5, "85"), (5, "95"), (9, "95")])

    # then
    assert crossings() == []
    state = MetricState.objects.get(rule=rule)
    assert (state.is_past, state.since, state.fired) == (True, at(5), False)


def test_a_below_rule_fires_when_the_metric_stays_below(workspace, make_rule):
    # given
    make_rule(
        "metric_threshold",
        {"metric": "stock", "threshold": "10", "direction": "below", "duration": "PT1M"},
    )

    # when
    push(workspace, [(0, "12"), (1, "9"), (2, "8"), (3, "7")], name="stock")

    # then
    assert [(p["direction"], p["since"], p["value"]) for p in crossings()] == [
        ("below", "2025-03-01T09:01:00Z", "8")
    ]


def test_a_rule_without_a_duration_fires_on_the_first_sample_past_the_threshold(
    workspace, make_rule
):
    # given
    make_rule("metric_threshold", {"metric": "cpu", "threshold": "90", "direction": "above"})

    # when
    push(workspace, [(0, "91"), (1, "92")])

    # then
    assert [p["since"] for p in crossings()] == ["2025-03-01T09:00:00Z"]


def test_the_periodic_evaluation_fires_a_duration_that_elapsed_without_new_samples(
    workspace, make_rule
):
    # given: one sample above the threshold, then silence
    make_rule("metric_threshold", CPU_ABOVE_90_FOR_5_MIN)
    push(workspace, [(0, "95")])

    # when
    early = evaluate_due(now=at(4))
    due = evaluate_due(now=at(5))
    again = evaluate_due(now=at(6))

    # then
    assert early == []
    assert [event.payload["since"] for event in due] == ["2025-03-01T09:00:00Z"]
    assert again == []
    assert len(crossings()) == 1


def test_a_late_sample_from_an_earlier_time_does_not_fire_the_crossing_again(workspace, make_rule):
    # given: a crossing that fired at 09:05
    make_rule("metric_threshold", CPU_ABOVE_90_FOR_5_MIN)
    push(workspace, [(minute, "95") for minute in range(0, 6)])

    # when: a sample measured at 09:02:30 arrives late
    recorded = record_sample(workspace=workspace, name="cpu", value="96", at=at(2.5))

    # then
    assert recorded.fired == []
    assert len(crossings()) == 1


def test_only_the_rules_watching_the_metric_in_the_workspace_are_judged(
    workspace, other_workspace, make_rule
):
    # given
    cpu = make_rule("metric_threshold", CPU_ABOVE_90_FOR_5_MIN, name="CPU")
    make_rule(
        "metric_threshold",
        {"metric": "memory", "threshold": "90", "direction": "above"},
        name="Memory",
    )
    make_rule(
        "metric_threshold",
        {"metric": "cpu", "threshold": "90", "direction": "above"},
        name="Elsewhere",
        in_workspace=other_workspace,
    )
    make_rule(
        "metric_threshold",
        {"metric": "cpu", "threshold": "50", "direction": "above"},
        name="Off",
        enabled=False,
    )

    # when
    push(workspace, [(0, "95"), (5, "95")])

    # then
    event = Event.objects.get(trigger_key="metric_threshold")
    assert event.dedupe_key == f"metric:{cpu.pk}:2025-03-01T09:00:00Z"


@pytest.mark.parametrize(
    ("_case", "value", "message"),
    [
        ("text", "high", "'high' is not a number."),
        ("boolean", True, "True is not a number."),
        (
            "too large",
            "1" + "0" * 20,
            "'100000000000000000000' is too large (at most 18 digits before the point).",
        ),
    ],
)
def test_record_sample_refuses_a_value_that_is_no_number(workspace, _case, value, message):
    # when
    with pytest.raises(SampleInvalid) as raised:
        record_sample(workspace=workspace, name="cpu", value=value)

    # then
    assert str(raised.value) == message
    assert MetricSample.objects.count() == 0


def test_an_admin_pushes_a_sample_through_the_api_and_it_fires_the_rule(
    workspace, admin, api_client_for, make_rule
):
    # given
    make_rule("metric_threshold", {"metric": "cpu", "threshold": "90", "direction": "above"})

    # when
    response = api_client_for(admin).post(
        "/api/v1/metrics/cpu/", {"value": "93.5", "at": "2025-03-01T09:00:00Z"}, format="json"
    )

    # then
    assert response.status_code == 201
    event = Event.objects.get(trigger_key="metric_threshold")
    assert response.json() == {
        "metric": "cpu",
        "value": "93.5",
        "at": "2025-03-01T09:00:00Z",
        "fired_event_ids": [str(event.pk)],
    }
    sample = MetricSample.objects.get()
    assert (sample.workspace_id, sample.name, sample.value) == (
        workspace.pk,
        "cpu",
        Decimal("93.5"),
    )


@pytest.mark.parametrize(
    ("_case", "body", "fields"),
    [
        ("text", {"value": "high"}, {"value": ["'high' is not a number."]}),
        ("missing", {}, {"value": ["This field is required."]}),
        (
            "future",
            {"value": 1, "at": "2999-01-01T00:00:00Z"},
            {"at": ["A sample cannot be measured in the future."]},
        ),
    ],
)
def test_a_bad_sample_answers_400_and_stores_nothing(admin, api_client_for, _case, body, fields):
    # when
    response = api_client_for(admin).post("/api/v1/metrics/cpu/", body, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_sample", "fields": fields}
    assert MetricSample.objects.count() == 0


def test_a_bad_metric_name_answers_400(admin, api_client_for):
    # when
    response = api_client_for(admin).post("/api/v1/metrics/cpu load/", {"value": 1}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_metric"
    assert MetricSample.objects.count() == 0


@pytest.mark.parametrize("_case", ["marketer", "auditor"])
def test_only_admins_push_samples(request, api_client_for, _case):
    # given
    user = request.getfixturevalue(_case)

    # when
    response = api_client_for(user).post("/api/v1/metrics/cpu/", {"value": 1}, format="json")

    # then
    assert response.status_code == 403
    assert MetricSample.objects.count() == 0
