"""The pure inputs of a check besides the draft: catalog, plan, custom fields, endpoints, rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from automations.checker.cycles import RuleGraphNode
from catalog.specs import PlanTier
from catalog.types import FieldSpec

if TYPE_CHECKING:
    from catalog.registry import Registry


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """A webhook endpoint of the workspace as the checker sees it: its declared body fields."""

    id: int
    name: str
    url: str = ""
    declared_fields: Mapping[str, FieldSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything a check needs besides the draft, built at the edge (no querysets inside).

    ``rules`` maps the workspace's other rules' ids to their names (``run_rule`` targets);
    ``others`` are the enabled rules as cycle-detection nodes; ``rule_id`` and ``rule_name``
    name the rule being checked (``None`` for a rule not saved yet).
    """

    registry: Registry
    plan: str = PlanTier.FREE.value
    custom_fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    endpoints: Mapping[int, EndpointInfo] = field(default_factory=dict)
    rules: Mapping[int, str] = field(default_factory=dict)
    others: Sequence[RuleGraphNode] = ()
    rule_id: int | None = None
    rule_name: str = ""

    @property
    def plan_tier(self) -> PlanTier:
        """The workspace's plan as a tier; an unknown plan counts as Free (the safe side)."""
        try:
            return PlanTier(self.plan)
        except ValueError:
            return PlanTier.FREE
