"""Role checks over the whole router: auditors change nothing, marketers stay out of admin areas.

The routes are built from ``config.urls.router.registry`` (standard routes and extra actions),
so a new viewset or action is covered without editing this file. Role checks run before any
object lookup, so a made-up id is enough to reach them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import get_resolver
from rest_framework import mixins, viewsets
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from accounts.access import ADMIN_AREA
from config.urls import router
from tests.test_urlconf_access import undeclared

pytestmark = pytest.mark.django_db

API = "/api/v1/"
UNSAFE = ("post", "put", "patch", "delete")
STANDARD = {
    "create": (False, "post"),
    "update": (True, "put"),
    "partial_update": (True, "patch"),
    "destroy": (True, "delete"),
    "list": (False, "get"),
    "retrieve": (True, "get"),
}


def routes(registry: list[tuple[str, Any, str]]) -> Iterator[tuple[str, str, str, Any]]:
    """Yield (basename, method, url, viewset) for every route of every registered viewset."""
    for prefix, viewset, basename in registry:
        lookup = "1" if getattr(viewset, "lookup_field", "pk") == "pk" else "x"
        for name, (detail, method) in STANDARD.items():
            if hasattr(viewset, name):
                url = f"{API}{prefix}/{lookup}/" if detail else f"{API}{prefix}/"
                yield basename, method, url, viewset
        for extra in viewset.get_extra_actions():
            path = extra.url_path.replace("(?P<tag>[^/]+)", "vip")
            url = f"{API}{prefix}/{lookup}/{path}/" if extra.detail else f"{API}{prefix}/{path}/"
            for method in extra.mapping:
                yield basename, method, url, viewset


UNSAFE_ROUTES = [
    pytest.param(method, url, id=f"{method.upper()} {url}")
    for _, method, url, _ in routes(router.registry)
    if method in UNSAFE
]
ADMIN_ROUTES = [
    pytest.param(method, url, id=f"{method.upper()} {url}")
    for _, method, url, viewset in routes(router.registry)
    if getattr(viewset, "access", ADMIN_AREA) is ADMIN_AREA
]


def test_the_router_has_unsafe_and_admin_routes() -> None:
    assert len(UNSAFE_ROUTES) > 20
    assert {"members", "endpoints", "deliveries", "custom-fields", "events"} <= {
        str(param.values[1]).split("/")[3] for param in ADMIN_ROUTES
    }


@pytest.mark.parametrize(("method", "url"), UNSAFE_ROUTES)
def test_auditor_may_change_nothing(
    auditor: User, api_client_for: Callable[[User], APIClient], method: str, url: str
) -> None:
    # when
    response = getattr(api_client_for(auditor), method)(url, {}, format="json")
    # then
    assert response.status_code == 403, response.content


@pytest.mark.parametrize(("method", "url"), ADMIN_ROUTES)
def test_marketer_may_not_use_the_admin_area(
    marketer: User, api_client_for: Callable[[User], APIClient], method: str, url: str
) -> None:
    # when
    response = getattr(api_client_for(marketer), method)(url, {}, format="json")
    # then
    assert response.status_code == 403, response.content


@pytest.mark.parametrize(("method", "url"), UNSAFE_ROUTES)
def test_anonymous_callers_are_refused(method: str, url: str) -> None:
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert response.status_code == 401


# --- a new view without a check fails the URL-conf walk ---------------------------------------


class _NoPolicyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Any]):
    """A viewset registered without an ``access`` policy."""


def test_the_url_conf_walk_flags_a_router_viewset_without_a_policy() -> None:
    # given a router viewset added without an access policy
    throwaway = DefaultRouter(trailing_slash=True)
    throwaway.include_root_view = False
    throwaway.register("no-policy", _NoPolicyViewSet, basename="no-policy")
    patterns = [*get_resolver().url_patterns, *throwaway.urls]
    # when
    missing = undeclared(patterns)
    # then
    assert missing == ["^no-policy/$", "^no-policy\\.(?P<format>[a-z0-9]+)/?$"]
