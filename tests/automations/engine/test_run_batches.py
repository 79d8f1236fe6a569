"""``automations.run_executions``: the batch message a dispatch sends for its executions."""

from __future__ import annotations

import base64
import json

import pytest
import redis
from celery.utils.saferepr import saferepr
from redis.client import Pipeline

from automations import tasks
from automations.engine import queue, run


def test_one_execution_that_raises_does_not_stop_the_rest_of_its_batch(monkeypatch, caplog):
    # given a batch whose second execution blows up
    ran: list[int] = []

    def fake_run(execution_id: int) -> None:
        if execution_id == 2:
            raise RuntimeError("boom")
        ran.append(execution_id)

    monkeypatch.setattr(run, "run_execution", fake_run)
    # when
    tasks.run_executions.run([1, 2, 3])
    # then the others ran and the failure is logged for the sweeper to pick up
    assert ran == [1, 3]
    assert "execution 2 failed to run" in caplog.text


@pytest.mark.django_db
def test_executions_are_published_in_batches_of_the_configured_size(
    settings, django_capture_on_commit_callbacks
):
    # given
    settings.TYPEWIRE_RUN_BATCH = 2
    # when five executions are enqueued in one transaction
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queue.enqueue_runs([11, 12, 13, 14, 15])
    # then one publish after commit carries three messages' worth
    assert [callback.args for callback in callbacks] == [([[11, 12], [13, 14], [15]],)]


@pytest.mark.django_db
def test_a_single_execution_goes_as_its_own_run_message(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queue.enqueue_runs([42])
    assert [callback.args for callback in callbacks] == [(queue.RUN_TASK, 42)]


@pytest.mark.django_db
def test_a_dispatchs_batches_reach_the_broker_in_one_pipelined_round_trip(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    # given a real Redis broker, its rules queue empty, and a count of the Redis calls made
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(settings.QUEUE_RULES)
    settings.TYPEWIRE_RUN_BATCH = 2
    single, pipelined = [], []
    real_command, real_execute = redis.Redis.execute_command, Pipeline.execute

    def count_command(self, *args, **options):
        single.append(args[0])
        return real_command(self, *args, **options)

    def count_execute(self, *args, **options):
        pipelined.append([command[0][0] for command in self.command_stack])
        return real_execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", count_command)
    monkeypatch.setattr(Pipeline, "execute", count_execute)
    # when five executions are enqueued and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue_runs([11, 12, 13, 14, 15])
    # then the three messages went in one pipeline, none on its own
    assert [commands for commands in pipelined if "LPUSH" in commands] == [["LPUSH"] * 3]
    assert "LPUSH" not in single
    # and each carries its batch, described as Celery would describe it
    raw = [json.loads(item) for item in reversed(broker.lrange(settings.QUEUE_RULES, 0, -1))]
    broker.delete(settings.QUEUE_RULES)
    sent = [
        (m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0], m["headers"]["argsrepr"])
        for m in raw
    ]
    assert sent == [
        (queue.RUN_MANY_TASK, [ids], saferepr([ids])) for ids in ([11, 12], [13, 14], [15])
    ]
