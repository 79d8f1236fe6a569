"""The catalog API and the plug-in SDK: entries from any app, listed with JSON Schema types."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_triggers_list_every_entry_with_json_schema(api_client_for, marketer):
    # when
    response = api_client_for(marketer).get("/api/v1/catalog/triggers/")
    # then
    assert response.status_code == 200
    by_key = {t["key"]: t for t in response.json()}
    order_paid = by_key["order_paid"]
    assert order_paid["label"] == "Order paid"
    assert order_paid["plan"] == "free"
    assert order_paid["payload"]["type"] == "object"
    assert set(order_paid["payload"]["properties"]) == {"order_id", "payment_method", "amount"}
    assert order_paid["payload"]["properties"]["order_id"]["x-typewire-type"] == "ref(order)"


def test_actions_list_inputs_outputs_and_emitted_events(api_client_for, auditor):
    # when
    response = api_client_for(auditor).get("/api/v1/catalog/actions/")
    # then
    assert response.status_code == 200
    tag = next(a for a in response.json() if a["key"] == "tag")
    assert tag["emits"] == ["customer_tagged"]
    assert set(tag["inputs"]["required"]) == {"customer_id", "tag"}


def test_the_customer_upsert_and_the_buyers_enrollment_are_typed_in_the_catalog_api(
    api_client_for, auditor
):
    # when
    response = api_client_for(auditor).get("/api/v1/catalog/actions/")
    # then
    actions = {a["key"]: a for a in response.json()}
    upsert, buyers = actions["upsert_customer"], actions["enroll_product_buyers"]
    assert upsert["inputs"]["required"] == ["email"]
    assert upsert["outputs"]["properties"]["customer_id"]["x-typewire-type"] == "ref(customer)"
    assert upsert["emits"] == ["customer_created", "customer_updated", "opt_in_changed"]
    assert set(buyers["inputs"]["required"]) == {"product_ids", "journey_id"}
    products = buyers["inputs"]["properties"]["product_ids"]
    assert products["x-typewire-type"] == "list(ref(product))"
    assert buyers["emits"] == ["journey_enrolled"]


def test_plugin_trigger_and_action_appear_in_the_catalog_api(api_client_for, marketer):
    # given
    api = api_client_for(marketer)
    # when
    trigger = api.get("/api/v1/catalog/triggers/loyalty_points_earned/")
    action = api.get("/api/v1/catalog/actions/award_loyalty_points/")
    listing = api.get("/api/v1/catalog/actions/")
    # then
    assert trigger.status_code == 200
    assert trigger.json()["source"] == "Loyalty plug-in"
    assert trigger.json()["plan"] == "enterprise"
    assert action.status_code == 200
    assert action.json()["emits"] == ["loyalty_points_earned"]
    assert "award_loyalty_points" in [a["key"] for a in listing.json()]


def test_unknown_catalog_key_answers_404_with_a_suggestion(api_client_for, marketer):
    # when
    response = api_client_for(marketer).get("/api/v1/catalog/triggers/order_payed/")
    # then
    assert response.status_code == 404
    assert "order_paid" in response.json()["detail"]


def test_catalog_api_needs_authentication(client):
    assert client.get("/api/v1/catalog/triggers/").status_code == 401


def test_catalog_api_is_read_only_for_every_role(api_client_for, admin):
    # when
    response = api_client_for(admin).post("/api/v1/catalog/triggers/", {}, format="json")
    # then
    assert response.status_code in (403, 405)


def test_openapi_schema_lists_the_catalog_endpoints(api_client_for, marketer):
    # when
    response = api_client_for(marketer).get("/api/schema/", HTTP_ACCEPT="application/json")
    # then
    assert response.status_code == 200
    assert "/api/v1/catalog/triggers/" in response.json()["paths"]


@pytest.mark.django_db(transaction=False)
def test_a_duplicate_catalog_key_fails_start_up_naming_the_key():
    # given an installed app re-declaring the built-in "tag" action
    env = {**os.environ, "TYPEWIRE_PLUGIN_APPS": "tests.plugin_duplicate"}
    # when Django starts
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then start-up fails with a clear error
    assert result.returncode != 0
    assert (
        'ImproperlyConfigured: Duplicate catalog action key "tag": declared by '
        "catalog.catalog_entries and by tests.plugin_duplicate.catalog_entries."
    ) in result.stderr
