"""Runners of the AI actions: copy, segments, churn scores, recommendations and alt text.

Each asks the OpenAI-compatible chat completions endpoint at ``TYPEWIRE_AI_BASE_URL`` (model
``TYPEWIRE_AI_MODEL``, key ``TYPEWIRE_AI_API_KEY``) for a JSON object, through
:mod:`automations.engine.http`, and checks the answer against the action's typed outputs before
a later step can use it. The task data goes in as JSON, apart from the instructions, so a
value from a trigger cannot rewrite the prompt's structure; the answer is validated anyway.

A malformed answer (not JSON, a missing key, a wrong type, an id that is not offered) raises
``PermanentError`` with the raw answer in the detail and the log: with temperature 0 a retry
would most likely get the same answer.
"""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import timezone

from automations.engine import http
from automations.engine.contract import PermanentError, StepContext
from catalog.domain.services import DomainError, update_product
from catalog.domain.snapshots import customer_to_json
from catalog.models import Customer, Order, Product, Segment

logger = logging.getLogger(__name__)

CANDIDATE_LIMIT = 200
"""At most this many segments or products are offered to the model in one prompt."""

ALT_TEXT_MAX_CHARS = 250
DEFAULT_RECOMMENDATIONS = 5

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _malformed(ctx: StepContext, what: str, raw: str) -> PermanentError:
    """Return the error for an unusable answer, after logging the raw answer."""
    logger.warning("AI answer for %s %s: %r", ctx.idempotency_key, what, raw[:2000])
    excerpt = raw if len(raw) <= 300 else f"{raw[:300]}..."
    exchange = ctx.exchanges[-1] if ctx.exchanges else None
    return PermanentError(f"the AI answer {what}: {excerpt}", exchange=exchange)


def ask(
    ctx: StepContext, *, system: str, task: dict[str, Any], temperature: float = 0.0
) -> dict[str, Any]:
    """Send one chat completion asking for a JSON object; return the parsed object.

    ``system`` states the job and the answer's shape; ``task`` is sent as the user message in
    JSON. Raises the HTTP client's errors, and ``PermanentError`` when the answer is not a JSON
    object.
    """
    url = f"{settings.TYPEWIRE_AI_BASE_URL.rstrip('/')}/chat/completions"
    api_key: str = settings.TYPEWIRE_AI_API_KEY or ""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {
        "model": settings.TYPEWIRE_AI_MODEL,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": json.dumps(task, default=str)},
        ],
        "response_format": {"type": "json_object"},
        "temperature": temperature,
    }
    response = http.post_json(ctx, url, body, headers=headers)
    data = http.decode_json(response)
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _malformed(ctx, "has no message", response.text) from None
    if not isinstance(content, str):
        raise _malformed(ctx, "has no text content", response.text)
    # Some compatible servers wrap JSON in a Markdown fence despite response_format.
    fenced = _FENCE.match(content.strip())
    text = fenced.group(1) if fenced else content.strip()
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        raise _malformed(ctx, "is not JSON", content) from None
    if not isinstance(answer, dict):
        raise _malformed(ctx, "is not a JSON object", content)
    return answer


def _integer(value: Any) -> int | None:
    """Return an int for an integer or a string of digits (models quote ids); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _trim_words(text: str, max_words: int) -> str:
    """Return ``text`` cut after its ``max_words``-th word, keeping its own spacing."""
    words = list(re.finditer(r"\S+", text))
    if len(words) <= max_words:
        return text
    return text[: words[max_words - 1].end()]


def generate_copy(ctx: StepContext) -> dict[str, Any]:
    """Write copy from ``prompt`` (+ ``tone``, ``max_words``); return ``{"text": ...}``.

    A text longer than ``max_words`` is cut at that many words.
    """
    max_words = ctx.inputs.get("max_words")
    task = {
        "instructions": ctx.inputs["prompt"],
        "tone": ctx.inputs.get("tone") or "neutral",
        "max_words": max_words,
    }
    answer = ask(
        ctx,
        system=(
            "You write marketing copy for an online store. Follow the instructions in the "
            "user's JSON, in the tone given, in at most max_words words when it is set. "
            'Answer with a JSON object {"text": "<the copy>"} and nothing else.'
        ),
        task=task,
        temperature=0.7,
    )
    text = answer.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _malformed(ctx, "has no text", json.dumps(answer))
    text = text.strip()
    if isinstance(max_words, int) and max_words > 0:
        text = _trim_words(text, max_words)
    return {"text": text}


def suggest_segment(ctx: StepContext) -> dict[str, Any]:
    """Pick the workspace segment that best fits ``goal``; return ``{"segment_id": ...}``.

    Only the workspace's segments are offered and accepted. Raises ``PermanentError`` when the
    workspace has none.
    """
    segments = list(
        Segment.objects.filter(workspace=ctx.workspace)
        .order_by("pk")
        .values("id", "name", "description")[:CANDIDATE_LIMIT]
    )
    if not segments:
        raise PermanentError("the workspace has no segments to choose from")
    answer = ask(
        ctx,
        system=(
            "You help a marketer choose a customer segment. From the segments in the user's "
            "JSON, pick the one that best fits the goal. Answer with a JSON object "
            '{"segment_id": <the id of one listed segment>} and nothing else.'
        ),
        task={"goal": ctx.inputs["goal"], "segments": segments},
    )
    segment_id = _integer(answer.get("segment_id"))
    if segment_id is None or segment_id not in {segment["id"] for segment in segments}:
        raise _malformed(ctx, "names no listed segment", json.dumps(answer))
    return {"segment_id": segment_id}


def _customer(ctx: StepContext) -> Customer:
    customer_id = ctx.inputs["customer_id"]
    customer = Customer.objects.filter(workspace=ctx.workspace, pk=customer_id).first()
    if customer is None:
        raise PermanentError(f"customer {customer_id} does not exist in this workspace")
    return customer


def _history(customer: Customer) -> dict[str, Any]:
    """Return what the model may know of a customer: behaviour, no name, email or phone."""
    profile = customer_to_json(customer)
    orders = Order.objects.filter(customer=customer).order_by("-placed_at")[:20]
    return {
        "today": timezone.now().date().isoformat(),
        "lifecycle_stage": profile["lifecycle_stage"],
        "tags": profile["tags"],
        "order_count": profile["order_count"],
        "total_spent": profile["total_spent"],
        "last_order_at": profile["last_order_at"],
        "customer_since": profile["created_at"],
        "email_opt_in": profile["email_opt_in"],
        "recent_orders": [
            {
                "placed_at": order.placed_at.isoformat(),
                "total": str(order.total),
                "status": order.status,
                "product_ids": [item.get("product_id") for item in order.line_items],
            }
            for order in orders
        ],
    }


def predict_churn(ctx: StepContext) -> dict[str, Any]:
    """Estimate the customer's churn risk; return ``{"score": "0.82"}`` (a decimal in 0..1)."""
    customer = _customer(ctx)
    answer = ask(
        ctx,
        system=(
            "You estimate how likely a customer of an online store is to stop buying, from the "
            "purchase history in the user's JSON. Answer with a JSON object "
            '{"score": <a number from 0 (loyal) to 1 (about to leave)>} and nothing else.'
        ),
        task=_history(customer),
    )
    raw = answer.get("score")
    score: Decimal | None = None
    if isinstance(raw, int | float | str) and not isinstance(raw, bool):
        try:
            score = Decimal(str(raw).strip())
        except InvalidOperation:
            score = None
    if score is None or not score.is_finite() or not Decimal(0) <= score <= Decimal(1):
        raise _malformed(ctx, "has no score from 0 to 1", json.dumps(answer))
    return {"score": format(score.quantize(Decimal("0.0001")).normalize(), "f")}


def run_recommendation(ctx: StepContext) -> dict[str, Any]:
    """Pick up to ``limit`` (default 5) visible products for the customer.

    Returns ``{"product_ids": [...]}``: ids the model names that are not offered visible
    products of the workspace are dropped (and logged), as are repeats.
    """
    customer = _customer(ctx)
    limit = ctx.inputs.get("limit") or DEFAULT_RECOMMENDATIONS
    products = list(
        Product.objects.filter(workspace=ctx.workspace, is_hidden=False)
        .order_by("pk")
        .values("id", "title", "product_type")[:CANDIDATE_LIMIT]
    )
    answer = ask(
        ctx,
        system=(
            "You recommend products of an online store to one customer, from their history and "
            "the products in the user's JSON. Answer with a JSON object "
            '{"product_ids": [<ids of listed products, best first>]} with at most "limit" ids, '
            "and nothing else."
        ),
        task={"customer": _history(customer), "products": products, "limit": limit},
    )
    raw = answer.get("product_ids")
    if not isinstance(raw, list):
        raise _malformed(ctx, "has no product_ids list", json.dumps(answer))
    offered = {product["id"] for product in products}
    chosen: list[int] = []
    for value in raw:
        product_id = _integer(value)
        if product_id is None:
            raise _malformed(ctx, "lists something other than product ids", json.dumps(answer))
        if product_id in offered and product_id not in chosen:
            chosen.append(product_id)
    dropped = [value for value in raw if _integer(value) not in offered]
    if dropped:
        logger.info(
            "AI recommendation for %s named unknown products %r", ctx.idempotency_key, dropped
        )
    return {"product_ids": chosen[:limit]}


def generate_alt_text(ctx: StepContext) -> dict[str, Any]:
    """Describe the product for its image's alt text, save it, return ``{"alt_text": ...}``.

    The text is saved with ``update_product`` (emits ``product_updated`` when it changed),
    caused by this execution. At most 250 characters are kept.
    """
    product_id = ctx.inputs["product_id"]
    product = Product.objects.filter(workspace=ctx.workspace, pk=product_id).first()
    if product is None:
        raise PermanentError(f"product {product_id} does not exist in this workspace")
    answer = ask(
        ctx,
        system=(
            "You write alt text for a product image of an online store: one plain sentence "
            "describing what the image most likely shows, under 125 characters, without "
            '"image of". Answer with a JSON object {"alt_text": "<the text>"} and nothing else.'
        ),
        task={"title": product.title, "type": product.product_type, "sku": product.sku},
    )
    text = answer.get("alt_text")
    if not isinstance(text, str) or not text.strip():
        raise _malformed(ctx, "has no alt_text", json.dumps(answer))
    alt_text = " ".join(text.split())[:ALT_TEXT_MAX_CHARS]
    try:
        update_product(product=product, alt_text=alt_text, causation=ctx.causation)
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {"alt_text": alt_text}
