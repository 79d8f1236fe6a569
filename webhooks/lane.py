"""``POST /hooks/<token>`` served ahead of the full middleware stack: the hook lane.

Deliveries are most of Typewire's traffic, and a third of what one cost in CPU was the request
cycle around the view: ten middleware (static files, sessions, CSRF, authentication, messages,
htmx...), URL resolution through the whole URL map, then the same on the way out. None of that
concerns the hook: it is public (the token and the signature are the checks), CSRF-exempt,
session-less, and answers JSON to machines.

``HookLane`` wraps the WSGI application. A POST whose path is ``/hooks/<token>`` goes to the
same view (``webhooks.views.receive_hook``) through Django's own pieces for what does concern
it: the request signals (database connection upkeep), ``WSGIRequest``, host validation (a 400,
as ``CommonMiddleware`` would answer), exception handling (``convert_exception_to_response``: a
500 is logged), and the middleware that set security headers or redirect to HTTPS
(``LANE_MIDDLEWARE``, in the project's order). Every other request goes to Django unchanged.

Each middleware of ``settings.MIDDLEWARE`` is either applied here or named in
``SKIPPED_MIDDLEWARE`` with the reason; one in neither list (a middleware added later) turns the
lane off, so nothing is ever bypassed silently.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIRequest, get_path_info, get_script_name
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.urls import set_script_prefix
from django.utils.csp import CSP, build_policy
from django.utils.log import log_response
from django.utils.module_loading import import_string

from webhooks.views import receive_hook

logger = logging.getLogger(__name__)

type WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

HOOK_PATH = re.compile(r"/hooks/(?P<token>[^/]+)")

# Applied on the lane, in the order of settings.MIDDLEWARE.
LANE_MIDDLEWARE = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",  # HTTPS redirect, security headers
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)


class LaneContentSecurityPolicyMiddleware(ContentSecurityPolicyMiddleware):
    """Django's CSP middleware as the lane needs it: the same headers, built once.

    A hook's answer is JSON and runs no script, so it has no nonce; without one the policy
    depends only on the settings (``SECURE_CSP``, ``SECURE_CSP_REPORT_ONLY``), so it is built
    once per settings object rather than on every delivery.
    """

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        """Wrap ``get_response``, with no policy built yet."""
        super().__init__(get_response)
        self._built: dict[int, tuple[Mapping[str, Any], str]] = {}

    def process_request(self, request: HttpRequest) -> None:
        """No nonce on the lane."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Set the policy headers the response does not have, as Django's middleware does."""
        if hasattr(response, "_csp_config") or hasattr(response, "_csp_ro_config"):
            return super().process_response(request, response)  # a view's own policy
        for header, config in (
            (CSP.HEADER_ENFORCE, settings.SECURE_CSP),
            (CSP.HEADER_REPORT_ONLY, settings.SECURE_CSP_REPORT_ONLY),
        ):
            if config and header not in response:
                response.headers[str(header)] = self._policy(config)
        return response

    def _policy(self, config: Mapping[str, Any]) -> str:
        built = self._built.get(id(config))
        if built is None or built[0] is not config:
            built = (config, build_policy(config))
            self._built[id(config)] = built
        return built[1]


# Lane variants of applied middleware: the same effect, cheaper for a hook.
LANE_VARIANTS: dict[str, Callable[..., Any]] = {
    "django.middleware.csp.ContentSecurityPolicyMiddleware": LaneContentSecurityPolicyMiddleware,
}

# Not applied, and why.
SKIPPED_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "serves static files; a hook is not one",
    "django.contrib.sessions.middleware.SessionMiddleware": "senders have no session",
    "django.middleware.common.CommonMiddleware": "its host check is done on the lane; "
    "APPEND_SLASH and PREPEND_WWW do not apply to a POST to an exact path",
    "django.middleware.csrf.CsrfViewMiddleware": "the hook is CSRF-exempt (signed instead)",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "the hook is public",
    "django.contrib.messages.middleware.MessageMiddleware": "no messages on a JSON answer",
    "django_htmx.middleware.HtmxMiddleware": "senders are not htmx",
}


class HookLane:
    """The WSGI application: hooks on the lane, everything else to ``django_app``."""

    def __init__(self, django_app: WSGIApp) -> None:
        """Build the lane's handler chain, or leave the lane off (see the module docstring)."""
        self.django_app = django_app
        unknown = [
            name
            for name in settings.MIDDLEWARE
            if name not in LANE_MIDDLEWARE and name not in SKIPPED_MIDDLEWARE
        ]
        # (Synchronous here; django-stubs types the chain as possibly async.)
        self.handler: Callable[[HttpRequest], Any] | None = None
        if unknown:
            logger.warning(
                "the hook lane is off: decide whether %s applies to POST /hooks/<token> "
                "(webhooks.lane)",
                ", ".join(unknown),
            )
            return
        handler = convert_exception_to_response(_hook_view)
        for name in reversed(settings.MIDDLEWARE):
            if name in LANE_MIDDLEWARE:
                middleware = LANE_VARIANTS.get(name) or import_string(name)
                handler = convert_exception_to_response(middleware(handler))
        self.handler = handler

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer a hook delivery on the lane; pass anything else to Django."""
        if (
            self.handler is None
            or environ.get("REQUEST_METHOD") != "POST"
            or HOOK_PATH.fullmatch(get_path_info(environ)) is None
        ):
            return self.django_app(environ, start_response)
        # What django.core.handlers.wsgi.WSGIHandler does around its middleware chain.
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        request = WSGIRequest(environ)
        response: HttpResponse = self.handler(request)
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        start_response(
            f"{response.status_code} {response.reason_phrase}",
            [
                *response.items(),
                *(("Set-Cookie", c.OutputString()) for c in response.cookies.values()),
            ],
        )
        # Closing the response sends request_finished, as on Django's own path.
        return response


def _hook_view(request: HttpRequest) -> HttpResponseBase:
    request.get_host()  # DisallowedHost: a 400, as on Django's own path
    match = HOOK_PATH.fullmatch(request.path_info)
    assert match is not None  # HookLane routed it here
    return receive_hook(request, match["token"])
