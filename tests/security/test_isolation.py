"""Workspace isolation, proven by walking the DRF router (``config.urls.router.registry``).

Workspace B ("globex") holds one object of every kind, each carrying a marker string. An admin
of workspace A lists every endpoint of the router and must see none of B's objects (neither
their ids nor the marker), and every detail route answers 404 for B's object, for reads and for
changes alike. Every router entry must have a seed here (or be declared global), so a new
viewset cannot slip past the walk; a test shows the walk flags a viewset without scoping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import include, path
from django.utils import timezone
from rest_framework import mixins, serializers, viewsets
from rest_framework.routers import BaseRouter, DefaultRouter
from rest_framework.test import APIClient

from accounts.access import MARKETER_AREA
from accounts.models import AuditEntry, AuditObject, Membership, Role, Workspace
from automations import services as rule_services
from automations.models import DisabledTarget, Execution, ExecutionStatus
from catalog.domain.models import Customer
from catalog.models import Event, EventStatus
from config.urls import router
from tests.factories import (
    CustomerFactory,
    CustomFieldDefinitionFactory,
    OrderFactory,
    ProductFactory,
)
from tests.webhooks.conftest import make_endpoint
from webhooks.models import InboundDelivery

pytestmark = pytest.mark.django_db

API = "/api/v1/"
MARKER = "globex-only-7f3a"
# Router entries that hold no workspace data: the built-in catalog, the caller's own workspaces
# (checked below) and the write-only event intake.
GLOBAL = {"catalog-trigger", "catalog-action", "workspace", "event"}


@dataclass(frozen=True)
class Seed:
    """One object of workspace B: its primary key, as its detail route names it."""

    pk: int


def seed_other_workspace(workspace: Workspace) -> dict[str, Seed]:
    """Create one object of every kind in ``workspace``; return them by router basename."""
    customer = CustomerFactory.create(
        workspace=workspace, email=f"{MARKER}@example.com", first_name=MARKER
    )
    product = ProductFactory.create(workspace=workspace, title=MARKER)
    order = OrderFactory.create(workspace=workspace, customer=customer)
    field = CustomFieldDefinitionFactory.create(workspace=workspace, label=MARKER)
    endpoint, _ = make_endpoint(workspace, name=MARKER)
    delivery = InboundDelivery.objects.create(
        endpoint=endpoint,
        workspace=workspace,
        status_code=401,
        error="signature_mismatch",
        detail=MARKER,
    )
    rule = rule_services.save_rule(
        workspace=workspace,
        author=None,
        name=MARKER,
        definition={
            "trigger": {"key": "customer_created", "config": {}},
            "steps": [
                {
                    "id": "welcome",
                    "action": "tag",
                    "inputs": {"customer_id": {"ref": "customer_id"}, "tag": {"literal": MARKER}},
                }
            ],
        },
    )
    event = Event.objects.create(
        workspace=workspace,
        trigger_key="customer_created",
        payload={"customer_id": customer.pk, "email": f"{MARKER}@example.com"},
        status=EventStatus.DISPATCHED,
    )
    execution = Execution.objects.create(
        workspace=workspace,
        rule=rule,
        rule_version=rule.version,
        event=event,
        status=ExecutionStatus.SUCCEEDED,
        error=MARKER,
    )
    user = User.objects.create_user(username=MARKER, email=f"{MARKER}@example.com")
    member = Membership.objects.create(user=user, workspace=workspace, role=Role.MARKETER)
    disabled_target = DisabledTarget.objects.create(
        workspace=workspace,
        url=f"https://hooks.example.com/{MARKER}",
        reason=MARKER,
        disabled_at=timezone.now(),
    )
    audit_entry = AuditEntry.objects.create(
        workspace=workspace,
        action="created",
        object_type=AuditObject.RULE,
        object_id=str(rule.pk),
        object_label=MARKER,
    )
    return {
        "customer": Seed(customer.pk),
        "product": Seed(product.pk),
        "order": Seed(order.pk),
        "custom-field": Seed(field.pk),
        "endpoint": Seed(endpoint.pk),
        "delivery": Seed(delivery.pk),
        "rule": Seed(rule.pk),
        "execution": Seed(execution.pk),
        "member": Seed(member.pk),
        "disabled-target": Seed(disabled_target.pk),
        "audit-entry": Seed(audit_entry.pk),
    }


def _ids(document: Any) -> set[Any]:
    items = document.get("results", document) if isinstance(document, dict) else document
    return {item.get("id") for item in items if isinstance(item, dict)}


def leaks(
    registry: list[tuple[str, Any, str]],
    client: APIClient,
    seeds: Mapping[str, Seed],
    base: str = API,
) -> list[str]:
    """Walk ``registry``; return each request that showed or touched one of ``seeds``."""
    found: list[str] = []
    for prefix, viewset, basename in registry:
        seed = seeds.get(basename)
        if seed is None:
            continue
        if hasattr(viewset, "list"):
            response = client.get(f"{base}{prefix}/", {"limit": 1000})
            body = response.content.decode()
            if response.status_code != 200:
                found.append(f"GET {base}{prefix}/ answered {response.status_code}")
            elif MARKER in body or seed.pk in _ids(response.json()):
                found.append(f"GET {base}{prefix}/")
        detail = f"{base}{prefix}/{seed.pk}/"
        checks: list[tuple[str, Callable[..., Any]]] = []
        if hasattr(viewset, "retrieve"):
            checks.append(("GET", client.get))
        if hasattr(viewset, "partial_update"):
            checks.append(("PATCH", lambda url: client.patch(url, {}, format="json")))
        if hasattr(viewset, "destroy"):
            checks.append(("DELETE", client.delete))
        for method, send in checks:
            response = send(detail)
            if response.status_code != 404 or MARKER in response.content.decode():
                found.append(f"{method} {detail} answered {response.status_code}")
    return found


@pytest.fixture
def seeds(other_workspace: Workspace) -> dict[str, Seed]:
    return seed_other_workspace(other_workspace)


def test_every_router_entry_is_seeded_or_declared_global() -> None:
    basenames = {basename for _, _, basename in router.registry}
    seeded = {
        "customer",
        "product",
        "order",
        "custom-field",
        "endpoint",
        "delivery",
        "rule",
        "execution",
        "member",
        "disabled-target",
        "audit-entry",
    }
    assert basenames - GLOBAL == seeded


def test_a_member_of_a_sees_nothing_of_b_through_any_route(
    admin: User, seeds: dict[str, Seed], api_client_for: Callable[[User], APIClient]
) -> None:
    # given an admin of A (the widest reader of A's data) and one object of each kind in B
    client = api_client_for(admin)
    # when
    found = leaks(router.registry, client, seeds)
    # then
    assert found == []
    assert Customer.objects.get(pk=seeds["customer"].pk).first_name == MARKER


@pytest.mark.parametrize(("_case", "role"), [("marketer", "marketer"), ("auditor", "auditor")])
def test_other_roles_see_nothing_of_b_either(
    _case: str,
    role: str,
    request: pytest.FixtureRequest,
    seeds: dict[str, Seed],
    api_client_for: Callable[[User], APIClient],
) -> None:
    # given a member of A with another role; routes their role may not read answer 403, not B's
    user: User = request.getfixturevalue(role)
    client = api_client_for(user)
    # when
    found = [leak for leak in leaks(router.registry, client, seeds) if "answered 403" not in leak]
    # then
    assert found == []


def test_naming_another_workspace_in_the_header_answers_404(
    admin: User, seeds: dict[str, Seed], api_client_for: Callable[[User], APIClient]
) -> None:
    # given
    client = api_client_for(admin)
    # when
    response = client.get(f"{API}customers/", headers={"X-Workspace": "globex"})
    # then
    assert response.status_code == 404
    assert MARKER not in response.content.decode()


def test_workspace_list_shows_only_the_callers_workspaces(
    admin: User, seeds: dict[str, Seed], api_client_for: Callable[[User], APIClient]
) -> None:
    response = api_client_for(admin).get(f"{API}workspaces/")
    assert [w["slug"] for w in response.json()] == ["acme"]


# --- the walk can fail -------------------------------------------------------------------------


class _CustomerSerializer(serializers.ModelSerializer[Customer]):
    class Meta:
        model = Customer
        fields = ["id", "email", "first_name"]


class NakedCustomerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Customer],
):
    """A viewset with a role check but no workspace scoping (the bug the walk must catch)."""

    access = MARKETER_AREA
    queryset = Customer.objects.order_by("id")
    serializer_class = _CustomerSerializer


naked_router = DefaultRouter()
naked_router.register("naked-customers", NakedCustomerViewSet, basename="customer")
urlpatterns = [path("api/v1/", include(naked_router.urls))]


def _registry(throwaway: BaseRouter) -> list[tuple[str, Any, str]]:
    return list(throwaway.registry)


@override_settings(ROOT_URLCONF=__name__)
def test_the_walk_flags_a_viewset_without_workspace_scoping(
    admin: User, seeds: dict[str, Seed], api_client_for: Callable[[User], APIClient]
) -> None:
    # given a throwaway router with a viewset that forgot to filter by workspace
    client = api_client_for(admin)
    # when
    found = leaks(_registry(naked_router), client, seeds)
    # then
    detail = f"{API}naked-customers/{seeds['customer'].pk}/"
    assert found == [
        f"GET {API}naked-customers/",
        f"GET {detail} answered 200",
        f"PATCH {detail} answered 200",
    ]
