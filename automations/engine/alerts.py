"""Alerts: tell a rule's alert target that an execution died or looped, or the rule was paused.

:func:`send_alert` (and :func:`send_pause_alerts`) write :class:`Alert` rows in the caller's
transaction (the one that settles the execution or pauses the rule) and queue
``automations.send_alert`` on the outbound queue once it commits; :func:`deliver_alert` (that
task's body) sends it by email, to a Slack incoming webhook or to a webhook, and records the
outcome on the row.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from automations.draft import AlertKind, parse_definition
from automations.engine.queue import ALERT_TASK, enqueue_after_commit
from automations.models import Alert, AlertStatus, Execution, Rule

if TYPE_CHECKING:
    from automations.models import StepRun

logger = logging.getLogger(__name__)

PAYLOAD_SUMMARY_LIMIT = 500


class AlertReason(StrEnum):
    """Why an alert was sent."""

    DEAD = "dead"
    LOOP = "loop"
    PAUSED = "paused"


class AlertNotDelivered(Exception):
    """The alert target did not take the alert; the task tries again shortly."""


def _summary(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    if len(text) > PAYLOAD_SUMMARY_LIMIT:
        text = text[: PAYLOAD_SUMMARY_LIMIT - 3] + "..."
    return text


def compose(
    execution: Execution, reason: AlertReason, step_run: StepRun | None = None
) -> tuple[str, str]:
    """Return the subject and body of an alert: rule, sentence, event, failing step, error."""
    rule = execution.rule
    event = execution.event
    what = "stopped as a loop" if reason is AlertReason.LOOP else "failed"
    subject = f"[Typewire] Rule '{rule.name}' {what}"
    lines = [
        f"Rule: {rule.name} (#{rule.pk}, version {execution.rule_version})",
        f"What it does: {rule.sentence or '(no sentence)'}",
        f"Execution: {execution.pk}",
        f"Event: {event.pk} ({event.trigger_key}, received {event.recorded_at.isoformat()})",
        f"Payload: {_summary(event.payload)}",
    ]
    if step_run is not None:
        lines.append(
            f"Failing step: {step_run.path} ({step_run.action}), "
            f"after {step_run.attempts} attempt(s)"
        )
    lines.append(f"Error: {execution.error}")
    if reason is AlertReason.DEAD:
        lines.append("An admin can replay the execution from the failed step once it is fixed.")
    return subject, "\n".join(lines)


def send_alert(
    execution: Execution, reason: AlertReason, *, step_run: StepRun | None = None
) -> Alert | None:
    """Record an alert about ``execution`` and send it once the current transaction commits.

    The target is the rule's ``alert`` (email, Slack or webhook), else its owner's email.
    Returns None (and logs) when the rule has neither.
    """
    rule = execution.rule
    draft, _ = parse_definition(rule.definition, name=rule.name)
    if draft.alert is not None:
        kind, target = draft.alert.kind.value, draft.alert.target
    elif rule.owner is not None and rule.owner.email:
        kind, target = AlertKind.EMAIL.value, rule.owner.email
    else:
        logger.warning(
            "execution %s: %s, but rule %s has no alert target", execution.pk, reason, rule.pk
        )
        return None
    subject, body = compose(execution, reason, step_run)
    alert = Alert.objects.create(
        execution=execution,
        rule_id=execution.rule_id,
        kind=kind,
        target=target,
        reason=reason.value,
        subject=subject,
        body=body,
    )
    enqueue_after_commit(ALERT_TASK, alert.pk)
    return alert


def pause_targets(rule: Rule) -> list[tuple[str, str]]:
    """Return who hears that ``rule`` was paused: its alert target and its owner, once each."""
    targets: list[tuple[str, str]] = []
    draft, _ = parse_definition(rule.definition, name=rule.name)
    if draft.alert is not None:
        targets.append((draft.alert.kind.value, draft.alert.target))
    if rule.owner is not None and rule.owner.email:
        owner = (AlertKind.EMAIL.value, rule.owner.email)
        if owner not in targets:
            targets.append(owner)
    return targets


def compose_pause(rule: Rule, reason: str, execution: Execution | None) -> tuple[str, str]:
    """Return the subject and body of a pause alert: rule, sentence, why, and how to resume."""
    subject = f"[Typewire] Rule '{rule.name}' paused"
    lines = [
        f"Rule: {rule.name} (#{rule.pk}, version {rule.version})",
        f"What it does: {rule.sentence or '(no sentence)'}",
        reason,
    ]
    if execution is not None:
        lines.append(f"Last failed execution: {execution.pk}: {execution.error}")
    lines.append(
        "Events that match it meanwhile are kept: their executions are held, and run once "
        f"someone resumes the rule (POST /api/v1/rules/{rule.pk}/resume/)."
    )
    return subject, "\n".join(lines)


def send_pause_alerts(
    rule: Rule, reason: str, *, execution: Execution | None = None
) -> list[Alert]:
    """Record alerts that ``rule`` was paused and send them once the current transaction commits.

    One alert per target of :func:`pause_targets`; ``execution`` (the one that tripped the
    breaker) is named when given. Returns the alerts (none, and a log line, without a target).
    """
    targets = pause_targets(rule)
    if not targets:
        logger.warning("rule %s paused, but it has no alert target nor owner", rule.pk)
        return []
    subject, body = compose_pause(rule, reason, execution)
    alerts = [
        Alert.objects.create(
            execution=execution,
            rule=rule,
            kind=kind,
            target=target,
            reason=AlertReason.PAUSED.value,
            subject=subject,
            body=body,
        )
        for kind, target in targets
    ]
    for alert in alerts:
        enqueue_after_commit(ALERT_TASK, alert.pk)
    return alerts


def _webhook_body(alert: Alert) -> dict[str, Any]:
    execution = alert.execution
    if alert.reason == AlertReason.PAUSED or execution is None:
        rule = alert.rule
        assert rule is not None  # alert_about_something: a rule alert always names its rule
        return {
            "type": "typewire.rule.paused",
            "reason": alert.reason,
            "subject": alert.subject,
            "text": alert.body,
            "rule": {"id": rule.pk, "name": rule.name, "paused_reason": rule.paused_reason},
            "execution": None if execution is None else {"id": execution.pk},
        }
    return {
        "type": "typewire.execution.failed",
        "reason": alert.reason,
        "subject": alert.subject,
        "text": alert.body,
        "rule": {"id": execution.rule_id, "name": execution.rule.name},
        "execution": {"id": execution.pk, "status": execution.status, "error": execution.error},
        "event": {"id": str(execution.event_id), "trigger": execution.event.trigger_key},
    }


def deliver_alert(alert_id: int) -> bool:
    """Send one pending alert to its target; return whether it was sent now.

    An alert already sent, or gone, is left alone (False). A failed delivery is recorded on the
    row and raises AlertNotDelivered, so the task can try again.
    """
    alert = (
        Alert.objects.select_related("rule", "execution__rule", "execution__event")
        .filter(pk=alert_id)
        .first()
    )
    if alert is None or alert.status == AlertStatus.SENT:
        return False
    try:
        if alert.kind == AlertKind.EMAIL:
            send_mail(alert.subject, alert.body, settings.DEFAULT_FROM_EMAIL, [alert.target])
        else:
            from automations.engine.http import post_json

            body: dict[str, Any] = (
                {"text": f"*{alert.subject}*\n{alert.body}"}
                if alert.kind == AlertKind.SLACK
                else _webhook_body(alert)
            )
            # A Slack webhook URL is a secret: it is not written to logs.
            log_url = "slack-webhook" if alert.kind == AlertKind.SLACK else None
            post_json(None, alert.target, body, log_url=log_url)
    except Exception as exc:
        detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
        Alert.objects.filter(pk=alert.pk).exclude(status=AlertStatus.SENT).update(
            status=AlertStatus.FAILED, error=str(detail)[:2000]
        )
        raise AlertNotDelivered(str(detail)) from exc
    Alert.objects.filter(pk=alert.pk).update(
        status=AlertStatus.SENT, error="", sent_at=timezone.now()
    )
    return True
