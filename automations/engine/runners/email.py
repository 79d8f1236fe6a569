"""Runner of send_transactional_email: one message through Django's email backend."""

from __future__ import annotations

import hashlib
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from automations.engine.contract import PermanentError, RetryableError, StepContext
from catalog.models import Customer

IDEMPOTENCY_HEADER = "X-Typewire-Idempotency-Key"
"""The header carrying the step's idempotency key, for mail systems that deduplicate."""


def _recipient(ctx: StepContext) -> str:
    """Return ``to``, or the email of the customer ``customer_id`` in the step's workspace."""
    if ctx.inputs.get("to"):
        return str(ctx.inputs["to"])
    customer_id = ctx.inputs.get("customer_id")
    if customer_id is None:
        raise PermanentError("give an email address or a customer to send to")
    customer = Customer.objects.filter(workspace=ctx.workspace, pk=customer_id).first()
    if customer is None:
        raise PermanentError(f"customer {customer_id} does not exist in this workspace")
    if not customer.email:
        raise PermanentError(f"customer {customer_id} has no email address")
    return customer.email


def send_transactional_email(ctx: StepContext) -> dict[str, Any]:
    """Send ``subject`` and ``body`` (plain text) to ``to`` or the customer; no outputs.

    The message carries the step's idempotency key as ``X-Typewire-Idempotency-Key`` and a
    ``Message-ID`` derived from it, so a resend after a crash is recognisable downstream.
    Raises ``PermanentError`` for a missing recipient, a header injection attempt or a refused
    recipient, and ``RetryableError`` when the mail server cannot be reached.
    """
    to = _recipient(ctx)
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:32]
    message = EmailMessage(
        subject=ctx.inputs["subject"],
        body=ctx.inputs["body"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={IDEMPOTENCY_HEADER: ctx.idempotency_key, "Message-ID": f"<{digest}@typewire>"},
    )
    try:
        message.send(fail_silently=False)
    except ValueError as exc:  # a newline in a header (injection attempt), a bad address
        raise PermanentError(f"the email cannot be sent: {exc}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError(f"the mail server refused {to}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryableError(f"the mail server could not take the email: {exc}") from exc
    return {}
