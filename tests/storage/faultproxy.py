"""A small HTTP proxy for tests, bound to 127.0.0.1, that records every request and can
inject faults. It works both as

- a forward proxy (clients configured with it as their HTTP proxy send absolute URLs, e.g.
  botocore ``Config(proxies=...)`` for an http:// endpoint; ``CONNECT`` is tunnelled and
  recorded), and
- a reverse proxy in front of one upstream (clients use ``proxy.url`` as their endpoint).

Faults (each used ``times`` times, matched on method and a substring of the path+query):
``status`` (answer with a status, body and headers such as Retry-After, without forwarding),
``reset`` (read part of the request body, then reset the connection), ``delay`` (sleep, then
forward) and ``refuse_proxy_auth`` (407 unless the expected Proxy-Authorization is sent).
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Fault:
    kind: str  # "status" | "reset" | "delay"
    method: str | None = None
    match: str = ""
    times: int = 1
    status: int = 503
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset_after: int = 1024  # bytes of body read before the reset


@dataclass
class Recorded:
    method: str
    target: str  # absolute URL, path, or host:port for CONNECT
    host: str
    headers: dict[str, str]
    fault: str = ""


class _QuietServer(ThreadingHTTPServer):
    """Connections the proxy resets on purpose (or clients drop) are not errors."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class FaultProxy:
    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = upstream  # "http://127.0.0.1:PORT" for reverse mode
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.proxy_auth: tuple[str, str] | None = None
        self._lock = threading.Lock()
        handler = _make_handler(self)
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- control -------------------------------------------------------------------------

    def add_fault(self, kind: str, **kwargs: Any) -> Fault:
        fault = Fault(kind=kind, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def slow_down(self, *, retry_after: str | None = "7", match: str = "", times: int = 1) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>"
        )
        self.add_fault("status", status=503, body=body, headers=headers, match=match, times=times)

    def too_many_requests(self, *, retry_after: str = "3", match: str = "", times: int = 1) -> None:
        self.add_fault(
            "status",
            status=429,
            body=b"<Error><Code>TooManyRequests</Code><Message>slow</Message></Error>",
            headers={"Retry-After": retry_after},
            match=match,
            times=times,
        )

    def reset_mid_body(self, *, method: str = "PUT", match: str = "", after: int = 1024) -> None:
        self.add_fault("reset", method=method, match=match, reset_after=after)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.proxy_auth = None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _take_fault(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times <= 0:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.match and fault.match not in target:
                    continue
                fault.times -= 1
                return fault
        return None

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)


def _make_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _auth_ok(self) -> bool:
            if proxy.proxy_auth is None:
                return True
            user, password = proxy.proxy_auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            return self.headers.get("Proxy-Authorization", "") == f"Basic {token}"

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_CONNECT(self) -> None:
            host, _, port = self.path.rpartition(":")
            proxy._record(Recorded("CONNECT", self.path, host, dict(self.headers)))
            if not self._auth_ok():
                self._reply(407, b"", {"Proxy-Authenticate": 'Basic realm="test"'})
                return
            if host.strip("[]") not in {"127.0.0.1", "::1", "localhost"}:
                self._reply(502, b"the test proxy only connects to 127.0.0.1")
                return
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            except OSError:
                self._reply(502, b"upstream unreachable")
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            self.close_connection = True
            _pipe(self.connection, upstream)

        def _handle(self) -> None:
            target = self.path
            absolute = target.startswith(("http://", "https://"))
            if absolute:
                parts = urlsplit(target)
                upstream_host, upstream_port = parts.hostname or "", parts.port or 80
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                if upstream_host not in {"127.0.0.1", "::1", "localhost"}:
                    proxy._record(Recorded(self.command, target, upstream_host, dict(self.headers)))
                    self._drain_body()
                    self._reply(502, b"the test proxy only connects to 127.0.0.1")
                    return
            elif proxy.upstream:
                parts = urlsplit(proxy.upstream)
                upstream_host, upstream_port = parts.hostname or "", parts.port or 80
                path = target
            else:
                self._reply(400, b"not a proxy request")
                return
            rec = Recorded(self.command, target, upstream_host, dict(self.headers))
            proxy._record(rec)
            if absolute and not self._auth_ok():
                rec.fault = "407"
                self._drain_body()
                self._reply(407, b"", {"Proxy-Authenticate": 'Basic realm="test"'})
                return
            fault = proxy._take_fault(self.command, path)
            if fault is not None:
                rec.fault = fault.kind
                if fault.kind == "status":
                    self._drain_body()
                    self._reply(fault.status, fault.body, fault.headers)
                    return
                if fault.kind == "reset":
                    length = int(self.headers.get("Content-Length") or 0)
                    self.rfile.read(min(length, fault.reset_after))
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault.kind == "delay":
                    time.sleep(fault.delay)
            body = self._read_body()
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in {"proxy-authorization", "proxy-connection", "connection"}
            }
            conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=60)
            try:
                conn.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.endheaders()
                if body:
                    conn.send(body)
                resp = conn.getresponse()
                data = resp.read()
            except OSError:
                self._reply(502, b"upstream failed")
                return
            finally:
                conn.close()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() in {"transfer-encoding", "connection", "content-length"}:
                    continue
                self.send_header(k, v)
            length = resp.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raw = bytearray()
                while True:
                    line = self.rfile.readline()
                    raw += line
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while True:
                            trailer = self.rfile.readline()
                            raw += trailer
                            if trailer in (b"\r\n", b"\n", b""):
                                return bytes(raw)
                    raw += self.rfile.read(size + 2)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _drain_body(self) -> None:
            self._read_body()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
        # WebDAV (RFC 4918)
        do_PROPFIND = do_PROPPATCH = do_MKCOL = do_MOVE = do_COPY = do_OPTIONS = _handle

    return Handler


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()


__all__ = ["Fault", "FaultProxy", "Recorded", "socketserver"]
