"""The provider kit's HTTP half (storage/http.py) against a real HTTP server on 127.0.0.1:
the origin guard, redirects, the default timeout, the CA rule and retry_after()."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from strongroom.storage import http
from strongroom.storage.base import StorageTransientError


class _Handler(BaseHTTPRequestHandler):
    release = threading.Event()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/away":
            self._send(302, {"Location": "http://127.0.0.2:9/stolen"})
        elif self.path == "/here":
            self._send(302, {"Location": "/ok"})
        elif self.path == "/stall":
            self.release.wait(5)  # the fault: an answer that comes late (or never)
            self._send(200)
        else:
            self._send(200)

    def _send(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    _Handler.release.clear()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    _Handler.release.set()
    srv.shutdown()
    srv.server_close()


def _session(url: str, **kw: Any) -> Any:
    return http.guarded_session(http.Origins([url], service="Test"), proxy=None, timeout=5, **kw)


def test_only_the_allowed_origins_are_reached(server: str, connections: Any) -> None:
    s = _session(server)
    assert s.trust_env is False
    assert s.get(server + "/ok").status_code == 200
    with pytest.raises(http.RefusedRequest, match="other than Test's"):
        s.get("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(http.RefusedRequest):
        s.get(server.replace("127.0.0.1", "localhost") + "/ok")  # another origin by name
    assert all(host == "127.0.0.1" for host, _port in connections.made)


def test_redirects_are_refused_or_followed_on_the_same_origin_only(
    server: str, connections: Any
) -> None:
    with pytest.raises(http.RefusedRequest, match="redirect"):
        _session(server).get(server + "/here")
    assert _session(server, follow_redirects=True).get(server + "/here").url == server + "/ok"
    with pytest.raises(http.RefusedRequest, match="redirect to a host other"):
        _session(server, follow_redirects=True).get(server + "/away")
    assert ("127.0.0.2", 9) not in connections.made


def test_the_default_timeout_applies_and_is_transient(server: str) -> None:
    s = http.guarded_session(http.Origins([server], service="Test"), proxy=None, timeout=0.5)
    with pytest.raises(Exception) as excinfo:
        s.get(server + "/stall")
    error = http.transport_error(excinfo.value, "Test")
    assert isinstance(error, StorageTransientError) and "timed out" in error.message


def test_the_operators_ca_bundle_adds_to_certifi(settings: Any, tmp_path: Path) -> None:
    import certifi
    import trustme

    settings.PROVIDER_CA_BUNDLE = ""
    assert http.ca_bundle() is True and http.ca_file() is None
    extra = tmp_path / "extra.pem"
    extra.write_bytes(trustme.CA().cert_pem.bytes())
    settings.PROVIDER_CA_BUNDLE = str(extra)
    combined = Path(str(http.ca_bundle())).read_bytes()
    assert combined.startswith(Path(certifi.where()).read_bytes())
    assert combined.endswith(extra.read_bytes())


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert http.retry_after("7") == 7.0
    assert http.retry_after(3) == 3.0
    assert http.retry_after(" 2.5 ") == 2.5
    assert http.retry_after("-4") == 0.0
    assert http.retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    assert http.retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now=now) == 0.0  # in the past
    assert http.retry_after({"Retry-After": "5"}) == 5.0
    assert http.retry_after({"retry-after": "Thu, 01 Jan 2026 00:01:00 GMT"}, now=now) == 60.0
    for unreadable in (None, "", "soon", "inf", "nan", True, {"Other": "1"}):
        assert http.retry_after(unreadable) is None, unreadable


def test_status_errors_share_one_reading() -> None:
    from strongroom.storage.base import StoragePermanentError, StoragePermissionError

    slow = http.status_error(503, "Test", headers={"Retry-After": "9"})
    assert isinstance(slow, StorageTransientError) and slow.retry_after == 9.0
    assert isinstance(http.status_error(407, "Test"), StoragePermanentError)
    assert isinstance(http.status_error(403, "Test"), StoragePermissionError)
    assert http.status_error(404, "Test") is None


def test_the_admins_proxy_with_credentials_carries_every_request(server: str) -> None:
    from strongroom.storage.base import ProxyConfig

    from .faultproxy import FaultProxy

    proxy = FaultProxy()
    proxy.proxy_auth = ("sync-user", "pass:word@with%chars")
    try:
        origins = http.Origins([server], service="Test")
        config = ProxyConfig(host="127.0.0.1", port=proxy.port, username="sync-user")
        refused = http.guarded_session(origins, proxy=config, timeout=5)
        assert refused.get(server + "/ok").status_code == 407  # no password: the proxy says no
        config = ProxyConfig(
            host="127.0.0.1", port=proxy.port, username="sync-user", password="pass:word@with%chars"
        )
        answer = http.guarded_session(origins, proxy=config, timeout=5).get(server + "/ok")
        assert answer.status_code == 200 and answer.content == b"ok"
        assert [r.target for r in proxy.requests] == [server + "/ok"] * 2
        assert [r.fault for r in proxy.requests] == ["407", ""]
    finally:
        proxy.close()
