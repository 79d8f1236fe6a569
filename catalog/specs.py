"""Catalog declarations: TriggerSpec, ActionSpec and the FieldSpec they are built from (pure).

A spec is an immutable description of what can happen (trigger) or what can be done (action),
with typed payload, configuration, inputs and outputs. The UI, the API, the checker and the
engine all read the same spec. No Django import here.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from catalog.types import (
    FieldError,
    FieldSpec,
    JSONValue,
    ObjectType,
    ValidationError,
    fields,
    object_of,
)

__all__ = [
    "ActionKind",
    "ActionSpec",
    "Category",
    "FieldSpec",
    "PlanTier",
    "TriggerSpec",
    "fields",
]

_KEY_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class PlanTier(StrEnum):
    """Plan tiers, cheapest first; each includes everything of the ones before it (SPEC 6).

    The values match ``accounts.models.Plan`` (not imported: the catalog stays pure).
    """

    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    AGENCY = "agency"
    ENTERPRISE = "enterprise"

    @property
    def rank(self) -> int:
        """Position in the tier order (Free is 0)."""
        return list(PlanTier).index(self)

    def includes(self, required: str) -> bool:
        """Return whether a workspace on this plan may use a feature that needs ``required``."""
        return self.rank >= PlanTier(required).rank


class Category(StrEnum):
    """Groups for the catalog UI and API (SPEC 4 and 5)."""

    CUSTOMER = "customer"
    ORDER = "order"
    PRODUCT = "product"
    MARKETING = "marketing"
    CATALOG = "catalog"
    EXTERNAL = "external"
    TIME = "time"
    MONITORING = "monitoring"
    AI = "ai"
    WORKFLOW = "workflow"


class ActionKind(StrEnum):
    """``action`` runs a runner; ``workflow`` steps (wait, branch, run_rule) steer the engine."""

    ACTION = "action"
    WORKFLOW = "workflow"


def _check_key(kind: str, key: str) -> None:
    if not _KEY_RE.match(key):
        raise ValueError(f"{kind} key {key!r} must be snake_case (a-z, 0-9, _)")


def _check_declarations(owner: str, declared: Mapping[str, FieldSpec]) -> None:
    for name, spec in declared.items():
        if not _KEY_RE.match(name):
            raise ValueError(f"{owner}: field name {name!r} must be snake_case")
        if not isinstance(spec, FieldSpec):
            raise TypeError(f"{owner}.{name}: expected a FieldSpec, got {spec!r} (use fields())")


def _validate_object(
    object_type: ObjectType, value: object, exactly_one_of: tuple[tuple[str, ...], ...] = ()
) -> dict[str, JSONValue]:
    errors: list[FieldError] = []
    result = object_type.check(value, "", errors)
    if isinstance(value, Mapping):
        for group in exactly_one_of:
            given = [name for name in group if value.get(name) is not None]
            if len(given) != 1:
                errors.append(
                    FieldError(
                        group[0],
                        f"give exactly one of {', '.join(group)}"
                        + (f" (got {', '.join(given)})" if given else ""),
                    )
                )
    if errors:
        raise ValidationError(errors)
    assert isinstance(result, dict)
    return result


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """A catalog trigger: the "when" of a rule, with its typed payload and configuration.

    ``payload`` is what every event of this trigger carries; ``config`` is what a rule sets on
    the trigger (the N of a milestone, a cron and time zone, a tag filter).

    Triggers whose payload comes from elsewhere (``payload_from_endpoint``: declared per webhook
    endpoint; ``payload_from_config``: declared in the poll configuration) have a base payload
    here with a free-form object field named by ``declared_under`` (``body``, ``item``); the
    declared fields are merged into that object by :meth:`payload_type_with`. Such payloads
    also accept unknown top-level keys. Every other trigger rejects unknown top-level keys:
    internal events are produced by our own code, so an unknown key is a bug worth hearing about.
    """

    key: str
    category: Category
    label: str
    description: str
    payload: Mapping[str, FieldSpec]
    example: Mapping[str, JSONValue]
    config: Mapping[str, FieldSpec] = field(default_factory=dict)
    example_config: Mapping[str, JSONValue] = field(default_factory=dict)
    plan: PlanTier = PlanTier.FREE
    source: str = "Typewire"
    payload_from_endpoint: bool = False
    payload_from_config: bool = False
    declared_under: str = ""

    def __post_init__(self) -> None:
        _check_key("trigger", self.key)
        _check_declarations(f"trigger {self.key} payload", self.payload)
        _check_declarations(f"trigger {self.key} config", self.config)
        if self.payload_from_endpoint or self.payload_from_config:
            target = self.payload.get(self.declared_under)
            if target is None or not isinstance(target.type, ObjectType):
                raise ValueError(
                    f"trigger {self.key}: declared_under must name an object field of the payload"
                )

    def __hash__(self) -> int:
        return hash(("trigger", self.key))

    def __str__(self) -> str:
        return self.key

    @property
    def accepts_unknown_keys(self) -> bool:
        """Whether the payload may carry undeclared top-level keys (external payloads only)."""
        return self.payload_from_endpoint or self.payload_from_config

    @property
    def payload_type(self) -> ObjectType:
        """The payload as an object type (open when :attr:`accepts_unknown_keys`)."""
        return object_of(self.payload, is_open=self.accepts_unknown_keys)

    @property
    def config_type(self) -> ObjectType:
        """The configuration as a closed object type."""
        return object_of(self.config)

    def payload_type_with(self, declared: Mapping[str, FieldSpec]) -> ObjectType:
        """The payload type with fields declared elsewhere (an endpoint, a poll config) merged.

        The declared fields go into the ``declared_under`` object (``body``), which stays open.
        For triggers without external declarations this is :attr:`payload_type`.
        """
        if not self.declared_under:
            return self.payload_type
        container = self.payload[self.declared_under]
        assert isinstance(container.type, ObjectType)
        merged = FieldSpec(
            container.type.with_fields(declared),
            container.optional,
            container.label,
            container.description,
        )
        return object_of(
            {**self.payload, self.declared_under: merged}, is_open=self.accepts_unknown_keys
        )

    def validate_payload(
        self, value: object, declared: Mapping[str, FieldSpec] | None = None
    ) -> dict[str, JSONValue]:
        """Return the normalized payload; raise ValidationError naming every bad field.

        ``declared`` adds per-endpoint (or per-poll) fields for external triggers.
        """
        payload_type = self.payload_type_with(declared) if declared else self.payload_type
        return _validate_object(payload_type, value)

    def validate_config(self, value: object) -> dict[str, JSONValue]:
        """Return the normalized trigger configuration; raise ValidationError on any problem."""
        return _validate_object(self.config_type, value)


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A catalog action: the "then" of a rule, with typed inputs and outputs.

    ``runner`` is the dotted path of the callable that performs it, imported only by
    :meth:`load_runner` so that listing the catalog never imports HTTP clients. ``emits`` lists
    the trigger keys the action may cause (cycle detection). ``exactly_one_of`` groups inputs of
    which exactly one must be given (``to`` or ``customer_id``; ``duration`` or ``until``).
    ``max_attempts`` caps the engine's tries of one step (None: the installation's default).
    ``is_idempotent_setter`` declares that the action only sets its target's attributes to its
    value inputs (the inputs that are not references) and emits nothing when they already hold
    them: run twice with the same literal values, the second run changes and emits nothing, so
    cycle detection lets such a rule trigger itself (it converges).
    """

    key: str
    category: Category
    label: str
    description: str
    inputs: Mapping[str, FieldSpec]
    runner: str
    example_inputs: Mapping[str, JSONValue]
    outputs: Mapping[str, FieldSpec] = field(default_factory=dict)
    emits: tuple[str, ...] = ()
    plan: PlanTier = PlanTier.FREE
    has_side_effects: bool = True
    is_http: bool = False
    kind: ActionKind = ActionKind.ACTION
    exactly_one_of: tuple[tuple[str, ...], ...] = ()
    max_attempts: int | None = None
    is_idempotent_setter: bool = False

    def __post_init__(self) -> None:
        _check_key("action", self.key)
        _check_declarations(f"action {self.key} inputs", self.inputs)
        _check_declarations(f"action {self.key} outputs", self.outputs)
        for key in self.emits:
            _check_key("emitted trigger", key)
        for group in self.exactly_one_of:
            for name in group:
                spec = self.inputs.get(name)
                if spec is None or not spec.optional:
                    raise ValueError(
                        f"action {self.key}: exactly_one_of names {name!r}, "
                        "which must be an optional input"
                    )

    def __hash__(self) -> int:
        return hash(("action", self.key))

    def __str__(self) -> str:
        return self.key

    @property
    def is_workflow(self) -> bool:
        """Whether this is a workflow step (wait, branch_by_condition, run_rule)."""
        return self.kind is ActionKind.WORKFLOW

    @property
    def inputs_type(self) -> ObjectType:
        """The inputs as a closed object type."""
        return object_of(self.inputs)

    @property
    def outputs_type(self) -> ObjectType:
        """The outputs as a closed object type (what later steps may reference)."""
        return object_of(self.outputs)

    def validate_inputs(self, value: object) -> dict[str, JSONValue]:
        """Return the normalized inputs; raise ValidationError naming every bad input."""
        return _validate_object(self.inputs_type, value, self.exactly_one_of)

    def validate_outputs(self, value: object) -> dict[str, JSONValue]:
        """Return the normalized outputs of a run; raise ValidationError on any problem."""
        return _validate_object(self.outputs_type, value)

    def load_runner(self) -> Callable[..., Any]:
        """Import and return the runner; raises ImportError if the dotted path is wrong."""
        module_name, _, attribute = self.runner.rpartition(".")
        module = importlib.import_module(module_name)
        try:
            runner: Callable[..., Any] = getattr(module, attribute)
        except AttributeError as exc:
            raise ImportError(f"{self.runner}: {module_name} has no {attribute!r}") from exc
        return runner
