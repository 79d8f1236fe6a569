"""Hypothesis against ``POST /hooks/<token>``: only documented answers, never a 5xx, all logged.

Each test creates its endpoint in the test body and sends every generated request through the
full Django stack (test client). Bodies are authenticated with a bearer token where the test
wants the pipeline to get past the signature (bearer does not authenticate the body, so random
bytes, random JSON, deep nesting and unicode all reach the JSON parser and the validator).
Every attempt must write exactly one ``InboundDelivery``.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Workspace
from tests.webhooks.conftest import make_endpoint
from webhooks.models import Endpoint, InboundDelivery

pytestmark = pytest.mark.django_db

DOCUMENTED = {200, 202, 400, 401, 403, 404, 413, 415, 422, 429}
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
header_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1
).filter(lambda name: name.lower() not in {"content-type", "content-length", "authorization"})
# Any text a WSGI server could hand over (latin-1 decoded bytes), plus wider unicode.
header_values = st.text(st.characters(codec="latin-1"), max_size=200) | st.text(max_size=50)
garbage_headers = st.dictionaries(header_names, header_values, max_size=6)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        "application/json\u00e9",
        "APPLICATION/JSON",
        ";;;",
    ]
)


@pytest.fixture
def workspace(db: Any) -> Workspace:
    return Workspace.objects.create(slug="fuzzhooks", name="Fuzz hooks")


def _bearer_endpoint(workspace: Workspace, **attributes: Any) -> tuple[Endpoint, str]:
    attributes.setdefault("rate_limit_per_minute", 1_000_000)
    attributes.setdefault("max_body_bytes", 64 * 1024)
    return make_endpoint(workspace, preset="generic", scheme="bearer", **attributes)


def _send(
    client: Client,
    token: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    content_length: str | None = None,
) -> int:
    extra: dict[str, Any] = {}
    if content_length is not None:
        # A real server hands the app a stream that ends early; BytesIO does the same.
        extra = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": content_length}
    response = client.post(
        f"/hooks/{token}",
        data=body,
        content_type=content_type,
        headers=headers or {},
        REMOTE_ADDR="127.0.0.1",
        **extra,
    )
    return int(response.status_code)


def test_random_bytes_with_garbage_headers_get_documented_answers(workspace: Workspace) -> None:
    # given
    hook, secret = _bearer_endpoint(workspace)
    client = Client()
    statuses: list[int] = []

    @FUZZ
    @given(
        body=st.binary(max_size=2048),
        content_type=content_types,
        headers=garbage_headers,
        signed=st.booleans(),
    )
    def attempt(body: bytes, content_type: str, headers: dict[str, str], signed: bool) -> None:
        if signed:
            headers = {**headers, "Authorization": f"Bearer {secret}"}
        statuses.append(_send(client, hook.token, body, content_type=content_type, headers=headers))

    # when
    attempt()

    # then
    assert set(statuses) <= DOCUMENTED
    assert InboundDelivery.objects.filter(endpoint=hook).count() == len(statuses)


def test_random_json_and_unicode_get_documented_answers(workspace: Workspace) -> None:
    # given
    hook, secret = _bearer_endpoint(workspace)
    client = Client()
    statuses: list[int] = []

    @FUZZ
    @given(document=json_values, ensure_ascii=st.booleans())
    def attempt(document: Any, ensure_ascii: bool) -> None:
        body = json.dumps(document, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
        statuses.append(
            _send(client, hook.token, body, headers={"Authorization": f"Bearer {secret}"})
        )

    # when
    attempt()

    # then
    assert set(statuses) <= DOCUMENTED
    assert 202 in statuses
    assert InboundDelivery.objects.filter(endpoint=hook).count() == len(statuses)


def test_huge_nesting_is_refused_with_400_not_a_crash(workspace: Workspace) -> None:
    # given
    hook, secret = _bearer_endpoint(workspace, max_body_bytes=1024 * 1024)
    client = Client()
    statuses: list[int] = []

    @FUZZ
    @given(depth=st.integers(min_value=1, max_value=100_000), opener=st.sampled_from("[{"))
    def attempt(depth: int, opener: str) -> None:
        if opener == "[":
            body = ("[" * depth + "1" + "]" * depth).encode()
        else:
            body = ('{"a":' * depth + "1" + "}" * depth).encode()
        status = _send(client, hook.token, body, headers={"Authorization": f"Bearer {secret}"})
        statuses.append(status)
        # then (a repeated body is the same event: 200; a top-level list does not fit: 422)
        assert status in ({200, 202, 422} if depth <= 100 else {400})

    # when
    attempt()

    # then
    assert InboundDelivery.objects.filter(endpoint=hook).count() == len(statuses)


def test_content_length_lies_get_documented_answers(workspace: Workspace) -> None:
    # given
    hook, secret = _bearer_endpoint(workspace, max_body_bytes=4096)
    client = Client()
    statuses: list[int] = []

    @FUZZ
    @given(
        body=st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode()),
        declared=st.integers(min_value=-10, max_value=10**12).map(str)
        | st.sampled_from(["", "abc", "1e3", " 12 ", "-0", "\u0661\u0662"]),
    )
    def attempt(body: bytes, declared: str) -> None:
        statuses.append(
            _send(
                client,
                hook.token,
                body,
                headers={"Authorization": f"Bearer {secret}"},
                content_length=declared,
            )
        )

    # when
    attempt()

    # then
    assert set(statuses) <= DOCUMENTED
    assert 413 in statuses
    assert InboundDelivery.objects.filter(endpoint=hook).count() == len(statuses)


def test_oversized_and_non_ascii_headers_get_documented_answers(workspace: Workspace) -> None:
    # given
    hook, secret = _bearer_endpoint(workspace)
    client = Client()
    statuses: list[int] = []

    @FUZZ
    @given(
        name=header_names,
        value=header_values,
        size=st.integers(min_value=0, max_value=256 * 1024),
        authorization=st.sampled_from(["", "Bearer ", "Bearer \u00e9\u00e9", "Basic x", "Bearer"])
        | header_values,
    )
    def attempt(name: str, value: str, size: int, authorization: str) -> None:
        headers = {name: (value * (size // max(len(value), 1) + 1))[:size] if value else "x" * size}
        if authorization:
            headers["Authorization"] = authorization
        statuses.append(_send(client, hook.token, b"{}", headers=headers))

    # when
    attempt()

    # then
    assert set(statuses) <= {401}
    assert InboundDelivery.objects.filter(endpoint=hook).count() == len(statuses)


@FUZZ
@given(token=st.text(min_size=1, max_size=80).filter(lambda t: not set(t) & set("/?#%\\")))
def test_unknown_tokens_answer_404_and_are_logged(token: str) -> None:
    # given no endpoint with this token (the database is empty of endpoints)
    before = InboundDelivery.objects.count()
    # when
    response = Client().post(f"/hooks/{token}", data=b"{}", content_type="application/json")
    # then
    assert response.status_code == 404
    assert InboundDelivery.objects.count() == before + 1
