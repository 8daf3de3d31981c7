"""The admin's proxy is honoured: S3 traffic and "Test connection" go through it, and the
test says what failed (DNS, proxy refused, proxy credentials, TLS, HTTP status)."""

from __future__ import annotations

import http.server
import logging
import socket
import ssl
import threading

import pytest
import trustme

from strongroom.core.errors import ValidationFailed
from strongroom.storage import net, registry, services
from strongroom.storage.base import ProxyConfig

from .faultproxy import FaultProxy
from .helpers import admin, allow_internal_proxy, enable_s3, s3_input, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def recording_proxy():
    proxy = FaultProxy()  # forward proxy only
    proxy.proxy_auth = ("proxyuser", "proxy-Pass-9")
    yield proxy
    proxy.close()


def _set_proxy(proxy: FaultProxy, password: str = "proxy-Pass-9") -> None:  # noqa: S107
    allow_internal_proxy(proxy.port)  # the operator lets this loopback proxy through
    services.proxy_settings_update(
        actor=admin(),
        enabled=True,
        host="127.0.0.1",
        port=proxy.port,
        username="proxyuser",
        password=password,
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_s3_traffic_goes_through_the_proxy(moto, s3_credentials, recording_proxy, caplog):
    caplog.set_level(logging.DEBUG)
    enable_s3(moto.url)
    _set_proxy(recording_proxy)
    user = user_make()
    config, creds = s3_input(s3_credentials, moto.url)
    conn = services.storage_connection_save(
        actor=user, provider="s3", config=config, credentials=creds
    )
    recording_proxy.requests.clear()
    registry.provider_for_connection(conn).put("through-proxy.html", b"via proxy")
    methods = [(r.method, r.target) for r in recording_proxy.requests]
    assert ("PUT", f"{moto.url}/strongroom-test/people/through-proxy.html") in methods
    assert ("HEAD", f"{moto.url}/strongroom-test/people/through-proxy.html") in methods
    assert all(r.headers.get("Proxy-Authorization") for r in recording_proxy.requests)
    # Canary: at DEBUG (botocore logs requests) neither the secret nor the proxy password.
    assert "proxy-Pass-9" not in caplog.text
    assert s3_credentials.secret_access_key not in caplog.text


def test_wrong_proxy_password_is_reported(moto, s3_credentials, recording_proxy):
    enable_s3(moto.url)
    _set_proxy(recording_proxy, password="wrong")
    config, creds = s3_input(s3_credentials, moto.url)
    with pytest.raises(ValidationFailed, match="proxy refused the credentials"):
        services.storage_connection_save(
            actor=user_make(), provider="s3", config=config, credentials=creds
        )


def test_test_connection_goes_through_the_proxy(fault_proxy, recording_proxy, dns):
    # The endpoint is the fault proxy in front of moto. moto answers an anonymous GET / with
    # 500 when credential checking is on; real S3 answers 403, as the stand-in does here.
    fault_proxy.add_fault("status", method="GET", match="/", status=403, times=5)
    enable_s3(fault_proxy.url)
    _set_proxy(recording_proxy)
    result = services.provider_test_connection(actor=admin(), provider="s3")
    assert result.ok, result
    # The endpoint is internal (127.0.0.1): the answer's status is not echoed.
    assert result.status is None and result.message.startswith("the service answered;")
    assert result.via_proxy == f"http://127.0.0.1:{recording_proxy.port}"
    assert "Amazon S3 itself is not reachable" in result.message  # no internet here
    targets = [r.target for r in recording_proxy.requests]
    assert "s3.amazonaws.com:443" in targets  # CONNECT for AWS (refused: offline)
    assert f"{fault_proxy.url}/" in targets


def test_test_connection_reports_http_status_of_the_endpoint(fault_proxy, dns):
    fault_proxy.add_fault("status", method="GET", match="/", status=503, times=5)
    enable_s3(fault_proxy.url)
    result = services.provider_test_connection(actor=admin(), provider="s3")
    assert not result.ok and result.stage == "http"
    # An internal endpoint: the stage and a fixed message, never the remote's status.
    assert result.status is None and result.message == net.FIXED_MESSAGES["http"]


def test_test_connection_reports_proxy_refused(moto, dns):
    enable_s3(moto.url)
    port = _closed_port()
    allow_internal_proxy(port)
    services.proxy_settings_update(actor=admin(), enabled=True, host="127.0.0.1", port=port)
    result = services.provider_test_connection(actor=admin(), provider="s3")
    assert not result.ok and result.stage == "proxy"
    assert "could not connect to the proxy" in result.message


def test_probe_reports_proxy_credentials(recording_proxy, moto):
    bad = ProxyConfig("127.0.0.1", recording_proxy.port, "proxyuser", "nope")
    result = net.probe("s3", f"{moto.url}/", proxy=bad)
    assert not result.ok and result.stage == "proxy" and result.status == 407
    result = net.probe("s3", "https://127.0.0.1:1/", proxy=bad)
    assert not result.ok and result.stage == "proxy" and "407" in result.message


def test_probe_reports_dns(dns):
    result = net.probe("s3", "http://no-such-host.invalid/", proxy=None, timeout=3)
    assert not result.ok and result.stage == "dns"
    assert dns.lookups == {"no-such-host.invalid": 1}  # the stub answered: no query left


def test_probe_reports_connection_refused():
    url = f"http://127.0.0.1:{_closed_port()}/"
    result = net.probe("s3", url, proxy=None, timeout=3, allow_internal=True)
    assert not result.ok and result.stage == "connect"
    assert result.message == net.FIXED_MESSAGES["connect"]  # no errno text for internal


def test_probe_reports_http_status():
    status_server = FaultProxy(upstream="http://127.0.0.1:1")
    status_server.add_fault("status", status=503, times=5)
    try:
        result = net.probe("s3", f"{status_server.url}/", proxy=None, allow_internal=True)
        assert not result.ok and result.stage == "http" and result.status is None
    finally:
        status_server.close()


@pytest.fixture
def untrusted_https_server():
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_probe_reports_tls(untrusted_https_server):
    result = net.probe("s3", untrusted_https_server, proxy=None, timeout=3, allow_internal=True)
    assert not result.ok and result.stage == "tls", result
