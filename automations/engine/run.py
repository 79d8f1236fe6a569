"""Running one execution: claim it, run each step once, retry, wait, chain, dead-letter, alert.

:func:`run_execution` is safe to call any number of times for the same execution, from any
number of workers:

- a conditional update *claims* the execution with a lease (pending, a due waiting one, or a
  running one whose lease expired); the lease value fences every later write, so a worker that
  lost its lease changes nothing;
- each step has a :class:`StepRun` keyed by (execution, path) and an idempotency key
  ``<execution id>:<path>``; a step that succeeded is never run again (its output is reused);
- an internal action's effect and its :class:`AppliedEffect` row commit in one transaction, so
  a step retried or redelivered after its effect was applied reuses the recorded output;
- waits and retries are due times in the database (``resume_at``), resumed by the sweeper,
  never Celery countdowns;
- a dead-lettered execution may trip its rule's circuit breaker, which pauses the rule
  (``automations.engine.limits``) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import DateTimeField, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from automations.draft import BindingKind, Step
from automations.engine.alerts import AlertReason, send_alert
from automations.engine.contract import (
    HttpExchange,
    PermanentError,
    RetryableError,
    StepContext,
    StepError,
)
from automations.engine.limits import admit, check_breaker
from automations.engine.prepared import (
    StepSuccess,
    chain_events,
    insert_step_run,
    write_success,
)
from automations.engine.scope import CompiledRule, RuleBroken, compiled_for
from automations.models import (
    AppliedEffect,
    Attempt,
    AttemptOutcome,
    Execution,
    ExecutionStatus,
    Rule,
    StepRun,
    StepStatus,
)
from automations.services import declared_fields_for
from automations.templating import MISSING, TemplateSyntaxError, parse
from catalog.domain.services import DomainError
from catalog.events import Causation
from catalog.models import Event
from catalog.registry import registry
from catalog.specs import ActionSpec
from catalog.types import DatetimeType, DurationType, ValidationError

logger = logging.getLogger(__name__)

BODY_CAP = 4096
WORKFLOW_STEPS = frozenset({"branch_by_condition", "wait", "run_rule"})
# How soon a parent whose chained rule is still busy elsewhere looks again.
CHILD_POLL = dt.timedelta(seconds=5)


# ---------------------------------------------------------------------------------------------
# Settings and backoff


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def lease_duration() -> dt.timedelta:
    """How long a claimed execution stays with its worker (``TYPEWIRE_EXECUTION_LEASE_SECONDS``)."""
    return dt.timedelta(seconds=_setting("TYPEWIRE_EXECUTION_LEASE_SECONDS", 300))


def max_attempts(spec: ActionSpec) -> int:
    """Return how many times a step of ``spec`` is tried before it is dead-lettered.

    ``TYPEWIRE_MAX_ATTEMPTS`` (default 5); an action declaring a lower ``max_attempts`` gets
    that.
    """
    limit = int(_setting("TYPEWIRE_MAX_ATTEMPTS", 5))
    own = getattr(spec, "max_attempts", None)
    if isinstance(own, int) and own > 0:
        limit = min(limit, own)
    return max(limit, 1)


def backoff(attempt: int, retry_after: float | None = None) -> dt.timedelta:
    """Return the delay before the try after ``attempt`` (1-based): exponential, full jitter.

    A random delay between 0 and ``base * 2 ** (attempt - 1)`` seconds, capped at
    ``TYPEWIRE_RETRY_CAP_SECONDS``; never shorter than a server's ``retry_after``.
    """
    base = _setting("TYPEWIRE_RETRY_BASE_SECONDS", 2.0)
    cap = _setting("TYPEWIRE_RETRY_CAP_SECONDS", 3600.0)
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    seconds = random.uniform(0, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None and retry_after > seconds:
        seconds = retry_after
    return dt.timedelta(seconds=seconds)


def _cap(text: str) -> str:
    raw = text.encode()
    if len(raw) <= BODY_CAP:
        return text
    return raw[:BODY_CAP].decode("utf-8", errors="ignore") + f"... [{len(raw)} bytes in all]"


# ---------------------------------------------------------------------------------------------
# Claiming


def claim(execution_id: int, now: dt.datetime | None = None) -> dt.datetime | None:
    """Claim an execution for this worker; return the lease (the fencing token) or None.

    Claimable: pending, waiting and due, or running with an expired lease (its worker died).
    """
    moment = now or timezone.now()
    lease = moment + lease_duration()
    claimable = (
        Q(status=ExecutionStatus.PENDING)
        | Q(status=ExecutionStatus.WAITING, resume_at__lte=moment)
        | Q(status=ExecutionStatus.RUNNING, lease_until__lt=moment)
    )
    updated = Execution.objects.filter(claimable, pk=execution_id).update(
        status=ExecutionStatus.RUNNING,
        lease_until=lease,
        resume_at=None,
        started_at=Coalesce("started_at", Value(moment, output_field=DateTimeField())),
    )
    return lease if updated == 1 else None


class LeaseLost(Exception):
    """Another worker took the execution over (this worker's lease expired)."""


# ---------------------------------------------------------------------------------------------
# Inputs


class InputError(Exception):
    """A step's inputs cannot be resolved or do not fit the action (never worth retrying)."""


def resolve_inputs(step: Step, resolve: Any) -> dict[str, Any]:
    """Return the step's inputs with literals, references (and defaults) and templates resolved.

    A reference to nothing (absent or null) without a default is left out: the action's own
    validation then says whether the input was required. Raises InputError for a bad template.
    """
    values: dict[str, Any] = {}
    for name, binding in step.inputs.items():
        if binding.kind is BindingKind.LITERAL:
            values[name] = binding.value
        elif binding.kind is BindingKind.TEMPLATE:
            try:
                values[name] = parse(str(binding.value)).render(resolve)
            except TemplateSyntaxError as exc:
                raise InputError(f"{name}: {exc.message}") from exc
        else:
            value = resolve(str(binding.value))
            if value is MISSING or value is None:
                if binding.has_default:
                    values[name] = binding.default
            else:
                values[name] = value
    return values


def validated_inputs(spec: ActionSpec, step: Step, resolve: Any) -> dict[str, Any]:
    """Return the step's resolved inputs validated by the action; raise InputError otherwise."""
    values = resolve_inputs(step, resolve)
    try:
        return dict(spec.validate_inputs({k: v for k, v in values.items() if v is not None}))
    except ValidationError as exc:
        raise InputError(f"The inputs do not fit '{spec.label}': {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True, slots=True)
class _Stop:
    """The walk stops here: the execution is now in ``status``."""

    status: str


def run_execution(execution_id: int, *, prepared: Execution | None = None) -> str | None:
    """Run (or resume) one execution as far as it goes; return its new status.

    Returns None when the execution could not be claimed (finished, not due, or held by a live
    worker): the call then did nothing. See the module docstring for the guarantees.

    ``prepared``: the execution as dispatch just inserted it, already claimed for this worker
    (running, with its lease in ``lease_until``), its rule, workspace and event attached;
    neither it nor its step runs (there are none) are read back.
    """
    lease: dt.datetime | None
    if prepared is not None:
        lease = prepared.lease_until
        if prepared.status != ExecutionStatus.RUNNING or lease is None:
            raise ValueError(f"execution {execution_id} was not inserted claimed")
        execution = prepared
    else:
        lease = claim(execution_id)
        if lease is None:
            return None
        related = ("rule", "rule__workspace", "rule__owner", "event", "workspace")
        execution = Execution.objects.select_related(*related).get(pk=execution_id)
    try:
        return _ExecutionRun(execution, lease, untouched=prepared is not None).run()
    except LeaseLost:
        logger.warning("execution %s: lease lost, another worker carries on", execution_id)
        return None


class _ExecutionRun:
    """One claimed run of an execution: walks the steps, keeping the outputs seen so far."""

    def __init__(
        self, execution: Execution, lease: dt.datetime, *, untouched: bool = False
    ) -> None:
        self.execution = execution
        self.lease = lease
        self.event: Event = execution.event
        self.rule: Rule = execution.rule
        # Untouched (never claimed before this lease): no step run exists, and none but the
        # ones this run creates can appear while it holds the lease.
        self.untouched = untouched
        self.step_runs: dict[str, StepRun] = (
            {} if untouched else {s.path: s for s in execution.steps.all()}
        )
        self.causation = Causation.from_event(self.event, execution_id=execution.pk)
        self.compiled: CompiledRule | None = None
        self.final_path: str | None = None

    # -- the walk ------------------------------------------------------------------------------

    def run(self) -> str:
        try:
            self.compiled = compiled_for(self.execution)
        except RuleBroken as exc:
            return self._dead(None, str(exc), AlertReason.DEAD)
        fresh = not self.step_runs
        if fresh:
            loop = self._loop_reason()
            if loop:
                return self._dead(None, loop, AlertReason.LOOP, status=ExecutionStatus.LOOP)
        try:
            payload = self._payload()
        except PermanentError as exc:
            return self._dead(None, exc.detail, AlertReason.DEAD)
        self.resolver = self.compiled.resolver(payload, self.execution.workspace_id)
        # A chained rule runs "as if its trigger had fired": its conditions apply.
        chained = fresh and self.execution.parent_id is not None
        if chained and not self.compiled.conditions.matches(self.resolver.resolve):
            return self._succeed("The chained rule's conditions do not hold.")
        self.final_path = self._final_step_path()
        stop = self._steps(self.compiled.draft.steps, "steps")
        if stop is not None:
            return stop.status
        if self.execution.status == ExecutionStatus.SUCCEEDED:  # settled with its last step
            return ExecutionStatus.SUCCEEDED
        return self._succeed()

    def _final_step_path(self) -> str | None:
        """The path of the step after which nothing is left to run, when known before the walk.

        The last top-level step, unless it branches, waits or chains (what follows those is
        decided as they run). Its success settles the execution in the same write.
        """
        assert self.compiled is not None
        steps = self.compiled.draft.steps
        if not steps or steps[-1].action in WORKFLOW_STEPS:
            return None
        return f"steps[{len(steps) - 1}]"

    def _steps(self, steps: Sequence[Step], prefix: str) -> _Stop | None:
        for index, step in enumerate(steps):
            stop = self._step(step, f"{prefix}[{index}]")
            if stop is not None:
                return stop
        return None

    def _step(self, step: Step, path: str) -> _Stop | None:
        step_run = self._step_run(step, path)
        if step_run.status == StepStatus.SUCCEEDED:
            self.resolver.set_outputs(step.id, step_run.output)
            if step.action == "branch_by_condition":
                taken = step_run.output.get("branch")
                arm = step.then if taken == "then" else step.otherwise
                return self._steps(arm, f"{path}.{'then' if taken == 'then' else 'else'}")
            return None
        if step_run.status == StepStatus.SKIPPED:
            return None
        self._renew_lease()
        if step.action == "branch_by_condition":
            return self._branch(step, path, step_run)
        if step.action == "wait":
            return self._wait(step, step_run)
        if step.action == "run_rule":
            return self._run_rule(step, path, step_run)
        return self._action(step, step_run)

    def _step_run(self, step: Step, path: str) -> StepRun:
        found = self.step_runs.get(path)
        if found is None and self.untouched:
            # Not stored yet: its first write inserts it (``_save``), with the state it then has.
            found = StepRun(
                execution=self.execution,
                path=path,
                step_id=step.id,
                action=step.action,
                idempotency_key=f"{self.execution.pk}:{path}",
            )
            self.step_runs[path] = found
        elif found is None:
            found, _ = StepRun.objects.get_or_create(
                execution=self.execution,
                path=path,
                defaults={
                    "step_id": step.id,
                    "action": step.action,
                    "idempotency_key": f"{self.execution.pk}:{path}",
                },
            )
            self.step_runs[path] = found
        return found

    # -- workflow steps ------------------------------------------------------------------------

    def _branch(self, step: Step, path: str, step_run: StepRun) -> _Stop | None:
        assert self.compiled is not None
        condition = self.compiled.branches.get(path)
        if condition is None:
            return self._fail(step_run, f"Step {path} has no condition to branch on.")
        taken = "then" if condition.matches(self.resolver.resolve) else "else"
        now = timezone.now()
        self._save(
            step_run,
            status=StepStatus.SUCCEEDED,
            output={"branch": taken},
            started_at=step_run.started_at or now,
            finished_at=now,
        )
        self.resolver.set_outputs(step.id, step_run.output)
        return self._steps(step.then if taken == "then" else step.otherwise, f"{path}.{taken}")

    def _wait(self, step: Step, step_run: StepRun) -> _Stop | None:
        now = timezone.now()
        if step_run.status == StepStatus.WAITING and step_run.next_attempt_at is not None:
            due = step_run.next_attempt_at
        else:
            try:
                inputs = validated_inputs(registry.get_action("wait"), step, self.resolver.resolve)
            except InputError as exc:
                return self._fail(step_run, str(exc))
            if inputs.get("until"):
                due = DatetimeType().to_python(inputs["until"])
            else:
                due = now + DurationType().to_python(inputs["duration"])
            self._save(
                step_run,
                status=StepStatus.WAITING,
                inputs=inputs,
                next_attempt_at=due,
                started_at=now,
            )
        if due > now:
            self._settle(ExecutionStatus.WAITING, resume_at=due)
            return _Stop(ExecutionStatus.WAITING)
        self._save(step_run, status=StepStatus.SUCCEEDED, finished_at=now, next_attempt_at=None)
        return None

    def _run_rule(self, step: Step, path: str, step_run: StepRun) -> _Stop | None:
        try:
            inputs = validated_inputs(registry.get_action("run_rule"), step, self.resolver.resolve)
        except InputError as exc:
            return self._fail(step_run, str(exc))
        target = Rule.objects.filter(
            pk=inputs["rule_id"], workspace_id=self.execution.workspace_id
        ).first()
        if target is None:
            return self._fail(
                step_run,
                f"There is no rule #{inputs['rule_id']} in this workspace (was it deleted?).",
            )
        now = timezone.now()
        if step_run.status != StepStatus.WAITING:
            self._save(
                step_run, status=StepStatus.RUNNING, inputs=inputs, started_at=now, attempts=1
            )
        child = Execution.objects.filter(parent=self.execution, parent_step=path).first()
        if child is None:
            refusal = chain_refusal(target)
            if refusal:
                return self._fail(step_run, refusal)
            child = self._start_child(target, path, now)
        # Inline, on this worker: the chained rule is part of this step.
        run_execution(child.pk)
        child.refresh_from_db()
        if child.status == ExecutionStatus.SUCCEEDED:
            self._save(
                step_run,
                status=StepStatus.SUCCEEDED,
                output={"execution_id": child.pk},
                finished_at=timezone.now(),
                next_attempt_at=None,
            )
            self.resolver.set_outputs(step.id, step_run.output)
            return None
        if child.status in (ExecutionStatus.DEAD, ExecutionStatus.LOOP):
            return self._fail(
                step_run, f"The chained rule '{target.name}' (execution {child.pk}): {child.error}"
            )
        # Still waiting (or busy on another worker): look again when it is due.
        due = child.resume_at or (timezone.now() + CHILD_POLL)
        self._save(step_run, status=StepStatus.WAITING, next_attempt_at=due)
        self._settle(ExecutionStatus.WAITING, resume_at=due)
        return _Stop(ExecutionStatus.WAITING)

    def _start_child(self, target: Rule, path: str, now: dt.datetime) -> Execution:
        """Create the chained rule's execution, admitted like any of that rule's executions.

        It counts against the target rule's rate cap: over the cap it is created held (the
        parent waits), and the sweeper releases it when a later minute has room.
        """
        with transaction.atomic():
            status = admit([target], now=now)[target.pk]
            child, _ = Execution.objects.get_or_create(
                parent=self.execution,
                parent_step=path,
                defaults={
                    "workspace_id": self.execution.workspace_id,
                    "rule": target,
                    "rule_version": target.version,
                    "event": self.event,
                    "status": status,
                    "admitted_at": now if status == ExecutionStatus.PENDING else None,
                },
            )
        return child

    # -- actions -------------------------------------------------------------------------------

    def _action(self, step: Step, step_run: StepRun) -> _Stop | None:
        if not registry.has_action(step.action):
            return self._fail(step_run, f"There is no action called '{step.action}'.")
        spec = registry.get_action(step.action)
        self._note_lost_attempt(step_run)
        now = timezone.now()
        number = step_run.attempts + 1
        try:
            inputs = validated_inputs(spec, step, self.resolver.resolve)
        except InputError as exc:
            self._save(step_run, attempts=number, started_at=step_run.started_at or now)
            self._attempt(step_run, number, now, AttemptOutcome.FAILED, str(exc)).save()
            return self._fail(step_run, str(exc))
        # Stored running before the try (inserted so on a first run), so that a worker dying
        # during it leaves a try to count and log (``_note_lost_attempt``).
        first_try = step_run._state.adding
        self._save(
            step_run,
            status=StepStatus.RUNNING,
            attempts=number,
            inputs=inputs,
            started_at=step_run.started_at or now,
            next_attempt_at=None,
        )
        ctx = StepContext(
            workspace=self.execution.workspace,
            execution_id=self.execution.pk,
            rule_id=self.rule.pk,
            step_path=step_run.path,
            idempotency_key=step_run.idempotency_key,
            attempt=number,
            inputs=dict(inputs),
            causation=self.causation,
        )
        started = timezone.now()

        def succeeded(output: dict[str, Any], effect_key: str | None) -> None:
            # In the effect's transaction for an internal action: they commit together, with
            # the execution's success when nothing follows (a lost lease rolls all back).
            finished = timezone.now()
            outcome = AttemptOutcome.SUCCEEDED
            success = StepSuccess(
                step_run=step_run,
                output=output,
                attempt=self._attempt(step_run, number, started, outcome, "", None, ctx),
                finished_at=finished,
                effect_key=effect_key,
                settle=self.lease if step_run.path == self.final_path else None,
            )
            if not write_success(success, self.execution):
                raise LeaseLost(self.execution.pk)

        try:
            output = call_runner(spec, ctx, first_try=first_try, record=succeeded)
        except LeaseLost:
            raise
        except Exception as exc:
            return self._failed_try(spec, step_run, number, started, exc, ctx)
        self.resolver.set_outputs(step.id, output)
        return None

    def _failed_try(
        self,
        spec: ActionSpec,
        step_run: StepRun,
        number: int,
        started: dt.datetime,
        exc: Exception,
        ctx: StepContext,
    ) -> _Stop | None:
        if isinstance(exc, RetryableError):
            return self._retry(spec, step_run, number, started, exc, ctx)
        if isinstance(exc, PermanentError):
            return self._permanent(step_run, number, started, exc, ctx)
        if isinstance(exc, (ValidationError, DomainError, ObjectDoesNotExist, ImportError)):
            return self._permanent(step_run, number, started, PermanentError(str(exc)), ctx)
        # A database hiccup, a bug: worth another try, then dead.
        logger.error(
            "step %s of execution %s raised",
            step_run.path,
            self.execution.pk,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        error = RetryableError(f"{type(exc).__name__}: {exc}")
        return self._retry(spec, step_run, number, started, error, ctx)

    def _note_lost_attempt(self, step_run: StepRun) -> None:
        """Log the try a dead worker left unfinished (a running step with no attempt row)."""
        if step_run.status != StepStatus.RUNNING or step_run.attempts == 0:
            return
        if step_run.attempt_log.filter(number=step_run.attempts).exists():
            return
        now = timezone.now()
        Attempt.objects.create(
            step_run=step_run,
            number=step_run.attempts,
            started_at=step_run.started_at or now,
            finished_at=now,
            outcome=AttemptOutcome.RETRYABLE,
            error="The worker stopped during this attempt (its lease expired); tried again.",
        )

    def _retry(
        self,
        spec: ActionSpec,
        step_run: StepRun,
        number: int,
        started: dt.datetime,
        exc: RetryableError,
        ctx: StepContext,
    ) -> _Stop | None:
        limit = max_attempts(spec)
        # Attempts of this round: a replay starts a new round (it resets started_at).
        tried = step_run.attempt_log.filter(started_at__gte=step_run.started_at).count() + 1
        if tried >= limit:
            detail = f"{exc.detail} (gave up after {tried} attempts)"
            self._attempt(step_run, number, started, AttemptOutcome.FAILED, detail, exc, ctx).save()
            return self._fail(step_run, detail)
        finished = timezone.now()
        due = finished + backoff(tried, exc.retry_after)
        self._attempt(
            step_run, number, started, AttemptOutcome.RETRYABLE, exc.detail, exc, ctx, due, finished
        ).save()
        self._save(step_run, status=StepStatus.RETRYING, next_attempt_at=due, error=exc.detail)
        self._settle(ExecutionStatus.WAITING, resume_at=due)
        return _Stop(ExecutionStatus.WAITING)

    def _permanent(
        self,
        step_run: StepRun,
        number: int,
        started: dt.datetime,
        exc: PermanentError,
        ctx: StepContext,
    ) -> _Stop:
        outcome = AttemptOutcome.FAILED
        self._attempt(step_run, number, started, outcome, exc.detail, exc, ctx).save()
        if exc.disable_target:
            self._save(step_run, output={"target_disabled": True})
        return self._fail(step_run, exc.detail)

    def _attempt(
        self,
        step_run: StepRun,
        number: int,
        started: dt.datetime,
        outcome: AttemptOutcome,
        error: str,
        exc: StepError | None = None,
        ctx: StepContext | None = None,
        next_attempt_at: dt.datetime | None = None,
        finished: dt.datetime | None = None,
    ) -> Attempt:
        """The attempt row of one try, not stored yet."""
        exchange: HttpExchange | None = exc.exchange if exc is not None else None
        if exchange is None and ctx is not None and ctx.exchanges:
            exchange = ctx.exchanges[-1]
        finished = finished or timezone.now()
        attempt = Attempt(
            step_run=step_run,
            number=number,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            error=error,
            next_attempt_at=next_attempt_at,
            duration_ms=round((finished - started).total_seconds() * 1000),
        )
        if exchange is not None:
            attempt.http_method = exchange.method[:10]
            attempt.http_url = exchange.url[:2000]
            attempt.request_headers = dict(exchange.request_headers)
            attempt.request_body = _cap(exchange.request_body)
            attempt.response_status = exchange.status
            attempt.response_body = _cap(exchange.response_body)
            attempt.duration_ms = exchange.duration_ms or attempt.duration_ms
        return attempt

    # -- settling ------------------------------------------------------------------------------

    def _save(self, step_run: StepRun, **changes: Any) -> None:
        """Apply ``changes`` to the step run and store them (inserting it if not stored yet)."""
        for name, value in changes.items():
            setattr(step_run, name, value)
        if step_run._state.adding:
            insert_step_run(step_run)
        else:
            step_run.save(update_fields=list(changes))

    def _fenced(self) -> Any:
        return Execution.objects.filter(
            pk=self.execution.pk, status=ExecutionStatus.RUNNING, lease_until=self.lease
        )

    def _renew_lease(self) -> None:
        """Extend the lease before a step, unless less than a tenth of it has gone by.

        A lease this young is far from expiring, so no other worker can hold the execution and
        the write would only move the deadline by milliseconds; every write that settles the
        execution is fenced by the lease anyway (``_settle``).
        """
        now = timezone.now()
        duration = lease_duration()
        if self.lease - now > duration * 0.9:
            return
        lease = now + duration
        if not self._fenced().update(lease_until=lease):
            raise LeaseLost(self.execution.pk)
        self.lease = lease

    def _settle(self, status: str, **changes: Any) -> None:
        """Move the execution out of running (fenced by the lease); raise LeaseLost if taken."""
        if status != ExecutionStatus.RUNNING:
            changes["lease_until"] = None
        if not self._fenced().update(status=status, **changes):
            raise LeaseLost(self.execution.pk)
        self.execution.status = status
        for name, value in changes.items():
            setattr(self.execution, name, value)

    def _succeed(self, note: str = "") -> str:
        self._settle(ExecutionStatus.SUCCEEDED, finished_at=timezone.now(), error=note)
        return ExecutionStatus.SUCCEEDED

    def _fail(self, step_run: StepRun, detail: str) -> _Stop:
        self._save(
            step_run,
            status=StepStatus.FAILED,
            error=detail,
            finished_at=timezone.now(),
            next_attempt_at=None,
        )
        message = f"Step {step_run.path} ({step_run.action}) failed: {detail}"
        return _Stop(self._dead(step_run, message, AlertReason.DEAD))

    def _dead(
        self,
        step_run: StepRun | None,
        message: str,
        reason: AlertReason,
        *,
        status: str = ExecutionStatus.DEAD,
    ) -> str:
        with transaction.atomic():
            self._settle(status, error=message, finished_at=timezone.now())
            send_alert(self.execution, reason, step_run=step_run)
            if status == ExecutionStatus.DEAD:
                check_breaker(self.execution)
        return status

    # -- payload and loops -----------------------------------------------------------------------

    def _payload(self) -> Mapping[str, Any]:
        """The event's payload, or for a chained rule the payload its parent step passed."""
        if self.execution.parent_id is None:
            payload: Mapping[str, Any] = self.event.payload
            return payload
        parent_step = StepRun.objects.filter(
            execution_id=self.execution.parent_id, path=self.execution.parent_step
        ).first()
        data = parent_step.inputs.get("payload", {}) if parent_step is not None else {}
        assert self.compiled is not None
        declared = declared_fields_for(self.execution.workspace, self.compiled.draft)
        try:
            return self.compiled.trigger.validate_payload(data, declared or None)
        except ValidationError as exc:
            raise PermanentError(
                f"The data passed to rule '{self.rule.name}' does not fit its trigger "
                f"'{self.compiled.trigger.label}': {exc}"
            ) from exc

    def _loop_reason(self) -> str:
        """Return why this execution would continue a loop (empty when it would not)."""
        limit = int(_setting("TYPEWIRE_MAX_CHAIN_DEPTH", 10))
        if self.execution.parent_id is not None:
            return self._chained_loop_reason(limit)
        event = self.event
        root = event.root_event_id or event.id
        if event.depth >= limit:
            return (
                f"Stopped as a loop: the chain of rules started by event {root} reached depth "
                f"{event.depth} (the limit is {limit}): {self._chain_words()}."
            )
        # The chain's events first (event_root_idx and the primary key), then, only if there
        # are any, this rule's executions of them (execution_unique_event_rule): a few index
        # probes, however many executions the rule has. Two statements on purpose: as one (a
        # subquery or a join), PostgreSQL may walk every execution of the rule instead.
        chain = chain_events(root, but=event.pk)
        again = bool(chain) and (
            Execution.objects.filter(
                workspace_id=self.execution.workspace_id,
                rule_id=self.rule.pk,
                parent__isnull=True,
                event_id__in=chain,
            ).exists()
        )
        if again:
            return (
                f"Stopped as a loop: rule '{self.rule.name}' already ran for event {root}, which "
                f"started this chain: {self._chain_words()}."
            )
        return ""

    def _chained_loop_reason(self, limit: int) -> str:
        names = [self.rule.name]
        rule_ids = {self.rule.pk}
        parent = self.execution.parent
        while parent is not None:
            names.append(parent.rule.name)
            if parent.rule_id in rule_ids or len(names) > limit:
                chain = " → ".join(f"'{n}'" for n in reversed(names))
                return f"Stopped as a loop: rules run each other through run_rule: {chain}."
            rule_ids.add(parent.rule_id)
            parent = parent.parent
        return ""

    def _chain_words(self) -> str:
        """``'A' → 'B' → 'A'``: the rules that led to this execution, root first."""
        names = [self.rule.name]
        event_id: uuid.UUID | None = self.event.pk
        limit = int(_setting("TYPEWIRE_MAX_CHAIN_DEPTH", 10)) + 2
        while event_id is not None and len(names) <= limit:
            cause = Event.objects.filter(pk=event_id).values_list(
                "causation_execution_id", flat=True
            )
            execution_id = cause.first()
            if execution_id is None:
                break
            earlier = Execution.objects.select_related("rule").filter(pk=execution_id).first()
            if earlier is None:
                break
            names.append(earlier.rule.name)
            event_id = earlier.event_id
        return " → ".join(f"'{n}'" for n in reversed(names))


def chain_refusal(target: Rule) -> str:
    """Return why ``run_rule`` may not start ``target`` (switched off or paused), or "".

    A rule switched off or paused by a person or by Typewire runs for nobody, chains included.
    """
    if not target.is_enabled:
        why = f" ({target.disabled_reason})" if target.disabled_reason else ""
        return f"The rule '{target.name}' (#{target.pk}) is switched off{why}: it was not run."
    if target.is_paused:
        why = f" {target.paused_reason}" if target.paused_reason else ""
        return f"The rule '{target.name}' (#{target.pk}) is paused: it was not run.{why}"
    return ""


def call_runner(
    spec: ActionSpec,
    ctx: StepContext,
    *,
    first_try: bool = False,
    record: Callable[[dict[str, Any], str | None], None],
) -> dict[str, Any]:
    """Run the action's runner once and return its validated outputs.

    An internal action runs in one transaction with ``record(outputs, key)`` (the step's
    success), which stores the :class:`AppliedEffect` under ``key`` with it: when the step's key
    is already there, the effect is not applied again, the recorded outputs are used and
    ``key`` is None. An HTTP action is called outside any transaction (it sends the key
    itself), then ``record(outputs, None)`` is called.
    ``first_try``: this try inserted the step run, so no effect can be recorded under its key
    yet and the lookup is skipped (the row's primary key still refuses a second one).
    """
    runner = spec.load_runner()
    if spec.is_http:
        output = dict(spec.validate_outputs(runner(ctx) or {}))
        record(output, None)
        return output
    with transaction.atomic():
        applied = None
        if not first_try:
            applied = AppliedEffect.objects.filter(pk=ctx.idempotency_key).first()
        if applied is not None:
            output, key = dict(applied.output), None
        else:
            output, key = dict(spec.validate_outputs(runner(ctx) or {})), ctx.idempotency_key
        record(output, key)
        return output
