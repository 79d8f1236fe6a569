"""Runners of the test actions: deterministic by attempt number, so they work across processes."""

from __future__ import annotations

import time
from typing import Any

from automations.engine.contract import HttpExchange, PermanentError, RetryableError, StepContext
from catalog.domain.services import adjust_inventory, tag_customer
from catalog.models import Customer, Product


def flaky_tag(ctx: StepContext) -> dict[str, Any]:
    if ctx.attempt <= ctx.inputs["fail_times"]:
        raise RetryableError(f"try {ctx.attempt} failed", retry_after=None)
    customer = Customer.objects.get(workspace=ctx.workspace, pk=ctx.inputs["customer_id"])
    tag_customer(customer=customer, tag=ctx.inputs["tag"], causation=ctx.causation)
    return {"attempt": ctx.attempt}


def broken(ctx: StepContext) -> dict[str, Any]:
    raise PermanentError("the target said no", disable_target=bool(ctx.inputs.get("disable")))


def slow_decrement(ctx: StepContext) -> dict[str, Any]:
    product = Product.objects.get(workspace=ctx.workspace, pk=ctx.inputs["product_id"])
    adjust_inventory(product=product, delta=-1, causation=ctx.causation)
    # Inside the engine's effect transaction: a worker killed here commits nothing.
    time.sleep(ctx.inputs["seconds"])
    return {}


def http_flaky(ctx: StepContext) -> dict[str, Any]:
    failing = ctx.attempt <= ctx.inputs["fail_times"]
    exchange = HttpExchange(
        method="POST",
        url="https://hooks.example.com/flaky",
        request_headers={"Idempotency-Key": ctx.idempotency_key},
        request_body='{"hello": "world"}',
        status=503 if failing else 200,
        response_body="busy" if failing else "ok",
        duration_ms=12,
    )
    ctx.exchanges.append(exchange)
    if failing:
        raise RetryableError("hooks.example.com answered 503", retry_after=30, exchange=exchange)
    return {}
