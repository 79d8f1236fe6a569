"""Every URL in the URL conf declares who may use it; a view without a declared check fails here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, path

from accounts.access import Access


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace == "admin":  # Django admin: superusers only, its own checks
                continue
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback


def declared_access(callback: Any) -> Access | str | None:
    """Return the view's declared policy ("public" or an Access), or None if it has none."""
    if hasattr(callback, "typewire_access"):
        return callback.typewire_access  # type: ignore[no-any-return]
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        if hasattr(cls, "typewire_access"):
            return cast(Access | str, cls.typewire_access)
        if "access" in dir(cls):
            return cast(Access | str, cls.access or "public")
    return None


def undeclared(patterns: list[Any]) -> list[str]:
    return [route for route, cb in _walk(patterns) if declared_access(cb) is None]


def test_every_url_declares_its_access_policy():
    # when
    missing = undeclared(get_resolver().url_patterns)
    # then
    assert missing == []


def test_the_walk_catches_a_view_without_a_check():
    # given a view added without any role check
    def naked(request):  # pragma: no cover - never called
        raise AssertionError

    patterns = [*get_resolver().url_patterns, path("naked/", naked)]
    # when
    missing = undeclared(patterns)
    # then
    assert missing == ["naked/"]


@pytest.mark.parametrize("route", ["healthz", "readyz", "accounts/login/"])
def test_public_pages_are_marked_public(route):
    callbacks = dict(_walk(get_resolver().url_patterns))
    assert declared_access(callbacks[route]) == "public"
