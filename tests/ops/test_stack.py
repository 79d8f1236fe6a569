"""ops/stack.py: the launcher starts real processes, reports when they are ready, and kills them."""

from __future__ import annotations

import os
import signal
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from ops.stack import Stack, child_pids, peak_rss_kib
from tests import workers
from tests.workers import wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead, waiting for its parent to reap it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


@pytest.mark.worker
@pytest.mark.django_db
def test_stack_serves_healthz_runs_a_worker_and_kills_them(tmp_path):
    # given a stack on the test database
    stack = Stack(
        database_url=workers.test_database_url(),
        broker_url=settings.CELERY_BROKER_URL,
        redis_url=settings.TYPEWIRE_REDIS_URL or None,
        log_dir=tmp_path,
        extra_env={"TYPEWIRE_STACK_TEST": "1"},
    )
    env = stack.env()
    assert env["DEBUG"] == "false"
    assert env["LOG_LEVEL"] == "WARNING"
    assert env["TYPEWIRE_STACK_TEST"] == "1"
    with stack:
        # when the web process starts
        base = stack.start_web(workers=1)
        # then it answers /healthz, from a worker process whose peak memory is readable
        assert _get(f"{base}/healthz") == (200, b'{"status": "ok"}')
        web_workers = stack.web_worker_pids()
        assert len(web_workers) == 1
        assert (peak_rss_kib(web_workers[0]) or 0) > 10_000

        # when a Celery worker starts, it is ready (its log says so) with a prefork child
        worker = stack.start_worker(concurrency=1, name="stacktest")
        assert b" ready." in stack.log_path(worker).read_bytes()
        children = child_pids(worker.pid)
        assert children

        # when it is killed, its whole process group dies
        stack.kill(worker)
        assert worker.poll() == -signal.SIGKILL
        wait_for(lambda: not any(_alive(pid) for pid in children), 10)

        web = stack.web_proc
        assert web is not None
    # then leaving the block stops gunicorn and its workers
    assert web.poll() is not None
    wait_for(lambda: not any(_alive(pid) for pid in web_workers), 10)
    with pytest.raises(urllib.error.URLError):
        _get(f"{base}/healthz")
