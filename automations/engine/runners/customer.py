"""Runners of the customer actions: tags, profile fields and journeys, through the domain services.

Each is internal: the engine calls it inside the transaction that records the step's applied
effect, and the service records its events (``customer_tagged``, ``journey_enrolled``...) in
that same transaction, linked to the execution through ``ctx.causation``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone

from automations.engine.contract import PermanentError, StepContext
from automations.engine.runners.email import send_transactional_email  # noqa: F401
from catalog.domain.services import (
    DomainError,
    tag_customer,
    untag_customer,
    update_customer_field,
)
from catalog.domain.services import enroll_journey as enroll_service
from catalog.domain.services import enroll_product_buyers as enroll_buyers_service
from catalog.domain.services import exit_journey as exit_service
from catalog.domain.services import upsert_customer as upsert_service
from catalog.models import Customer, Journey
from catalog.types import ValidationError


@contextmanager
def step_customer(ctx: StepContext) -> Iterator[Customer]:
    """Lend the step's ``customer_id`` customer to a service; PermanentError if not found.

    What is given is a reference (the id and the workspace), not a row: every service it goes
    to locks and reads the row, and that lock checks the workspace in the same query
    (``relock``), so reading it here first would be a query for nothing. A customer missing
    from the workspace surfaces there, as the model's ``DoesNotExist``.
    """
    customer_id = ctx.inputs["customer_id"]
    try:
        yield Customer(pk=customer_id, workspace=ctx.workspace)
    except Customer.DoesNotExist as exc:
        raise PermanentError(f"customer {customer_id} does not exist in this workspace") from exc


def journey_of(ctx: StepContext) -> Journey:
    """Return the step's ``journey_id`` journey; PermanentError when not in the workspace."""
    journey_id = ctx.inputs["journey_id"]
    journey = Journey.objects.filter(workspace=ctx.workspace, pk=journey_id).first()
    if journey is None:
        raise PermanentError(f"journey {journey_id} does not exist in this workspace")
    return journey


def tag(ctx: StepContext) -> dict[str, Any]:
    """Add ``tag`` to the customer (emits ``customer_tagged`` when new); no outputs."""
    try:
        with step_customer(ctx) as customer:
            tag_customer(customer=customer, tag=ctx.inputs["tag"], causation=ctx.causation)
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}


def untag(ctx: StepContext) -> dict[str, Any]:
    """Remove ``tag`` from the customer (emits ``customer_tagged`` when it was there)."""
    try:
        with step_customer(ctx) as customer:
            untag_customer(customer=customer, tag=ctx.inputs["tag"], causation=ctx.causation)
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}


def update_field(ctx: StepContext) -> dict[str, Any]:
    """Set one profile or custom field; a value of the wrong type fails for good.

    Emits ``customer_updated`` and, where it applies, ``lifecycle_changed`` or
    ``opt_in_changed``.
    """
    try:
        with step_customer(ctx) as customer:
            update_customer_field(
                customer=customer,
                field=ctx.inputs["field"],
                value=ctx.inputs.get("value"),
                causation=ctx.causation,
            )
    except (DomainError, ValidationError) as exc:
        raise PermanentError(f"cannot set {ctx.inputs['field']}: {exc}") from exc
    return {}


def upsert_customer(ctx: StepContext) -> dict[str, Any]:
    """Update the customer with ``email``, or create one; return its id and whether it is new.

    Emits ``customer_created`` for a new customer, else ``customer_updated`` (and
    ``opt_in_changed`` for a changed opt-in) when a given detail differs.
    """
    inputs = ctx.inputs
    opt_in = inputs.get("accepts_marketing")
    try:
        result = upsert_service(
            workspace=ctx.workspace,
            email=inputs["email"],
            first_name=str(inputs.get("first_name") or ""),
            last_name=str(inputs.get("last_name") or ""),
            phone=str(inputs.get("phone") or ""),
            source=str(inputs.get("source") or ""),
            email_opt_in=None if opt_in is None else bool(opt_in),
            causation=ctx.causation,
        )
    except (DomainError, ValidationError) as exc:
        raise PermanentError(f"cannot create or update the customer: {exc}") from exc
    return {"customer_id": result.customer.pk, "created": result.created}


def enroll_product_buyers(ctx: StepContext) -> dict[str, Any]:
    """Enroll each buyer of ``product_ids`` in the journey once; return buyers and new enrollments.

    Emits ``journey_enrolled`` per newly enrolled customer. Products of another workspace
    match no order of this one.
    """
    days = ctx.inputs.get("within_days")
    since = timezone.now() - dt.timedelta(days=int(days)) if days else None
    try:
        result = enroll_buyers_service(
            journey=journey_of(ctx),
            product_ids=[int(pk) for pk in ctx.inputs["product_ids"]],
            since=since,
            causation=ctx.causation,
        )
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {"buyers": len(result.buyer_ids), "enrolled": len(result.enrolled_ids)}


def enroll_journey(ctx: StepContext) -> dict[str, Any]:
    """Enroll the customer in the journey (emits ``journey_enrolled`` unless already in it)."""
    try:
        journey = journey_of(ctx)
        with step_customer(ctx) as customer:
            enroll_service(journey=journey, customer=customer, causation=ctx.causation)
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}


def exit_journey(ctx: StepContext) -> dict[str, Any]:
    """End the customer's enrollment in the journey (emits ``journey_exited`` if they were in)."""
    try:
        journey = journey_of(ctx)
        with step_customer(ctx) as customer:
            exit_service(
                journey=journey,
                customer=customer,
                reason=str(ctx.inputs.get("reason") or ""),
                causation=ctx.causation,
            )
    except DomainError as exc:
        raise PermanentError(str(exc)) from exc
    return {}
