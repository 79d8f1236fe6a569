"""The audit log: every change to rules, endpoints and members leaves one entry, never a secret."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts import services as member_services
from accounts.models import AuditEntry, Membership, Role
from automations import services
from automations.engine.limits import PauseCause, pause_rule
from webhooks import services as webhook_services
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def tag_rule(tag: str = "new") -> dict[str, Any]:
    return {
        "trigger": {"key": "customer_created", "config": {}},
        "steps": [
            {
                "id": "welcome",
                "action": "tag",
                "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": tag}},
            }
        ],
    }


def entries() -> list[tuple[str, str, str, str]]:
    """Every entry as (actor, action, object type, label), oldest first."""
    return [
        (e.actor_name, e.action, e.object_type, e.object_label)
        for e in AuditEntry.objects.order_by("created_at", "id")
    ]


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- rules -----------------------------------------------------------------------------------


def test_each_rule_change_records_one_entry(workspace, marketer, api_client_for):
    # given a rule created in the builder's service and edited through the API
    rule = services.save_rule(
        workspace=workspace, author=marketer, name="Welcome", definition=tag_rule()
    )
    api = api_client_for(marketer)
    assert (
        api.patch(
            f"/api/v1/rules/{rule.pk}/", {"definition": tag_rule("hello")}, format="json"
        ).status_code
        == 200
    )
    # when it is switched on and off, copied, rolled back, paused, resumed and deleted
    pages = client_for(marketer)
    assert pages.post(f"/rules/{rule.pk}/toggle/").status_code == 302
    assert api.post(f"/api/v1/rules/{rule.pk}/disable/").status_code == 200
    assert pages.post(f"/rules/{rule.pk}/duplicate/").status_code == 302
    assert pages.post(f"/rules/{rule.pk}/versions/1/rollback/").status_code == 302
    assert pause_rule(rule.pk, cause=PauseCause.BREAKER, reason="3 failures in a row")
    assert api.post(f"/api/v1/rules/{rule.pk}/resume/").status_code == 200
    assert pages.post(f"/rules/{rule.pk}/delete/").status_code == 302
    # then each change left exactly one entry, by whoever made it (Typewire for the pause)
    assert entries() == [
        ("mia", "created", "rule", "Welcome"),
        ("mia", "updated", "rule", "Welcome"),
        ("mia", "enabled", "rule", "Welcome"),
        ("mia", "disabled", "rule", "Welcome"),
        ("mia", "duplicated", "rule", "Copy of Welcome"),
        ("mia", "rolled_back", "rule", "Welcome"),
        ("", "paused", "rule", "Welcome"),
        ("mia", "resumed", "rule", "Welcome"),
        ("mia", "deleted", "rule", "Welcome"),
    ]
    # and an update says what changed
    update = AuditEntry.objects.get(action="updated")
    assert update.object_id == str(rule.pk)
    assert update.changes["version"] == 2
    assert update.changes["definition"] == [
        {
            "path": "steps[0].inputs.tag.literal",
            "kind": "changed",
            "before": "new",
            "after": "hello",
        }
    ]
    assert AuditEntry.objects.get(action="paused").changes["cause"] == "breaker"


def test_changing_only_a_rules_limits_records_what_moved(workspace, marketer, api_client_for):
    # given a rule with no rate cap
    rule = services.save_rule(
        workspace=workspace, author=marketer, name="Welcome", definition=tag_rule()
    )
    # when only its limits change through the API
    answer = api_client_for(marketer).patch(
        f"/api/v1/rules/{rule.pk}/", {"rate_limit_per_minute": 30}, format="json"
    )
    # then no new version, and one entry with the old and new value
    assert answer.status_code == 200
    assert answer.json()["version"] == 1
    entry = AuditEntry.objects.get(action="limits_changed")
    assert (entry.actor_name, entry.object_id) == ("mia", str(rule.pk))
    assert entry.changes == {"rate_limit_per_minute": {"before": None, "after": 30}}


def test_switching_a_rule_to_the_state_it_has_records_nothing(workspace, marketer):
    rule = services.save_rule(workspace=workspace, author=marketer, name="R", definition=tag_rule())
    services.set_enabled(rule=rule, enabled=False, actor=marketer)
    assert [e[1] for e in entries()] == ["created"]


def test_the_django_admin_records_its_rule_deletions(workspace, marketer, client):
    rule = services.save_rule(workspace=workspace, author=marketer, name="R", definition=tag_rule())
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.post(f"/admin/automations/rule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert entries()[-1] == ("root", "deleted", "rule", "R")


# --- endpoints -------------------------------------------------------------------------------


def test_each_endpoint_change_records_one_entry_and_never_a_secret(admin, api_client_for):
    api = api_client_for(admin)
    # when an endpoint is created, changed, switched off and on, rotated, given fields, deleted
    created = api.post(
        "/api/v1/endpoints/",
        {"name": "Signups", "preset": "standard_webhooks"},
        format="json",
    ).json()
    first_secret = created["secret"]
    url = f"/api/v1/endpoints/{created['id']}/"
    assert api.patch(url, {"name": "Sign-ups"}, format="json").status_code == 200
    assert api.patch(url, {"is_enabled": False}, format="json").status_code == 200
    assert api.patch(url, {"is_enabled": True}, format="json").status_code == 200
    rotated = api.post(
        f"{url}rotate-secret/", {"secret": "whsec_" + "c2VjcmV0c2VjcmV0c2VjcmV0"}, format="json"
    )
    assert rotated.status_code == 200, rotated.content
    pages = client_for(admin)
    fields = pages.post(f"/endpoints/{created['id']}/fields/", {"declared": "plan: string"})
    assert fields.status_code == 302
    assert api.delete(url).status_code == 204
    # then one entry each
    assert entries() == [
        ("ada", "created", "endpoint", "Signups"),
        ("ada", "updated", "endpoint", "Sign-ups"),
        ("ada", "disabled", "endpoint", "Sign-ups"),
        ("ada", "re_enabled", "endpoint", "Sign-ups"),
        ("ada", "secret_rotated", "endpoint", "Sign-ups"),
        ("ada", "fields_declared", "endpoint", "Sign-ups"),
        ("ada", "deleted", "endpoint", "Sign-ups"),
    ]
    assert AuditEntry.objects.get(action="updated").changes == {
        "name": {"before": "Signups", "after": "Sign-ups"}
    }
    assert AuditEntry.objects.get(action="fields_declared").changes["declared_fields"] == {
        "before": {},
        "after": {"plan": "string"},
    }
    # and no secret, nor the URL token, is anywhere in the log
    stored = json.dumps([e.changes for e in AuditEntry.objects.all()])
    for secret in (first_secret, rotated.json()["secret"], created["url"].rsplit("/", 1)[-1]):
        assert secret not in stored


def test_the_endpoint_pages_record_create_rotate_and_capture(admin, workspace):
    pages = client_for(admin)
    pages.post("/endpoints/", {"name": "Hooks", "preset": "standard_webhooks", "scheme": ""})
    endpoint = Endpoint.objects.get()
    pages.post(f"/endpoints/{endpoint.pk}/rotate/")
    pages.post(f"/endpoints/{endpoint.pk}/capture/")
    assert [e[1] for e in entries()] == ["created", "secret_rotated", "capture_on"]
    assert AuditEntry.objects.get(action="secret_rotated").changes == {
        "grace_seconds": int(timedelta(hours=24).total_seconds())
    }


# --- members ---------------------------------------------------------------------------------


def test_each_membership_change_records_one_entry(workspace, admin, api_client_for):
    api = api_client_for(admin)
    # when a member is invited (API), added (service), given a role (page) and removed (API)
    invited = api.post(
        "/api/v1/members/",
        {"username": "nina", "email": "nina@example.com", "role": "marketer"},
        format="json",
    )
    assert invited.status_code == 201, invited.content
    other = User.objects.create_user("otto", "otto@example.com", "pw")
    added = member_services.add_member(
        workspace=workspace, user=other, role=Role.AUDITOR, actor=admin
    )
    page = client_for(admin).post(f"/accounts/settings/members/{added.pk}/", {"role": "admin"})
    assert page.status_code == 302
    assert api.delete(f"/api/v1/members/{invited.json()['id']}/").status_code == 204
    # then one entry each, with the role moves
    assert entries() == [
        ("ada", "invited", "member", "nina"),
        ("ada", "added", "member", "otto"),
        ("ada", "role_changed", "member", "otto"),
        ("ada", "removed", "member", "nina"),
    ]
    assert AuditEntry.objects.get(action="role_changed").changes == {
        "role": {"before": "auditor", "after": "admin"}
    }
    assert not User.objects.get(username="nina").has_usable_password()


def test_the_last_admin_keeps_the_role_and_nothing_is_recorded(workspace, admin, api_client_for):
    membership = Membership.objects.get(user=admin)
    answer = api_client_for(admin).patch(
        f"/api/v1/members/{membership.pk}/", {"role": "marketer"}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["detail"] == "A workspace keeps at least one admin."
    assert AuditEntry.objects.count() == 0


def test_the_django_admin_records_membership_changes(workspace, marketer, client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    membership = Membership.objects.get(user=marketer)
    form = {
        "slug": workspace.slug,
        "name": workspace.name,
        "plan": workspace.plan,
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": str(membership.pk),
        "memberships-0-workspace": str(workspace.pk),
        "memberships-0-user": str(marketer.pk),
        "memberships-0-role": "auditor",
    }
    response = client.post(f"/admin/accounts/workspace/{workspace.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert entries() == [("root", "role_changed", "member", "mia")]


# --- reading the log -------------------------------------------------------------------------


@pytest.fixture
def logged(workspace, admin, marketer) -> None:
    services.save_rule(workspace=workspace, author=marketer, name="Welcome", definition=tag_rule())
    webhook_services.create_endpoint(
        workspace=workspace, name="Signups", preset="standard_webhooks", actor=admin
    )


def test_an_auditor_reads_the_log_and_filters_it(auditor, logged, api_client_for):
    api = api_client_for(auditor)
    everything = api.get("/api/v1/audit-log/").json()
    assert [e["action"] for e in everything["results"]] == ["created", "created"]
    endpoints = api.get("/api/v1/audit-log/?object_type=endpoint").json()["results"]
    assert [(e["actor"], e["object_label"]) for e in endpoints] == [("ada", "Signups")]
    by_mia = api.get("/api/v1/audit-log/?actor=mia").json()["results"]
    assert [e["object_type"] for e in by_mia] == ["rule"]
    assert api.get("/api/v1/audit-log/?object_type=plan").status_code == 400
    # the log is read-only
    assert api.post("/api/v1/audit-log/", {}, format="json").status_code in (403, 405)
    # and the page shows it, filtered the same way
    page = client_for(auditor).get("/activity/?tab=audit&object_type=rule").content.decode()
    assert "Audit log" in page
    assert "Welcome" in page
    assert "Signups" not in page.split('id="audit-title"')[1]


def test_a_marketer_cannot_read_the_audit_log(marketer, logged, api_client_for):
    assert api_client_for(marketer).get("/api/v1/audit-log/").status_code == 403
    page = client_for(marketer).get("/activity/?tab=audit").content.decode()
    assert "The audit log is for admins and auditors." in page
    assert 'class="audit-entry"' not in page
    assert "?tab=audit" not in page.split("<main")[1].split('aria-label="Activity"')[1][:600]


def test_another_workspace_sees_none_of_the_log(outsider, logged, api_client_for):
    assert api_client_for(outsider).get("/api/v1/audit-log/").json()["results"] == []


def test_the_log_is_in_the_openapi_schema(admin, client):
    client.force_login(admin)
    schema = client.get("/api/schema/?format=json").json()
    assert "/api/v1/audit-log/" in schema["paths"]
    assert set(schema["paths"]["/api/v1/audit-log/"]) == {"get"}


def test_entries_are_append_only(workspace, marketer):
    services.save_rule(workspace=workspace, author=marketer, name="R", definition=tag_rule())
    entry = AuditEntry.objects.get()
    entry.action = "forged"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        AuditEntry.objects.update(action="forged")
    assert AuditEntry.objects.get().action == "created"
