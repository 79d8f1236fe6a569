"""Reconcile what the harness sent with what the database and the HTTP target hold (pure).

No Django, no I/O: the harness reads the rows (``catalog_event``, ``automations_execution``,
``automations_appliedeffect``) and the target's records, and this module decides, per logical
item (one provider delivery, or one internal event), whether it was lost, applied twice, or is
still stuck, and when it was complete. It reads only the database, never the broker, so it holds
however events reach the rules (published per request or by a batch dispatcher).

An item is accepted once any copy of it got a 2xx. An accepted item needs exactly one event,
exactly one execution of each rule on that event, each succeeded, and each effect exactly once:
a webhook delivery tags its customer (internal) and is forwarded to the target (outbound); an
internal event tags its customer. Anything less is lost; anything more is double-applied.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TERMINAL = frozenset({"succeeded", "dead", "loop"})


@dataclass(frozen=True, slots=True)
class Item:
    """One logical item the harness sent (each copy shares its ``dedupe_key``)."""

    kind: str  # "hook" or "event"
    ref: str
    dedupe_key: str
    first_sent_at: float
    accepted_at: float | None


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    trigger_key: str
    dedupe_key: str | None
    status: str


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    id: int
    event_id: str
    rule_id: int
    status: str


@dataclass(frozen=True, slots=True)
class EffectRow:
    """An ``AppliedEffect``: the key is ``<execution id>:<step path>``."""

    key: str
    applied_at: float

    @property
    def execution_id(self) -> int:
        return int(self.key.split(":", 1)[0])


@dataclass(frozen=True, slots=True)
class TargetKey:
    """What the outbound target saw of one ``webhook-id``."""

    webhook_id: str
    ref: str
    requests: int
    applied_at: float | None


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: when it started and when the system was whole again."""

    name: str
    started: float
    ended: float


@dataclass(frozen=True, slots=True)
class Rules:
    """The rule ids each kind of item must run, and which of them are outbound."""

    by_kind: Mapping[str, tuple[int, ...]]
    outbound: frozenset[int]


@dataclass
class Outcome:
    """The verdict on one accepted item."""

    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    completed_at: float | None = None


@dataclass
class Figures:
    """Everything the table shows."""

    requests: Counter[str]
    answers: Counter[str]
    items_sent: int
    accepted: int
    unanswered: int
    events: int
    events_by_status: Counter[str]
    executions: int
    executions_by_status: Counter[str]
    internal_effects: int
    outbound_applied: int
    outbound_requests: int
    duplicates_suppressed: Counter[str]
    lost: int
    double_applied: int
    stuck: int
    recovery: dict[str, float | None]
    recovered: Counter[str]
    examples: list[str]
    crashes: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """No loss, no double application, nothing stuck."""
        return self.lost == 0 and self.double_applied == 0 and self.stuck == 0


def judge(
    items: Sequence[Item],
    events: Sequence[EventRow],
    executions: Sequence[ExecutionRow],
    effects: Sequence[EffectRow],
    target: Sequence[TargetKey],
    rules: Rules,
) -> dict[str, Outcome]:
    """Return the outcome of every accepted item, by its dedupe key."""
    events_by_key: dict[str, list[EventRow]] = defaultdict(list)
    for event in events:
        if event.dedupe_key:
            events_by_key[event.dedupe_key].append(event)
    runs: dict[tuple[str, int], list[ExecutionRow]] = defaultdict(list)
    for execution in executions:
        runs[(execution.event_id, execution.rule_id)].append(execution)
    effects_by_execution: dict[int, list[EffectRow]] = defaultdict(list)
    for effect in effects:
        effects_by_execution[effect.execution_id].append(effect)
    applied_by_ref: dict[str, list[TargetKey]] = defaultdict(list)
    for key in target:
        if key.applied_at is not None:
            applied_by_ref[key.ref].append(key)

    outcomes: dict[str, Outcome] = {}
    for item in items:
        if item.accepted_at is None:
            continue
        outcome = outcomes[item.dedupe_key] = Outcome()
        found = events_by_key.get(item.dedupe_key, [])
        if not found:
            outcome.lost.append("no event")
            continue
        if len(found) > 1:
            outcome.doubled.append(f"{len(found)} events")
        finished: list[float] = []
        for rule_id in rules.by_kind[item.kind]:
            executions_of_rule = [e for event in found for e in runs.get((event.id, rule_id), [])]
            if not executions_of_rule:
                outcome.lost.append(f"no execution of rule {rule_id}")
                continue
            if len(executions_of_rule) > 1:
                outcome.doubled.append(f"{len(executions_of_rule)} executions of rule {rule_id}")
            if not any(e.status == "succeeded" for e in executions_of_rule):
                states = ",".join(sorted({e.status for e in executions_of_rule}))
                if all(e.status in TERMINAL for e in executions_of_rule):
                    outcome.lost.append(f"rule {rule_id} ended {states}")
                else:
                    outcome.lost.append(f"rule {rule_id} still {states}")
            if rule_id in rules.outbound:
                applied = applied_by_ref.get(item.ref, [])
                if not applied:
                    outcome.lost.append("never reached the target")
                elif len(applied) > 1:
                    outcome.doubled.append(f"target applied {len(applied)} different keys")
                finished.extend(k.applied_at for k in applied if k.applied_at is not None)
            else:
                applied_effects = [
                    effect for e in executions_of_rule for effect in effects_by_execution[e.id]
                ]
                if not applied_effects:
                    outcome.lost.append(f"no effect of rule {rule_id}")
                elif len(applied_effects) > 1:
                    outcome.doubled.append(f"{len(applied_effects)} effects of rule {rule_id}")
                finished.extend(effect.applied_at for effect in applied_effects)
        if not outcome.lost and finished:
            outcome.completed_at = max(finished)
    return outcomes


def recovery_times(
    items: Sequence[Item], outcomes: Mapping[str, Outcome], faults: Sequence[Fault]
) -> dict[str, float | None]:
    """Seconds from each fault's end until every item in flight during it was complete.

    In flight: first sent before the fault ended, and not complete when it started. ``None``
    when such an item never completed (it is counted as lost as well).
    """
    result: dict[str, float | None] = {}
    for fault in faults:
        worst = 0.0
        for item in items:
            outcome = outcomes.get(item.dedupe_key)
            if outcome is None or item.first_sent_at > fault.ended:
                continue
            if outcome.completed_at is None:
                worst = float("inf")
                break
            if outcome.completed_at >= fault.started:
                worst = max(worst, outcome.completed_at - fault.ended)
        result[fault.name] = None if worst == float("inf") else worst
    return result


def figures(
    *,
    items: Sequence[Item],
    requests: Counter[str],
    answers: Counter[str],
    duplicate_answers: Counter[str],
    events: Sequence[EventRow],
    executions: Sequence[ExecutionRow],
    effects: Sequence[EffectRow],
    target: Sequence[TargetKey],
    rules: Rules,
    faults: Sequence[Fault],
    recovered: Counter[str] | None = None,
) -> Figures:
    """Reconcile everything and return the figures of the table."""
    outcomes = judge(items, events, executions, effects, target, rules)
    stuck_events = [e for e in events if e.status == "pending"]
    stuck_executions = [e for e in executions if e.status not in TERMINAL]
    examples = [
        f"{key}: {'; '.join(o.lost + o.doubled)}"
        for key, o in sorted(outcomes.items())
        if o.lost or o.doubled
    ][:10]
    examples += [f"event {e.id} ({e.trigger_key}) still pending" for e in stuck_events[:5]]
    examples += [f"execution {e.id} still {e.status}" for e in stuck_executions[:5]]
    suppressed = Counter(duplicate_answers)
    suppressed["redeliveries deduped by the target"] = sum(
        max(k.requests - 1, 0) for k in target if k.applied_at is not None
    )
    return Figures(
        requests=requests,
        answers=answers,
        items_sent=len(items),
        accepted=sum(1 for i in items if i.accepted_at is not None),
        unanswered=sum(1 for i in items if i.accepted_at is None),
        events=len(events),
        events_by_status=Counter(e.status for e in events),
        executions=len(executions),
        executions_by_status=Counter(e.status for e in executions),
        internal_effects=len(effects),
        outbound_applied=sum(1 for k in target if k.applied_at is not None),
        outbound_requests=sum(k.requests for k in target),
        duplicates_suppressed=suppressed,
        lost=sum(1 for o in outcomes.values() if o.lost),
        double_applied=sum(1 for o in outcomes.values() if o.doubled),
        stuck=len(stuck_events) + len(stuck_executions),
        recovery=recovery_times(items, outcomes, faults),
        recovered=recovered or Counter(),
        examples=examples,
    )


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "-"


def table(result: Figures, *, title: str) -> str:
    """Render the figures as a Markdown table (the README quotes it)."""
    rejected = {k: v for k, v in result.answers.items() if not k.split(" ", 1)[-1].startswith("2")}
    accepted = {k: v for k, v in result.answers.items() if k not in rejected}
    rows: list[tuple[str, str]] = [
        ("requests sent", f"{sum(result.requests.values())} ({_counts(result.requests)})"),
        ("items sent (each sent twice)", str(result.items_sent)),
        ("accepted (2xx)", f"{result.accepted} items; answers {_counts(accepted)}"),
        ("rejected (by status)", _counts(rejected)),
        ("never accepted (sender gave up)", str(result.unanswered)),
        ("events", f"{result.events} ({_counts(result.events_by_status)})"),
        ("executions", f"{result.executions} ({_counts(result.executions_by_status)})"),
        (
            "effects",
            f"{result.internal_effects} internal, {result.outbound_applied} outbound "
            f"({result.outbound_requests} requests to the target)",
        ),
        ("duplicates suppressed", _counts(result.duplicates_suppressed)),
        ("work recovered from faults", _counts(result.recovered)),
        ("processes that exited by themselves (restarted)", _counts(result.crashes)),
        ("lost (must be 0)", str(result.lost)),
        ("double-applied (must be 0)", str(result.double_applied)),
        ("stuck (must be 0)", str(result.stuck)),
    ]
    for name, seconds in result.recovery.items():
        shown = "never (items lost)" if seconds is None else f"{seconds:.1f} s"
        rows.append((f"max recovery after {name}", shown))
    width = max(len(name) for name, _ in rows)
    lines = [title, "", f"| {'figure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    if result.examples:
        lines += ["", "first problems:", *(f"  - {line}" for line in result.examples)]
    return "\n".join(lines)
