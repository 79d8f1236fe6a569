"""The outbound client against a local server: status mapping, Retry-After, timeouts, the log."""

from __future__ import annotations

import datetime as dt
import socket
from email.utils import format_datetime

import pytest

from automations.engine import http
from automations.engine.contract import PermanentError, RetryableError

from .conftest import LocalServer, Reply

pytestmark = pytest.mark.usefixtures("allow_local")


def test_a_2xx_answer_is_returned_and_logged(server: LocalServer, ctx):
    # given
    server.reply(Reply(201, {"id": "rec1"}))

    # when
    response = http.post_json(
        ctx,
        f"{server.url}/rows?api_key=k3y&view=all",
        {"name": "Jane"},
        headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k"},
    )

    # then
    assert response.status_code == 201
    assert response.json() == {"id": "rec1"}
    [received] = server.requests
    assert received.json() == {"name": "Jane"}
    assert received.headers["idempotency-key"] == "1:steps.0"
    assert received.headers["authorization"] == "Bearer s3cret"
    [exchange] = ctx.exchanges
    assert exchange.status == 201
    assert exchange.url == f"{server.url}/rows?api_key=%5Bredacted%5D&view=all"
    assert exchange.request_headers["Authorization"] == http.REDACTED
    assert exchange.request_headers["X-Api-Key"] == http.REDACTED
    assert exchange.request_headers["Idempotency-Key"] == "1:steps.0"
    assert exchange.request_body == '{"name":"Jane"}'
    assert exchange.response_body == '{"id": "rec1"}'


def test_500_twice_then_200_succeeds_on_the_third_try_with_one_idempotency_key(
    server: LocalServer, ctx
):
    server.reply(Reply(500, "boom"), Reply(502), Reply(200, {"ok": True}))
    errors = []

    for _attempt in range(3):
        try:
            http.post_json(ctx, f"{server.url}/hook", {"n": 1})
        except RetryableError as exc:
            errors.append(exc.detail)

    assert errors == [
        "127.0.0.1 answered 500 Internal Server Error: boom",
        "127.0.0.1 answered 502 Bad Gateway",
    ]
    assert [exchange.status for exchange in ctx.exchanges] == [500, 502, 200]
    assert {received.headers["idempotency-key"] for received in server.requests} == {"1:steps.0"}


@pytest.mark.parametrize(
    ("_case", "status", "error", "disable_target"),
    [
        ("bad_request", 400, PermanentError, False),
        ("unauthorized", 401, PermanentError, False),
        ("not_found", 404, PermanentError, False),
        ("unprocessable", 422, PermanentError, False),
        ("gone", 410, PermanentError, True),
        ("request_timeout", 408, RetryableError, None),
        ("too_many", 429, RetryableError, None),
        ("server_error", 500, RetryableError, None),
        ("unavailable", 503, RetryableError, None),
        ("moved", 301, PermanentError, False),
        ("temporary_redirect", 307, PermanentError, False),
    ],
)
def test_status_codes_map_to_retryable_or_permanent(
    server: LocalServer, ctx, _case, status, error, disable_target
):
    server.reply(Reply(status, b"", {"Location": "https://elsewhere.example.com/"}))

    with pytest.raises(error) as caught:
        http.post_json(ctx, f"{server.url}/hook", {})

    assert type(caught.value) is error
    if disable_target is not None:
        assert caught.value.disable_target is disable_target
    assert caught.value.exchange is ctx.exchanges[-1]
    assert ctx.exchanges[-1].status == status
    assert len(server.requests) == 1


def test_a_redirect_is_reported_not_followed(server: LocalServer, ctx):
    server.reply(Reply(302, b"", {"Location": "http://127.0.0.1:1/next"}))

    with pytest.raises(PermanentError) as caught:
        http.request(ctx, "GET", f"{server.url}/start")

    assert caught.value.detail == (
        "127.0.0.1 answered 302 Found: redirects are not followed (to http://127.0.0.1:1/next)"
    )
    assert [received.path for received in server.requests] == ["/start"]


def test_429_with_retry_after_seconds_is_retryable_after_that_delay(server: LocalServer, ctx):
    server.reply(Reply(429, "slow down", {"Retry-After": "120"}))

    with pytest.raises(RetryableError) as caught:
        http.post_json(ctx, f"{server.url}/hook", {})

    assert caught.value.retry_after == 120.0
    assert caught.value.detail == "127.0.0.1 answered 429 Too Many Requests: slow down"


def test_503_with_retry_after_as_an_http_date(server: LocalServer, ctx):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    server.reply(Reply(503, b"", {"Retry-After": format_datetime(later, usegmt=True)}))

    with pytest.raises(RetryableError) as caught:
        http.post_json(ctx, f"{server.url}/hook", {})

    assert caught.value.retry_after is not None
    assert 85 <= caught.value.retry_after <= 90


NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("_case", "header", "expected"),
    [
        ("seconds", "30", 30.0),
        ("padded", " 7 ", 7.0),
        ("negative", "-5", 0.0),
        ("date_ahead", "Sat, 01 Mar 2025 12:01:30 GMT", 90.0),
        ("date_past", "Sat, 01 Mar 2025 11:00:00 GMT", 0.0),
        ("garbage", "soon", None),
        ("empty", "", None),
        ("missing", None, None),
        ("nan", "nan", None),
        ("infinite", "inf", None),
    ],
)
def test_parse_retry_after(_case, header, expected):
    assert http.parse_retry_after(header, now=NOW) == expected


def test_a_slow_answer_times_out_as_retryable(server: LocalServer, ctx):
    server.reply(Reply(200, {"ok": True}, delay=2.0))

    with pytest.raises(RetryableError) as caught:
        http.post_json(ctx, f"{server.url}/slow", {}, timeout=0.3)

    assert caught.value.detail == "127.0.0.1 timed out waiting for an answer (after 0.3 s)"
    [exchange] = ctx.exchanges
    assert exchange.status is None
    assert exchange.duration_ms >= 300


def test_the_read_timeout_comes_from_settings(server: LocalServer, ctx, settings):
    settings.TYPEWIRE_OUTBOUND_TIMEOUT_SECONDS = 0.2
    server.reply(Reply(200, {"ok": True}, delay=2.0))

    with pytest.raises(RetryableError, match=r"timed out waiting for an answer \(after 0.2 s\)"):
        http.request(ctx, "GET", f"{server.url}/slow")


def test_a_refused_connection_is_retryable(ctx):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    with pytest.raises(RetryableError, match="could not reach 127.0.0.1"):
        http.request(ctx, "GET", f"http://127.0.0.1:{closed_port}/")

    assert [exchange.status for exchange in ctx.exchanges] == [None]


def test_bodies_are_logged_up_to_4_kib(server: LocalServer, ctx):
    server.reply(Reply(200, "x" * 10_000))

    http.post_json(ctx, f"{server.url}/big", {"blob": "y" * 10_000})

    [exchange] = ctx.exchanges
    assert exchange.response_body == "x" * 4096 + "... [truncated, 10000 bytes in all]"
    assert exchange.request_body.startswith('{"blob":"yyy')
    assert exchange.request_body.endswith("... [truncated, 10011 bytes in all]")
    assert len(exchange.request_body) == 4096 + len("... [truncated, 10011 bytes in all]")


def test_an_answer_over_the_size_limit_is_a_permanent_error(server: LocalServer, ctx, settings):
    settings.TYPEWIRE_OUTBOUND_MAX_RESPONSE_BYTES = 1000
    server.reply(Reply(200, "z" * 5000))

    with pytest.raises(PermanentError, match="the answer is larger than 1000 bytes"):
        http.request(ctx, "GET", f"{server.url}/huge")

    assert [exchange.status for exchange in ctx.exchanges] == [200]


def test_without_a_step_context_nothing_is_logged_and_no_idempotency_key_is_sent(
    server: LocalServer,
):
    response = http.post_json(None, f"{server.url}/alert", {"text": "rule failed"})

    assert response.status_code == 200
    assert "idempotency-key" not in server.requests[0].headers


def test_the_log_url_hides_a_secret_url(server: LocalServer, ctx):
    http.post_json(ctx, f"{server.url}/services/T1/B2/s3cret", {}, log_url=f"{server.url}/***")

    assert ctx.exchanges[0].url == f"{server.url}/***"
    assert server.requests[0].path == "/services/T1/B2/s3cret"


def test_redact_url_drops_user_info_and_secret_query_values():
    assert http.redact_url("https://bob:pw@api.example.com/x?token=abc&page=2") == (
        "https://api.example.com/x?token=%5Bredacted%5D&page=2"
    )


def test_redact_headers_keeps_the_idempotency_key():
    headers = {
        "Authorization": "Bearer x",
        "webhook-signature": "v1,abc",
        "X-Api-Key": "k",
        "Idempotency-Key": "1:steps.0",
        "Content-Type": "application/json",
    }

    assert http.redact_headers(headers) == {
        "Authorization": http.REDACTED,
        "webhook-signature": http.REDACTED,
        "X-Api-Key": http.REDACTED,
        "Idempotency-Key": "1:steps.0",
        "Content-Type": "application/json",
    }


def test_decode_json_refuses_a_non_json_answer(server: LocalServer, ctx):
    server.reply(Reply(200, "<html>hi</html>"))
    response = http.request(ctx, "GET", f"{server.url}/")

    with pytest.raises(PermanentError, match="expected a JSON answer, got: <html>hi</html>"):
        http.decode_json(response)
