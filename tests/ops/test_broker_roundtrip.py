"""A task goes through a real broker to a real worker process and back into the database."""

from __future__ import annotations

import os
import uuid

import pytest
from celery import Celery

from ops.models import Heartbeat
from tests.workers import celery_worker, wait_for

BROKERS = {
    "redis": os.environ["CELERY_BROKER_URL"],
    "rabbitmq": os.environ["TYPEWIRE_AMQP_URL"],
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_task_round_trip_through_broker(broker):
    # given a worker consuming from this broker, on the test database
    url = BROKERS[broker]
    token = uuid.uuid4().hex
    sender = Celery("typewire-test-sender", broker=url, set_as_current=False)
    with celery_worker(url, name=f"roundtrip-{broker}"):
        # when a task is published by name, as the product does
        # (an explicit connection: Celery lets a CELERY_BROKER_URL variable override broker=)
        with sender.connection_for_write(url) as conn:
            sender.send_task(
                "ops.record_heartbeat",
                kwargs={"source": "ping", "token": token},
                queue="periodic",
                connection=conn,
            )
        # then the worker ran it and wrote its heartbeat
        beat = wait_for(lambda: Heartbeat.objects.filter(token=token).first(), timeout=40)
    assert beat.source == Heartbeat.Source.PING
    assert beat.worker.startswith(f"roundtrip-{broker}@")
    assert Heartbeat.objects.filter(token=token).count() == 1
