"""The web process as production runs it: gevent workers borrowing from a database pool."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from django.db import connection

from tests import workers
from tests.webhooks.conftest import as_json, make_endpoint, standard_headers
from tests.webhooks.servers import free_port, gunicorn

APP_NAME = "typewire-web-under-test"


def _web_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP_NAME]
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_burst_on_cold_and_cached_endpoints_is_stored_within_a_pool_of_two(workspace):
    # given the web process with a pool of 2 connections, one endpoint it has cached and 30 it
    # has not: a delivery to a new endpoint takes a connection to load it, then may wait in the
    # group commit behind a delivery to the cached one, which needs a connection to write
    cached, cached_secret = make_endpoint(workspace, rate_limit_per_minute=0)
    cold = [make_endpoint(workspace, rate_limit_per_minute=0) for _ in range(30)]
    env = {
        "DB_POOL_SIZE": "2",
        "DB_POOL_TIMEOUT": "3",
        "DATABASE_URL": f"{workers.test_database_url()}?application_name={APP_NAME}",
    }
    answers: list[int] = []
    lock = threading.Lock()
    peak = 0
    with gunicorn(env, name="pool", production=True) as base:

        def deliver(token: str, secret: str, n: int, barrier: threading.Barrier | None) -> None:
            body = as_json({"type": "user.created", "n": n})
            headers = {"Content-Type": "application/json", **standard_headers(body, secret)}
            with httpx.Client(timeout=30) as client:
                if barrier is not None:
                    barrier.wait()
                status = client.post(f"{base}/hooks/{token}", content=body, headers=headers)
            with lock:
                answers.append(status.status_code)

        deliver(cached.token, cached_secret, -1, None)  # now cached
        barrier = threading.Barrier(60)
        threads = [
            threading.Thread(target=deliver, args=(cached.token, cached_secret, n, barrier))
            for n in range(30)
        ] + [
            threading.Thread(target=deliver, args=(hook.token, secret, n, barrier))
            for n, (hook, secret) in enumerate(cold)
        ]
        # when all 60 arrive at once
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, _web_connections())
            time.sleep(0.02)
    # then every one is stored (one that waited out the pool's timeout would be a 503), and
    # the process never held more than its pool's connections
    assert sorted(answers) == [202] * 61
    assert 1 <= peak <= 2


def test_database_down_answers_503_after_one_wait_for_a_pooled_connection():
    # given the web process pointed at a database that does not answer, waiting 3 s for one
    dead_db = f"postgres://root@127.0.0.1:{free_port()}/nowhere"
    env = {"DATABASE_URL": dead_db, "DB_POOL_SIZE": "2", "DB_POOL_TIMEOUT": "3"}
    body = as_json({"type": "user.created"})
    # when a delivery arrives
    with gunicorn(env, name="pool-db-down", production=True) as base:
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200  # worker booted
        began = time.monotonic()
        response = httpx.post(
            f"{base}/hooks/some-endpoint-token",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        took = time.monotonic() - began
    # then it is told to retry after one wait, not after a second one to log the answer
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["error"] == "unavailable"
    assert 3 <= took < 5.5
