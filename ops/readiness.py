"""Readiness checks: can this process reach the database and the broker right now?"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from kombu import Connection


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one dependency check."""

    name: str
    ok: bool
    detail: str


def check_database() -> Check:
    """Run ``SELECT 1`` on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return Check("database", False, f"{type(exc).__name__}: {exc}")
    return Check("database", True, connection.vendor)


def check_broker(timeout: float = 2.0) -> Check:
    """Open (and close) a connection to the Celery broker, giving up after ``timeout`` seconds."""
    url = settings.CELERY_BROKER_URL
    try:
        with Connection(
            url,
            connect_timeout=timeout,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=max(1, round(timeout)))
            transport = conn.transport_cls
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return Check("broker", False, f"{type(exc).__name__}: {exc}")
    return Check("broker", True, str(transport))


def run_checks() -> list[Check]:
    """Return the database and broker checks, in that order."""
    return [check_database(), check_broker()]
