"""The SSRF guard: forbidden addresses after DNS, the allow list, pinning to the checked address."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from automations.engine import http
from automations.engine.contract import PermanentError, RetryableError
from automations.engine.runners import ai, external, marketing
from tests.factories import CustomerFactory

from .conftest import LocalServer, Reply

_REAL_GETADDRINFO = socket.getaddrinfo


@dataclass
class FakeDns:
    """Scripted DNS answers per name (one list per call, the last one repeating)."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in self.answers:
            return _REAL_GETADDRINFO(host, port, *args, **kwargs)
        self.calls.append(host)
        script = self.answers[host]
        addresses = script.pop(0) if len(script) > 1 else script[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]


@pytest.fixture
def dns() -> Iterator[FakeDns]:
    fake = FakeDns()
    with mock.patch.object(socket, "getaddrinfo", autospec=True, side_effect=fake.getaddrinfo):
        yield fake


# --- Which addresses are refused --------------------------------------------------------------

REFUSED = [
    ("loopback", "127.0.0.1", "a loopback address"),
    ("loopback_other", "127.8.9.10", "a loopback address"),
    ("loopback_v6", "::1", "a loopback address"),
    ("rfc1918_10", "10.0.0.1", "a private address"),
    ("rfc1918_172", "172.16.5.4", "a private address"),
    ("rfc1918_192", "192.168.1.1", "a private address"),
    ("unique_local_v6", "fd12:3456::1", "a private address"),
    ("metadata", "169.254.169.254", "a cloud metadata address"),
    ("metadata_v6", "fd00:ec2::254", "a cloud metadata address"),
    ("link_local", "169.254.1.1", "a link-local address"),
    ("link_local_v6", "fe80::1", "a link-local address"),
    ("unspecified", "0.0.0.0", "an unspecified address"),
    ("unspecified_v6", "::", "an unspecified address"),
    ("multicast", "224.0.0.1", "a multicast address"),
    ("multicast_v6", "ff02::1", "a multicast address"),
    ("reserved", "240.0.0.1", "a reserved address"),
    ("broadcast", "255.255.255.255", "a reserved address"),
    ("carrier_grade_nat", "100.64.0.1", "a carrier-grade NAT address"),
    ("mapped_loopback", "::ffff:127.0.0.1", "a loopback address"),
    ("mapped_private", "::ffff:10.0.0.1", "a private address"),
    ("mapped_metadata", "::ffff:169.254.169.254", "a cloud metadata address"),
    ("6to4_loopback", "2002:7f00:1::", "a loopback address"),
    ("nat64_private", "64:ff9b::a00:1", "a private address"),
    ("benchmarking", "198.18.0.1", "a private address"),
    ("documentation", "192.0.2.1", "a private address"),
]


@pytest.mark.parametrize(("_case", "address", "reason"), REFUSED)
def test_refusal_reason_names_the_kind_of_forbidden_address(_case, address, reason):
    assert http.refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_not_refused(address):
    assert http.refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("_case", "url", "detail"),
    [
        ("loopback", "http://127.0.0.1:8080/x", "refused: 127.0.0.1 is a loopback address"),
        ("private", "http://10.0.0.1/hook", "refused: 10.0.0.1 is a private address"),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/",
            "refused: 169.254.169.254 is a cloud metadata address",
        ),
        ("ipv6_loopback", "http://[::1]:9000/", "refused: ::1 is a loopback address"),
        ("localhost", "http://localhost:9000/", "refused: localhost resolves to 127.0.0.1"),
        ("decimal_ip", "http://2130706433/", "refused: 2130706433 resolves to 127.0.0.1"),
    ],
)
def test_check_url_refuses_internal_targets(_case, url, detail):
    with pytest.raises(http.OutboundRefused) as caught:
        http.check_url(url)

    assert caught.value.detail.startswith(detail)
    assert isinstance(caught.value, PermanentError)


def test_hostname_resolving_to_a_private_address_is_refused(dns):
    dns.answers["internal.example.com"] = [["10.1.2.3"]]

    with pytest.raises(http.OutboundRefused) as caught:
        http.check_url("https://internal.example.com/hook")

    assert caught.value.detail == (
        "refused: internal.example.com resolves to 10.1.2.3, a private address"
    )
    assert (caught.value.host, caught.value.address) == ("internal.example.com", "10.1.2.3")


def test_one_private_address_among_public_ones_is_enough_to_refuse(dns):
    dns.answers["mixed.example.com"] = [["93.184.216.34", "192.168.0.7"]]

    with pytest.raises(http.OutboundRefused, match="192.168.0.7, a private address"):
        http.check_url("https://mixed.example.com/")


def test_check_url_returns_the_checked_addresses_of_a_public_host(dns):
    dns.answers["shop.example.com"] = [["93.184.216.34", "2606:2800:220:1::1"]]

    assert http.check_url("https://shop.example.com/") == ["93.184.216.34", "2606:2800:220:1::1"]


@pytest.mark.parametrize(
    ("_case", "allowed", "url"),
    [
        ("hostname", ["localhost"], "http://localhost:8000/"),
        ("ip", ["127.0.0.1"], "http://127.0.0.1:8000/"),
        ("host_and_port", ["127.0.0.1:8000"], "http://127.0.0.1:8000/"),
        ("ipv6_brackets", ["[::1]"], "http://[::1]:8000/"),
        ("case_insensitive", ["LocalHost"], "http://localhost:8000/"),
    ],
)
def test_allowed_hosts_may_be_called_though_internal(settings, _case, allowed, url):
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = allowed

    assert http.check_url(url)


def test_allowed_host_and_port_does_not_allow_other_ports(settings):
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1:8000"]

    with pytest.raises(http.OutboundRefused):
        http.check_url("http://127.0.0.1:8001/")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://a.com/"])
def test_only_http_and_https_urls_are_called(url):
    with pytest.raises(PermanentError, match="only http and https URLs"):
        http.check_url(url)


def test_a_name_that_does_not_resolve_is_retryable(dns):
    dns.answers["gone.example.com"] = [[]]

    with pytest.raises(RetryableError, match="could not resolve gone.example.com"):
        http.check_url("https://gone.example.com/")


# --- Refused calls through the client and the runners ----------------------------------------

TARGETS = [
    ("loopback", "http://127.0.0.1:{port}/hook", "refused: 127.0.0.1 is a loopback address"),
    ("private", "http://10.0.0.1:{port}/hook", "refused: 10.0.0.1 is a private address"),
    (
        "metadata",
        "http://169.254.169.254/latest/meta-data/",
        "refused: 169.254.169.254 is a cloud metadata address",
    ),
    ("ipv6_loopback", "http://[::1]:{port}/hook", "refused: ::1 is a loopback address"),
    (
        "name_to_loopback",
        "http://localhost:{port}/hook",
        "refused: localhost resolves to 127.0.0.1, a loopback address",
    ),
]


# fire_webhook reads the workspace's disabled targets first: these tests need the database.
@pytest.mark.django_db
@pytest.mark.parametrize(("_case", "url", "detail"), TARGETS)
def test_fire_webhook_to_an_internal_target_is_refused_and_logged(
    server: LocalServer, ctx, _case, url, detail
):
    # given
    ctx.inputs = {
        "url": url.format(port=server.port),
        "body": {"order_id": 1042},
        "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }

    # when
    with pytest.raises(http.OutboundRefused) as caught:
        external.fire_webhook(ctx)

    # then
    assert caught.value.detail == detail
    assert caught.value.disable_target is False
    [exchange] = ctx.exchanges
    assert exchange.status is None
    assert exchange.method == "POST"
    assert exchange.url == url.format(port=server.port)
    assert exchange.request_headers["webhook-signature"] == http.REDACTED
    assert caught.value.exchange is exchange
    assert server.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "allowed", "url"),
    [
        ("ip", "127.0.0.1", "http://127.0.0.1:{port}/hook"),
        ("name", "localhost", "http://localhost:{port}/hook"),
    ],
)
def test_fire_webhook_to_an_allowed_host_goes_through(
    server: LocalServer, ctx, settings, _case, allowed, url
):
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = [allowed]
    ctx.inputs = {"url": url.format(port=server.port), "body": {"order_id": 1042}}

    assert external.fire_webhook(ctx) == {"status_code": 200}
    assert len(server.requests) == 1
    assert [exchange.status for exchange in ctx.exchanges] == [200]


@pytest.mark.parametrize(
    ("_case", "runner", "inputs", "setting"),
    [
        ("zapier", external.post_zapier, {"hook_url": "{url}", "data": {"a": 1}}, None),
        ("make", external.post_to_make, {"hook_url": "{url}", "data": {"a": 1}}, None),
        (
            "airtable",
            external.create_airtable_row,
            {"base": "app1", "table": "T", "fields": {"a": 1}},
            "TYPEWIRE_AIRTABLE_BASE_URL",
        ),
        (
            "slack",
            marketing.post_to_slack,
            {"channel": "#sales", "text": "hi"},
            "TYPEWIRE_SLACK_BASE_URL",
        ),
        ("ai", ai.generate_copy, {"prompt": "Write a line."}, "TYPEWIRE_AI_BASE_URL"),
    ],
)
def test_every_http_action_is_guarded(
    server: LocalServer, ctx, settings, _case, runner, inputs, setting
):
    # given: the action's URL points at the local server, which is not on the allow list
    settings.TYPEWIRE_AIRTABLE_API_KEY = "key-airtable"
    settings.TYPEWIRE_SLACK_WEBHOOK_PATH = "/services/T1/B1/secret"
    if setting:
        setattr(settings, setting, server.url)
    ctx.inputs = {
        k: v.format(url=server.url) if isinstance(v, str) else v for k, v in inputs.items()
    }

    # when
    with pytest.raises(http.OutboundRefused, match="127.0.0.1 is a loopback address"):
        runner(ctx)

    # then
    assert [exchange.status for exchange in ctx.exchanges] == [None]
    assert server.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "runner", [marketing.sync_to_meta_audience, marketing.sync_to_google_audience]
)
def test_audience_actions_are_guarded(server: LocalServer, make_ctx, settings, runner):
    customer = CustomerFactory.create(workspace=make_ctx({}).workspace, email="jane@example.com")
    settings.TYPEWIRE_META_BASE_URL = settings.TYPEWIRE_GOOGLE_ADS_BASE_URL = server.url
    settings.TYPEWIRE_META_ACCESS_TOKEN = settings.TYPEWIRE_GOOGLE_ADS_ACCESS_TOKEN = "tok"
    settings.TYPEWIRE_GOOGLE_ADS_DEVELOPER_TOKEN = "dev"
    settings.TYPEWIRE_GOOGLE_ADS_CUSTOMER_ID = "123-456-7890"
    ctx = make_ctx({"customer_id": customer.pk, "audience_id": "987"})

    with pytest.raises(http.OutboundRefused):
        runner(ctx)

    assert server.requests == []


@pytest.mark.django_db
def test_a_redirect_to_a_private_address_is_not_followed(server: LocalServer, ctx, allow_local):
    # given
    server.reply(Reply(301, b"", {"Location": "http://10.0.0.1/admin"}))
    ctx.inputs = {"url": f"{server.url}/hook", "body": {}}

    # when
    with pytest.raises(PermanentError) as caught:
        external.fire_webhook(ctx)

    # then
    assert caught.value.detail == (
        "127.0.0.1 answered 301 Moved Permanently: redirects are not followed "
        "(to http://10.0.0.1/admin)"
    )
    assert len(server.requests) == 1
    assert [exchange.status for exchange in ctx.exchanges] == [301]


# --- Connecting to the checked address ---------------------------------------------------------


def test_the_connection_goes_to_the_checked_address_not_a_second_dns_answer(
    server: LocalServer, ctx, dns
):
    # given: a public answer at check time, then a rebinding to loopback
    dns.answers["rebind.example.com"] = [["93.184.216.34"], ["127.0.0.1"]]

    # when
    with pytest.raises(RetryableError):
        http.request(ctx, "GET", f"http://rebind.example.com:{server.port}/internal", timeout=0.3)

    # then: resolved once, and nothing reached the loopback server
    assert dns.calls == ["rebind.example.com"]
    assert server.requests == []


def test_a_pinned_http_request_keeps_the_host_header(server: LocalServer, ctx, dns, settings):
    # given: the name resolves once; a second lookup would fail
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = ["pinned.example.com"]
    dns.answers["pinned.example.com"] = [["127.0.0.1"], []]

    # when
    response = http.request(ctx, "GET", f"http://pinned.example.com:{server.port}/x")

    # then
    assert response.status_code == 200
    assert dns.calls == ["pinned.example.com"]
    [received] = server.requests
    assert received.headers["host"] == f"pinned.example.com:{server.port}"
    assert received.path == "/x"


def _self_signed(tmp_path, hostname: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{hostname}.pem", tmp_path / f"{hostname}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[LocalServer, list[str | None], str]]:
    """A local HTTPS server for shop.example.com (self-signed), recording the SNI it gets."""
    cert, key = _self_signed(tmp_path, "shop.example.com")
    seen_sni: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)
    running = LocalServer()
    running._server.socket = context.wrap_socket(running._server.socket, server_side=True)
    running.start()
    yield running, seen_sni, cert
    running.stop()


@pytest.mark.parametrize("hostname", ["shop.example.com", "other.example.com"])
def test_https_keeps_sni_and_certificate_checks_on_the_hostname(
    tls_server, dns, settings, hostname
):
    # given: both names resolve to the local server; its certificate is for shop.example.com
    server, seen_sni, cert = tls_server
    settings.TYPEWIRE_OUTBOUND_ALLOWED_HOSTS = [hostname]
    dns.answers[hostname] = [["127.0.0.1"]]
    client = httpx.Client(
        transport=http.PinnedTransport(verify=ssl.create_default_context(cafile=cert))
    )

    # when
    with client:
        if hostname == "other.example.com":
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                client.get(f"https://{hostname}:{server.port}/tls")
            response = None
        else:
            response = client.get(f"https://{hostname}:{server.port}/tls")

    # then: the connection went to 127.0.0.1 but TLS spoke (and checked) the hostname
    assert seen_sni == [hostname]
    if response is not None:
        assert response.status_code == 200
        [received] = server.requests
        assert received.headers["host"] == f"{hostname}:{server.port}"
    else:
        assert server.requests == []
