"""Parallel test lanes (pytest-xdist): the Redis databases each lane takes.

pytest-django gives each lane its own test database (``test_typewire_gw1``...); the root
``conftest.py`` applies ``lane_urls`` so that each lane also has its own Redis databases: a
lane's Celery workers never take another lane's tasks, and rate-limit counters never meet. Lane
``gwN`` (N > 0) uses database ``2N`` as its broker and ``2N + 1`` for counters, on the host the
URLs name; lane ``gw0`` and a run without ``-n`` keep the URLs as given.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

# This process's lane (gw0, gw1...), empty outside a parallel run.
LANE = os.environ.get("PYTEST_XDIST_WORKER", "")
# Lanes take Redis databases 2..13 (14 and 15 are the benchmark's).
MAX_LANES = 7


class LaneError(Exception):
    """This run's lanes cannot be isolated: the message says why and what to do."""


def _with_database(url: str, database: int) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def lane_urls(lane: str, broker_url: str, redis_url: str) -> dict[str, str]:
    """The broker and counter URLs lane ``lane`` (``gw0``, ``gw1``... or "") must use.

    Empty when the URLs stay as given (no lane, or the first lane).
    """
    if not lane.startswith("gw") or lane == "gw0":
        return {}
    number = int(lane.removeprefix("gw"))
    if number >= MAX_LANES:
        raise LaneError(f"at most {MAX_LANES} lanes (-n): each takes two Redis databases")
    if not broker_url.startswith(("redis://", "rediss://")):
        raise LaneError(
            "parallel lanes (-n) need a Redis broker, one database per lane; CELERY_BROKER_URL "
            f"is {urlsplit(broker_url).scheme}://...: run without -n"
        )
    return {
        "CELERY_BROKER_URL": _with_database(broker_url, 2 * number),
        "TYPEWIRE_REDIS_URL": _with_database(redis_url or broker_url, 2 * number + 1),
    }
