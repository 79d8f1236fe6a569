"""The test actions (all internal, all on customers or products)."""

from __future__ import annotations

from catalog.builtin.vocabulary import CUSTOMER_ID, PRODUCT_ID
from catalog.specs import ActionSpec, Category
from catalog.types import fields, integer, optional, required, string

_RUNNERS = "tests.engine_plugin.runners"

FLAKY_TAG = ActionSpec(
    key="test_flaky_tag",
    category=Category.CUSTOMER,
    label="Tag after failing",
    description="Fails (retryably) on its first `fail_times` attempts, then tags the customer.",
    inputs=fields(
        customer_id=CUSTOMER_ID,
        tag=required(string(), "Tag"),
        fail_times=required(integer(minimum=0), "Failures"),
    ),
    outputs=fields(attempt=required(integer(), "Attempt")),
    runner=f"{_RUNNERS}.flaky_tag",
    example_inputs={"customer_id": 1, "tag": "vip", "fail_times": 2},
    emits=("customer_tagged",),
)

BROKEN = ActionSpec(
    key="test_broken",
    category=Category.CUSTOMER,
    label="Always fails for good",
    description="Raises a permanent error (or, with `disable`, asks to disable its target).",
    inputs=fields(customer_id=CUSTOMER_ID, disable=optional(integer(), "Disable")),
    runner=f"{_RUNNERS}.broken",
    example_inputs={"customer_id": 1},
)

SLOW_DECREMENT = ActionSpec(
    key="test_slow_decrement",
    category=Category.CATALOG,
    label="Decrement stock slowly",
    description="Takes one unit of stock, then sleeps `seconds` inside the effect's transaction.",
    inputs=fields(product_id=PRODUCT_ID, seconds=required(integer(minimum=0), "Seconds")),
    runner=f"{_RUNNERS}.slow_decrement",
    example_inputs={"product_id": 1, "seconds": 3},
    emits=("product_updated",),
)

HTTP_FLAKY = ActionSpec(
    key="test_http_flaky",
    category=Category.EXTERNAL,
    label="HTTP call failing first",
    description="Logs an HTTP exchange; answers 503 on its first `fail_times` attempts.",
    inputs=fields(fail_times=required(integer(minimum=0), "Failures")),
    runner=f"{_RUNNERS}.http_flaky",
    example_inputs={"fail_times": 1},
    is_http=True,
)

TRIGGERS: list[object] = []
ACTIONS = [FLAKY_TAG, BROKEN, SLOW_DECREMENT, HTTP_FLAKY]
