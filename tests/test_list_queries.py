"""No N+1 queries: every list page and every API list answers in a fixed number of queries.

One workspace holds 20 of everything a list shows (rules, executions with events, steps and
attempts, endpoints with secrets and deliveries, customers with tags and segments, products,
orders, custom fields, members, audit entries, disabled targets), so a query per row would
blow the budget by 20. The API lists are found by walking the router: a list added to it
without a budget here fails ``test_every_api_list_has_a_budget``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Plan, Role, Workspace
from automations import services
from automations.models import DisabledTarget, Execution, ExecutionStatus
from config.urls import router
from tests.automations.test_activity_views import make_execution, tag_rule
from tests.factories import (
    CustomerFactory,
    CustomerTagFactory,
    CustomFieldDefinitionFactory,
    OrderFactory,
    ProductFactory,
    SegmentFactory,
    SegmentMembershipFactory,
)
from webhooks import services as webhook_services
from webhooks.models import Endpoint, InboundDelivery

pytestmark = pytest.mark.django_db

ROWS = 20

# Queries per page with ROWS of everything (session, user, membership and workspace included);
# measured, plus one or two of headroom: a query per row would add ROWS.
PAGE_BUDGETS = {
    "/rules/": 6,
    "/endpoints/": 6,
    "/activity/": 8,
    "/activity/?tab=deliveries": 8,
    "/activity/?tab=changes": 7,
    "/activity/?tab=audit": 8,
    "/dashboard/": 19,  # a fixed set of aggregates, whatever the number of rows
    "/accounts/settings/members/": 8,
    "/catalog/": 8,
    "/endpoints/{endpoint}/deliveries/": 8,
}
# Queries per API list (token, membership and workspace included), by router basename.
API_BUDGETS = {
    "workspace": 3,
    "member": 5,
    "audit-entry": 5,
    "catalog-trigger": 3,
    "catalog-action": 3,
    "rule": 5,
    "customer": 7,  # the page, its count, the prefetched tags and segments
    "product": 5,
    "order": 5,
    "custom-field": 5,
    "endpoint": 6,
    "delivery": 5,
    "execution": 5,
    "disabled-target": 5,
}
# Lists of the catalog (code, not rows): they have nothing to repeat per row.
STATIC_LISTS = {"catalog-trigger", "catalog-action"}


@pytest.fixture
def world(workspace: Workspace, admin: User) -> Workspace:
    """ROWS of every listed object in ``workspace``, whose admin is ``admin``."""
    now = timezone.now()
    rules = [
        services.save_rule(
            workspace=workspace, author=admin, name=f"Rule {n}", definition=tag_rule()
        )
        for n in range(ROWS)
    ]
    executions: list[Execution] = [
        make_execution(rule, status=ExecutionStatus.DEAD if n % 2 else ExecutionStatus.SUCCEEDED)
        for n, rule in enumerate(rules)
    ]
    for n in range(ROWS):
        endpoint = webhook_services.create_endpoint(
            workspace=workspace, name=f"Hook {n}", preset="standard_webhooks"
        ).endpoint
        # Each endpoint has one delivery; the first one has ROWS more.
        for m in range(1 + (ROWS if n == 0 else 0)):
            InboundDelivery.objects.create(
                workspace=workspace, endpoint=endpoint, status_code=202, token_prefix=f"t{n}{m}"
            )
        DisabledTarget.objects.create(
            workspace=workspace,
            url=f"https://crm{n}.example.com/hooks",
            reason="HTTP 410",
            rule=rules[n],
            execution=executions[n],
            disabled_at=now - dt.timedelta(minutes=n),
            enabled_at=now if n % 2 else None,
            enabled_by=admin if n % 2 else None,
        )
    segment = SegmentFactory.create(workspace=workspace)
    for n in range(ROWS):
        customer = CustomerFactory.create(workspace=workspace)
        CustomerTagFactory.create(customer=customer, tag=f"tag{n}")
        CustomerTagFactory.create(customer=customer, tag="vip")
        SegmentMembershipFactory.create(customer=customer, segment=segment)
        OrderFactory.create(customer=customer)
        ProductFactory.create(workspace=workspace)
        CustomFieldDefinitionFactory.create(workspace=workspace, key=f"field_{n}")
        member = User.objects.create_user(username=f"member{n}", password="pw")
        Membership.objects.create(user=member, workspace=workspace, role=Role.MARKETER)
        other = Workspace.objects.create(slug=f"shop-{n}", name=f"Shop {n}", plan=Plan.PRO)
        Membership.objects.create(user=admin, workspace=other, role=Role.ADMIN)
    return workspace


@pytest.fixture
def browser(admin: User, world: Workspace) -> Client:
    client = Client()
    client.force_login(admin)
    return client


# One test per kind, the URLs in a loop: building the world once per URL would be slow.
def test_every_list_page_answers_in_a_fixed_number_of_queries(
    browser, django_assert_max_num_queries
):
    first_endpoint = Endpoint.objects.order_by("id").first()
    assert first_endpoint is not None
    for pattern, budget in PAGE_BUDGETS.items():
        url = pattern.format(endpoint=first_endpoint.pk)
        # when the page lists ROWS of everything
        with django_assert_max_num_queries(budget, info=url):
            response = browser.get(url)
        # then
        assert response.status_code == 200, url


def _list_routes() -> list[tuple[str, str]]:
    return [
        (prefix, basename)
        for prefix, viewset, basename in router.registry
        if hasattr(viewset, "list")
    ]


def test_every_api_list_has_a_budget():
    # then every list the router serves is counted below
    assert {basename for _, basename in _list_routes()} == set(API_BUDGETS)


def test_every_api_list_answers_in_a_fixed_number_of_queries(
    admin, world, api_client_for, django_assert_max_num_queries
):
    client = api_client_for(admin)
    for prefix, basename in _list_routes():
        url = f"/api/v1/{prefix}/"
        # when
        with django_assert_max_num_queries(API_BUDGETS[basename], info=url):
            response = client.get(url, HTTP_X_WORKSPACE=world.slug)
        # then it listed at least ROWS rows (so a query per row would have shown)
        assert response.status_code == 200, (url, response.content[:300])
        body = response.json()
        listed = body["results"] if isinstance(body, dict) and "results" in body else body
        if basename not in STATIC_LISTS:
            assert len(listed) >= ROWS, url
