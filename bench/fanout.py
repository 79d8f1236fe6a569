"""Scenario ``fanout``: dispatch time per event among 10,000 rules, and the checker at 5,000.

In-process, no worker: a workspace gets ``rules`` enabled rules (bulk-inserted; the
definitions are the checker benchmark's, ``bench/checker.py``), ``matching`` of them on
customer_tagged "vip" with a condition that holds, the rest on order_paid. Each of ``events``
stored customer_tagged events is then dispatched with ``dispatch_event`` (the worker's code: one
locked event, the candidate rules, their compiled conditions, the executions inserted and
their run tasks published after commit) and timed. The first dispatch compiles every matching
rule (reported apart as ``cold_ms``); median and p95 are over the others. Then
``bench.checker.measure`` times ``check_rule`` for one rule among ``checker_rules``.

Run through the suite: ``.venv/bin/python -m bench --only fanout``.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from bench.harness import Bench, bench_workspace, new_customers, percentile


def _definitions(rules: int, matching: int) -> list[dict[str, Any]]:
    """``matching`` rules firing on customer_tagged "vip", then order_paid rules."""
    from bench.checker import order_rule, tagging_rule

    rng = random.Random(7)
    definitions = []
    for index in range(rules):
        if index < matching:
            definition = tagging_rule(rng)
            definition["trigger"] = {"key": "customer_tagged", "config": {"tag": "vip"}}
            definition["conditions"] = [
                {"field": "customer.order_count", "operator": "gte", "value": 0}
            ]
        else:
            definition = order_rule(rng)
        definitions.append(definition)
    return definitions


def run_fanout(
    bench: Bench,
    *,
    rules: int = 10_000,
    matching: int = 100,
    events: int = 50,
    checker_rules: int = 5000,
    checker_repeat: int = 30,
) -> dict[str, Any]:
    """Time dispatch per event and one rule check; return the figures."""
    from django.db import transaction

    from automations.engine.dispatch import dispatch_event
    from automations.models import Rule
    from bench.checker import measure
    from catalog.events import record_event

    workspace = bench_workspace("bench-fanout")
    Rule.objects.bulk_create(
        (
            Rule(
                workspace=workspace,
                name=f"rule {index}",
                is_enabled=True,
                trigger_key=str(definition["trigger"]["key"]),  # type: ignore[index]
                definition=definition,
                version=1,
            )
            for index, definition in enumerate(_definitions(rules, matching))
        ),
        batch_size=1000,
    )
    customers = new_customers(workspace, events + 1)
    stored = []
    for customer_id in customers:
        with transaction.atomic():
            event = record_event(
                workspace=workspace,
                trigger_key="customer_tagged",
                payload={"customer_id": customer_id, "tag": "vip", "action": "added"},
            )
        stored.append(event.pk)
    # Nothing should dispatch these but the timed calls below.
    bench.purge_queues()
    timings, matched = [], []
    for event_id in stored:
        started = time.perf_counter()
        result = dispatch_event(event_id)
        timings.append((time.perf_counter() - started) * 1000)
        matched.append(len(result.execution_ids) + len(result.held_ids))
    bench.purge_queues()
    warm = timings[1:]
    dispatch = {
        "rules": rules,
        "matching_rules": matching,
        "events": len(warm),
        "cold_ms": round(timings[0], 2),
        "median_ms": round(statistics.median(warm), 2),
        "p95_ms": round(percentile(warm, 95), 2),
        "max_ms": round(max(warm), 2),
        "executions_per_event": sorted(set(matched)),
    }
    return {"dispatch": dispatch, "checker": measure(checker_rules, checker_repeat)}
