"""Storage test fixtures, shared with the sync tests (import them from here):

- ``moto_server``: the endpoint URL of moto's S3 server on 127.0.0.1 (credential checking
  on); ``moto``: the MotoServer object (``.client()``, ``.new_bucket()``, ``.denied``).
- ``s3_credentials``: a valid ``S3Credentials`` (access key ID, secret, bucket, region).
- ``fault_proxy``: a FaultProxy in front of moto (reverse mode: use ``fault_proxy.url`` as
  the S3 endpoint; or as an HTTP proxy: it forwards absolute URLs), cleared per test.
- ``local_base_dir``: a fresh base directory for the local folder provider.
- ``dns``: a resolver stub (``socket.getaddrinfo``): names answer what the test set, in turn
  (rebinding), IP literals resolve as usual, any other name fails: no query leaves.
- ``connections``: records every TCP ``connect`` made in this process (``socket.socket.connect``,
  which ``socket.create_connection`` and urllib3 both end in) and raises, before any packet,
  for an address outside 127.0.0.0/8 and ::1.
- every storage test starts with no internal proxy allowed (``STORAGE_PROXY_INTERNAL_ALLOWED``
  empty); ``helpers.allow_internal_proxy(port)`` lets a test's loopback proxy through.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from .faultproxy import FaultProxy
from .moto_server import MotoServer, S3Credentials, start_moto_server


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = start_moto_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server(moto: MotoServer) -> str:
    return moto.url


@pytest.fixture(scope="session")
def s3_credentials(moto: MotoServer) -> S3Credentials:
    return moto.admin


@pytest.fixture(scope="session")
def _fault_proxy_session(moto: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream=moto.url)
    yield proxy
    proxy.close()


@pytest.fixture
def fault_proxy(_fault_proxy_session: FaultProxy) -> Iterator[FaultProxy]:
    _fault_proxy_session.clear()
    yield _fault_proxy_session
    _fault_proxy_session.clear()


@pytest.fixture
def local_base_dir(tmp_path):
    base = tmp_path / "cloud-sync"
    base.mkdir()
    return base


@pytest.fixture(autouse=True)
def _no_internal_proxy_allowed(settings):
    settings.STORAGE_PROXY_INTERNAL_ALLOWED = []


class DnsStub:
    """``socket.getaddrinfo`` for tests: ``set(name, [first answer], [second answer]...)``;
    the last answer repeats. ``lookups[name]`` counts the queries."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: dict[str, int] = {}

    def set(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = [list(a) for a in answers]

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        text = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            return self.real(host, port, *args, **kwargs)
        name = text.lower().rstrip(".")
        self.lookups[name] = self.lookups.get(name, 0) + 1
        answers = self.answers.get(name)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (stub)")
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port or 0), 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
            for a in addresses
        ]


@pytest.fixture
def dns(monkeypatch) -> DnsStub:
    stub = DnsStub(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    return stub


class ConnectionRecorder:
    """Connections attempted while a test runs.

    ``refused`` holds any attempt to leave loopback, from any thread. ``made``
    holds loopback connections made by the test's own thread only: a server
    thread left by an earlier test (a stand-in's keep-alive, a worker polling
    Redis) may connect to 127.0.0.1 at any moment and is not the code under test.
    """

    def __init__(self) -> None:
        self.made: list[tuple[str, int]] = []
        self.refused: list[tuple[str, int]] = []
        self.thread = threading.get_ident()

    def check(self, address: Any) -> None:
        if not isinstance(address, tuple):
            return  # a Unix socket
        host, port = str(address[0]), int(address[1])
        try:
            loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
        except ValueError:
            loopback = False  # a name: the code under test should have resolved it
        if not loopback:
            self.refused.append((host, port))
            raise AssertionError(f"a connection to {host}:{port} was attempted")
        if threading.get_ident() == self.thread:
            self.made.append((host, port))


@pytest.fixture
def connections(monkeypatch) -> ConnectionRecorder:
    recorder = ConnectionRecorder()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(sock: socket.socket, address: Any) -> Any:
        recorder.check(address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> Any:
        recorder.check(address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return recorder
