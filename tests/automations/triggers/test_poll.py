"""poll_new_item: one event per item not seen before, through the guarded client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from automations.trigger_models import PollSeenItem, PollState
from automations.triggers.poll import poll_due, poll_rule
from catalog.models import Event, EventSource

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def reviews(*ids: str) -> dict[str, object]:
    return {"data": {"reviews": [{"id": i, "rating": 5, "author": "Jane"} for i in ids]}}


def poll_config(url: str) -> dict[str, str]:
    return {"url": url, "interval": "PT15M", "items_path": "data.reviews", "id_field": "id"}


def serve(local_server, document) -> None:
    local_server.handler = lambda seen: (200, document, {})


def test_new_items_fire_one_event_each_and_a_second_poll_fires_none(local_server, make_rule):
    # given: the first poll took in the two items already there
    url = f"{local_server.url}/reviews.json"
    rule = make_rule("poll_new_item", poll_config(url))
    serve(local_server, reviews("rev_1", "rev_2"))
    first = poll_rule(rule, now=T0)
    serve(local_server, reviews("rev_4", "rev_3", "rev_2", "rev_1"))

    # when
    second = poll_rule(rule, now=T0 + timedelta(minutes=15))
    third = poll_rule(rule, now=T0 + timedelta(minutes=30))

    # then
    assert (first.seeded, first.events) == (2, [])
    assert [e.payload["item_id"] for e in second.events] == ["rev_4", "rev_3"]
    assert third.events == []
    event = Event.objects.get(dedupe_key=f"poll:{rule.pk}:rev_4")
    assert event.payload == {
        "source_url": url,
        "item_id": "rev_4",
        "item": {"id": "rev_4", "rating": 5, "author": "Jane"},
    }
    assert event.source == EventSource.POLL
    assert Event.objects.filter(trigger_key="poll_new_item").count() == 2
    assert PollSeenItem.objects.filter(rule=rule).count() == 4


def test_a_source_that_fails_records_the_error_and_fires_nothing(local_server, make_rule):
    # given
    rule = make_rule("poll_new_item", poll_config(f"{local_server.url}/reviews.json"))
    local_server.handler = lambda seen: (503, {"error": "down"}, {})

    # when
    result = poll_rule(rule, now=T0)

    # then
    assert result.error.startswith("127.0.0.1 answered 503")
    assert PollState.objects.get(rule=rule).error == result.error
    assert Event.objects.count() == 0
    assert PollSeenItem.objects.count() == 0


def test_an_answer_without_the_list_fires_nothing(local_server, make_rule):
    # given
    rule = make_rule("poll_new_item", poll_config(f"{local_server.url}/reviews.json"))
    serve(local_server, {"data": {"reviews": {"id": "not a list"}}})

    # when
    result = poll_rule(rule, now=T0)

    # then
    assert result.error == "the answer has no list of items at 'data.reviews'"
    assert Event.objects.count() == 0


def test_a_source_refused_by_the_ssrf_guard_is_not_polled(settings, make_rule):
    # given: a rule pointing at a private address, not on the allow list
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = []
    rule = make_rule("poll_new_item", poll_config("http://10.0.0.1/reviews.json"))

    # when
    result = poll_rule(rule, now=T0)

    # then
    assert result.error == "refused: 10.0.0.1 is a private address"
    assert Event.objects.count() == 0


def test_poll_due_polls_each_rule_once_per_interval(local_server, make_rule):
    # given
    rule = make_rule("poll_new_item", poll_config(f"{local_server.url}/reviews.json"))
    make_rule("poll_new_item", poll_config(f"{local_server.url}/off.json"), enabled=False)
    serve(local_server, reviews("rev_1"))

    # when
    at_start = poll_due(now=T0)
    too_soon = poll_due(now=T0 + timedelta(minutes=14))
    due = poll_due(now=T0 + timedelta(minutes=15))

    # then
    assert [r.rule_id for r in at_start] == [rule.pk]
    assert too_soon == []
    assert [r.rule_id for r in due] == [rule.pk]
    assert [seen.path for seen in local_server.seen] == ["/reviews.json", "/reviews.json"]


def test_a_changed_url_takes_in_the_new_sources_items_without_firing(local_server, make_rule):
    # given
    rule = make_rule("poll_new_item", poll_config(f"{local_server.url}/a.json"))
    serve(local_server, reviews("a_1"))
    poll_rule(rule, now=T0)
    rule.definition["trigger"]["config"]["url"] = f"{local_server.url}/b.json"
    serve(local_server, reviews("b_1", "b_2"))

    # when
    moved = poll_rule(rule, now=T0 + timedelta(minutes=15))

    # then
    assert (moved.seeded, moved.events) == (2, [])
    assert Event.objects.count() == 0
