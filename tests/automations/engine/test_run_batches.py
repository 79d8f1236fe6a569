"""``automations.run_executions``: the batch message a dispatch sends for its executions."""

from __future__ import annotations

import pytest

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
