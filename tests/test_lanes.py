"""Parallel lanes (tests.lanes): each lane's own Redis databases, and this lane really uses them."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from config.celery import app
from tests.lanes import LANE, MAX_LANES, LaneError, lane_urls

BROKER = "redis://127.0.0.1:6379/0"
COUNTERS = "redis://127.0.0.1:6379/1"


@pytest.mark.parametrize("lane", ["", "gw0"])
def test_no_lane_and_the_first_lane_keep_the_urls_as_given(lane):
    assert lane_urls(lane, BROKER, COUNTERS) == {}


@pytest.mark.parametrize(("lane", "broker", "counters"), [("gw1", 2, 3), ("gw3", 6, 7)])
def test_lane_n_takes_databases_2n_and_2n_plus_1_on_the_same_host(lane, broker, counters):
    urls = lane_urls(lane, "redis://:pw@cache.internal:6380/0", "")
    assert urls == {
        "CELERY_BROKER_URL": f"redis://:pw@cache.internal:6380/{broker}",
        "TYPEWIRE_REDIS_URL": f"redis://:pw@cache.internal:6380/{counters}",
    }


def test_every_lane_gets_databases_no_other_lane_has():
    taken = [
        url
        for n in range(MAX_LANES)
        for url in (lane_urls(f"gw{n}", BROKER, COUNTERS) or {"b": BROKER, "c": COUNTERS}).values()
    ]
    assert len(taken) == len(set(taken)) == 2 * MAX_LANES
    assert not {"redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/15"} & set(taken)


def test_too_many_lanes_and_a_broker_without_databases_are_refused_saying_why():
    with pytest.raises(LaneError, match="at most 7 lanes"):
        lane_urls(f"gw{MAX_LANES}", BROKER, COUNTERS)
    with pytest.raises(LaneError, match="need a Redis broker.*amqp://"):
        lane_urls("gw1", "amqp://guest:guest@127.0.0.1:5672//", COUNTERS)


def test_this_lane_uses_its_own_databases_in_settings_and_for_the_processes_it_starts():
    expected = lane_urls(LANE, BROKER, COUNTERS)
    if not expected:
        pytest.skip("not running in a lane other than the first (make test runs three)")
    for name in ("CELERY_BROKER_URL", "TYPEWIRE_REDIS_URL"):
        # the lane's database, in the settings and in what the worker processes inherit
        assert urlsplit(getattr(settings, name)).path == urlsplit(expected[name]).path
        assert os.environ[name] == getattr(settings, name)
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert settings.TYPEWIRE_RATELIMIT_REDIS_URL == settings.TYPEWIRE_REDIS_URL
