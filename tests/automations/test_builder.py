"""The builder's pure conversion: posted form fields to definition JSON and back, rows, problems."""

from __future__ import annotations

from typing import Any

import pytest

from automations.builder import (
    BuilderState,
    ConditionRow,
    apply_op,
    coerce_literal,
    condition_rows,
    format_literal,
    from_definition,
    parse_form,
    place_problems,
    to_definition,
)
from automations.checker import PathScope, Problem, ProblemCode
from automations.draft import parse_definition
from catalog.registry import registry
from catalog.types import (
    BooleanType,
    DatetimeType,
    FieldSpec,
    IntegerType,
    ListType,
    MoneyType,
    ObjectType,
    RefType,
    StringType,
)


def _lookup(trigger_key: str):
    scope = PathScope.for_trigger(registry.get_trigger(trigger_key))

    def field_spec(path: str) -> FieldSpec | None:
        try:
            return scope.resolve(path)
        except LookupError:
            return None

    return field_spec


SCENARIO_3_FORM = {
    "name": "VIP welcome",
    "trigger_key": "customer_tagged",
    "trigger-config-tag": "vip",
    "trigger-config-action": "",
    "match": "all",
    "step-0-id": "welcome",
    "step-0-action": "enroll_journey",
    "step-0-in-customer_id-kind": "ref",
    "step-0-in-customer_id-value": "customer_id",
    "step-0-in-journey_id-kind": "literal",
    "step-0-in-journey_id-value": "12",
    "alert-kind": "email",
    "alert-target": "ops@example.com",
}


def test_scenario_3_form_becomes_its_definition():
    # when
    state = parse_form(SCENARIO_3_FORM)
    definition = to_definition(state, registry, _lookup("customer_tagged"))
    # then
    assert definition == {
        "trigger": {"key": "customer_tagged", "config": {"tag": "vip"}},
        "conditions": [],
        "steps": [
            {
                "id": "welcome",
                "action": "enroll_journey",
                "inputs": {
                    "customer_id": {"ref": "customer_id"},
                    "journey_id": {"literal": 12},
                },
            }
        ],
        "alert": {"kind": "email", "target": "ops@example.com"},
    }
    assert parse_definition(definition)[1] == []


def test_conditions_are_typed_by_the_operand_of_their_field():
    # given
    form = {
        "trigger_key": "order_paid",
        "match": "any",
        "cond-0-field": "amount",
        "cond-0-operator": "gt",
        "cond-0-value": "100 EUR",
        "cond-3-field": "payment_method",
        "cond-3-operator": "in_list",
        "cond-3-value": "card, paypal",
        "cond-4-field": "amount",
        "cond-4-operator": "is_set",
        "cond-4-value": "ignored",
    }
    # when
    definition = to_definition(parse_form(form), registry, _lookup("order_paid"))
    # then rows are renumbered, typed, and grouped by "any"
    assert definition["conditions"] == [
        {
            "match": "any",
            "children": [
                {
                    "field": "amount",
                    "operator": "gt",
                    "value": {"amount": "100", "currency": "EUR"},
                },
                {"field": "payment_method", "operator": "in_list", "value": ["card", "paypal"]},
                {"field": "amount", "operator": "is_set"},
            ],
        }
    ]


def test_a_branch_with_nested_steps_round_trips():
    # given scenario 7's branch
    definition: dict[str, Any] = {
        "trigger": {"key": "customer_created", "config": {}},
        "conditions": [{"field": "source", "operator": "equals", "value": "free_trial"}],
        "steps": [
            {
                "id": "company",
                "action": "branch_by_condition",
                "inputs": {},
                "condition": [{"field": "email", "operator": "matches", "value": "@gmail"}],
                "then": [],
                "else": [
                    {
                        "id": "sales",
                        "action": "post_to_slack",
                        "inputs": {
                            "channel": {"literal": "#sales"},
                            "text": {"template": "New trial from {{ email }}"},
                        },
                    }
                ],
            }
        ],
        "alert": None,
    }
    # when shown in the builder and posted back
    state = from_definition(definition, registry, name="Trials")
    form = _as_form(state)
    again = to_definition(parse_form(form), registry, _lookup("customer_created"))
    # then
    assert form["step-0-else-0-in-text-kind"] == "template"
    assert again == definition


def _as_form(state: BuilderState) -> dict[str, str]:
    """Render a state as the builder's form fields (what the template posts)."""
    form = {"name": state.name, "trigger_key": state.trigger_key, "match": state.match}
    form.update({f"trigger-config-{k}": v for k, v in state.trigger_config.items()})

    def rows(conditions: list[ConditionRow]) -> None:
        for row in conditions:
            form.update(
                {
                    f"{row.prefix}-field": row.field,
                    f"{row.prefix}-operator": row.operator,
                    f"{row.prefix}-value": row.value,
                }
            )

    rows(state.conditions)
    for card in state.all_steps():
        form[f"{card.prefix}-id"] = card.id
        form[f"{card.prefix}-action"] = card.action
        for name, row in card.inputs.items():
            form[f"{card.prefix}-in-{name}-kind"] = row.kind
            form[f"{card.prefix}-in-{name}-value"] = row.value
        rows(card.conditions)
    return form


@pytest.mark.parametrize(
    ("_case", "op", "expected_steps", "expected_conditions"),
    [
        ("add a condition", "add-cond", 2, 2),
        ("add a step", "add-step", 3, 1),
        ("add a step to a branch arm", "add-step:step-1-then", 3, 1),
        ("remove a step", "remove:step-0", 1, 1),
        ("remove a condition", "remove:cond-0", 2, 0),
        ("unknown op", "explode", 2, 1),
    ],
)
def test_row_operations(_case, op, expected_steps, expected_conditions):
    # given a condition, a tag step and a branch
    form = {
        "trigger_key": "customer_created",
        "cond-0-field": "source",
        "step-0-id": "step1",
        "step-0-action": "tag",
        "step-1-id": "step2",
        "step-1-action": "branch_by_condition",
    }
    # when
    state = apply_op(parse_form(form), op)
    # then
    assert len(state.all_steps()) == expected_steps
    assert len(state.conditions) == expected_conditions
    assert [c.prefix for c in state.steps] == [f"step-{i}" for i in range(len(state.steps))]
    assert len({c.id for c in state.all_steps()}) == expected_steps  # ids stay unique


def test_a_new_step_gets_the_first_free_id():
    state = apply_op(parse_form({"step-0-id": "step1", "step-0-action": "tag"}), "add-step")
    assert [c.id for c in state.steps] == ["step1", "step2"]


@pytest.mark.parametrize(
    ("_case", "text", "field_type", "expected"),
    [
        ("integer", "42", IntegerType(), 42),
        ("not an integer is kept for the checker", "forty", IntegerType(), "forty"),
        ("ref id", "7", RefType("journey"), 7),
        (
            "money amount then currency",
            "9.99 eur",
            MoneyType(),
            {"amount": "9.99", "currency": "EUR"},
        ),
        ("money currency first", "EUR 10", MoneyType(), {"amount": "10", "currency": "EUR"}),
        ("money without currency", "10", MoneyType(), "10"),
        ("boolean", "yes", BooleanType(), True),
        ("list", "a, b,,c", ListType(StringType()), ["a", "b", "c"]),
        ("list of numbers", "1, 2", ListType(IntegerType()), [1, 2]),
        ("object", '{"a": 1}', ObjectType(is_open=True), {"a": 1}),
        ("browser date-time", "2025-03-01T09:30", DatetimeType(), "2025-03-01T09:30:00Z"),
        ("text", " hello ", StringType(), "hello"),
    ],
)
def test_coerce_literal(_case, text, field_type, expected):
    assert coerce_literal(text, field_type) == expected


@pytest.mark.parametrize(
    ("value", "field_type", "expected"),
    [
        ({"amount": "9.99", "currency": "EUR"}, MoneyType(), "9.99 EUR"),
        (["a", "b"], ListType(StringType()), "a, b"),
        (True, BooleanType(), "true"),
        ({"a": 1}, ObjectType(is_open=True), '{"a": 1}'),
        ("2025-03-01T09:30:00Z", DatetimeType(), "2025-03-01T09:30"),
        (None, StringType(), ""),
    ],
)
def test_format_literal_is_the_inverse_shown_in_widgets(value, field_type, expected):
    assert format_literal(value, field_type) == expected
    assert value is None or coerce_literal(expected, field_type) == value


def test_problems_are_placed_on_the_widget_their_path_names():
    # given
    form = {
        **SCENARIO_3_FORM,
        "cond-0-field": "tag",
        "step-1-id": "check",
        "step-1-action": "branch_by_condition",
        "step-1-cond-0-field": "tag",
        "step-1-then-0-id": "inner",
        "step-1-then-0-action": "tag",
    }
    state = parse_form(form)
    problems = [
        Problem(ProblemCode.STRUCTURE, "name", "Give the rule a name."),
        Problem(ProblemCode.TRIGGER_CONFIG, "trigger.config.tag", "Bad tag."),
        Problem(ProblemCode.MISSING_VALUE, "conditions[0].value", "Say what tag equals."),
        Problem(ProblemCode.MISSING_INPUT, "steps[0].inputs.journey_id", "Pick a journey."),
        Problem(ProblemCode.UNKNOWN_FIELD, "steps[1].condition[0].field", "No field."),
        Problem(ProblemCode.MISSING_INPUT, "steps[1].then[0].inputs.tag", "Say the tag."),
        Problem(ProblemCode.CYCLE, "steps", "This rule would loop: A → B → A."),
        Problem(ProblemCode.STRUCTURE, "alert.target", "Say who gets the alert."),
        Problem(ProblemCode.STRUCTURE, "somewhere.else", "Odd."),
        Problem(ProblemCode.STRUCTURE, "steps[9].action", "No such step."),
    ]
    # when
    place_problems(state, problems)
    # then
    messages = lambda items: [p.message for p in items]  # noqa: E731
    assert messages(state.problems["name"]) == ["Give the rule a name."]
    assert messages(state.problems["config:tag"]) == ["Bad tag."]
    assert messages(state.conditions[0].problems["value"]) == ["Say what tag equals."]
    assert messages(state.steps[0].inputs["journey_id"].problems) == ["Pick a journey."]
    assert messages(state.steps[1].conditions[0].problems["field"]) == ["No field."]
    assert messages(state.steps[1].then[0].inputs["tag"].problems) == ["Say the tag."]
    assert messages(state.problems["steps"]) == ["This rule would loop: A → B → A."]
    assert messages(state.problems["alert"]) == ["Say who gets the alert."]
    assert messages(state.unplaced) == ["Odd.", "No such step."]


def test_problems_of_an_any_group_land_on_their_rows():
    state = parse_form({"match": "any", "cond-0-field": "a", "cond-1-field": "b"})
    place_problems(
        state, [Problem(ProblemCode.MISSING_VALUE, "conditions[0].children[1].value", "Say it.")]
    )
    assert [p.message for p in state.conditions[1].problems["value"]] == ["Say it."]
    assert state.conditions[0].problems == {}


def test_an_input_of_a_previously_chosen_action_is_dropped():
    form = {
        "trigger_key": "customer_created",
        "step-0-id": "s",
        "step-0-action": "tag",
        "step-0-in-journey_id-kind": "literal",
        "step-0-in-journey_id-value": "3",
        "step-0-in-tag-kind": "literal",
        "step-0-in-tag-value": "vip",
    }
    definition = to_definition(parse_form(form), registry, _lookup("customer_created"))
    assert definition["steps"][0]["inputs"] == {"tag": {"literal": "vip"}}


# --- nested condition groups ------------------------------------------------------------------

NESTED: dict[str, Any] = {
    "trigger": {"key": "customer_created", "config": {}},
    "conditions": [
        {"field": "source", "operator": "equals", "value": "free_trial"},
        {
            "match": "any",
            "children": [
                {"field": "email", "operator": "matches", "value": "@acme"},
                {
                    "match": "all",
                    "children": [
                        {"field": "email", "operator": "is_set"},
                        {"field": "source", "operator": "equals", "value": "ads"},
                    ],
                },
            ],
        },
    ],
    "steps": [],
    "alert": None,
}


def test_nested_condition_groups_round_trip_through_the_form():
    # given a definition with an any group holding an all group
    state = from_definition(NESTED, registry)
    # then the form shows the groups as groups, with their own prefixes
    group = state.conditions[1]
    assert group.is_group
    assert group.match == "any"
    assert group.prefix == "cond-1"
    assert [c.prefix for c in group.children] == ["cond-1-0", "cond-1-1"]
    assert group.children[1].match == "all"
    assert [c.prefix for c in group.children[1].children] == ["cond-1-1-0", "cond-1-1-1"]
    # when posted back as form fields and read again
    fields = {"trigger_key": "customer_created", "match": state.match}
    for row in condition_rows(state.conditions):
        if row.is_group:
            fields[f"{row.prefix}-match"] = row.match
        else:
            fields |= {
                f"{row.prefix}-field": row.field,
                f"{row.prefix}-operator": row.operator,
                f"{row.prefix}-value": row.value,
            }
    again = parse_form(fields)
    # then the definition keeps its structure
    assert to_definition(again, registry, _lookup("customer_created")) == NESTED


def test_a_top_level_any_group_is_the_forms_match_any_and_comes_back_the_same():
    definition = {**NESTED, "conditions": [{"match": "any", "children": NESTED["conditions"]}]}
    state = from_definition(definition, registry)
    assert state.match == "any"
    assert [row.prefix for row in state.conditions] == ["cond-0", "cond-1"]
    assert to_definition(state, registry, _lookup("customer_created")) == definition


def test_groups_are_added_filled_and_removed_by_row_operations():
    # given one condition
    state = parse_form({"trigger_key": "customer_created", "cond-0-field": "source"})
    # when a group is added, then a row and a group inside it
    state = apply_op(state, "add-group")
    state = apply_op(state, "add-cond:cond-1")
    state = apply_op(state, "add-group:cond-1")
    # then the group starts as "any" with one empty row, and the new parts are numbered
    group = state.conditions[1]
    assert group.match == "any"
    assert [c.prefix for c in group.children] == ["cond-1-0", "cond-1-1", "cond-1-2"]
    assert group.children[2].is_group
    assert [c.prefix for c in group.children[2].children] == ["cond-1-2-0"]
    # when a row of the group is removed, the others are renumbered
    state = apply_op(state, "remove:cond-1-0")
    assert [c.prefix for c in state.conditions[1].children] == ["cond-1-0", "cond-1-1"]
    # when the group is removed, only the first condition is left
    state = apply_op(state, "remove:cond-1")
    assert [c.prefix for c in state.conditions] == ["cond-0"]


def test_a_branch_gets_a_nested_group_too():
    state = parse_form({"step-0-id": "b", "step-0-action": "branch_by_condition"})
    state = apply_op(state, "add-group:step-0")
    state = apply_op(state, "add-cond:step-0-cond-0")
    assert [c.prefix for c in state.steps[0].conditions[0].children] == [
        "step-0-cond-0-0",
        "step-0-cond-0-1",
    ]


def test_problems_inside_nested_groups_land_on_their_rows():
    state = from_definition(NESTED, registry)
    place_problems(
        state,
        [
            Problem(ProblemCode.MISSING_VALUE, "conditions[1].children[1].children[1].value", "A."),
            Problem(ProblemCode.STRUCTURE, "conditions[1].children", "B."),
        ],
    )
    inner = state.conditions[1].children[1].children[1]
    assert [p.message for p in inner.problems["value"]] == ["A."]
    assert [p.message for p in state.conditions[1].problems["row"]] == ["B."]
    assert state.unplaced == []
