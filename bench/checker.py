"""Benchmark: check one rule in a workspace of 5,000 enabled rules, cycle detection included.

Run: ``.venv/bin/python bench/checker.py [--rules 5000] [--repeat 50]``. Prints the time per
check (median and worst); the target is under 50 ms. Pure: no database, no Django set-up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import catalog.catalog_entries  # noqa: E402
from automations.checker import CheckContext, check_rule  # noqa: E402
from automations.checker.cycles import node_from_draft  # noqa: E402
from automations.draft import parse_definition  # noqa: E402
from catalog.registry import Registry  # noqa: E402

TAGS = [f"tag{i}" for i in range(200)]


def tagging_rule(rng: random.Random) -> dict[str, object]:
    """A rule on customer_tagged (filtered on one tag) that adds another tag."""
    return {
        "trigger": {"key": "customer_tagged", "config": {"tag": rng.choice(TAGS)}},
        "conditions": [
            {"field": "customer.order_count", "operator": "gte", "value": rng.randint(0, 5)}
        ],
        "steps": [
            {
                "id": "tag",
                "action": "tag",
                "inputs": {
                    "customer_id": {"ref": "customer_id"},
                    "tag": {"literal": rng.choice(TAGS)},
                },
            }
        ],
    }


def order_rule(rng: random.Random) -> dict[str, object]:
    """A rule on order_paid that posts to Slack."""
    return {
        "trigger": {"key": "order_paid", "config": {}},
        "conditions": [
            {
                "field": "amount",
                "operator": "gt",
                "value": {"amount": str(rng.randint(10, 500)), "currency": "EUR"},
            }
        ],
        "steps": [
            {
                "id": "notify",
                "action": "post_to_slack",
                "inputs": {
                    "channel": {"literal": "#sales"},
                    "text": {"template": "Order {{ order_id }} by {{ order.customer.email }}"},
                },
            }
        ],
    }


def measure(rules: int = 5000, repeat: int = 50) -> dict[str, Any]:
    """Build a workspace of ``rules`` enabled rules, then time check_rule on a new tagging rule."""
    rng = random.Random(7)
    registry = Registry()
    registry.register_module(catalog.catalog_entries)
    base = CheckContext(registry=registry, plan="enterprise")
    started = time.perf_counter()
    others = []
    for index in range(rules):
        make = tagging_rule if index % 2 else order_rule
        draft, _ = parse_definition(make(rng), name=f"rule {index}")
        others.append(node_from_draft(index + 1, f"rule {index}", draft, base))
    build = time.perf_counter() - started
    context = CheckContext(
        registry=registry,
        plan="enterprise",
        others=others,
        rules={o.rule_id: o.name for o in others},
    )
    draft, structure = parse_definition(tagging_rule(rng), name="new rule")
    timings = []
    problems = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        problems = check_rule(draft, context, structure)
        timings.append((time.perf_counter() - t0) * 1000)
    ordered = sorted(timings)
    return {
        "rules": rules,
        "runs": repeat,
        "graph_build_s": round(build, 2),
        "median_ms": round(statistics.median(timings), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
        "problems": [p.code.value for p in problems],
    }


def main() -> None:
    """Print the figures of :func:`measure`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    found = measure(args.rules, args.repeat)
    print(f"workspace: {args.rules} enabled rules (graph built in {found['graph_build_s']:.2f} s)")
    print(f"check_rule, one rule, cycle detection included, {args.repeat} runs:")
    print(
        f"  median {found['median_ms']:.2f} ms   p95 {found['p95_ms']:.2f} ms   "
        f"max {found['max_ms']:.2f} ms"
    )
    print(f"  problems found: {found['problems']}")
    print("  target: < 50 ms")


if __name__ == "__main__":
    main()
