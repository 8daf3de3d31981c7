"""A local HTTPS stand-in for the Dropbox API endpoints the official SDK calls, on 127.0.0.1
with a trustme certificate. It enforces what Dropbox enforces:

- OAuth (``/oauth2/authorize`` on the web host, ``/oauth2/token`` on the API host): the
  ``client_id`` must be the app key; an authorisation code is issued for a PKCE S256
  challenge, expires, is single-use, and is exchanged only with the verifier matching its
  challenge; refresh tokens give new short-lived access tokens; a revoked refresh token is
  ``invalid_grant``.
- Bearer access tokens must be known, unrevoked and unexpired (401 ``invalid_access_token``
  / ``expired_access_token``, as Dropbox answers).
- RPC routes take ``Content-Type: application/json`` exactly; content routes take
  ``application/octet-stream`` exactly and their argument in the ``Dropbox-API-Arg`` header
  (JSON, ASCII only); RPC routes on the content host and the reverse are refused.
- Upload sessions check offsets (``incorrect_offset`` with ``correct_offset``); a
  ``content_hash`` sent with a request is checked against the body; the stored file's
  ``content_hash`` is computed here (4 MiB blocks).

Files live in memory per account (``files(account_id)``). Fault hooks: the next N requests
to a route get 429 with Retry-After, a 5xx, a connection reset after some body bytes, a
redirect, or an answer delayed (``fault``); or the body arrives with one byte changed
(``corrupt``, as damage in transit: the ``content_hash`` the client sent no longer matches)
or the file's metadata in the answer reports another ``content_hash`` (``wrong_hash``).
Every request is logged (``requests``, with a content route's ``Dropbox-API-Arg``) so tests
count and inspect them.

The SDK reads the host names once at import, so the three listening sockets are bound early
(``reserve_hosts``, called at conftest import) and the server starts on them later.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standins.faults import Faults

BLOCK = 4 * 1024 * 1024
ROLES = ("api", "content", "web")
ENV = {"api": "DROPBOX_API_HOST", "content": "DROPBOX_API_CONTENT_HOST", "web": "DROPBOX_WEB_HOST"}
CONTENT_ROUTES = {
    "/2/files/upload",
    "/2/files/upload_session/start",
    "/2/files/upload_session/append_v2",
    "/2/files/upload_session/finish",
}
RPC_ROUTES = {
    "/2/users/get_current_account",
    "/2/files/create_folder_v2",
    "/2/files/get_metadata",
    "/2/files/delete_v2",
    "/2/auth/token/revoke",
}


def content_hash(data: bytes) -> str:
    overall = hashlib.sha256()
    for i in range(0, len(data), BLOCK):
        overall.update(hashlib.sha256(data[i : i + BLOCK]).digest())
    return overall.hexdigest()


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


_reserved: dict[str, socket.socket] = {}


def reserve_hosts() -> dict[str, str]:
    """Bind the api/content/web listening sockets now (once per process) and point the
    SDK's environment variables at them. Must run before anything imports ``dropbox``."""
    if not _reserved:
        for role in ROLES:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            _reserved[role] = sock
            os.environ[ENV[role]] = f"127.0.0.1:{sock.getsockname()[1]}"
    return {role: os.environ[ENV[role]] for role in ROLES}


@dataclass
class Account:
    account_id: str
    name: str
    email: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path_lower -> file
    folders: dict[str, str] = field(default_factory=dict)  # path_lower -> display


@dataclass
class Fault:
    route: str
    kind: str  # "429", "status", "reset", "delay", "redirect", "corrupt", "wrong_hash"
    times: int = 1
    retry_after: int = 1
    status: int = 503
    reset_after: int = 0
    delay: float = 0.0
    location: str = "https://169.254.169.254/latest/meta-data/"


@dataclass
class Seen:
    role: str
    method: str
    path: str
    status: int
    length: int = 0
    arg: Any = None


class DropboxStandIn:
    def __init__(self, *, app_key: str = "standinappkey01") -> None:
        import trustme

        from standins import register_ca

        hosts = reserve_hosts()
        self.hosts = hosts
        self.app_key = app_key
        self.ca = trustme.CA()
        self.ca_path = register_ca(self.ca)
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.context)
        self.lock = threading.RLock()
        self.access_ttl = 14400
        self.code_ttl = 600
        self.accounts: dict[str, Account] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}
        self.refresh: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        #: The account "signed in" on the consent page (as a browser session would be).
        self.signed_in: str | None = None
        self.servers: list[ThreadingHTTPServer] = []
        for role in ROLES:
            server = _Server(self, role, _reserved[role])
            thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"dbx-{role}")
            thread.start()
            self.servers.append(server)

    # -- test API ------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {"PROVIDER_CA_BUNDLE": self.ca_path}

    def url(self, role: str) -> str:
        return f"https://{self.hosts[role]}"

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.access_ttl = 14400
            self.code_ttl = 600
            self.signed_in = None

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def add_account(self, name: str = "Alice Example", email: str = "alice@example.com") -> str:
        account_id = "dbid:AA" + secrets.token_hex(17)[:33]  # 40 characters, as Dropbox
        with self.lock:
            self.accounts[account_id] = Account(account_id, name, email)
        return account_id

    def authorize(self, *, account_id: str, client_id: str, challenge: str) -> str:
        """What the consent page does when the user clicks Allow: a fresh code."""
        code = secrets.token_urlsafe(32)
        with self.lock:
            self.codes[code] = {
                "account_id": account_id,
                "client_id": client_id,
                "challenge": challenge,
                "expires": time.time() + self.code_ttl,
                "used": False,
            }
        return code

    def issue_tokens(self, account_id: str, *, expires_in: int | None = None) -> dict[str, Any]:
        """A token set as an exchange would give it (for tests that skip the consent)."""
        with self.lock:
            refresh = "rt." + secrets.token_urlsafe(40)
            self.refresh[refresh] = {
                "account_id": account_id,
                "client_id": self.app_key,
                "revoked": False,
            }
            access, ttl = self._new_access(account_id, refresh, expires_in)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": time.time() + ttl,
            "account_id": account_id,
        }

    def _new_access(self, account_id: str, refresh: str, ttl: int | None = None) -> tuple[str, int]:
        ttl = self.access_ttl if ttl is None else ttl
        token = "sl." + secrets.token_urlsafe(48)
        self.access[token] = {
            "account_id": account_id,
            "refresh": refresh,
            "expires": time.time() + ttl,
            "revoked": False,
        }
        return token, ttl

    def expire(self, token: str) -> None:
        with self.lock:
            self.access[token]["expires"] = time.time() - 1

    def revoke_refresh(self, refresh: str) -> None:
        """As if the user removed the app in Dropbox's settings."""
        with self.lock:
            self.refresh[refresh]["revoked"] = True
            for info in self.access.values():
                if info["refresh"] == refresh:
                    info["revoked"] = True

    def fault(self, route: str, kind: str, **kw: Any) -> None:
        with self.lock:
            self.faults.append(Fault(route=route, kind=kind, **kw))

    def files(self, account_id: str) -> dict[str, bytes]:
        with self.lock:
            acct = self.accounts[account_id]
            return {f["path_display"]: f["data"] for f in acct.files.values()}

    def count(self, path: str, *, status: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if r.path == path and (status is None or r.status == status)
            )

    # -- internals -----------------------------------------------------------------------

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.route == route and f.times > 0:
                    f.times -= 1
                    return f
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: DropboxStandIn, role: str, sock: socket.socket) -> None:
        super().__init__(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self.socket.close()
        address = sock.getsockname()
        self.socket = standin.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        self.server_address = address
        self.standin = standin
        self.role = role

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and aborted handshakes are expected


class _Reset(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    #: Per request: the fault being applied while the request is served normally
    #: ("corrupt", "wrong_hash") and the content route's decoded Dropbox-API-Arg.
    _tamper = ""
    _arg: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            self.connection.do_handshake()  # type: ignore[attr-defined]
            super().handle()
        except (_Reset, OSError, ssl.SSLError, ValueError):
            self.close_connection = True

    # -- plumbing ------------------------------------------------------------------------

    def _body(self, limit: int | None = None) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None and limit < length:
            part = self.rfile.read(limit)
            self._reset()
            return part
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.socket.close(sock)  # RST without a TLS close_notify
        finally:
            raise _Reset()

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self._status = status

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _route_error(self, summary: str, error: Any) -> None:
        self._json(409, {"error_summary": summary, "error": error})

    def _log(self, path: str, length: int = 0) -> None:
        st = self.server.standin
        with st.lock:
            st.requests.append(
                Seen(
                    self.server.role,
                    self.command,
                    path,
                    getattr(self, "_status", 0),
                    length,
                    self._arg,
                )
            )

    # -- dispatch ------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self._status = 0
        self._arg = None
        if self.server.role == "web" and parts.path == "/oauth2/authorize":
            self._authorize_page(parse_qs(parts.query))
        else:
            self._text(
                400 if self.server.role != "web" else 404, "Error in call to API function: use POST"
            )
        self._log(parts.path)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self._status = 0
        self._arg = None
        st = self.server.standin
        fault = st.take_fault(path)
        self._tamper = fault.kind if fault is not None else ""
        try:
            if fault is not None and self._apply_fault(fault):
                return
            role = self.server.role
            if role == "web" and path == "/oauth2/authorize":
                form = parse_qs(self._body().decode())
                self._authorize_allow(form)
            elif role == "api" and path == "/oauth2/token":
                self._token()
            elif role == "api" and path in RPC_ROUTES:
                self._rpc(path)
            elif role == "content" and path in CONTENT_ROUTES:
                self._content(path)
            else:
                self._body()
                self._text(400, f"Unknown API function: {path!r} on the {role} host")
        finally:
            self._log(path)

    def _apply_fault(self, fault: Fault) -> bool:
        if fault.kind == "429":
            self._body()
            self._json(
                429,
                {
                    "error_summary": "too_many_requests/..",
                    "error": {
                        "reason": {".tag": "too_many_requests"},
                        "retry_after": fault.retry_after,
                    },
                },
                {"Retry-After": str(fault.retry_after)},
            )
            return True
        if fault.kind == "status":
            self._body()
            self._text(fault.status, "Service Unavailable")
            return True
        if fault.kind == "redirect":
            self._body()
            self._send(307, b"", "text/plain", {"Location": fault.location})
            return True
        if fault.kind == "reset":
            self._status = -1
            self._body(limit=fault.reset_after)
            return True
        if fault.kind == "delay":
            threading.Event().wait(fault.delay)  # the fault itself: an answer that comes late
            return False
        if fault.kind in {"corrupt", "wrong_hash"}:
            return False  # served normally, tampered on the way (``_content``, ``_commit``)
        raise AssertionError(fault.kind)

    # -- OAuth ---------------------------------------------------------------------------

    def _authorize_params(self, q: dict[str, list[str]]) -> dict[str, str] | str:
        st = self.server.standin
        get = lambda k: (q.get(k) or [""])[0]  # noqa: E731
        if get("client_id") != st.app_key:
            return "Invalid client_id: this app does not exist"
        if get("response_type") != "code":
            return "response_type must be code"
        if get("code_challenge_method") != "S256" or len(get("code_challenge")) < 43:
            return "PKCE: code_challenge with code_challenge_method=S256 is required"
        if get("token_access_type") != "offline":
            return "token_access_type=offline is required for a refresh token"
        return {k: get(k) for k in ("client_id", "code_challenge", "state", "scope")}

    def _authorize_page(self, q: dict[str, list[str]]) -> None:
        params = self._authorize_params(q)
        if isinstance(params, str):
            self._send(
                400, f"<!doctype html><p id='error'>{html.escape(params)}</p>".encode(), "text/html"
            )
            return
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items()
        )
        hidden += '<input type="hidden" name="response_type" value="code">'
        hidden += '<input type="hidden" name="code_challenge_method" value="S256">'
        hidden += '<input type="hidden" name="token_access_type" value="offline">'
        page = (
            "<!doctype html><html><head><title>Dropbox stand-in: allow access</title></head><body>"
            f"<h1>Strongroom would like to access its app folder</h1>"
            f"<p>Scopes: <span id='scopes'>{html.escape(params['scope'])}</span></p>"
            f'<form method="post" action="/oauth2/authorize">{hidden}'
            '<button type="submit" id="allow">Allow</button></form></body></html>'
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _authorize_allow(self, form: dict[str, list[str]]) -> None:
        st = self.server.standin
        params = self._authorize_params(form)
        if isinstance(params, str) or st.signed_in is None:
            self._send(400, b"<!doctype html><p id='error'>not signed in</p>", "text/html")
            return
        code = st.authorize(
            account_id=st.signed_in,
            client_id=params["client_id"],
            challenge=params["code_challenge"],
        )
        page = (
            "<!doctype html><html><head><title>Dropbox stand-in: code</title></head><body>"
            "<p>Enter this code into Strongroom to finish connecting.</p>"
            f'<input id="code" readonly value="{html.escape(code)}"></body></html>'
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _oauth_error(self, error: str, description: str, status: int = 400) -> None:
        self._json(status, {"error": error, "error_description": description})

    def _token(self) -> None:
        st = self.server.standin
        if (
            self.headers.get("Content-Type", "").split(";")[0]
            != "application/x-www-form-urlencoded"
        ):
            self._body()
            self._oauth_error("invalid_request", "Content-Type must be form-urlencoded")
            return
        form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
        if form.get("client_id") != st.app_key:
            self._oauth_error("invalid_client", "Invalid client_id or client_secret")
            return
        grant = form.get("grant_type")
        with st.lock:
            if grant == "authorization_code":
                code = st.codes.get(form.get("code", ""))
                if code is None or code["client_id"] != st.app_key:
                    self._oauth_error("invalid_grant", "code doesn't exist or has expired")
                    return
                if code["used"]:
                    self._oauth_error("invalid_grant", "code has already been used")
                    return
                if code["expires"] <= time.time():
                    self._oauth_error("invalid_grant", "code doesn't exist or has expired")
                    return
                verifier = form.get("code_verifier", "")
                if not verifier or s256(verifier) != code["challenge"]:
                    self._oauth_error("invalid_grant", "invalid code verifier")
                    return
                code["used"] = True
                refresh = "rt." + secrets.token_urlsafe(40)
                st.refresh[refresh] = {
                    "account_id": code["account_id"],
                    "client_id": st.app_key,
                    "revoked": False,
                }
                access, ttl = st._new_access(code["account_id"], refresh)
                self._json(
                    200,
                    {
                        "access_token": access,
                        "token_type": "bearer",
                        "expires_in": ttl,
                        "refresh_token": refresh,
                        "scope": "account_info.read files.content.write files.metadata.read",
                        "uid": "12345",
                        "account_id": code["account_id"],
                    },
                )
                return
            if grant == "refresh_token":
                info = st.refresh.get(form.get("refresh_token", ""))
                if info is None or info["revoked"] or info["client_id"] != st.app_key:
                    self._oauth_error("invalid_grant", "refresh token is invalid or revoked")
                    return
                access, ttl = st._new_access(info["account_id"], form["refresh_token"])
                self._json(200, {"access_token": access, "token_type": "bearer", "expires_in": ttl})
                return
        self._oauth_error("unsupported_grant_type", f"grant_type {grant!r}")

    # -- API routes ----------------------------------------------------------------------

    def _auth(self) -> Account | None:
        st = self.server.standin
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with st.lock:
            info = st.access.get(token)
            if info is None or info["revoked"]:
                self._json(
                    401,
                    {
                        "error_summary": "invalid_access_token/..",
                        "error": {".tag": "invalid_access_token"},
                    },
                )
                return None
            if info["expires"] <= time.time():
                self._json(
                    401,
                    {
                        "error_summary": "expired_access_token/..",
                        "error": {".tag": "expired_access_token"},
                    },
                )
                return None
            self._token_value = token
            return st.accounts[info["account_id"]]

    def _rpc(self, path: str) -> None:
        ctype = self.headers.get("Content-Type")
        body = self._body()
        if ctype != "application/json":
            self._text(
                400,
                f'Error in call to API function "{path[3:]}": Bad HTTP "Content-Type" header: '
                f'{ctype!r}. Expecting "application/json".',
            )
            return
        try:
            arg = json.loads(body.decode() or "null")
        except ValueError:
            self._text(
                400,
                f'Error in call to API function "{path[3:]}": request body: '
                "could not decode input as JSON",
            )
            return
        acct = self._auth()
        if acct is None:
            return
        st = self.server.standin
        with st.lock:
            if path == "/2/users/get_current_account":
                self._json(200, _account_json(acct))
            elif path == "/2/auth/token/revoke":
                info = st.access[self._token_value]
                st.revoke_refresh(info["refresh"])
                self._json(200, None)
            elif path == "/2/files/create_folder_v2":
                p = _path(arg)
                if p is None:
                    return self._text(400, "bad path")
                if p.lower() in acct.folders or p.lower() in acct.files:
                    return self._route_error(
                        "path/conflict/folder/",
                        {
                            ".tag": "path",
                            "path": {".tag": "conflict", "conflict": {".tag": "folder"}},
                        },
                    )
                acct.folders[p.lower()] = p
                self._json(200, {"metadata": _folder_json(p)})
            elif path == "/2/files/get_metadata":
                p = _path(arg)
                if p is None:
                    return self._text(400, "bad path")
                if p.lower() in acct.files:
                    self._json(200, {".tag": "file", **_file_json(acct.files[p.lower()])})
                elif p.lower() in acct.folders:
                    self._json(200, {".tag": "folder", **_folder_json(acct.folders[p.lower()])})
                else:
                    self._route_error(
                        "path/not_found/..", {".tag": "path", "path": {".tag": "not_found"}}
                    )
            elif path == "/2/files/delete_v2":
                p = _path(arg)
                if p is None:
                    return self._text(400, "bad path")
                if p.lower() in acct.files:
                    f = acct.files.pop(p.lower())
                    self._json(200, {"metadata": {".tag": "file", **_file_json(f)}})
                elif p.lower() in acct.folders:
                    d = acct.folders.pop(p.lower())
                    self._json(200, {"metadata": {".tag": "folder", **_folder_json(d)}})
                else:
                    self._route_error(
                        "path_lookup/not_found/..",
                        {".tag": "path_lookup", "path_lookup": {".tag": "not_found"}},
                    )

    def _content(self, path: str) -> None:
        st = self.server.standin
        ctype = self.headers.get("Content-Type")
        raw_arg = self.headers.get("Dropbox-API-Arg")
        body = self._body()
        if ctype != "application/octet-stream":
            return self._text(
                400,
                f'Error in call to API function "{path[3:]}": Bad HTTP "Content-Type" header: '
                f'{ctype!r}. Expecting "application/octet-stream".',
            )
        if raw_arg is None:
            return self._text(
                400, f'Error in call to API function "{path[3:]}": Missing "Dropbox-API-Arg" header'
            )
        try:
            raw_arg.encode("ascii")
            arg = json.loads(raw_arg)
        except (UnicodeError, ValueError):
            return self._text(
                400,
                f'Error in call to API function "{path[3:]}": HTTP header "Dropbox-API-Arg": '
                "could not decode input as JSON",
            )
        self._arg = arg
        if self._tamper == "corrupt" and body:
            body = bytes([body[0] ^ 0x01]) + body[1:]
        acct = self._auth()
        if acct is None:
            return
        sent_hash = arg.get("content_hash") if isinstance(arg, dict) else None
        with st.lock:
            if sent_hash is not None and sent_hash != content_hash(body):
                return self._route_error(
                    "content_hash_mismatch/", {".tag": "content_hash_mismatch"}
                )
            if path == "/2/files/upload":
                p = _path(arg)
                if p is None:
                    return self._text(400, "bad path")
                return self._commit(acct, p, body, arg.get("mode") or "add")
            if path == "/2/files/upload_session/start":
                sid = "sess:" + secrets.token_hex(12)
                st.sessions[sid] = {
                    "account_id": acct.account_id,
                    "data": bytearray(body),
                    "closed": bool(arg.get("close")),
                }
                return self._json(200, {"session_id": sid})
            cursor = arg.get("cursor") or {}
            sess = st.sessions.get(cursor.get("session_id", ""))
            if sess is None or sess["account_id"] != acct.account_id:
                tag = {".tag": "not_found"}
                return self._route_error(
                    "not_found/",
                    tag
                    if path.endswith("append_v2")
                    else {".tag": "lookup_failed", "lookup_failed": tag},
                )
            if int(cursor.get("offset", -1)) != len(sess["data"]):
                err = {".tag": "incorrect_offset", "correct_offset": len(sess["data"])}
                return self._route_error(
                    "incorrect_offset/",
                    err
                    if path.endswith("append_v2")
                    else {".tag": "lookup_failed", "lookup_failed": err},
                )
            sess["data"].extend(body)
            if path.endswith("append_v2"):
                return self._json(200, None)
            commit = arg.get("commit") or {}
            p = _path(commit)
            if p is None:
                return self._text(400, "bad path")
            del st.sessions[cursor["session_id"]]
            return self._commit(acct, p, bytes(sess["data"]), commit.get("mode") or "add")

    def _commit(self, acct: Account, p: str, data: bytes, mode: Any) -> None:
        tag = mode.get(".tag") if isinstance(mode, dict) else mode
        existing = acct.files.get(p.lower())
        if existing is not None and tag != "overwrite":
            return self._route_error(
                "path/conflict/file/",
                {
                    ".tag": "path",
                    "reason": {".tag": "conflict", "conflict": {".tag": "file"}},
                    "upload_session_id": "",
                },
            )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        f = {
            "path_display": p,
            "data": data,
            "rev": secrets.token_hex(8),
            "id": existing["id"] if existing else "id:" + secrets.token_hex(8),
            "server_modified": now,
        }
        acct.files[p.lower()] = f  # one step: readers see the old file or the new one
        answer = _file_json(f)
        if self._tamper == "wrong_hash":
            answer["content_hash"] = content_hash(data + b"\x00")
        self._json(200, answer)


def _path(arg: Any) -> str | None:
    p = arg.get("path") if isinstance(arg, dict) else None
    if not isinstance(p, str) or not p.startswith("/") or p.endswith("/") or "//" in p:
        return None
    return p


def _file_json(f: dict[str, Any]) -> dict[str, Any]:
    p = f["path_display"]
    return {
        "name": p.rsplit("/", 1)[-1],
        "id": f["id"],
        "client_modified": f["server_modified"],
        "server_modified": f["server_modified"],
        "rev": f["rev"],
        "size": len(f["data"]),
        "path_lower": p.lower(),
        "path_display": p,
        "is_downloadable": True,
        "content_hash": content_hash(f["data"]),
    }


def _folder_json(p: str) -> dict[str, Any]:
    return {
        "name": p.rsplit("/", 1)[-1],
        "id": "id:" + hashlib.sha256(p.lower().encode()).hexdigest()[:12],
        "path_lower": p.lower(),
        "path_display": p,
    }


def _account_json(acct: Account) -> dict[str, Any]:
    given, _, surname = acct.name.partition(" ")
    return {
        "account_id": acct.account_id,
        "name": {
            "given_name": given,
            "surname": surname,
            "familiar_name": given,
            "display_name": acct.name,
            "abbreviated_name": (given[:1] + surname[:1]).upper(),
        },
        "email": acct.email,
        "email_verified": True,
        "disabled": False,
        "country": "CH",
        "locale": "en",
        "referral_link": "https://db.tt/standin",
        "is_paired": False,
        "account_type": {".tag": "basic"},
        "root_info": {".tag": "user", "root_namespace_id": "1", "home_namespace_id": "1"},
    }


class DropboxFaults(Faults):
    """The conformance suite's faults (standins/faults.py) on the Dropbox stand-in."""

    UPLOADS = ("/2/files/upload", "/2/files/upload_session/append_v2")

    def __init__(self, api: DropboxStandIn) -> None:
        self.api = api

    def reset_mid_upload(self) -> None:
        for route in self.UPLOADS:
            self.api.fault(route, "reset", reset_after=512)

    def unavailable(self, retry_after: float) -> None:
        self.api.fault(self.UPLOADS[0], "429", retry_after=int(retry_after))

    def stall(self, seconds: float) -> None:
        self.api.fault(self.UPLOADS[0], "delay", delay=seconds)

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        start = len(self.api.requests)
        found: list[int] = []
        yield found
        found.extend(
            r.length
            for r in self.api.requests[start:]
            if r.path.startswith("/2/files/upload_session/")
        )

    def corrupt_answer(self) -> bool:
        self.api.fault(self.UPLOADS[0], "wrong_hash")  # the metadata reports another hash
        return True

    def clear(self) -> None:
        with self.api.lock:
            self.api.faults.clear()
