"""Dispatch: one stored event to one Execution per matching enabled rule, exactly once.

The event row is locked while it is matched, the executions are inserted under the
(event, rule) unique constraint and the event is marked dispatched in the same transaction, so
a redelivered or re-published dispatch of the same event creates nothing new and enqueues
nothing twice. An execution of a paused rule, or of a rule over its rate cap, is created held
and not enqueued (see ``automations.engine.limits``).

Fast path (``dispatch_and_run``, what the dispatch task calls): the first few new executions of
rules made only of quick internal actions are not published at all: they are inserted already
claimed by the dispatching worker (running, with a lease), which runs them right after the
commit (no broker round trip, no task and no claim per execution). If that worker dies first,
the execution sweeper takes them up once their lease expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from accounts.models import Workspace
from automations.engine.limits import admit
from automations.engine.queue import enqueue_runs
from automations.engine.run import lease_duration, run_execution
from automations.engine.scope import RuleBroken, compiled_rule, is_compiled
from automations.matching import config_mismatch
from automations.models import Execution, ExecutionStatus, Rule
from automations.triggers import target_rule_id
from catalog.domain.snapshots import WorkspaceEntityLoader
from catalog.events import mark_events
from catalog.models import Event, EventStatus
from catalog.sql import cast_type, execute_prepared

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What one dispatch did: executions enqueued and held, and why rules were left out."""

    event_id: str
    dispatched: bool
    execution_ids: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    held_ids: list[int] = field(default_factory=list)
    # Executions left for the caller to run after the commit (not enqueued), ready to run:
    # their rule, workspace and event are attached.
    inline: list[Execution] = field(default_factory=list)
    # What the event's status says ("2 of 5 enabled rule(s) matched").
    detail: str = ""


def has_listeners(workspace_id: int, trigger_key: str) -> bool:
    """Whether an enabled rule of the workspace listens to ``trigger_key`` (one indexed query)."""
    return Rule.objects.filter(
        workspace_id=workspace_id, trigger_key=trigger_key, is_enabled=True
    ).exists()


def listeners_sql() -> str:
    """``has_listeners`` as an SQL boolean expression: ``%s`` the workspace id, the trigger key.

    ``record_event`` asks it inside the statement that inserts an internal event.
    """
    meta = Rule._meta
    workspace, trigger_key, enabled = (
        meta.get_field(name).column  # type: ignore[union-attr]  # concrete fields
        for name in ("workspace", "trigger_key", "is_enabled")
    )
    return (
        f"EXISTS (SELECT 1 FROM {meta.db_table} WHERE {workspace} = %s"
        f" AND {trigger_key} = %s AND {enabled})"
    )


def matches(rule: Rule, event: Event, loader: WorkspaceEntityLoader | None = None) -> str | None:
    """Return why ``rule`` does not fire for ``event`` (plain English), or None when it does.

    ``loader`` shares entity snapshots between the rules matched against one event, so a
    customer the conditions of 100 rules read is loaded once, not 100 times.
    """
    try:
        compiled = compiled_rule(rule)
    except RuleBroken as exc:
        logger.warning("rule %s cannot run: %s", rule.pk, exc)
        return str(exc)
    mismatch = config_mismatch(rule.trigger_key, compiled.draft.trigger.config, event.payload)
    if mismatch:
        return mismatch
    resolver = compiled.resolver(event.payload, event.workspace_id, loader)
    if not compiled.conditions.matches(resolver.resolve):
        return "The rule's conditions do not hold."
    return None


def dispatch_event(
    event_id: uuid.UUID | str, *, now: dt.datetime | None = None, inline: int = 0
) -> DispatchResult:
    """Match a pending event against the enabled rules of its trigger; create their executions.

    Returns what was done. An event that is no longer pending (already dispatched, stale,
    skipped) or does not exist is left alone: nothing is created or enqueued. Each new
    execution records the rule's version and is enqueued after the commit, unless its rule is
    paused or over its rate cap (``now`` says which minute): then it is created held. Up to
    ``inline`` new executions whose rule is ``inline_safe`` are not enqueued but inserted
    claimed (running, leased to this worker) and returned in ``DispatchResult.inline``: the
    caller runs them once the transaction has committed.
    """
    (result,) = dispatch_events([event_id], now=now, inline=inline)
    return result


def dispatch_events(
    event_ids: Sequence[uuid.UUID | str], *, now: dt.datetime | None = None, inline: int = 0
) -> list[DispatchResult]:
    """``dispatch_event`` for several events in one transaction; one result per id, in order.

    The publisher's batches come this way: the pending events are locked with one statement,
    each trigger's rules read once for the batch, and the events marked dispatched together,
    with one commit. ``inline`` counts per event.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        # The row locks serialise two dispatchers of one event; the loser finds it dispatched.
        # Taken in id order, so two batches sharing events cannot deadlock.
        locked = {
            str(event.pk): event
            for event in Event.objects.select_for_update(of=("self",))
            .select_related("workspace")
            .filter(pk__in=list(event_ids), status=EventStatus.PENDING)
            .order_by("pk")
        }
        rules_of = _RuleReader()
        matched: list[_Matched | str] = []
        waiting: list[_Matched] = []  # built, to be inserted together
        for event_id in event_ids:
            event = locked.pop(str(event_id), None)
            if event is None:
                matched.append(str(event_id))
                continue
            match = _match_locked(event, rules_of(event))
            if match.capped:
                # A capped rule counts the executions inserted before its admission.
                _insert_matched(waiting)
                waiting = []
            match.build(moment, inline)
            waiting.append(match)
            matched.append(match)
        _insert_matched(waiting)
        results = [
            m.result() if isinstance(m, _Matched) else DispatchResult(m, dispatched=False)
            for m in matched
        ]
        _mark_dispatched(results)
        kept = {execution.pk for result in results for execution in result.inline}
        enqueue_runs([pk for r in results for pk in r.execution_ids if pk not in kept])
    return results


# What dispatch and the run of an execution it keeps read of a rule: its identity and version,
# the name rules are ordered and reported by, pause, rate cap and breaker settings, the owner
# an alert goes to. Left out: the definition (read apart, and only when not compiled yet), the
# description and sentence, the reasons written with a pause or a disabling, updated_at.
DISPATCH_RULE_FIELDS = (
    "id",
    "workspace_id",
    "name",
    "trigger_key",
    "is_enabled",
    "version",
    "owner_id",
    "rate_limit_per_minute",
    "breaker_threshold",
    "breaker_failure_ratio",
    "paused_at",
    "resumed_at",
    "created_at",
)


class _RuleReader:
    """The enabled rules an event's trigger fires, read once per (workspace, trigger) and batch."""

    def __init__(self) -> None:
        self._read: dict[tuple[int, str], list[Rule]] = {}

    def __call__(self, event: Event) -> list[Rule]:
        key = (event.workspace_id, event.trigger_key)
        if key not in self._read:
            # One indexed query (rule_enabled_trigger_idx), never a scan of every rule; only
            # the columns matching, admission and an inline run read (DISPATCH_RULE_FIELDS):
            # the definitions only a rule not yet compiled in this process needs.
            candidates = (
                Rule.objects.filter(
                    workspace_id=event.workspace_id, trigger_key=event.trigger_key, is_enabled=True
                )
                .only(*DISPATCH_RULE_FIELDS)
                .order_by()
            )
            self._read[key] = _with_definitions(list(candidates), event.workspace)
        rules = self._read[key]
        # A schedule tick, a metric crossing or a polled item belongs to the one rule it was
        # recorded for: another cron rule must not fire on this rule's tick.
        target = target_rule_id(event.trigger_key, event.dedupe_key)
        if target is not None:
            return [rule for rule in rules if rule.pk == target]
        return rules


@dataclass(slots=True)
class _NewExecution:
    """An execution dispatch is about to insert: what differs between rows; ``pk`` once new."""

    rule: Rule
    status: str
    admitted_at: dt.datetime | None
    lease_until: dt.datetime | None = None
    started_at: dt.datetime | None = None
    created_at: dt.datetime | None = None  # set when inserted
    pk: int | None = None  # None until inserted; stays None when the (event, rule) pair existed


@dataclass(slots=True)
class _Matched:
    """One locked pending event matched against its rules; its executions built, then stored."""

    event: Event
    rules: list[Rule]
    matching: list[Rule]
    skipped: dict[int, str]
    executions: list[_NewExecution] = field(default_factory=list)

    @property
    def capped(self) -> bool:
        """Whether a matching rule's admission counts executions (a rate cap, not paused)."""
        return any(r.rate_limit_per_minute is not None and not r.is_paused for r in self.matching)

    def build(self, moment: dt.datetime, inline: int) -> None:
        """Admit the matching rules and describe their executions (not inserted).

        Plain rows, not model instances: an event that 100 rules match would otherwise spend
        more on building 100 ``Execution`` objects than on inserting them. Only the few run
        inline become instances (``result``).
        """
        if not self.matching:
            return
        admitted = admit(self.matching, now=moment)
        pending = ExecutionStatus.PENDING
        self.executions = [
            _NewExecution(
                rule,
                admitted[rule.pk],
                moment if admitted[rule.pk] == pending else None,
            )
            for rule in self.matching
        ]
        _claim_inline(self.executions, inline)

    def result(self) -> DispatchResult:
        """What dispatch did for this event, once its executions are inserted."""
        execution_ids: list[int] = []
        held_ids: list[int] = []
        ready: list[Execution] = []
        for new in self.executions:
            if new.pk is None:  # the (event, rule) pair existed
                continue
            if new.status == ExecutionStatus.HELD:
                held_ids.append(new.pk)
                continue
            execution_ids.append(new.pk)
            if new.status == ExecutionStatus.RUNNING:
                ready.append(self._instance(new))
        detail = f"{len(self.matching)} of {len(self.rules)} enabled rule(s) matched"
        if held_ids:
            detail += f", {len(held_ids)} held (paused or over the rate cap)"
        return DispatchResult(
            str(self.event.pk), True, execution_ids, self.skipped, held_ids, ready, detail=detail
        )

    def values(self, new: _NewExecution, created: dt.datetime) -> dict[str, Any]:
        """The row's values by attribute name; the fields left out take their defaults."""
        return {
            "workspace_id": self.event.workspace_id,
            "rule_id": new.rule.pk,
            "rule_version": new.rule.version,
            "event_id": self.event.pk,
            "status": new.status,
            "admitted_at": new.admitted_at,
            "lease_until": new.lease_until,
            "started_at": new.started_at,
            "created_at": created,
        }

    def _instance(self, new: _NewExecution) -> Execution:
        """The inserted execution as a model instance, its rule, event and workspace attached."""
        execution = Execution(pk=new.pk, **self.values(new, new.created_at or timezone.now()))
        execution.workspace = self.event.workspace
        execution.rule = new.rule
        execution.event = self.event
        execution._state.adding = False
        execution._state.db = connection.alias
        return execution


def _match_locked(event: Event, rules: list[Rule]) -> _Matched:
    """Match one locked pending event against its trigger's enabled rules."""
    skipped: dict[int, str] = {}
    matching: list[Rule] = []
    loader = WorkspaceEntityLoader(event.workspace_id)
    for rule in rules:
        why = matches(rule, event, loader)
        if why is None:
            matching.append(rule)
        else:
            skipped[rule.pk] = why
    return _Matched(event, rules, matching, skipped)


def _insert_matched(batch: list[_Matched]) -> None:
    """Insert the executions of several matched events with one statement."""
    _insert_new([(match, new) for match in batch for new in match.executions])


def _mark_dispatched(results: list[DispatchResult]) -> None:
    """Mark the batch's dispatched events, one statement per distinct detail."""
    by_detail: dict[str, list[str]] = {}
    for result in results:
        if result.dispatched:
            by_detail.setdefault(result.detail, []).append(result.event_id)
    for detail, ids in by_detail.items():
        mark_events(ids, status=EventStatus.DISPATCHED, detail=detail)


def _claim_inline(executions: list[_NewExecution], inline: int) -> None:
    """Insert up to ``inline`` admitted executions of quick internal rules already claimed.

    They are created running, leased to this worker (which runs them once the dispatch
    commits), so no claim is written for them. A worker that dies first leaves them to the
    execution sweeper once the lease expires, like any claimed execution.
    """
    if inline <= 0:
        return
    now = timezone.now()
    lease = now + lease_duration()
    for execution in executions:
        if execution.status != ExecutionStatus.PENDING:
            continue
        if not compiled_rule(execution.rule).inline_safe:
            continue
        execution.status = ExecutionStatus.RUNNING
        execution.lease_until = lease
        execution.started_at = now
        inline -= 1
        if inline == 0:
            return


def _with_definitions(rules: list[Rule], workspace: Workspace) -> list[Rule]:
    """Give the rules their workspace, and their definitions where not compiled yet.

    The definitions missing from this process's compiled-rule cache come in one query, not
    one per rule, each with its version: a rule saved between the two reads runs as saved,
    its definition never compiled under another version's number; one deleted in between is
    left out. Rules keep the model's order (name, id).
    """
    missing = [rule for rule in rules if not is_compiled(rule.pk, rule.version)]
    if missing:
        definitions = {
            pk: (version, definition)
            for pk, version, definition in Rule.objects.filter(
                pk__in=[rule.pk for rule in missing]
            ).values_list("pk", "version", "definition")
        }
        gone = set()
        for rule in missing:
            if rule.pk in definitions:
                rule.version, rule.definition = definitions[rule.pk]
            else:
                gone.add(rule.pk)
        rules = [rule for rule in rules if rule.pk not in gone]
    for rule in rules:
        rule.workspace = workspace
    rules.sort(key=lambda rule: (rule.name, rule.pk))
    return rules


def _insert_new(rows: list[tuple[_Matched, _NewExecution]]) -> None:
    """Insert the executions, skipping any (event, rule) pair that exists.

    One ``INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT DO NOTHING
    RETURNING id, rule_id, event_id`` (the unique constraint on (event, rule) makes a repeated
    dispatch create nothing), so the new rows are known without reading them back, and a batch
    of events that rules match costs one short statement rather than the ORM compiling a
    multi-row insert. The statement is prepared once per connection and bound on the server
    (``catalog.sql``). The new ones get their primary key; the others keep None.
    """
    if not rows:
        return
    created = timezone.now()
    values = [match.values(new, created) for match, new in rows]
    if connection.vendor == "postgresql":
        columns = [_column(model_field, values) for model_field in _execution_fields()]
        # A column with one value for every row goes as that value, not as an array of it.
        varying = tuple(
            field.name == "rule" or any(value != column[0] for value in column)
            for field, column in zip(_execution_fields(), columns, strict=True)
        )
        # In the statement's order: the single values (its SELECT list), then the arrays.
        params = [column[0] for column, varies in zip(columns, varying, strict=True) if not varies]
        params += [column for column, varies in zip(columns, varying, strict=True) if varies]
        inserted = execute_prepared(_insert_sql(varying), params)
    else:  # the SQLite demo: the ORM's multi-row insert
        inserted = (
            Execution.objects._insert(  # type: ignore[attr-defined]
                [Execution(**row) for row in values],
                fields=list(_execution_fields()),
                returning_fields=[
                    Execution._meta.pk,
                    Execution._meta.get_field("rule"),
                    Execution._meta.get_field("event"),
                ],
                using=connection.alias,
                on_conflict=OnConflict.IGNORE,
            )
            or []
        )
    new_pks = {(rule_id, str(event_id)): pk for pk, rule_id, event_id in inserted}
    for match, new in rows:
        new.pk = new_pks.get((new.rule.pk, str(match.event.pk)))
        new.created_at = created


def _column(model_field: models.Field[Any, Any], rows: list[dict[str, Any]]) -> list[Any]:
    """The database values of one field for every row, each distinct value prepared once.

    Most columns hold one value for the whole batch (its workspace, a status, the moment) or
    for each event, so the field's preparation runs a few times rather than once per row. A
    field the rows leave out takes its default.
    """
    name = model_field.attname
    if name not in rows[0]:
        return [model_field.get_db_prep_save(model_field.get_default(), connection)] * len(rows)
    prepared: dict[Any, Any] = {}
    column = []
    for row in rows:
        value = row[name]
        try:
            column.append(prepared[value])
        except KeyError:
            column.append(
                prepared.setdefault(value, model_field.get_db_prep_save(value, connection))
            )
        except TypeError:  # an unhashable value: prepared on its own
            column.append(model_field.get_db_prep_save(value, connection))
    return column


@cache
def _execution_fields() -> tuple[models.Field[Any, Any], ...]:
    meta = Execution._meta
    return tuple(f for f in meta.concrete_fields if not f.generated and not f.primary_key)


@cache
def _insert_sql(varying: tuple[bool, ...]) -> str:
    """The insert, given which columns come as arrays (one per row) and which as one value.

    The rule's column always varies (one execution per rule and event), so ``unnest`` has an
    array to count the rows by. A handful of shapes occur; each is prepared once per connection.
    """
    fields = _execution_fields()
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(f.column)) for f in fields)
    arrays = [f"%s::{cast_type(f)}[]" for f, varies in zip(fields, varying, strict=True) if varies]
    aliases = iter(range(len(arrays)))
    values = ", ".join(
        f"u.c{next(aliases)}" if varies else f"%s::{cast_type(f)}"
        for f, varies in zip(fields, varying, strict=True)
    )
    by_name = {f.name: f for f in Execution._meta.concrete_fields}
    returned = ", ".join(quote(str(by_name[name].column)) for name in ("id", "rule", "event"))
    columns = ", ".join(f"c{index}" for index in range(len(arrays)))
    return (
        f"INSERT INTO {quote(Execution._meta.db_table)} ({names}) SELECT {values}"
        f" FROM unnest({', '.join(arrays)}) AS u({columns})"
        f" ON CONFLICT DO NOTHING RETURNING {returned}"
    )


def dispatch_and_run(event_id: uuid.UUID | str) -> DispatchResult:
    """Dispatch one event, then run at once the new executions dispatch left to this worker.

    At most ``TYPEWIRE_INLINE_RUNS`` per event (default 4; 0 publishes every execution); the
    rest, and every rule with an HTTP, mail or chained-rule step, go through the rules queue.
    An inline run is an ordinary :func:`~automations.engine.run.run_execution` of an execution
    dispatch inserted claimed: while its lease holds, a duplicate (the sweeper, a redelivery)
    cannot claim it and does nothing.
    """
    (result,) = dispatch_and_run_many([event_id])
    return result


def dispatch_and_run_many(event_ids: Sequence[uuid.UUID | str]) -> list[DispatchResult]:
    """``dispatch_and_run`` for a batch: one dispatch transaction, then the inline runs."""
    inline = int(getattr(settings, "TYPEWIRE_INLINE_RUNS", 4))
    results = dispatch_events(event_ids, inline=inline)
    for result in results:
        for execution in result.inline:
            try:
                run_execution(execution.pk, prepared=execution)
            except Exception:
                # Its lease expires and the execution sweeper enqueues it again.
                logger.exception("execution %s failed to run inline", execution.pk)
    return results
