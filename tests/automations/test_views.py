"""The rule, endpoint, activity and catalog pages through Django's test client: roles, tenancy,
escaping, and what each change really changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from automations import services
from automations.models import Rule, RuleVersion
from catalog.registry import registry
from webhooks import services as webhook_services
from webhooks.models import Endpoint, InboundDelivery

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


@pytest.fixture
def rule(workspace) -> Rule:
    return services.save_rule(
        workspace=workspace, author=None, name="Welcome tag", definition=tag_rule()
    )


@pytest.fixture
def endpoint(workspace) -> Endpoint:
    return webhook_services.create_endpoint(
        workspace=workspace, name="Signups", preset="standard_webhooks"
    ).endpoint


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_urls(rule: Rule, endpoint: Endpoint) -> list[str]:
    return [
        "/rules/new/",
        f"/rules/{rule.pk}/edit/",
        f"/rules/{rule.pk}/toggle/",
        f"/rules/{rule.pk}/duplicate/",
        f"/rules/{rule.pk}/delete/",
        f"/rules/{rule.pk}/versions/1/rollback/",
        f"/rules/{rule.pk}/dry-run/",
        "/rules/builder/sentence/",
        "/endpoints/",
        f"/endpoints/{endpoint.pk}/rotate/",
        f"/endpoints/{endpoint.pk}/capture/",
        f"/endpoints/{endpoint.pk}/test-event/",
        f"/endpoints/{endpoint.pk}/fields/",
    ]


# --- roles -----------------------------------------------------------------------------------


def test_an_auditor_gets_403_on_every_post_and_nothing_changes(auditor, rule, endpoint):
    client = client_for(auditor)
    for url in change_urls(rule, endpoint):
        response = client.post(url, {"name": "x", "op": "save", "declared": "a: string"})
        assert response.status_code == 403, url
    rule.refresh_from_db()
    assert (rule.version, rule.is_enabled) == (1, False)
    assert Rule.objects.count() == 1
    assert endpoint.secrets.count() == 1
    assert InboundDelivery.objects.count() == 0


@pytest.mark.parametrize("path", ["/rules/new/", "/rules/{rule}/edit/", "/rules/{rule}/delete/"])
def test_an_auditor_cannot_open_the_change_forms(auditor, rule, path):
    response = client_for(auditor).get(path.format(rule=rule.pk))
    assert response.status_code == 403


def test_an_auditor_reads_every_page(auditor, rule, endpoint):
    client = client_for(auditor)
    for url in [
        "/rules/",
        f"/rules/{rule.pk}/",
        "/endpoints/",
        f"/endpoints/{endpoint.pk}/",
        f"/endpoints/{endpoint.pk}/deliveries/",
        "/activity/",
        "/catalog/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        main = response.content.split(b"<main", 1)[-1]
        assert b'method="post"' not in main, url
        assert b"hx-post" not in main, url


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/endpoints/"),
        ("get", "/endpoints/{endpoint}/"),
        ("get", "/endpoints/{endpoint}/deliveries/"),
        ("post", "/endpoints/"),
        ("post", "/endpoints/{endpoint}/rotate/"),
        ("post", "/endpoints/{endpoint}/fields/"),
    ],
)
def test_a_marketer_gets_403_on_endpoint_pages(marketer, endpoint, method, path):
    response = getattr(client_for(marketer), method)(path.format(endpoint=endpoint.pk))
    assert response.status_code == 403


def test_a_marketer_does_not_see_endpoints_in_the_navigation(marketer):
    response = client_for(marketer).get("/rules/")
    assert b'href="/endpoints/"' not in response.content
    assert b'href="/activity/"' in response.content
    assert b'href="/catalog/"' in response.content


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/rules/{rule}/"),
        ("get", "/rules/{rule}/edit/"),
        ("post", "/rules/{rule}/toggle/"),
        ("post", "/rules/{rule}/delete/"),
        ("post", "/rules/{rule}/dry-run/"),
        ("get", "/endpoints/{endpoint}/"),
        ("post", "/endpoints/{endpoint}/rotate/"),
    ],
)
def test_another_workspaces_objects_answer_404(outsider, rule, endpoint, method, path):
    response = getattr(client_for(outsider), method)(
        path.format(rule=rule.pk, endpoint=endpoint.pk)
    )
    assert response.status_code == 404
    assert Rule.objects.filter(pk=rule.pk, is_enabled=False).exists()
    assert endpoint.secrets.count() == 1


# --- escaping --------------------------------------------------------------------------------


def test_a_rule_name_with_markup_is_escaped(marketer, workspace):
    script = "<script>alert(1)</script>"
    rule = services.save_rule(workspace=workspace, author=None, name=script, definition=tag_rule())
    client = client_for(marketer)
    for url in ["/rules/", f"/rules/{rule.pk}/", f"/rules/{rule.pk}/edit/"]:
        body = client.get(url).content.decode()
        assert script not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url


# --- the builder -----------------------------------------------------------------------------

BUILDER_FORM = {
    "name": "Welcome",
    "trigger_key": "customer_created",
    "match": "all",
    "step-0-id": "welcome",
    "step-0-action": "tag",
    "step-0-in-customer_id-kind": "ref",
    "step-0-in-customer_id-value": "customer_id",
    "step-0-in-tag-kind": "literal",
    "step-0-in-tag-value": "new",
    "is_enabled": "on",
    "op": "save",
}


def test_saving_a_valid_form_creates_the_rule_and_redirects_htmx(marketer):
    response = client_for(marketer).post(
        "/rules/new/", BUILDER_FORM, headers={"HX-Request": "true"}
    )
    rule = Rule.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/rules/{rule.pk}/"
    assert rule.is_enabled
    assert rule.definition["steps"][0]["inputs"]["tag"] == {"literal": "new"}
    assert RuleVersion.objects.get(rule=rule).number == 1


def test_a_form_with_problems_is_shown_again_with_200_and_saves_nothing(marketer):
    form = {**BUILDER_FORM, "step-0-in-tag-value": "", "name": ""}
    response = client_for(marketer).post("/rules/new/", form, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith('\n<form id="rule-form"') or body.lstrip().startswith("<form")
    assert "Give the rule a name." in body
    assert 'aria-describedby="rule-name-errors"' in body
    assert 'id="step-0-in-tag-value-errors"' in body
    assert "Nothing was saved" in body
    assert Rule.objects.count() == 0


def test_editing_saves_a_new_version_and_rollback_restores_the_first(marketer, rule):
    client = client_for(marketer)
    edit = {**BUILDER_FORM, "name": rule.name, "step-0-in-tag-value": "changed"}
    assert client.post(f"/rules/{rule.pk}/edit/", edit).status_code == 302
    rule.refresh_from_db()
    assert rule.version == 2
    detail = client.get(f"/rules/{rule.pk}/").content.decode()
    assert "steps.0.inputs.tag.literal" in detail or "steps[0].inputs.tag.literal" in detail
    assert client.post(f"/rules/{rule.pk}/versions/1/rollback/").status_code == 302
    rule.refresh_from_db()
    assert rule.version == 3
    assert rule.definition["steps"][0]["inputs"]["tag"] == {"literal": "new"}


def test_toggle_answers_htmx_with_the_row(marketer, rule):
    response = client_for(marketer).post(
        f"/rules/{rule.pk}/toggle/", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.content.decode().strip().startswith(f'<tr id="rule-{rule.pk}"')
    assert "Switch off" in response.content.decode()
    assert Rule.objects.get(pk=rule.pk).is_enabled


def test_duplicate_copies_switched_off_and_delete_asks_first(marketer, rule):
    client = client_for(marketer)
    response = client.post(f"/rules/{rule.pk}/duplicate/")
    copy = Rule.objects.get(name="Copy of Welcome tag")
    assert response["Location"] == f"/rules/{copy.pk}/edit/"
    assert not copy.is_enabled
    confirm = client.get(f"/rules/{copy.pk}/delete/")
    assert b"cannot be undone" in confirm.content
    assert Rule.objects.filter(pk=copy.pk).exists()
    client.post(f"/rules/{copy.pk}/delete/")
    assert not Rule.objects.filter(pk=copy.pk).exists()


def test_the_sentence_partial_follows_the_form(marketer):
    form = {k: v for k, v in BUILDER_FORM.items() if k != "op"}
    response = client_for(marketer).post("/rules/builder/sentence/", form)
    body = response.content.decode()
    assert body.strip().startswith('<p id="rule-sentence"')
    assert "When &#x27;Customer created&#x27; happens" in body
    assert "tag customer" in body


def test_the_condition_row_offers_operators_of_the_fields_type(marketer):
    response = client_for(marketer).get(
        "/rules/builder/condition-row/",
        {
            "trigger_key": "order_paid",
            "row": "cond-0",
            "cond-0-field": "amount",
            "cond-0-operator": "",
        },
    )
    body = response.content.decode()
    assert 'value="gt"' in body
    assert 'value="between"' in body
    assert 'value="contains"' not in body
    assert 'placeholder="100.00 EUR"' in body


def test_the_field_picker_offers_only_real_fields(marketer):
    form = {"trigger_key": "customer_tagged", "op": "add-cond", "match": "all"}
    body = client_for(marketer).post("/rules/new/", form).content.decode()
    assert '<option value="tag">' in body
    assert '<option value="customer.lifecycle_stage">' in body
    assert '<option value="amount">' not in body


def test_dry_run_shows_the_trace(marketer, rule):
    response = client_for(marketer).post(
        f"/rules/{rule.pk}/dry-run/", {"source": "example"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert body.strip().startswith('<section id="dry-run"')
    assert "The rule would fire." in body


# --- endpoints and activity ------------------------------------------------------------------


def test_an_admin_sees_the_secret_once_and_a_test_event_is_logged(admin):
    client = client_for(admin)
    created = client.post(
        "/endpoints/",
        {"name": "Signups", "preset": "standard_webhooks", "declared": "email: email"},
    )
    endpoint = Endpoint.objects.get()
    secret = endpoint.secrets.get().reveal()
    assert secret in created.content.decode()
    assert f"/hooks/{endpoint.token}" in created.content.decode()
    detail = client.get(f"/endpoints/{endpoint.pk}/")
    assert secret not in detail.content.decode()
    client.post(f"/endpoints/{endpoint.pk}/test-event/")
    delivery = InboundDelivery.objects.get()
    assert delivery.status_code == 202, delivery.detail
    rows = client.get(f"/endpoints/{endpoint.pk}/deliveries/").content.decode()
    assert rows.strip().startswith('<tbody id="delivery-rows"')
    assert "202" in rows


def test_rotating_shows_the_new_secret_once(admin, endpoint):
    response = client_for(admin).post(f"/endpoints/{endpoint.pk}/rotate/")
    newest = endpoint.secrets.order_by("-created_at", "-id").first()
    assert newest is not None
    assert newest.reveal() in response.content.decode()
    assert endpoint.secrets.count() == 2


def test_declared_fields_that_break_a_rule_need_confirmation(admin, workspace, endpoint):
    # given a rule reading body.plan of the endpoint
    webhook_services.accept_capture(endpoint=endpoint, declared={"plan": "string"})
    rule = services.save_rule(
        workspace=workspace,
        author=None,
        name="Plans",
        is_enabled=True,
        definition={
            "trigger": {"key": "webhook_received", "config": {"endpoint_id": endpoint.pk}},
            "steps": [
                {
                    "id": "post",
                    "action": "post_to_slack",
                    "inputs": {
                        "channel": {"literal": "#sales"},
                        "text": {"template": "Plan {{ body.plan }}"},
                    },
                }
            ],
        },
    )
    client = client_for(admin)
    # when the field is removed without confirming
    first = client.post(f"/endpoints/{endpoint.pk}/fields/", {"declared": "email: email"})
    # then the rule is named and nothing changes
    assert "Plans" in first.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.declared_fields == {"plan": "string"}
    # when confirmed
    client.post(f"/endpoints/{endpoint.pk}/fields/", {"declared": "email: email", "confirm": "yes"})
    endpoint.refresh_from_db()
    rule.refresh_from_db()
    assert endpoint.declared_fields == {"email": "email"}
    assert not rule.is_enabled


def test_capture_mode_then_accept_the_inferred_fields(admin, endpoint):
    client = client_for(admin)
    client.post(f"/endpoints/{endpoint.pk}/capture/")
    endpoint.refresh_from_db()
    assert endpoint.capture_mode
    endpoint.captured_sample = {"email": "a@example.com", "seats": 3}
    endpoint.save()
    page = client.get(f"/endpoints/{endpoint.pk}/").content.decode()
    assert "email: email" in page
    assert "seats: integer" in page
    client.post(
        f"/endpoints/{endpoint.pk}/fields/",
        {"source": "capture", "capture-declared": "email: email\nseats: integer"},
    )
    endpoint.refresh_from_db()
    assert endpoint.declared_fields == {"email": "email", "seats": "integer"}
    assert not endpoint.capture_mode


def test_activity_filters_deliveries_by_status(admin, endpoint):
    client = client_for(admin)
    client.post(f"/endpoints/{endpoint.pk}/test-event/")
    client.post(f"/hooks/{endpoint.token}", data=b"{}", content_type="application/json")
    assert InboundDelivery.objects.count() == 2
    tab = {"tab": "deliveries"}
    accepted = client.get("/activity/", {**tab, "status": "accepted"}).content.decode()
    rejected = client.get("/activity/", {**tab, "status": "rejected"}).content.decode()
    assert accepted.count('<tr class="delivery ok">') == 1
    assert 'class="delivery bad"' not in accepted
    assert rejected.count('<tr class="delivery bad">') == 1


def test_the_catalog_lists_every_trigger_and_action(marketer):
    body = client_for(marketer).get("/catalog/").content.decode()
    keys = [t.key for t in registry.triggers()] + [a.key for a in registry.actions()]
    for key in keys:
        assert f"<code>{key}</code>" in body
    assert "Enterprise" in body  # the plug-in's plan tier
