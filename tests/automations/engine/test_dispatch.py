"""Dispatch: events to executions, one per matching enabled rule, exactly once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations import tasks
from automations.engine import dispatch as dispatch_module
from automations.engine.dispatch import dispatch_and_run, dispatch_event, dispatch_events
from automations.engine.run import claim, run_execution
from automations.engine.scope import compiled_rule
from automations.models import Execution, ExecutionStatus, Rule
from catalog.events import NO_LISTENER
from catalog.models import EventStatus
from tests.automations.engine.conftest import emit, make_rule, step
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TAG_VIP = [step("tag_vip", "tag", customer_id={"ref": "customer_id"}, tag="vip")]


def _tagged(workspace, customer, tag="vip"):
    return emit(
        workspace, "customer_tagged", {"customer_id": customer.pk, "tag": tag, "action": "added"}
    )


def test_event_creates_one_execution_per_matching_enabled_rule(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace, first_name="Ann")
    any_tag = make_rule(workspace, "Any tag", "customer_tagged", TAG_VIP)
    vip_only = make_rule(workspace, "VIP", "customer_tagged", TAG_VIP, config={"tag": "vip"})
    make_rule(workspace, "Off", "customer_tagged", TAG_VIP, enabled=False)
    make_rule(workspace, "Churned", "customer_tagged", TAG_VIP, config={"tag": "churned"})
    make_rule(
        workspace,
        "Bob only",
        "customer_tagged",
        TAG_VIP,
        conditions=[{"field": "customer.first_name", "operator": "equals", "value": "Bob"}],
    )
    make_rule(workspace, "Other trigger", "customer_created", TAG_VIP)
    vip_only.version = 3
    vip_only.save()
    event = _tagged(workspace, customer)
    # when
    result = dispatch_event(event.pk)
    # then
    executions = Execution.objects.order_by("rule__name")
    assert [(e.rule, e.rule_version, e.status) for e in executions] == [
        (any_tag, 1, ExecutionStatus.PENDING),
        (vip_only, 3, ExecutionStatus.PENDING),
    ]
    assert sorted(result.execution_ids) == sorted(e.pk for e in executions)
    event.refresh_from_db()
    assert event.status == EventStatus.DISPATCHED
    assert event.status_detail == "2 of 4 enabled rule(s) matched"


def test_executions_are_enqueued_only_after_commit(workspace, django_capture_on_commit_callbacks):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "A", "customer_tagged", TAG_VIP)
    make_rule(workspace, "B", "customer_tagged", TAG_VIP)
    event = _tagged(workspace, customer)
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = dispatch_event(event.pk)
    # then one publish of both, in one batch message, waits for the commit
    assert [callback.args for callback in callbacks] == [([sorted(result.execution_ids)],)]
    assert Execution.objects.count() == 2


def test_redispatching_an_event_five_times_yields_one_execution_per_rule(
    workspace, django_capture_on_commit_callbacks
):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    first = make_rule(workspace, "A", "customer_tagged", TAG_VIP)
    second = make_rule(workspace, "B", "customer_tagged", TAG_VIP)
    event = _tagged(workspace, customer)
    dispatch_event(event.pk)
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        results = [dispatch_event(event.pk) for _ in range(5)]
    # then
    assert [r.dispatched for r in results] == [False] * 5
    assert callbacks == []
    assert sorted(Execution.objects.values_list("rule_id", flat=True)) == [first.pk, second.pk]


def test_a_dispatch_racing_an_earlier_one_creates_nothing_new(workspace):
    # given an event dispatched once, then seen pending again (a re-published, redelivered task)
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "A", "customer_tagged", TAG_VIP)
    event = _tagged(workspace, customer)
    dispatch_event(event.pk)
    executions = list(Execution.objects.values_list("pk", flat=True))
    # when
    for _ in range(5):
        type(event).objects.filter(pk=event.pk).update(status=EventStatus.PENDING)
        dispatch_event(event.pk)
    # then: the unique (event, rule) constraint keeps one execution
    assert list(Execution.objects.values_list("pk", flat=True)) == executions


@pytest.mark.parametrize("status", [EventStatus.STALE, EventStatus.SKIPPED])
def test_an_event_that_is_not_pending_is_not_dispatched(workspace, status):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "A", "customer_tagged", TAG_VIP)
    event = _tagged(workspace, customer)
    type(event).objects.filter(pk=event.pk).update(status=status)
    # when
    result = dispatch_event(event.pk)
    # then
    assert result.dispatched is False
    assert Execution.objects.count() == 0
    event.refresh_from_db()
    assert event.status == status


def test_rules_are_read_with_one_query_and_conditions_compiled_once_per_version(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    rules = [make_rule(workspace, f"R{i}", "customer_tagged", TAG_VIP) for i in range(3)]
    dispatch_event(_tagged(workspace, customer, "a").pk)
    compiled = [compiled_rule(rule) for rule in rules]
    # when
    event = _tagged(workspace, customer, "b")
    with CaptureQueriesContext(connection) as queries:
        dispatch_event(event.pk)
    # then
    rule_reads = [q for q in queries.captured_queries if 'FROM "automations_rule"' in q["sql"]]
    assert len(rule_reads) == 1
    assert [compiled_rule(rule) for rule in rules] == compiled
    assert all(compiled_rule(r) is c for r, c in zip(rules, compiled, strict=True))
    rules[0].version = 2
    assert compiled_rule(rules[0]) is not compiled[0]


def test_rules_not_compiled_yet_cost_one_query_for_all_their_definitions(workspace):
    # given five rules this process has not compiled
    customer = CustomerFactory.create(workspace=workspace)
    for i in range(5):
        make_rule(workspace, f"New {i}", "customer_tagged", TAG_VIP)
    # when their event is dispatched
    with CaptureQueriesContext(connection) as queries:
        result = dispatch_event(_tagged(workspace, customer).pk)
    # then the rules are read once and their definitions once, not once per rule
    assert len(result.execution_ids) == 5
    rule_reads = [q for q in queries.captured_queries if 'FROM "automations_rule"' in q["sql"]]
    assert len(rule_reads) == 2


def test_a_rule_saved_or_deleted_between_the_two_reads_runs_as_saved_or_not_at_all(workspace):
    # given two rules as dispatch read them, then one saved as version 2 and one deleted
    kept = make_rule(workspace, "Kept", "customer_tagged", TAG_VIP)
    dropped = make_rule(workspace, "Dropped", "customer_tagged", TAG_VIP)
    read = list(
        Rule.objects.filter(pk__in=[kept.pk, dropped.pk]).only(
            *dispatch_module.DISPATCH_RULE_FIELDS
        )
    )
    kept.version, kept.definition = 2, {**kept.definition, "conditions": []}
    kept.definition["steps"] = [
        step("tag_gold", "tag", customer_id={"ref": "customer_id"}, tag="gold")
    ]
    kept.save()
    dropped.delete()
    # when their definitions are read to compile them
    rules = dispatch_module._with_definitions(read, workspace)
    # then the saved rule comes with the definition of the version it now has
    assert [(rule.pk, rule.version) for rule in rules] == [(kept.pk, 2)]
    assert compiled_rule(rules[0]).draft.steps[0].id == "tag_gold"


def test_rules_reading_the_same_customer_load_it_once_per_event(workspace):
    # given 20 rules whose conditions read the event's customer
    customer = CustomerFactory.create(workspace=workspace, first_name="Ann")
    for i in range(20):
        make_rule(
            workspace,
            f"Ann {i}",
            "customer_tagged",
            TAG_VIP,
            conditions=[{"field": "customer.first_name", "operator": "equals", "value": "Ann"}],
        )
    # when
    event = _tagged(workspace, customer)
    with CaptureQueriesContext(connection) as queries:
        result = dispatch_event(event.pk)
    # then every rule matched, and the customer row was read once for all of them
    assert len(result.execution_ids) == 20
    customer_reads = [
        q for q in queries.captured_queries if q["sql"].startswith('SELECT "catalog_customer"."id"')
    ]
    assert len(customer_reads) == 1


def test_an_event_no_enabled_rule_listens_to_is_stored_dispatched_and_not_published(
    workspace, django_capture_on_commit_callbacks
):
    # given only a switched-off rule on customer_tagged, and an enabled one on another trigger
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "Off", "customer_tagged", TAG_VIP, enabled=False)
    make_rule(workspace, "Other", "customer_created", TAG_VIP)
    # when a customer is tagged
    with django_capture_on_commit_callbacks() as callbacks:
        event = _tagged(workspace, customer)
    # then the event is settled at once and no dispatch is published
    event.refresh_from_db()
    assert (event.status, event.status_detail) == (EventStatus.DISPATCHED, NO_LISTENER)
    assert event.dispatched_at is not None
    assert callbacks == []
    assert dispatch_event(event.pk).dispatched is False


def test_an_event_an_enabled_rule_listens_to_is_published_pending(
    workspace, django_capture_on_commit_callbacks
):
    # given an enabled rule on customer_tagged
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "On", "customer_tagged", TAG_VIP)
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        event = _tagged(workspace, customer)
    # then
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING
    assert [(cb.func.__name__, cb.args) for cb in callbacks] == [("publish", (event.id,))]


@pytest.mark.parametrize("listened", [True, False], ids=["heard", "unheard"])
def test_an_internal_event_is_recorded_in_one_statement_heard_or_not(workspace, listened):
    # given a rule on customer_tagged, switched on or off
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "Tag", "customer_tagged", TAG_VIP, enabled=listened)
    # when the event is recorded
    with CaptureQueriesContext(connection) as queries:
        event = _tagged(workspace, customer)
    # then the listener check is part of the insert: no query of its own
    writes = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(writes) == 1
    assert writes[0].startswith("WITH listened AS")
    # and the event is stored as the check decided, the instance saying the same
    stored = type(event).objects.get(pk=event.pk)
    expected = (EventStatus.PENDING, "") if listened else (EventStatus.DISPATCHED, NO_LISTENER)
    assert (stored.status, stored.status_detail) == expected
    assert (event.status, event.status_detail) == expected
    assert (stored.dispatched_at is None) is listened
    assert event.dispatched_at == stored.dispatched_at
    assert event._state.adding is False


def test_the_listener_sql_answers_as_the_listener_query(workspace, other_workspace):
    # given rules: on, off, on another trigger, in another workspace
    make_rule(workspace, "On", "customer_tagged", TAG_VIP)
    make_rule(workspace, "Off", "customer_created", TAG_VIP, enabled=False)
    make_rule(other_workspace, "Elsewhere", "order_paid", TAG_VIP)
    cases = [
        (workspace.pk, "customer_tagged"),
        (workspace.pk, "customer_created"),
        (workspace.pk, "order_paid"),
        (other_workspace.pk, "order_paid"),
        (other_workspace.pk, "customer_tagged"),
    ]
    # when each question is asked both ways
    answers = []
    with connection.cursor() as cursor:
        for case in cases:
            cursor.execute(f"SELECT {dispatch_module.listeners_sql()}", case)
            answers.append((cursor.fetchone()[0], dispatch_module.has_listeners(*case)))
    # then they agree, and say what the rules say
    assert answers == [(True, True), (False, False), (False, False), (True, True), (False, False)]


def test_executions_left_to_run_inline_are_inserted_claimed_by_the_dispatcher(workspace):
    # given three rules of quick internal steps
    customer = CustomerFactory.create(workspace=workspace)
    for name in ("A", "B", "C"):
        make_rule(workspace, name, "customer_tagged", TAG_VIP)
    event = _tagged(workspace, customer)
    # when dispatch keeps two for this worker
    result = dispatch_event(event.pk, inline=2)
    # then those two are stored running under this worker's lease: nobody else may claim them
    kept = {execution.pk for execution in result.inline}
    assert len(kept) == 2
    stored = {e.pk: e for e in Execution.objects.filter(event=event)}
    for pk in kept:
        assert stored[pk].status == ExecutionStatus.RUNNING
        lease = stored[pk].lease_until
        assert lease is not None
        assert lease > timezone.now()
        assert stored[pk].started_at is not None
        assert claim(pk) is None
    (other,) = set(stored) - kept
    assert stored[other].status == ExecutionStatus.PENDING
    # and the dispatcher runs them without claiming them again
    for execution in result.inline:
        assert run_execution(execution.pk, prepared=execution) == ExecutionStatus.SUCCEEDED


class _Elsewhere:
    """The database connection as dispatch sees it off PostgreSQL (the SQLite demo's path)."""

    vendor = "sqlite"

    def __getattr__(self, name):
        return getattr(connection, name)


def test_off_postgresql_dispatch_inserts_through_the_orm_with_the_same_outcome(
    workspace, monkeypatch
):
    # given three rules of quick internal steps, and dispatch on the ORM's insert
    monkeypatch.setattr(dispatch_module, "connection", _Elsewhere())
    customer = CustomerFactory.create(workspace=workspace)
    for name in ("A", "B", "C"):
        make_rule(workspace, name, "customer_tagged", TAG_VIP)
    event = _tagged(workspace, customer)
    # when dispatch keeps one for this worker
    with CaptureQueriesContext(connection) as queries:
        result = dispatch_event(event.pk, inline=1)
    # then the ORM inserted three executions, one of them claimed and handed back ready to run
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT INTO")]
    assert len(inserts) == 1
    assert "unnest" not in inserts[0]
    stored = {e.pk: e for e in Execution.objects.filter(event=event)}
    assert sorted(result.execution_ids) == sorted(stored)
    assert sorted(e.status for e in stored.values()) == [
        ExecutionStatus.PENDING,
        ExecutionStatus.PENDING,
        ExecutionStatus.RUNNING,
    ]
    (kept,) = result.inline
    assert stored[kept.pk].status == ExecutionStatus.RUNNING
    assert kept.rule.pk == stored[kept.pk].rule_id
    assert kept.workspace == workspace
    # and seen pending again, it creates nothing new
    type(event).objects.filter(pk=event.pk).update(status=EventStatus.PENDING)
    again = dispatch_event(event.pk)
    assert again.execution_ids == []
    assert Execution.objects.filter(event=event).count() == 3


@pytest.mark.django_db(transaction=True)  # the engine's own transactions, not savepoints
def test_an_inline_run_writes_its_execution_once_and_reads_no_workspace(workspace):
    # given a one-step tag rule
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "Tag", "customer_tagged", TAG_VIP)
    event = _tagged(workspace, customer, "new")
    # when its event is dispatched and run by one worker
    with CaptureQueriesContext(connection) as queries:
        result = dispatch_and_run(event.pk)
    # then the execution is inserted claimed and settled with its step: one update, no claim;
    # the event's workspace comes with the event and the customer's is the one already known
    (execution,) = result.inline
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    sql = [q["sql"] for q in queries.captured_queries]
    updates = [s for s in sql if "UPDATE automations_execution" in s.replace('"', "")]
    assert len(updates) == 1
    # and that update is the step's success: step run, attempt, effect and execution at once
    (success,) = updates
    for table in ("automations_steprun", "automations_attempt", "automations_appliedeffect"):
        assert table in success
    assert not [s for s in sql if 'FROM "accounts_workspace"' in s.split(" WHERE ")[0]]
    # and the rule is read twice, by dispatch: its run columns, then its definition to compile
    # it (the run loads no column dispatch left out)
    rule_reads = [s for s in sql if 'FROM "automations_rule"' in s]
    assert len(rule_reads) == 2, rule_reads
    # and the tag costs no savepoint, and the customer is locked by the tag's insert: one
    # statement, none of the row read
    assert not [s for s in sql if s.startswith("SAVEPOINT")]
    customer_statements = [s for s in sql if "catalog_customer " in s.replace('"', "")]
    assert len(customer_statements) == 1
    assert "FOR UPDATE" in customer_statements[0]
    assert "INSERT INTO catalog_customertag" in customer_statements[0].replace('"', "")
    assert list(customer.tags.values_list("tag", flat=True)) == ["vip"]


def test_the_executions_insert_is_prepared_once_per_connection(workspace):
    # given
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "A", "customer_tagged", TAG_VIP)
    make_rule(workspace, "B", "customer_tagged", TAG_VIP)
    # when two events are dispatched on this connection
    for tag in ("one", "two"):
        assert len(dispatch_event(_tagged(workspace, customer, tag).pk).execution_ids) == 2
    # then PostgreSQL holds the insert as one prepared statement, which both dispatches ran
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE 'INSERT INTO \"automations_execution\"%%'"
        )
        assert cursor.fetchone() == (1,)


def test_the_executions_insert_sends_arrays_only_for_what_differs_between_rows(workspace):
    # given three rules, one at another version, and two events dispatched in one batch
    customer = CustomerFactory.create(workspace=workspace)
    rules = [make_rule(workspace, name, "customer_tagged", TAG_VIP) for name in "ABC"]
    Rule.objects.filter(pk=rules[2].pk).update(version=2)
    events = [_tagged(workspace, customer, tag) for tag in ("one", "two")]
    # when
    with CaptureQueriesContext(connection) as queries:
        results = dispatch_events([event.pk for event in events])
    # then the rule, its version and the event come as arrays, the rest as one value each
    (insert,) = [q["sql"] for q in queries if q["sql"].startswith("INSERT INTO")]
    assert "AS u(c0, c1, c2) ON CONFLICT" in insert
    stored = Execution.objects.filter(event__in=events)
    assert sorted((e.event_id, e.rule_id, e.rule_version) for e in stored) == sorted(
        (event.pk, rule.pk, 2 if rule == rules[2] else 1) for event in events for rule in rules
    )
    assert {e.workspace_id for e in stored} == {workspace.pk}
    assert {e.status for e in stored} == {ExecutionStatus.PENDING}
    assert sorted(pk for r in results for pk in r.execution_ids) == sorted(e.pk for e in stored)


def test_a_batch_is_dispatched_in_one_transaction_with_the_rules_read_once(workspace):
    # given three pending events and one already dispatched
    customer = CustomerFactory.create(workspace=workspace)
    rule = make_rule(workspace, "A", "customer_tagged", TAG_VIP)
    events = [_tagged(workspace, customer, f"t{n}") for n in range(3)]
    done = _tagged(workspace, customer, "done")
    dispatch_event(done.pk)
    ids = [str(events[0].pk), str(done.pk), str(events[1].pk), str(events[2].pk)]
    # when
    with CaptureQueriesContext(connection) as queries:
        results = dispatch_events(ids)
    # then one result per id, in order; the dispatched event is left alone
    assert [(r.event_id, r.dispatched) for r in results] == [
        (ids[0], True),
        (ids[1], False),
        (ids[2], True),
        (ids[3], True),
    ]
    for event in events:
        event.refresh_from_db()
        assert event.status == EventStatus.DISPATCHED
        assert event.status_detail == "1 of 1 enabled rule(s) matched"
        assert Execution.objects.get(event=event).rule == rule
    sql = [q["sql"] for q in queries.captured_queries]
    assert len([s for s in sql if 'FROM "catalog_event"' in s and "FOR UPDATE" in s]) == 1
    assert len([s for s in sql if 'FROM "automations_rule"' in s]) == 1
    assert len([s for s in sql if s.startswith('UPDATE "catalog_event"')]) == 1
    # and the three events' executions are inserted with one statement
    assert len([s for s in sql if s.startswith('INSERT INTO "automations_execution"')]) == 1


def test_a_capped_rule_counts_the_executions_of_earlier_events_in_the_same_batch(workspace):
    # given a rule allowed one execution a minute
    customer = CustomerFactory.create(workspace=workspace)
    rule = make_rule(workspace, "Capped", "customer_tagged", TAG_VIP)
    Rule.objects.filter(pk=rule.pk).update(rate_limit_per_minute=1)
    first, second = (_tagged(workspace, customer, tag) for tag in ("a", "b"))
    # when both come in one batch
    results = dispatch_events([first.pk, second.pk])
    # then the second is held
    assert [len(r.execution_ids) for r in results] == [1, 0]
    assert [len(r.held_ids) for r in results] == [0, 1]
    assert Execution.objects.get(event=second).status == ExecutionStatus.HELD


def test_a_capped_rule_counts_the_executions_of_uncapped_events_batched_before_it(workspace):
    # given an uncapped rule and a capped one on other triggers, the capped one allowed one a
    # minute, and a batch whose events before the capped one's are inserted together
    customer = CustomerFactory.create(workspace=workspace)
    free = make_rule(workspace, "Free", "customer_tagged", TAG_VIP)
    capped = make_rule(workspace, "Capped", "customer_created", TAG_VIP)
    Rule.objects.filter(pk=capped.pk).update(rate_limit_per_minute=1)
    tagged = [_tagged(workspace, customer, tag) for tag in ("a", "b")]
    created = [
        emit(
            workspace,
            "customer_created",
            {"customer_id": customer.pk, "email": customer.email, "source": "shopify"},
        )
        for _ in range(2)
    ]
    batch = [tagged[0], created[0], tagged[1], created[1]]
    # when
    results = dispatch_events([event.pk for event in batch])
    # then every free execution is pending, and the cap held the second capped one
    assert [(len(r.execution_ids), len(r.held_ids)) for r in results] == [
        (1, 0),
        (1, 0),
        (1, 0),
        (0, 1),
    ]
    statuses = {
        (e.rule_id, e.event_id): e.status for e in Execution.objects.filter(event__in=batch)
    }
    assert statuses == {
        (free.pk, tagged[0].pk): ExecutionStatus.PENDING,
        (capped.pk, created[0].pk): ExecutionStatus.PENDING,
        (free.pk, tagged[1].pk): ExecutionStatus.PENDING,
        (capped.pk, created[1].pk): ExecutionStatus.HELD,
    }


def test_an_event_that_breaks_its_batch_does_not_hold_up_the_others(workspace, monkeypatch):
    # given a batch of three events, the middle one making dispatch fail
    customer = CustomerFactory.create(workspace=workspace)
    make_rule(workspace, "A", "customer_tagged", TAG_VIP)
    events = [_tagged(workspace, customer, f"t{n}") for n in range(3)]
    broken = events[1].pk
    real_matches = dispatch_module.matches

    def matches(rule, event, loader=None):
        if event.pk == broken:
            raise RuntimeError("a bug in matching")
        return real_matches(rule, event, loader)

    monkeypatch.setattr(dispatch_module, "matches", matches)
    # when the publisher's message is handled
    tasks.dispatch_events([str(event.pk) for event in events])
    # then the batch fell back to one event at a time: only the broken one is still pending
    statuses = []
    for event in events:
        event.refresh_from_db()
        statuses.append(event.status)
    assert statuses == [EventStatus.DISPATCHED, EventStatus.PENDING, EventStatus.DISPATCHED]
    assert Execution.objects.filter(event__in=[events[0], events[2]]).count() == 2
    assert not Execution.objects.filter(event_id=broken).exists()
