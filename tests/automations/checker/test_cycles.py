"""Cycle detection: events, run_rule and own-endpoint webhooks; literal values prune edges."""

from __future__ import annotations

import pytest

import catalog.catalog_entries
from automations.checker.context import CheckContext, EndpointInfo
from automations.checker.cycles import (
    EmittedEvent,
    RuleGraphNode,
    find_cycle,
    find_cycles_touching,
    node_from_draft,
)
from automations.draft import parse_definition
from catalog.registry import Registry

REGISTRY = Registry()
REGISTRY.register_module(catalog.catalog_entries)

HOOK = "https://typewire.example.com/hooks/tok4"
CONTEXT = CheckContext(
    registry=REGISTRY,
    endpoints={
        4: EndpointInfo(4, "Signups", HOOK),
        5: EndpointInfo(5, "Zaps", "https://typewire.example.com/hooks/tok5"),
    },
)


def _node(rule_id, name, trigger, config=None, steps=(), conditions=()):
    definition = {
        "trigger": {"key": trigger, "config": config or {}},
        "conditions": list(conditions),
        "steps": list(steps),
    }
    draft, problems = parse_definition(definition, name=name)
    assert problems == []
    return node_from_draft(rule_id, name, draft, CONTEXT)


def _step(step_id, action, **inputs):
    return {"id": step_id, "action": action, "inputs": inputs}


def _tag(tag, step_id="tag_it"):
    return _step(step_id, "tag", customer_id={"ref": "customer_id"}, tag={"literal": tag})


def _tagged(rule_id, name, tag, *steps, action=None):
    config = {"tag": tag} if action is None else {"tag": tag, "action": action}
    return _node(rule_id, name, "customer_tagged", config, steps)


def _run_rule(rule_id):
    return _step(
        f"run_{rule_id}", "run_rule", rule_id={"literal": rule_id}, payload={"literal": {}}
    )


def _webhook(url, step_id="hook"):
    return _step(step_id, "fire_webhook", url={"literal": url}, body={"literal": {}})


def test_two_rules_tagging_each_other_form_a_loop():
    # given
    a = _tagged(1, "A", "vip", _tag("gold"))
    b = _tagged(2, "B", "gold", _tag("vip"))

    # when
    cycle = find_cycle(a, [b])

    # then
    assert cycle == ["A", "B", "A"]


def test_rule_retriggering_itself_is_a_self_loop():
    # given
    a = _node(1, "A", "customer_tagged", {}, [_tag("seen")])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["A", "A"]


def test_literal_tag_that_does_not_match_the_filter_prunes_the_edge():
    # given: A tags "welcomed", B waits for "vip" and tags "vip" again (B only feeds B... not A)
    a = _tagged(1, "A", "vip", _tag("welcomed"))
    b = _tagged(2, "B", "welcomed", _tag("thanked"))

    # when
    cycle = find_cycle(a, [b])

    # then
    assert cycle is None


def test_implied_action_value_prunes_a_removed_tag_filter():
    # given: tag always emits action "added"; A only reacts to removals
    a = _tagged(1, "A", "vip", _tag("vip"), action="removed")

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle is None


def test_untag_feeds_a_removed_tag_filter():
    # given
    untag = _step("untag_it", "untag", customer_id={"ref": "customer_id"}, tag={"literal": "vip"})
    a = _tagged(1, "A", "vip", untag, action="removed")

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["A", "A"]


def test_literal_comparison_ignores_case():
    # given
    a = _tagged(1, "A", "vip", _tag("VIP"))

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["A", "A"]


@pytest.mark.parametrize(
    ("_case", "binding"),
    [
        ("reference", {"ref": "tag"}),
        ("template with a placeholder", {"template": "{{ tag }}-2"}),
    ],
)
def test_tag_not_known_before_the_run_keeps_the_edge(_case, binding):
    # given
    step = _step("tag_it", "tag", customer_id={"ref": "customer_id"}, tag=binding)
    a = _tagged(1, "A", "vip", step)

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["A", "A"]


def test_condition_on_a_payload_field_prunes_like_a_trigger_filter():
    # given
    condition = {"field": "tag", "operator": "equals", "value": "vip"}
    a = _node(1, "A", "customer_tagged", {}, [_tag("welcomed")], [condition])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle is None
    assert a.trigger_filters == {"tag": frozenset({"vip"})}


def test_condition_inside_an_any_group_does_not_prune():
    # given
    group = {
        "match": "any",
        "children": [
            {"field": "tag", "operator": "equals", "value": "vip"},
            {"field": "customer.order_count", "operator": "gt", "value": 3},
        ],
    }
    a = _node(1, "A", "customer_tagged", {}, [_tag("welcomed")], [group])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["A", "A"]
    assert a.trigger_filters == {}


def test_config_and_condition_filters_intersect():
    # given
    condition = {"field": "tag", "operator": "in_list", "value": ["vip", "gold"]}

    # when
    a = _node(1, "A", "customer_tagged", {"tag": "gold"}, [], [condition])

    # then
    assert a.trigger_filters == {"tag": frozenset({"gold"})}


def test_run_rule_chain_forms_a_loop():
    # given
    a = _node(1, "A", "order_paid", {}, [_run_rule(2)])
    b = _node(2, "B", "customer_created", {}, [_run_rule(1)])

    # when
    cycle = find_cycle(a, [b])

    # then
    assert cycle == ["A", "B", "A"]


def test_webhook_to_an_own_endpoint_forms_a_loop():
    # given
    a = _node(1, "A", "webhook_received", {"endpoint_id": 4}, [_tag("vip")])
    b = _tagged(2, "B", "vip", _webhook(HOOK))

    # when
    cycle = find_cycle(a, [b])

    # then
    assert cycle == ["A", "B", "A"]
    assert b.posts_to_endpoints == (4,)


@pytest.mark.parametrize(
    ("_case", "url", "posts_to"),
    [
        ("exact", HOOK, (4,)),
        ("with a query", HOOK + "?source=rule", (4,)),
        ("another host, same token", "http://typewire.internal:8000/hooks/tok4", (4,)),
        ("token sharing a prefix", HOOK + "5", ()),
        ("other endpoint", "https://typewire.example.com/hooks/tok5", (5,)),
        ("foreign", "https://warehouse.example.com/hooks/orders", ()),
    ],
)
def test_webhook_urls_are_matched_to_endpoints(_case, url, posts_to):
    # when
    node = _node(1, "A", "order_paid", {}, [_webhook(url)])

    # then
    assert node.posts_to_endpoints == posts_to


def test_zapier_post_counts_as_a_post_to_the_endpoint():
    # given
    step = _step(
        "zap",
        "post_zapier",
        hook_url={"literal": "https://typewire.example.com/hooks/tok5"},
        data={"literal": {}},
    )
    a = _node(1, "A", "zapier_event", {"endpoint_id": 5}, [step])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["A", "A"]


def test_webhook_to_another_endpoint_is_no_loop():
    # given
    a = _node(1, "A", "webhook_received", {"endpoint_id": 4}, [_webhook(CONTEXT.endpoints[5].url)])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle is None


def test_three_rule_loop_lists_names_in_order_from_the_new_rule():
    # given
    a = _tagged(1, "A", "a", _tag("b"))
    b = _tagged(2, "B", "b", _tag("c"))
    c = _tagged(3, "C", "c", _tag("a"))

    # when
    from_a = find_cycle(a, [c, b])
    from_b = find_cycle(b, [a, c])

    # then
    assert from_a == ["A", "B", "C", "A"]
    assert from_b == ["B", "C", "A", "B"]


def test_shortest_loop_is_reported():
    # given
    a = _tagged(1, "A", "a", _tag("long", "first"), _tag("short", "second"))
    long_1 = _tagged(2, "L1", "long", _tag("long2"))
    long_2 = _tagged(3, "L2", "long2", _tag("a"))
    short = _tagged(4, "S", "short", _tag("a"))

    # when
    cycle = find_cycle(a, [long_1, long_2, short])

    # then
    assert cycle == ["A", "S", "A"]


def test_loop_not_through_the_new_rule_is_not_reported():
    # given
    a = _tagged(1, "A", "x", _tag("b"))
    b = _tagged(2, "B", "b", _tag("c"))
    c = _tagged(3, "C", "c", _tag("b"))

    # when
    cycle = find_cycle(a, [b, c])

    # then
    assert cycle is None


def test_edited_rule_replaces_its_saved_version():
    # given
    saved_a = _tagged(1, "A", "vip", _tag("gold"))
    b = _tagged(2, "B", "gold", _tag("vip"))
    edited_a = _tagged(1, "A", "vip", _tag("silver"))

    # when
    cycle = find_cycle(edited_a, [saved_a, b])

    # then
    assert cycle is None


def test_steps_nested_in_branch_arms_count():
    # given
    branch = {
        "id": "check",
        "action": "branch_by_condition",
        "inputs": {},
        "condition": [{"field": "tag", "operator": "equals", "value": "x"}],
        "then": [],
        "else": [_tag("vip")],
    }
    a = _tagged(1, "A", "vip", branch)

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["A", "A"]


@pytest.mark.parametrize(
    ("_case", "field", "value", "cycle"),
    [
        ("lifecycle to the filtered stage", "lifecycle_stage", "vip", ["A", "A"]),
        ("lifecycle to another stage", "lifecycle_stage", "repeat", None),
        ("another field", "first_name", "Jane", None),
    ],
)
def test_update_field_emits_lifecycle_changed_only_for_that_field(_case, field, value, cycle):
    # given
    step = _step(
        "set",
        "update_field",
        customer_id={"ref": "customer_id"},
        field={"literal": field},
        value={"literal": value},
    )
    a = _node(1, "A", "lifecycle_changed", {"to_stage": "vip"}, [step])

    # when
    found = find_cycle(a, [])

    # then
    assert found == cycle


def test_update_field_on_an_opt_in_emits_channel_and_action():
    # given
    step = _step(
        "set",
        "update_field",
        customer_id={"ref": "customer_id"},
        field={"literal": "sms_opt_in"},
        value={"literal": False},
    )

    # when
    node = _node(1, "A", "customer_created", {}, [step])

    # then
    assert node.emits == (
        EmittedEvent("customer_updated", {}),
        EmittedEvent("opt_in_changed", {"channel": "sms", "action": "opted_out"}),
    )


def test_node_from_draft_collects_filters_events_rules_and_endpoints():
    # given
    steps = [
        _step(
            "enroll",
            "enroll_journey",
            customer_id={"ref": "customer_id"},
            journey_id={"literal": 3},
        ),
        _run_rule(9),
        _webhook(HOOK),
        _step("slack", "post_to_slack", channel={"literal": "#x"}, text={"literal": "hi"}),
    ]

    # when
    node = _node(7, "Seven", "customer_segment_joined", {"segment_id": 11}, steps)

    # then
    assert node == RuleGraphNode(
        rule_id=7,
        name="Seven",
        trigger_key="customer_segment_joined",
        trigger_filters={"segment_id": frozenset({11})},
        emits=(EmittedEvent("journey_enrolled", {"journey_id": 3}),),
        runs_rules=(9,),
        posts_to_endpoints=(4,),
    )


def test_numeric_literals_prune_by_value():
    # given
    enroll_3 = _step(
        "e", "enroll_journey", customer_id={"ref": "customer_id"}, journey_id={"literal": 3}
    )
    enroll_4 = _step(
        "e", "enroll_journey", customer_id={"ref": "customer_id"}, journey_id={"literal": 4}
    )
    same = _node(1, "Same", "journey_enrolled", {"journey_id": 3}, [enroll_3])
    other = _node(1, "Other", "journey_enrolled", {"journey_id": 3}, [enroll_4])

    # when / then
    assert find_cycle(same, []) == ["Same", "Same"]
    assert find_cycle(other, []) is None


def test_unknown_actions_and_triggers_add_no_edges():
    # given
    a = _node(1, "A", "no_such_trigger", {"tag": "x"}, [_step("s", "no_such_action")])

    # then
    assert a == RuleGraphNode(1, "A", "no_such_trigger")
    assert find_cycle(a, []) is None


def test_find_cycles_touching_reports_each_rule_on_a_loop():
    # given
    a = _tagged(1, "A", "a", _tag("b"))
    b = _tagged(2, "B", "b", _tag("a"))
    c = _tagged(3, "C", "c", _tag("a"))

    # when
    found = find_cycles_touching([1, 2, 3, 99], [a, b, c])

    # then
    assert found == {1: ["A", "B", "A"], 2: ["B", "A", "B"]}


def test_many_unrelated_rules_do_not_create_loops():
    # given
    new = _tagged(None, "New", "vip", _tag("gold"))
    others = [
        RuleGraphNode(
            i,
            f"R{i}",
            "customer_tagged",
            {"tag": frozenset({f"t{i}"})},
            (EmittedEvent("customer_tagged", {"tag": f"t{i + 1}"}),),
        )
        for i in range(1, 2000)
    ]

    # when
    cycle = find_cycle(new, others)

    # then
    assert cycle is None


# --- idempotent setters with literal values converge -----------------------------------------

NINE_99 = {"literal": {"amount": "9.99", "currency": "EUR"}}


def _reprice(price, step_id="reprice"):
    return _step(step_id, "update_price", product_id={"ref": "product_id"}, price=price)


def test_setting_a_literal_price_on_product_updated_converges():
    # given: the second run sets the same price, changes nothing and emits nothing
    a = _node(1, "Reprice", "product_updated", {}, [_reprice(NINE_99)])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle is None
    assert a.emits[0].converges


@pytest.mark.parametrize(
    ("_case", "price"),
    [
        ("a field", {"ref": "price"}),
        ("a template", {"template": "{{ title }}"}),
    ],
)
def test_a_price_not_known_before_the_run_still_loops(_case, price):
    # given: the price comes from the event, so every run may change it again
    a = _node(1, "Reprice", "product_updated", {}, [_reprice(price)])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["Reprice", "Reprice"]
    assert not a.emits[0].converges


def test_two_setters_of_one_rule_fight_and_loop():
    # given: each run sets 9.99 and then 19.99: the product changes every time
    other = {"literal": {"amount": "19.99", "currency": "EUR"}}
    a = _node(1, "Flip", "product_updated", {}, [_reprice(NINE_99, "low"), _reprice(other, "high")])

    # when
    cycle = find_cycle(a, [])

    # then
    assert cycle == ["Flip", "Flip"]


def test_two_rules_setting_literal_prices_still_loop_through_each_other():
    # given: A sets 9.99, B sets 19.99, both on every product update: they fight
    a = _node(1, "Low", "product_updated", {}, [_reprice(NINE_99)])
    b = _node(
        2,
        "High",
        "product_updated",
        {},
        [_reprice({"literal": {"amount": "19.99", "currency": "EUR"}})],
    )

    # when
    cycle = find_cycle(a, [b])

    # then
    assert cycle == ["Low", "High", "Low"]


def test_a_converging_setter_does_not_hide_another_rules_edge_back():
    # given: A's converging price update reaches B, whose stock change (not a setter of literal
    # values) is a product update that starts A again
    a = _node(1, "Reprice", "product_updated", {}, [_reprice(NINE_99)])
    b = _node(
        2,
        "Restock",
        "product_updated",
        {},
        [
            _step(
                "stock", "update_inventory", product_id={"ref": "product_id"}, delta={"literal": 1}
            )
        ],
    )

    # when
    cycle = find_cycle(a, [b])

    # then
    assert cycle == ["Reprice", "Restock", "Reprice"]


def test_a_non_setter_action_with_literal_inputs_still_loops():
    # given: a stock change by a literal delta changes the product on every run
    a = _node(
        1,
        "Restock",
        "product_updated",
        {},
        [
            _step(
                "stock", "update_inventory", product_id={"ref": "product_id"}, delta={"literal": 1}
            )
        ],
    )

    # when / then
    assert find_cycle(a, []) == ["Restock", "Restock"]
