"""The plain-English sentence every rule shows, generated from its draft (SPEC 1; pure).

*When [trigger] happens in [source], then [actions] in [destinations], using [these fields],
and alert [this person] if it fails.* Conditions, when there are any, follow the trigger as an
"if" clause; the "using" clause is left out when no step reads a field. Unknown trigger or
action keys are shown as they are, so a broken draft still reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from automations.checker.context import CheckContext, EndpointInfo
from automations.checker.wording import OPERATOR_WORDS
from automations.draft import (
    AlertKind,
    BindingKind,
    ConditionGroup,
    ConditionNode,
    Match,
    RuleDraft,
    Step,
)
from automations.templating import TemplateSyntaxError, parse
from catalog.registry import Registry
from catalog.specs import ActionSpec, Category
from catalog.types import Operator

__all__ = ["describe_rule"]

_DESTINATIONS: Mapping[str, str] = {
    "post_to_slack": "Slack",
    "post_zapier": "Zapier",
    "post_to_make": "Make",
    "create_airtable_row": "Airtable",
    "sync_to_meta_audience": "Meta Ads",
    "sync_to_google_audience": "Google Ads",
    "send_transactional_email": "email",
}
"""Where the built-in actions' effects land, when it is not Typewire itself."""


def describe_rule(draft: RuleDraft, context: CheckContext | Registry) -> str:
    """Return the rule as one plain-English sentence (never raises, even for a broken draft).

    ``context`` is the checker's context (it names endpoints and chained rules) or just the
    catalog registry.
    """
    if isinstance(context, Registry):
        context = CheckContext(registry=context)
    return _Describer(context).sentence(draft)


class _Describer:
    def __init__(self, context: CheckContext) -> None:
        self.context = context
        self.registry = context.registry

    def sentence(self, draft: RuleDraft) -> str:
        trigger, source = self.trigger(draft)
        conditions = self.conditions(draft.conditions, Match.ALL)
        when = f"When {trigger} happens in {source}"
        if conditions:
            when += f", if {conditions}"
        steps = list(_flatten(draft.steps))
        actions = self.actions(draft.steps) or "do nothing"
        destinations = _and(dict.fromkeys(d for s in steps if (d := self.destination(s))))
        then = f"then {actions}" + (f" in {destinations}" if destinations else "")
        fields = _and(dict.fromkeys(_fields_used(steps)))
        using = f", using {fields}" if fields else ""
        return f"{when}, {then}{using}, and alert {self.alert(draft)} if it fails."

    def trigger(self, draft: RuleDraft) -> tuple[str, str]:
        key, config = draft.trigger.key, draft.trigger.config
        if not self.registry.has_trigger(key):
            return f"'{key or 'an unchosen trigger'}'", "an unknown source"
        spec = self.registry.get_trigger(key)
        source = spec.source
        settings: list[str] = []
        for name, value in config.items():
            if value is None:
                continue
            if name == "endpoint_id" and isinstance(value, int):
                endpoint: EndpointInfo | None = self.context.endpoints.get(value)
                source = f"the '{endpoint.name}' endpoint" if endpoint else f"endpoint #{value}"
                continue
            field = spec.config.get(name)
            label = (field.label if field and field.label else name).lower()
            settings.append(f"{label} {_value(value)}")
        detail = f" ({', '.join(settings)})" if settings else ""
        return f"'{spec.label}'{detail}", source

    def conditions(self, nodes: Sequence[ConditionNode], match: Match) -> str:
        parts = [self.condition(node) for node in nodes]
        joiner = " and " if match is Match.ALL else " or "
        return joiner.join(part for part in parts if part)

    def condition(self, node: ConditionNode) -> str:
        if isinstance(node, ConditionGroup):
            inner = self.conditions(node.children, node.match)
            return f"({inner})" if len(node.children) > 1 else inner
        try:
            words = OPERATOR_WORDS[Operator(node.operator)]
        except ValueError:
            words = node.operator
        text = f"{node.field} {words}"
        return f"{text} {_value(node.value)}" if node.has_value and node.value is not None else text

    def actions(self, steps: Sequence[Step]) -> str:
        return _and(self.action(step) for step in steps)

    def action(self, step: Step) -> str:
        spec = self.spec(step)
        label = _lower_first(spec.label) if spec else f"'{step.action}'"
        if step.action == "branch_by_condition":
            then = self.actions(step.then) or "nothing"
            otherwise = self.actions(step.otherwise)
            text = f"if {self.conditions(step.condition, Match.ALL) or 'always'}: {then}"
            return f"({text}; otherwise {otherwise})" if otherwise else f"({text})"
        if step.action == "run_rule":
            binding = step.inputs.get("rule_id")
            if binding and binding.kind is BindingKind.LITERAL:
                name = (
                    self.context.rules.get(binding.value)
                    if isinstance(binding.value, int)
                    else None
                )
                return f"run the rule '{name}'" if name else f"run rule #{binding.value}"
        return label

    def spec(self, step: Step) -> ActionSpec | None:
        return (
            self.registry.get_action(step.action) if self.registry.has_action(step.action) else None
        )

    def destination(self, step: Step) -> str:
        spec = self.spec(step)
        if spec is None or spec.is_workflow:
            return ""
        if spec.key in _DESTINATIONS:
            return _DESTINATIONS[spec.key]
        if spec.category is Category.AI and not spec.emits:
            return "the AI service"
        if spec.is_http:
            for name, field in spec.inputs.items():
                binding = step.inputs.get(name)
                if field.type.name == "url" and binding and binding.kind is BindingKind.LITERAL:
                    host = urlsplit(str(binding.value)).hostname
                    if host:
                        return host
            return "another system"
        return "Typewire"

    def alert(self, draft: RuleDraft) -> str:
        alert = draft.alert
        if alert is None:
            return "no one"
        if alert.kind is AlertKind.EMAIL:
            return alert.target
        host = urlsplit(alert.target).hostname or alert.target
        return "Slack" if alert.kind is AlertKind.SLACK else f"the webhook at {host}"


def _flatten(steps: Sequence[Step]) -> Iterable[Step]:
    for step in steps:
        yield step
        yield from _flatten(step.then)
        yield from _flatten(step.otherwise)


def _fields_used(steps: Iterable[Step]) -> Iterable[str]:
    for step in steps:
        for binding in step.inputs.values():
            if binding.kind is BindingKind.REF:
                yield str(binding.value)
            elif binding.kind is BindingKind.TEMPLATE:
                try:
                    yield from parse(str(binding.value)).placeholders
                except TemplateSyntaxError:
                    continue


def _value(value: object) -> str:
    if isinstance(value, Mapping) and set(value) == {"amount", "currency"}:
        return f"{value['amount']} {value['currency']}"
    if isinstance(value, list):
        return _and((_value(item) for item in value), "or")
    if isinstance(value, str):
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False, default=str)


def _lower_first(label: str) -> str:
    # "Post to Slack" reads "post to Slack" mid-sentence; acronyms ("AI") keep their case.
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _and(items: Iterable[str], word: str = "and") -> str:
    parts = [item for item in items if item]
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"
