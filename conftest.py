"""Test-session guard: stop at once, with one clear line, when PostgreSQL or the broker is down."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

START_COMMANDS = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": (
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ),
    "amqp": "rabbitmq-server -detached",
}
DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "amqp": 5672}


def _reachable(url: str) -> tuple[bool, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    host, port = parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS.get(scheme, 0)
    try:
        with socket.create_connection((host, port), timeout=2):
            return True, f"{host}:{port}"
    except OSError:
        return False, f"{host}:{port}"


def pytest_sessionstart(session: pytest.Session) -> None:
    needed = [("DATABASE_URL", "postgres"), ("CELERY_BROKER_URL", None)]
    for var, kind in needed:
        url = os.environ.get(var, "")
        scheme = urlsplit(url).scheme.split("+")[0]
        if scheme in ("", "sqlite", "filesystem", "memory"):
            continue
        ok, where = _reachable(url)
        if not ok:
            service = kind or ("amqp" if scheme.startswith("amqp") else scheme)
            pytest.exit(
                f"{var} points at {service} on {where}, which does not answer: start it with "
                f"`{START_COMMANDS.get(service, 'its service manager')}`",
                returncode=3,
            )
