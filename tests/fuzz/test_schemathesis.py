"""Schemathesis over our own OpenAPI schema: every operation, as a workspace admin, no 5xx.

The schema is the one ``/api/schema/`` serves (drf-spectacular's generator, built once at
collection). Each operation is its own test: hypothesis generates up to ``MAX_EXAMPLES`` cases
from the schema with a fixed seed, each is sent through Django's WSGI application with an
admin's token (so writes are exercised), and the response must not be a server error and must
conform to the operation's documented responses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, seed, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.models import Membership, Plan, Role, Workspace
from tests.factories import CustomerFactory, OrderFactory, ProductFactory
from tests.webhooks.conftest import make_endpoint

MAX_EXAMPLES = 15
CHECKS = [not_a_server_error, response_schema_conformance]

APPLICATION = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
SCHEMA.app = APPLICATION
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]  # type: ignore[union-attr]


@pytest.fixture
def _same_connection() -> Iterator[None]:
    """Keep the test's connection across WSGI requests, as Django's own test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_headers(db: Any, _same_connection: None) -> dict[str, str]:
    """A seeded workspace (a customer, a product, an order, an endpoint) and its admin's token."""
    workspace = Workspace.objects.create(slug="fuzz", name="Fuzz Store", plan=Plan.PRO)
    user = User.objects.create_user(username="fuzz-admin", password="pw")
    Membership.objects.create(user=user, workspace=workspace, role=Role.ADMIN)
    customer = CustomerFactory.create(workspace=workspace)
    ProductFactory.create(workspace=workspace)
    OrderFactory.create(workspace=workspace, customer=customer)
    make_endpoint(workspace)
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


def test_the_schema_has_operations() -> None:
    assert len(OPERATIONS) > 30


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_operation_never_answers_5xx_and_conforms_to_its_schema(
    operation: Any, admin_headers: dict[str, str]
) -> None:
    strategy = operation.as_strategy()

    @seed(20260421)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(headers=admin_headers, checks=CHECKS)

    run()
