"""The one outbound HTTP client: SSRF guard, timeouts, no redirects, status mapping, exchange log.

Every outbound call of Typewire (HTTP actions, alerts to Slack or webhooks, polls) goes through
:func:`request`. It guarantees:

- the SSRF guard: the host is resolved once, every address is checked (loopback, private,
  link-local, cloud metadata, unspecified, multicast, reserved, carrier-grade NAT, and IPv6 forms
  embedding such an IPv4 address are refused unless the host is in
  ``settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS``), and the connection goes to the checked address
  (:class:`PinnedTransport`), so a second DNS answer cannot slip a private address in between;
  ``Host`` and TLS SNI and certificate checks stay on the original hostname;
- timeouts (connect 5 s, read 10 s by default; settings ``TYPEWIRE_OUTBOUND_*``) and a cap on the
  response size; redirects are never followed;
- the answer mapped onto the runner contract: 2xx is returned; 408, 429, 5xx, timeouts and
  connection errors raise ``RetryableError`` (with ``Retry-After`` in seconds or as an HTTP date);
  3xx and other 4xx raise ``PermanentError``; 410 raises ``PermanentError(disable_target=True)``;
- one :class:`HttpExchange` per request appended to ``ctx.exchanges`` (also attached to the error
  raised), refused targets included (without a status), secrets in headers and query strings
  redacted and bodies capped at 4 KiB.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from django.conf import settings

from automations.engine.contract import HttpExchange, PermanentError, RetryableError, StepContext

logger = logging.getLogger(__name__)
# httpx logs every request's full URL at INFO; webhook URLs (Slack, Zapier, Make) are secrets.
logging.getLogger("httpx").setLevel(logging.WARNING)

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BODY_CAP_BYTES: Final = 4096
"""Request and response bodies are logged up to this many bytes."""

REDACTED: Final = "[redacted]"
USER_AGENT: Final = "Typewire/1.0 (automation)"

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_METADATA_ADDRESSES: Final = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CARRIER_GRADE_NAT: Final = ipaddress.ip_network("100.64.0.0/10")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
# Header and query names holding credentials; "Idempotency-Key" stays visible on purpose.
_SECRET_NAME_PARTS: Final = (
    "authorization",
    "cookie",
    "api-key",
    "api_key",
    "apikey",
    "access_token",
    "token",
    "secret",
    "signature",
    "password",
)


class OutboundRefused(PermanentError):
    """The SSRF guard refused a target: ``host`` resolved to a forbidden ``address``."""

    def __init__(
        self,
        detail: str,
        *,
        host: str,
        address: str | None = None,
        exchange: HttpExchange | None = None,
    ) -> None:
        super().__init__(detail, exchange=exchange)
        self.host = host
        self.address = address


# --- The SSRF guard ---------------------------------------------------------------------------


def refusal_reason(address: IPAddress) -> str | None:
    """Return why outbound calls may not reach ``address`` ("a private address"), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal_reason(embedded)
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def is_allowed_host(host: str, port: int | None = None) -> bool:
    """Return True if ``host`` (or ``host:port``) is in ``TYPEWIRE_OUTBOUND_ALLOWED_HOSTS``."""
    allowed = {entry.strip().lower() for entry in settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS}
    name = host.lower().rstrip(".").strip("[]")
    candidates = {name, f"[{name}]"}
    if port is not None:
        candidates |= {f"{name}:{port}", f"[{name}]:{port}"}
    return not allowed.isdisjoint(candidates)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Return the addresses ``host`` resolves to, in resolver order, without duplicates.

    Raises ``RetryableError`` when the name does not resolve (DNS may be down for a while).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RetryableError(f"could not resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # Drop an IPv6 zone ("fe80::1%eth0"): the address is what the guard judges.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RetryableError(f"could not resolve {host}: no IPv4 or IPv6 address")
    return addresses


def check_host(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses once every one of them may be called.

    Raises :class:`OutboundRefused` when any address is forbidden and the host is not on the
    allow list, and ``RetryableError`` when the host does not resolve.
    """
    addresses = resolve(host, port)
    if is_allowed_host(host, port):
        return addresses
    for address in addresses:
        reason = refusal_reason(address)
        if reason is None:
            continue
        if host.strip("[]").lower() == str(address):
            detail = f"refused: {address} is {reason}"
        else:
            detail = f"refused: {host} resolves to {address}, {reason}"
        logger.warning("outbound call %s", detail)
        raise OutboundRefused(detail, host=host, address=str(address))
    return addresses


def _target(url: httpx.URL) -> tuple[str, int]:
    """Return the host (ASCII, IDNA-encoded, no brackets) and port a URL points at."""
    if url.scheme not in _DEFAULT_PORTS:
        raise PermanentError(f"only http and https URLs can be called, not {url.scheme or '?'}:")
    host = url.raw_host.decode("ascii")
    if not host:
        raise PermanentError(f"the URL {url} has no host")
    return host, url.port or _DEFAULT_PORTS[url.scheme]


def check_url(url: str) -> list[str]:
    """Return the addresses an outbound call to ``url`` would use, after the SSRF check.

    Raises :class:`OutboundRefused` for a forbidden target, ``PermanentError`` for a URL that
    is not http(s), and ``RetryableError`` when the host does not resolve.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise PermanentError(f"invalid URL: {exc}") from exc
    host, port = _target(parsed)
    return [str(address) for address in check_host(host, port)]


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport that checks each request's host and connects to the checked address.

    The request URL's host is replaced by the first checked address, so the connection cannot
    go where a later DNS answer points. The ``Host`` header, set when the request was built,
    keeps the original name, and for https the TLS SNI and certificate verification use it too
    (httpcore's ``sni_hostname`` extension).

    Use one transport per call: its connection pool is keyed by address, and reusing a TLS
    connection opened for another hostname on the same address would skip that hostname's
    certificate check.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Check the target, pin it to its checked address, then send as HTTPTransport does."""
        host, port = _target(request.url)
        pinned = check_host(host, port)[0]
        request.url = request.url.copy_with(host=str(pinned))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return super().handle_request(request)


# --- Logging what was exchanged ---------------------------------------------------------------


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers with credential values (Authorization, API keys, signatures) hidden."""
    return {name: REDACTED if _is_secret_name(name) else value for name, value in headers.items()}


def redact_url(url: str) -> str:
    """Return ``url`` without user info and with credential query values hidden."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [
            (name, REDACTED if _is_secret_name(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def cap_body(data: bytes | str) -> str:
    """Return the body as text, cut at 4 KiB with a note of its full size."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) <= BODY_CAP_BYTES:
        return raw.decode("utf-8", errors="replace")
    head = raw[:BODY_CAP_BYTES].decode("utf-8", errors="ignore")
    return f"{head}... [truncated, {len(raw)} bytes in all]"


# --- Mapping answers onto the runner contract -------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the delay a ``Retry-After`` header asks for, in seconds (never negative), or None.

    Accepts delay-seconds and HTTP dates; anything else is ignored.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace").strip()
    return f": {text}" if text else ""


def raise_for_status(response: httpx.Response, *, host: str, exchange: HttpExchange) -> None:
    """Return for a 2xx answer; raise the contract error the status maps to otherwise."""
    status = response.status_code
    if 200 <= status < 300:
        return
    what = f"{host} answered {status} {response.reason_phrase}".rstrip()
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        where = f" (to {redact_url(location)})" if location else ""
        raise PermanentError(f"{what}: redirects are not followed{where}", exchange=exchange)
    if status in (408, 429) or status >= 500:
        raise RetryableError(
            f"{what}{_excerpt(response.content)}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            exchange=exchange,
        )
    raise PermanentError(
        f"{what}{_excerpt(response.content)}", disable_target=status == 410, exchange=exchange
    )


def decode_json(response: httpx.Response) -> Any:
    """Return the JSON body of a response; raise ``PermanentError`` if it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PermanentError(
            f"expected a JSON answer, got{_excerpt(response.content) or ' an empty body'}"
        ) from exc


def _timeout(seconds: float | None) -> httpx.Timeout:
    read = seconds if seconds is not None else settings.TYPEWIRE_OUTBOUND_TIMEOUT_SECONDS
    connect = min(read, settings.TYPEWIRE_OUTBOUND_CONNECT_TIMEOUT_SECONDS)
    return httpx.Timeout(read, connect=connect)


def _read_capped(response: httpx.Response) -> bytes:
    limit: int = settings.TYPEWIRE_OUTBOUND_MAX_RESPONSE_BYTES
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise PermanentError(f"the answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def request(
    ctx: StepContext | None,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    json_body: Any = None,
    timeout: float | None = None,
    log_url: str | None = None,
) -> httpx.Response:
    """Send one request through the SSRF guard and return its 2xx response (body read).

    With a ``ctx``, the exchange is appended to ``ctx.exchanges`` and ``Idempotency-Key`` is
    set to ``ctx.idempotency_key`` unless ``headers`` give one. ``json_body`` is sent as
    compact JSON; ``content`` as given. ``timeout`` overrides the read timeout in seconds.
    ``log_url`` replaces ``url`` in the log when the URL itself is a secret (Slack webhooks).

    Raises ``RetryableError`` or ``PermanentError`` (:class:`OutboundRefused` for a refused
    target), each carrying the exchange, as the module docstring describes.
    """
    sent_headers: dict[str, str] = {"User-Agent": USER_AGENT}
    if ctx is not None:
        sent_headers["Idempotency-Key"] = ctx.idempotency_key
    if json_body is not None:
        content = json.dumps(json_body, separators=(",", ":"), default=str).encode()
        sent_headers["Content-Type"] = "application/json"
    sent_headers.update(headers or {})
    body = content or b""
    started = time.monotonic()

    def record(status: int | None = None, response_body: bytes = b"") -> HttpExchange:
        exchange = HttpExchange(
            method=method.upper(),
            url=redact_url(log_url or url)[:2000],
            request_headers=redact_headers(sent_headers),
            request_body=cap_body(body),
            status=status,
            response_body=cap_body(response_body),
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        if ctx is not None:
            ctx.exchanges.append(exchange)
        return exchange

    host = urlsplit(url).hostname or url
    limits = _timeout(timeout)
    status: int | None = None
    try:
        with httpx.Client(
            transport=PinnedTransport(retries=0),
            follow_redirects=False,
            trust_env=False,  # an HTTP(S)_PROXY from the environment would bypass the pinning
            timeout=limits,
        ) as client:
            outgoing = client.build_request(method, url, headers=sent_headers, content=content)
            streamed = client.send(outgoing, stream=True)
            try:
                status = streamed.status_code
                received = _read_capped(streamed)
            finally:
                streamed.close()
    except httpx.TimeoutException as exc:
        connecting = isinstance(exc, httpx.ConnectTimeout)
        kind = "connecting" if connecting else "waiting for an answer"
        seconds = limits.connect if connecting else limits.read
        raise RetryableError(
            f"{host} timed out {kind} (after {seconds:g} s)", exchange=record(status)
        ) from exc
    except httpx.UnsupportedProtocol as exc:
        raise PermanentError(f"cannot call {redact_url(url)}: {exc}", exchange=record()) from exc
    except httpx.TransportError as exc:
        raise RetryableError(
            f"could not reach {host}: {str(exc) or type(exc).__name__}", exchange=record(status)
        ) from exc
    except httpx.InvalidURL as exc:
        raise PermanentError(f"invalid URL: {exc}", exchange=record()) from exc
    except (RetryableError, PermanentError) as exc:
        # Raised by the guard (refused, unresolvable) or the size cap: logged without a body.
        exc.exchange = record(status)
        raise
    exchange = record(status, received)
    # The body was read (and capped) already: drop the encodings that would decode it again.
    kept = [
        (name, value)
        for name, value in streamed.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    response = httpx.Response(status, headers=kept, content=received, request=outgoing)
    raise_for_status(response, host=host, exchange=exchange)
    return response


def post_json(
    ctx: StepContext | None,
    url: str,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log_url: str | None = None,
) -> httpx.Response:
    """POST ``body`` as JSON to ``url`` through :func:`request`; return the 2xx response."""
    return request(
        ctx, "POST", url, headers=headers, json_body=body, timeout=timeout, log_url=log_url
    )
