"""The contract between the engine and action runners (no database access here).

A runner is a plain function ``runner(ctx: StepContext) -> dict`` named by dotted path in the
action's ``ActionSpec.runner``. It receives the step's inputs resolved and validated against the
action's declared inputs, performs the effect, and returns the action's outputs (validated by the
engine against ``ActionSpec.outputs``). It signals failure by raising:

- :class:`RetryableError`: try again later (timeouts, connection errors, 429, 5xx); an optional
  ``retry_after`` in seconds (from a ``Retry-After`` header) is honoured;
- :class:`PermanentError`: do not retry (other 4xx, validation, a refused SSRF target, a 3xx);
  ``disable_target`` asks the engine to stop sending to that target (a 410 from fire_webhook).

Idempotency: ``ctx.idempotency_key`` is stable across retries and redeliveries of the same step
(execution id + step path). HTTP runners send it as ``Idempotency-Key`` / ``webhook-id``.
Internal runners are called inside a transaction in which the engine records the key together
with the effect, so an effect already applied is never applied again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import Workspace
    from catalog.events import Causation


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """What an HTTP runner sent and got back, for the attempt log (secrets redacted)."""

    method: str
    url: str
    request_headers: Mapping[str, str] = field(default_factory=dict)
    request_body: str = ""
    status: int | None = None
    response_body: str = ""
    duration_ms: int = 0


@dataclass(slots=True)
class StepContext:
    """Everything a runner gets: the workspace, resolved inputs, and the step's identity."""

    workspace: Workspace
    execution_id: int
    rule_id: int
    step_path: str
    idempotency_key: str
    attempt: int
    inputs: dict[str, Any]
    causation: Causation
    # Runners that call HTTP append what they exchanged; the engine stores it on the attempt.
    exchanges: list[HttpExchange] = field(default_factory=list)


class StepError(Exception):
    """A step failed; ``detail`` is shown to the user in the execution log."""

    def __init__(self, detail: str, *, exchange: HttpExchange | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.exchange = exchange


class RetryableError(StepError):
    """A failure worth retrying later (timeout, connection error, 429, 5xx)."""

    def __init__(
        self,
        detail: str,
        *,
        retry_after: float | None = None,
        exchange: HttpExchange | None = None,
    ) -> None:
        super().__init__(detail, exchange=exchange)
        self.retry_after = retry_after


class PermanentError(StepError):
    """A failure that will not go away by retrying (4xx, a refused target, bad input)."""

    def __init__(
        self,
        detail: str,
        *,
        disable_target: bool = False,
        exchange: HttpExchange | None = None,
    ) -> None:
        super().__init__(detail, exchange=exchange)
        self.disable_target = disable_target


type Runner = Callable[[StepContext], dict[str, Any]]
