from __future__ import annotations

import pytest
from django.test import override_settings


def test_healthz_answers_200_without_touching_anything(client):
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_200_when_database_and_broker_answer(client):
    # when
    response = client.get("/readyz")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "broker_url",
    ["redis://127.0.0.1:1/0", "amqp://guest:guest@127.0.0.1:1//"],
    ids=["redis", "amqp"],
)
def test_readyz_answers_503_naming_the_broker_on_a_closed_port(client, broker_url):
    # given a broker URL pointing at a port where nothing listens
    with override_settings(CELERY_BROKER_URL=broker_url, CELERY_BROKER_TRANSPORT_OPTIONS={}):
        # when
        response = client.get("/readyz")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"]["ok"] is True
    assert response["Retry-After"] == "5"
