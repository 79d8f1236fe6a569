"""GitHub: ``X-Hub-Signature-256``; id ``X-GitHub-Delivery``, type ``X-GitHub-Event``."""

from __future__ import annotations

from catalog.types import (
    FieldSpec,
    boolean,
    fields,
    integer,
    list_of,
    object_of,
    optional,
    string,
    url,
)
from webhooks.presets.base import ProviderPreset, header
from webhooks.verifiers import Scheme

_REPOSITORY = object_of(
    {"id": integer(), "full_name": string(), "html_url": optional(url())}, is_open=True
)

EVENTS: dict[str, dict[str, FieldSpec]] = {
    "push": fields(
        ref=string(),
        before=string(),
        after=string(),
        repository=_REPOSITORY,
        pusher=object_of({"name": string()}, is_open=True),
        commits=list_of(object_of({"id": string(), "message": string()}, is_open=True)),
    ),
    "pull_request": fields(
        action=string(),
        number=integer(minimum=1),
        repository=_REPOSITORY,
        pull_request=object_of(
            {
                "title": string(),
                "state": string(),
                "html_url": url(),
                "merged": optional(boolean()),
                "user": object_of({"login": string()}, is_open=True),
            },
            is_open=True,
        ),
    ),
}

PRESET = ProviderPreset(
    key="github",
    label="GitHub",
    scheme=Scheme.GITHUB,
    events=EVENTS,
    event_id=header("x-github-delivery"),
    event_type=header("x-github-event"),
)
