"""Test-session guard and lanes.

The guard stops the run at once, with one clear line, when PostgreSQL or the broker is down.
Lanes: ``make test`` runs the suite in parallel (pytest-xdist, ``-n``). pytest-django gives each
lane its own test database (``test_typewire_gw1``...); this file gives each its own Redis
databases, so a lane's Celery workers never take another lane's tasks and rate-limit counters
never meet: lane ``gwN`` (N > 0) uses Redis database ``2N`` as its broker and ``2N + 1`` for
counters, on the host the URLs name. Lane ``gw0`` and a run without ``-n`` keep the URLs as given.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

# Lanes take Redis databases 2..13 (14 and 15 are the benchmark's).
MAX_LANES = 7
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
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        mine = min(
            (i for i, m in enumerate(SLOW_FIRST) if item.get_closest_marker(m)),
            default=len(SLOW_FIRST),
        )
        rank[module] = min(rank.get(module, mine), mine)
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (rank[item.nodeid.split("::", 1)[0]], order[id(item)]))


def _lane_url(url: str, database: int) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def _give_this_lane_its_own_redis() -> None:
    """Point this xdist lane's broker and counters at Redis databases of its own.

    Runs when this file is imported: after Django has read its settings (pytest-django sets it
    up first), before any test, any Celery connection or any worker process. The environment is
    changed too, for the worker and web processes the tests start.
    """
    lane = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not lane.startswith("gw") or lane == "gw0":
        return
    number = int(lane.removeprefix("gw"))
    if number >= MAX_LANES:
        raise pytest.UsageError(f"at most {MAX_LANES} lanes (-n): each takes two Redis databases")
    from django.conf import settings

    broker = os.environ["CELERY_BROKER_URL"]
    if not broker.startswith(("redis://", "rediss://")):
        raise pytest.UsageError(
            f"parallel lanes (-n) need a Redis broker, one database per lane; CELERY_BROKER_URL is "
            f"{urlsplit(broker).scheme}://...: run without -n"
        )
    from config.celery import app

    # Celery sets ``configured`` once it has read its settings (celery-types does not declare it).
    if getattr(app, "configured", True):  # pragma: no cover - guards a future import-order change
        raise RuntimeError("the Celery app read its settings before the lane could set them")
    urls = {
        "CELERY_BROKER_URL": _lane_url(broker, 2 * number),
        "TYPEWIRE_REDIS_URL": _lane_url(
            os.environ.get("TYPEWIRE_REDIS_URL") or broker, 2 * number + 1
        ),
    }
    os.environ.update(urls)
    for name, url in urls.items():
        setattr(settings, name, url)
    if "TYPEWIRE_RATELIMIT_REDIS_URL" not in os.environ:
        settings.TYPEWIRE_RATELIMIT_REDIS_URL = urls["TYPEWIRE_REDIS_URL"]


_give_this_lane_its_own_redis()
