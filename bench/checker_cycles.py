"""Benchmark: cycle detection for one saved rule against 5,000 others (prints figures only).

Run with ``.venv/bin/python bench/checker_cycles.py [rules] [checks]``.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automations.checker.cycles import EmittedEvent, RuleGraphNode, find_cycle  # noqa: E402

TRIGGERS = {
    "customer_tagged": "tag",
    "lifecycle_changed": "to_stage",
    "journey_enrolled": "journey_id",
    "product_updated": "",
    "webhook_received": "endpoint_id",
    "order_paid": "",
}
TAGS = [f"tag{n}" for n in range(300)]
STAGES = ["lead", "prospect", "first_purchase", "repeat", "vip", "at_risk", "churned"]


def _value(rng: random.Random, trigger: str) -> object:
    field = TRIGGERS[trigger]
    if field == "tag":
        return rng.choice(TAGS)
    if field == "to_stage":
        return rng.choice(STAGES)
    return rng.randint(1, 50)


def random_node(rng: random.Random, rule_id: int, rules: int) -> RuleGraphNode:
    """Return a rule with a random trigger, filter and a few effects."""
    trigger = rng.choice(list(TRIGGERS))
    field = TRIGGERS[trigger]
    filters = {}
    if field and rng.random() < 0.8:
        filters[field] = frozenset({_value(rng, trigger)})
    emits = []
    for _ in range(rng.randint(0, 3)):
        target = rng.choice([t for t in TRIGGERS if t != "webhook_received"])
        target_field = TRIGGERS[target]
        values = {target_field: _value(rng, target)} if target_field else {}
        emits.append(EmittedEvent(target, values))
    runs = (rng.randint(1, rules),) if rng.random() < 0.05 else ()
    posts = (rng.randint(1, 50),) if rng.random() < 0.05 else ()
    return RuleGraphNode(rule_id, f"Rule {rule_id}", trigger, filters, tuple(emits), runs, posts)


def main() -> None:
    """Build the rules, time the checks, print the figures."""
    rules = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    checks = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = random.Random(20250301)
    others = [random_node(rng, rule_id, rules) for rule_id in range(1, rules + 1)]
    timings = []
    loops = 0
    for _ in range(checks):
        new = random_node(rng, rng.randint(1, rules), rules)
        start = time.perf_counter()
        cycle = find_cycle(new, others)
        timings.append((time.perf_counter() - start) * 1000)
        loops += cycle is not None
    timings.sort()
    print(f"rules: {rules}, checks: {checks}, loops found: {loops}")
    print(
        f"per check: mean {statistics.mean(timings):.2f} ms, "
        f"median {statistics.median(timings):.2f} ms, "
        f"p95 {timings[int(len(timings) * 0.95) - 1]:.2f} ms, max {timings[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
