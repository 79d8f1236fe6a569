"""Personas and clients shared by the whole suite (healthchecks-style: Alice, Bob... by role)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Membership, Plan, Role, Workspace
from catalog.events import WAKER, ListenerCheck, set_listener_check


def _member(workspace: Workspace, username: str, role: str) -> User:
    user = User.objects.create_user(
        username=username, email=f"{username}@example.com", password="pw"
    )
    Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


@pytest.fixture
def workspace(db) -> Workspace:
    return Workspace.objects.create(slug="acme", name="Acme Store", plan=Plan.PRO)


@pytest.fixture
def other_workspace(db) -> Workspace:
    return Workspace.objects.create(slug="globex", name="Globex", plan=Plan.PRO)


@pytest.fixture
def marketer(workspace) -> User:
    return _member(workspace, "mia", Role.MARKETER)


@pytest.fixture
def admin(workspace) -> User:
    return _member(workspace, "ada", Role.ADMIN)


@pytest.fixture
def auditor(workspace) -> User:
    return _member(workspace, "aud", Role.AUDITOR)


@pytest.fixture
def outsider(other_workspace) -> User:
    """An admin of another workspace."""
    return _member(other_workspace, "olga", Role.ADMIN)


@pytest.fixture
def api_client_for() -> Callable[[User], APIClient]:
    """Return an API client authenticated with the user's token."""

    def make(user: User) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def every_trigger_heard() -> Iterator[None]:
    """Treat every trigger as listened to, so internal events are published.

    For tests of the publish path itself in a workspace without rules: by default an internal
    event no enabled rule listens to is stored dispatched and never published.
    """
    previous = set_listener_check(ListenerCheck(ask=lambda _workspace_id, _trigger_key: True))
    yield
    set_listener_check(previous)


@pytest.fixture(scope="session", autouse=True)
def _publisher_waker_stopped(django_db_setup: None) -> Iterator[None]:
    """Stop the publisher waker's thread (and its connection) before the test database goes."""
    yield
    WAKER.stop()
