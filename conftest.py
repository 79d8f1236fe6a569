"""Test-session guard and lanes.

The guard stops the run at once, with one clear line, when PostgreSQL or the broker is down.
Lanes: ``make test`` runs the suite in parallel (pytest-xdist, ``-n``); this file gives each lane
its own Redis databases (``tests.lanes``) and sends the slow modules out first.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
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


# Markers of the tests that mostly wait on other processes (minutes of fault injection, real
# workers, beat's minute ticks, a browser): in lanes their modules start first, so their waiting
# overlaps the rest of the suite instead of trailing it.
SLOW_FIRST = ("reliability", "worker", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In lanes, put the modules of slow tests first (a module's tests keep their order)."""
    if not hasattr(config, "workerinput"):
        return
    rank: dict[Path, int] = {}
    for item in items:
        mine = min(
            (i for i, m in enumerate(SLOW_FIRST) if item.get_closest_marker(m)),
            default=len(SLOW_FIRST),
        )
        rank[item.path] = min(rank.get(item.path, mine), mine)
    items.sort(key=lambda item: rank[item.path])  # stable: the rest keeps its order


def _give_this_lane_its_own_redis() -> None:
    """Point this xdist lane's broker and counters at Redis databases of its own (tests.lanes).

    Runs when this file is imported: after Django has read its settings (pytest-django sets it
    up first), before any test, any Celery connection or any worker process. The environment is
    changed too, for the worker and web processes the tests start.
    """
    from django.conf import settings

    from tests.lanes import LANE, LaneError, lane_urls

    try:
        urls = lane_urls(
            LANE,
            os.environ.get("CELERY_BROKER_URL", ""),
            os.environ.get("TYPEWIRE_REDIS_URL", ""),
        )
    except LaneError as error:
        raise pytest.UsageError(str(error)) from None
    if not urls:
        return
    from config.celery import app

    # Celery sets ``configured`` once it has read its settings (celery-types does not declare it).
    if getattr(app, "configured", True):  # pragma: no cover - guards a future import-order change
        raise RuntimeError("the Celery app read its settings before the lane could set them")
    os.environ.update(urls)
    for name, url in urls.items():
        setattr(settings, name, url)
    if "TYPEWIRE_RATELIMIT_REDIS_URL" not in os.environ:
        settings.TYPEWIRE_RATELIMIT_REDIS_URL = urls["TYPEWIRE_REDIS_URL"]


_give_this_lane_its_own_redis()
