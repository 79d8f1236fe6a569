"""The hook lane (``webhooks.lane.HookLane``) driven as the WSGI application gunicorn calls.

It proves that a signed ``POST /hooks/<token>`` is answered on the lane (the wrapped Django
application never sees it) with the security headers of the lane's middleware, that every other
request goes to Django, that the lane keeps Django's host check, HTTPS redirect, 500 handling
and logging of refused requests, and that a middleware the lane does not know about turns the
lane off, so it is never bypassed silently.

The wrapped application is a stand-in that answers 418: whichever of the two answered is plain
from the status. Requests are hand-built WSGI environs; as Django's test client does,
``close_old_connections`` is unhooked from the request signals during a call, so the lane's
signals do not close the test's transaction.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.test import RequestFactory
from django.utils.csp import CSP

import config.wsgi
from catalog.models import Event
from tests.webhooks.conftest import as_json, make_endpoint, standard_headers
from webhooks import lane
from webhooks.lane import LANE_MIDDLEWARE, SKIPPED_MIDDLEWARE, HookLane
from webhooks.models import InboundDelivery

pytestmark = pytest.mark.django_db

BODY = as_json({"type": "user.created", "email": "jane@example.com"})
UNKNOWN_MIDDLEWARE = "tests.webhooks.test_lane.AuditMiddleware"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeDjango:
    """Stands in for Django's WSGI handler: records each request it gets, answers 418."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("418 I'm a Teapot", [("Content-Type", "text/plain")])
        return [b"django"]


@contextmanager
def _db_connection_kept() -> Iterator[None]:
    """Keep the test's transaction across the request signals (as django.test.Client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(
    app: HookLane,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    host: str = "testserver",
    scheme: str = "http",
) -> Answer:
    """Send one request to the WSGI callable the way a WSGI server does; return its answer."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": scheme,
        "wsgi.errors": io.StringIO(),
    }
    for name, value in (headers or {}).items():
        environ[f"HTTP_{name.upper().replace('-', '_')}"] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
        started.append((status, response_headers))

    with _db_connection_kept():
        iterable = app(environ, start_response)
        try:
            content = b"".join(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()  # sends request_finished on the lane, as on Django's own path
    [(status, response_headers)] = started
    return Answer(int(status.split()[0]), dict(response_headers), content)


def signed_post(app: HookLane, workspace, **kwargs: Any) -> tuple[Answer, str]:
    """POST a signed delivery to a fresh endpoint through ``app``; return the answer and token."""
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    headers = standard_headers(BODY, secret, msg_id="msg_1")
    return call(app, "POST", f"/hooks/{hook.token}", BODY, headers, **kwargs), hook.token


def test_signed_hook_post_is_answered_on_the_lane_with_security_headers(workspace):
    # given
    django_app = FakeDjango()
    app = HookLane(django_app)
    # when
    answer, _ = signed_post(app, workspace)
    # then
    event = Event.objects.get()
    assert answer.status == 202
    assert answer.body == as_json({"event_id": str(event.id)})
    assert InboundDelivery.objects.get().event_id == event.id
    assert django_app.seen == []
    # SecurityMiddleware, ContentSecurityPolicyMiddleware and XFrameOptionsMiddleware ran
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Frame-Options"] == "DENY"
    csp = answer.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'self'; ")
    assert "frame-ancestors 'none'" in csp


def test_lane_policy_headers_are_djangos_and_follow_the_settings(workspace, settings):
    # given a report-only policy besides the enforced one
    settings.SECURE_CSP_REPORT_ONLY = {"default-src": [CSP.SELF], "report-uri": "/csp-report"}
    app = HookLane(FakeDjango())
    # when a delivery comes, then the policy changes and another comes
    first, _ = signed_post(app, workspace)
    expected_first = _djangos_policy_headers()
    settings.SECURE_CSP = {"default-src": [CSP.NONE]}
    second, _ = signed_post(app, workspace)
    # then each answer has the headers Django's own middleware sets at that time
    for header in (CSP.HEADER_ENFORCE, CSP.HEADER_REPORT_ONLY):
        assert first.headers[header] == expected_first[header]
    assert expected_first[CSP.HEADER_REPORT_ONLY] == "default-src 'self'; report-uri /csp-report"
    assert second.headers[CSP.HEADER_ENFORCE] == "default-src 'none'"
    assert second.headers[CSP.HEADER_ENFORCE] == _djangos_policy_headers()[CSP.HEADER_ENFORCE]


def _djangos_policy_headers() -> dict[str, str]:
    """The policy headers Django's CSP middleware puts on a plain answer under the settings now."""
    middleware = ContentSecurityPolicyMiddleware(lambda request: HttpResponse())
    response = middleware(RequestFactory().post("/"))
    assert isinstance(response, HttpResponse)
    return {header: response.headers[header] for header in response.headers if "Policy" in header}


@pytest.mark.parametrize(
    ("_case", "method", "path"),
    [
        ("GET of a hook", "GET", "/hooks/{token}"),
        ("trailing slash", "POST", "/hooks/{token}/"),
        ("API", "POST", "/api/v1/endpoints/"),
    ],
)
def test_other_requests_go_to_django(workspace, _case, method, path):
    # given
    hook, secret = make_endpoint(workspace, rate_limit_per_minute=0)
    django_app = FakeDjango()
    app = HookLane(django_app)
    path = path.format(token=hook.token)
    # when
    answer = call(app, method, path, BODY, standard_headers(BODY, secret))
    # then
    assert answer.status == 418
    assert answer.body == b"django"
    assert django_app.seen == [(method, path)]
    assert Event.objects.count() == 0
    assert InboundDelivery.objects.count() == 0


def test_refused_delivery_is_logged_as_on_djangos_path(workspace, caplog):
    # given a delivery signed with another secret
    hook, _ = make_endpoint(workspace, rate_limit_per_minute=0)
    headers = standard_headers(BODY, "whsec_" + "A" * 32, msg_id="msg_1")
    app = HookLane(FakeDjango())
    # when
    with caplog.at_level(logging.WARNING, logger="django.request"):
        answer = call(app, "POST", f"/hooks/{hook.token}", BODY, headers)
    # then
    assert answer.status == 401
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == f"Unauthorized: /hooks/{hook.token}"
    assert Event.objects.count() == 0


def test_disallowed_host_is_refused_400_and_nothing_is_stored(workspace):
    # given
    django_app = FakeDjango()
    app = HookLane(django_app)
    # when
    answer, _ = signed_post(app, workspace, host="evil.example.com")
    # then
    assert answer.status == 400
    assert django_app.seen == []
    assert Event.objects.count() == 0
    assert InboundDelivery.objects.count() == 0


def test_unknown_middleware_turns_the_lane_off(workspace, settings, caplog):
    # given
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, UNKNOWN_MIDDLEWARE]
    django_app = FakeDjango()
    # when
    with caplog.at_level(logging.WARNING, logger="webhooks.lane"):
        app = HookLane(django_app)
    answer, token = signed_post(app, workspace)
    # then
    assert answer.status == 418
    assert django_app.seen == [("POST", f"/hooks/{token}")]
    assert Event.objects.count() == 0
    [record] = [r for r in caplog.records if r.name == "webhooks.lane"]
    assert record.levelno == logging.WARNING
    assert UNKNOWN_MIDDLEWARE in record.getMessage()


def test_plain_http_hook_post_is_redirected_to_https(workspace, settings):
    # given
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_SSL_HOST = None
    django_app = FakeDjango()
    app = HookLane(django_app)  # SecurityMiddleware reads its settings when built
    # when
    answer, token = signed_post(app, workspace)
    # then
    assert answer.status == 301
    assert answer.headers["Location"] == f"https://testserver/hooks/{token}"
    assert django_app.seen == []
    assert Event.objects.count() == 0
    assert InboundDelivery.objects.count() == 0


def test_unexpected_error_in_the_view_is_a_logged_500(workspace, monkeypatch, caplog):
    # given
    def broken_view(request: Any, token: str) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(lane, "receive_hook", broken_view)
    django_app = FakeDjango()
    app = HookLane(django_app)
    # when
    with caplog.at_level(logging.ERROR, logger="django.request"):
        answer, token = signed_post(app, workspace)
    # then
    assert answer.status == 500
    assert django_app.seen == []
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"Internal Server Error: /hooks/{token}"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "disk on fire"


def test_every_project_middleware_is_decided_so_the_production_lane_is_on(settings):
    # given the project's settings.MIDDLEWARE
    undecided = [
        name
        for name in settings.MIDDLEWARE
        if name not in LANE_MIDDLEWARE and name not in SKIPPED_MIDDLEWARE
    ]
    # when the WSGI application gunicorn serves is built
    application = config.wsgi.application
    # then
    assert undecided == []
    assert isinstance(application, HookLane)
    assert application.handler is not None
    assert HookLane(FakeDjango()).handler is not None
