"""WSGI entry point (gunicorn ``config.wsgi``): Django, with inbound hooks on their own lane.

``webhooks.lane.HookLane`` answers ``POST /hooks/<token>`` without the middleware that do not
concern it; every other request goes through Django's full stack.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
_django = get_wsgi_application()

from webhooks.lane import HookLane  # noqa: E402 (needs the app registry get_wsgi_application loads)

application = HookLane(_django)
