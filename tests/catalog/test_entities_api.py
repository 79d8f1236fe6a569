"""The entity API writes through the domain services, so it emits the same events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.domain import services
from catalog.models import Customer, Event, Product

pytestmark = pytest.mark.django_db


def keys(workspace) -> list[str]:
    return list(
        Event.objects.filter(workspace=workspace)
        .order_by("recorded_at")
        .values_list("trigger_key", flat=True)
    )


def test_creating_a_customer_emits_customer_created(api_client_for, marketer, workspace):
    # when
    response = api_client_for(marketer).post(
        "/api/v1/customers/", {"email": "jo@example.com", "first_name": "Jo"}, format="json"
    )
    # then
    assert response.status_code == 201
    assert response.json()["email"] == "jo@example.com"
    assert response.json()["lifecycle_stage"] == "lead"
    assert keys(workspace) == ["customer_created"]
    event = Event.objects.get(workspace=workspace)
    assert event.payload["customer_id"] == response.json()["id"]


def test_creating_a_customer_without_email_is_a_clear_400(api_client_for, marketer, workspace):
    # when
    response = api_client_for(marketer).post("/api/v1/customers/", {"first_name": "Jo"})
    # then
    assert response.status_code == 400
    assert response.json()["email"] == ["An e-mail address is required."]
    assert not Customer.objects.exists()
    assert keys(workspace) == []


def test_custom_field_rejects_yesterday_and_accepts_a_date(
    api_client_for, admin, marketer, workspace
):
    # given the workspace defines app_install_date: date
    defined = api_client_for(admin).post(
        "/api/v1/custom-fields/",
        {"key": "app_install_date", "label": "App install date", "field_type": "date"},
        format="json",
    )
    assert defined.status_code == 201
    customer = services.create_customer(workspace=workspace, email="jo@example.com")
    api = api_client_for(marketer)
    url = f"/api/v1/customers/{customer.pk}/"
    # when a marketer sets it to "yesterday"
    bad = api.patch(url, {"custom": {"app_install_date": "yesterday"}}, format="json")
    # then it is a clear validation error and nothing changed
    assert bad.status_code == 400
    assert bad.json()["fields"] == {
        "app_install_date": ['expected a date (YYYY-MM-DD), got "yesterday"']
    }
    assert keys(workspace) == ["customer_created"]
    # when a real date is given
    good = api.patch(url, {"custom": {"app_install_date": "2026-11-24"}}, format="json")
    # then it is stored and customer_updated carries old and new values
    assert good.status_code == 200
    assert good.json()["app_install_date"] == "2026-11-24"
    updated = Event.objects.get(workspace=workspace, trigger_key="customer_updated")
    assert updated.payload["changed_fields"] == ["app_install_date"]
    assert updated.payload["old_values"] == {"app_install_date": None}
    assert updated.payload["new_values"] == {"app_install_date": "2026-11-24"}


def test_marketer_cannot_define_custom_fields(api_client_for, marketer):
    response = api_client_for(marketer).post(
        "/api/v1/custom-fields/", {"key": "x", "label": "X", "field_type": "date"}, format="json"
    )
    assert response.status_code == 403


def test_tagging_through_the_api_emits_once(api_client_for, marketer, workspace):
    # given
    customer = services.create_customer(workspace=workspace, email="jo@example.com")
    api = api_client_for(marketer)
    # when
    first = api.post(f"/api/v1/customers/{customer.pk}/tags/", {"tag": "vip"}, format="json")
    again = api.post(f"/api/v1/customers/{customer.pk}/tags/", {"tag": "vip"}, format="json")
    # then
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert again.json()["customer"]["tags"] == ["vip"]
    assert keys(workspace) == ["customer_created", "customer_tagged"]


def test_inventory_through_the_api_emits_sold_out_and_restocked_once(
    api_client_for, marketer, workspace
):
    # given
    api = api_client_for(marketer)
    created = api.post(
        "/api/v1/products/",
        {
            "title": "Mug",
            "sku": "MUG-1",
            "price": "12.00",
            "currency": "EUR",
            "inventory_quantity": 3,
        },
        format="json",
    )
    assert created.status_code == 201
    url = f"/api/v1/products/{created.json()['id']}/inventory/"
    # when
    for body in ({"quantity": 0}, {"quantity": 0}, {"delta": 5}):
        assert api.post(url, body, format="json").status_code == 200
    # then
    assert Product.objects.get().inventory_quantity == 5
    emitted = keys(workspace)
    assert emitted.count("product_sold_out") == 1
    assert emitted.count("product_restocked") == 1


def test_inventory_needs_exactly_one_of_quantity_and_delta(api_client_for, marketer, workspace):
    product = services.create_product(
        workspace=workspace, title="Mug", sku="MUG-1", price=Decimal("12"), currency="EUR"
    )
    response = api_client_for(marketer).post(
        f"/api/v1/products/{product.pk}/inventory/", {"quantity": 1, "delta": 2}, format="json"
    )
    assert response.status_code == 400
    assert "either quantity or delta" in str(response.json())


def test_orders_are_placed_and_paid_through_the_services(api_client_for, marketer, workspace):
    # given
    customer = services.create_customer(workspace=workspace, email="jo@example.com")
    api = api_client_for(marketer)
    # when
    created = api.post(
        "/api/v1/orders/",
        {
            "customer_id": customer.pk,
            "total": "120.00",
            "currency": "EUR",
            "payment_method": "card",
        },
        format="json",
    )
    paid = api.post(f"/api/v1/orders/{created.json()['id']}/pay/", {}, format="json")
    paid_again = api.post(f"/api/v1/orders/{created.json()['id']}/pay/", {}, format="json")
    # then
    assert created.status_code == 201
    assert paid.status_code == 200
    assert paid.json()["status"] == "paid"
    assert paid_again.status_code == 409
    assert keys(workspace).count("order_paid") == 1
    assert "order_created" in keys(workspace)


def test_order_for_another_workspaces_customer_is_refused(
    api_client_for, marketer, workspace, other_workspace
):
    # given
    foreign = services.create_customer(workspace=other_workspace, email="x@example.com")
    # when
    response = api_client_for(marketer).post(
        "/api/v1/orders/",
        {"customer_id": foreign.pk, "total": "10.00", "currency": "EUR"},
        format="json",
    )
    # then
    assert response.status_code == 400
    assert response.json()["customer_id"] == ["No such customer in this workspace."]
    assert keys(other_workspace) == ["customer_created"]


def test_another_workspaces_customer_is_404(api_client_for, marketer, other_workspace):
    foreign = services.create_customer(workspace=other_workspace, email="x@example.com")
    assert api_client_for(marketer).get(f"/api/v1/customers/{foreign.pk}/").status_code == 404


def test_auditor_reads_entities_but_cannot_write(api_client_for, auditor, workspace):
    # given
    services.create_customer(workspace=workspace, email="jo@example.com")
    api = api_client_for(auditor)
    # when
    listing = api.get("/api/v1/customers/")
    create = api.post("/api/v1/customers/", {"email": "new@example.com"}, format="json")
    # then
    assert listing.status_code == 200
    assert [c["email"] for c in listing.json()["results"]] == ["jo@example.com"]
    assert create.status_code == 403
    assert Customer.objects.count() == 1
