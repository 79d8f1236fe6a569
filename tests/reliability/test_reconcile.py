"""The harness's reconciliation on hand-made rows: it must see every kind of loss and double."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.reliability.reconcile import (
    EffectRow,
    EventRow,
    ExecutionRow,
    Fault,
    Figures,
    Item,
    Rules,
    TargetKey,
    figures,
    table,
)

TAG, FORWARD, OPT_IN = 1, 2, 3
RULES = Rules(by_kind={"hook": (TAG, FORWARD), "event": (OPT_IN,)}, outbound=frozenset({FORWARD}))


def _hook(n: int, accepted: float | None = 10.0) -> Item:
    return Item("hook", f"r{n}", f"hook:1:msg_r{n}", first_sent_at=5.0, accepted_at=accepted)


def _complete(n: int, *, done: float = 20.0) -> tuple[list[Any], ...]:
    """The rows of hook ``n`` fully applied at ``done``: event, two executions, both effects."""
    event = EventRow(f"e{n}", "webhook_received", f"hook:1:msg_r{n}", "dispatched")
    executions = [
        ExecutionRow(n * 10 + 1, event.id, TAG, "succeeded"),
        ExecutionRow(n * 10 + 2, event.id, FORWARD, "succeeded"),
    ]
    effects = [EffectRow(f"{n * 10 + 1}:steps.0", done)]
    target = [TargetKey(f"{n * 10 + 2}:steps.0", f"r{n}", 1, done)]
    return [event], executions, effects, target


def _figures(
    items: list[Item], *rows: tuple[list[Any], ...], faults: list[Fault] | None = None
) -> Figures:
    events: list[EventRow] = []
    executions: list[ExecutionRow] = []
    effects: list[EffectRow] = []
    target: list[TargetKey] = []
    for part in rows:
        events += part[0]
        executions += part[1]
        effects += part[2]
        target += part[3]
    return figures(
        items=items,
        requests=Counter({"hook": 2 * len(items)}),
        answers=Counter({"hook 202": len(items), "hook 200": len(items)}),
        duplicate_answers=Counter({"duplicate hooks answered 200": len(items)}),
        events=events,
        executions=executions,
        effects=effects,
        target=target,
        rules=RULES,
        faults=faults or [],
    )


def test_a_fully_applied_item_is_neither_lost_nor_doubled() -> None:
    result = _figures([_hook(1)], _complete(1))
    assert (result.lost, result.double_applied, result.stuck) == (0, 0, 0)
    assert result.ok


def test_an_accepted_item_without_an_event_is_lost() -> None:
    result = _figures([_hook(1), _hook(2)], _complete(1))
    assert result.lost == 1
    assert result.examples == ["hook:1:msg_r2: no event"]


def test_an_item_never_accepted_is_not_counted_as_lost() -> None:
    result = _figures([_hook(1, accepted=None)])
    assert (result.lost, result.unanswered) == (0, 1)


def test_a_pending_event_is_lost_and_stuck() -> None:
    pending = [EventRow("e1", "webhook_received", "hook:1:msg_r1", "pending")]
    result = _figures([_hook(1)], (pending, [], [], []))
    assert (result.lost, result.stuck) == (1, 1)
    assert not result.ok


def test_two_events_for_one_delivery_are_a_double() -> None:
    first = _complete(1)
    second = _complete(2)
    again = EventRow("e2", "webhook_received", "hook:1:msg_r1", "dispatched")
    result = _figures([_hook(1)], first, ([again], second[1], second[2], []))
    assert result.double_applied == 1


def test_a_second_internal_effect_is_a_double() -> None:
    events, executions, effects, target = _complete(1)
    effects = [*effects, EffectRow("11:steps.1", 21.0)]
    result = _figures([_hook(1)], (events, executions, effects, target))
    assert result.double_applied == 1


def test_the_target_applying_two_keys_for_one_item_is_a_double() -> None:
    events, executions, effects, target = _complete(1)
    target = [*target, TargetKey("99:steps.0", "r1", 1, 22.0)]
    result = _figures([_hook(1)], (events, executions, effects, target))
    assert result.double_applied == 1


@pytest.mark.parametrize(
    ("status", "lost", "stuck"), [("dead", 1, 0), ("waiting", 1, 1), ("running", 1, 1)]
)
def test_an_unfinished_or_dead_execution_is_lost(status: str, lost: int, stuck: int) -> None:
    events, executions, effects, target = _complete(1)
    executions = [executions[0], ExecutionRow(12, "e1", FORWARD, status)]
    result = _figures([_hook(1)], (events, executions, effects, []))
    assert (result.lost, result.stuck) == (lost, stuck)


def test_redeliveries_the_target_deduped_are_counted_as_suppressed() -> None:
    events, executions, effects, _ = _complete(1)
    target = [TargetKey("12:steps.0", "r1", 3, 20.0)]
    result = _figures([_hook(1)], (events, executions, effects, target))
    assert result.duplicates_suppressed["redeliveries deduped by the target"] == 2
    assert result.ok


def test_recovery_is_the_last_completion_of_work_in_flight_after_the_fault_ended() -> None:
    fault = Fault("(a) broker stopped 20 s", started=8.0, ended=15.0)
    result = _figures(
        [_hook(1), _hook(2)], _complete(1, done=21.5), _complete(2, done=18.0), faults=[fault]
    )
    assert result.recovery == {"(a) broker stopped 20 s": 6.5}


def test_recovery_is_never_when_work_in_flight_was_lost() -> None:
    fault = Fault("(b) worker SIGKILLed", started=8.0, ended=8.0)
    result = _figures([_hook(1), _hook(2)], _complete(1), faults=[fault])
    assert result.recovery == {"(b) worker SIGKILLed": None}
    assert "never (items lost)" in table(result, title="t")
