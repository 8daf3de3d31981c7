"""A local HTTPS stand-in for the Box API endpoints box_sdk_gen calls (tests only).

One threaded HTTPS server on 127.0.0.1 with a trustme certificate serves all three of
Box's hosts (API, upload, OAuth) under one origin: ``api_url`` (``/2.0``, ``/oauth2``),
``upload_url`` (``/api/2.0``) and ``authorize_url`` (``/oauth2/authorize``).

It enforces what Box enforces:

- OAuth: the app's client ID and secret; the registered redirect URI; authorization codes
  single-use and expiring; ``state`` echoed exactly; refresh tokens single-use (a reused
  one is ``invalid_grant``); access tokens expire (``access_ttl``) and are revoked with
  their grant by ``/oauth2/revoke``. ``refresh_count`` counts successful refreshes.
- Files: a folder name in use gives 409 ``item_name_in_use`` with ``context_info.conflicts``
  as an object (``conflicts_as_list = False``) or a list; a file name in use likewise; a
  new version goes through ``files/{id}/content`` and is kept in ``versions``; the
  ``Content-MD5`` header (a SHA-1) is checked (412).
- Upload sessions: parts must carry ``Digest: sha=<base64 SHA-1>`` matching the body and a
  ``Content-Range`` at a part boundary with the session's part size and total; the commit's
  ``Digest`` must match the whole file and the parts must cover it. A file (version)
  appears only when an upload completes: a reset mid-upload stores nothing.

Fault hooks (``fail``): the next ``times`` matching requests get a status (429 with
Retry-After, 503...), a connection reset after part of the body, or a delay; or they are
served normally but the file in the answer reports a wrong SHA-1 (``wrong_sha1``) or none
(``no_sha1``), as a Box that stored something else, or answered without the field, would.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import hashlib
import json
import secrets
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import trustme

from standins.faults import Faults


@dataclass
class Fault:
    kind: str  # "status" | "reset" | "delay" | "wrong_sha1" | "no_sha1"
    match: str = ""  # substring of "METHOD /path"
    times: int = 1
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class BoxUser:
    id: str
    name: str
    login: str
    root_missing: bool = False


@dataclass
class Item:
    id: str
    type: str  # "file" | "folder"
    name: str
    parent: str
    owner: str
    versions: list[bytes] = field(default_factory=list)
    modified_at: str = ""


@dataclass
class Session:
    id: str
    owner: str
    folder_id: str | None
    file_id: str | None
    name: str
    size: int
    part_size: int
    parts: dict[int, tuple[str, bytes]] = field(default_factory=dict)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class BoxStandIn:
    def __init__(
        self,
        *,
        client_id: str = "box-client-id-standin",
        client_secret: str | None = None,
        redirect_uris: tuple[str, ...] = (),
        access_ttl: float = 3600.0,
        part_size: int = 8 * 1024,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or "box-secret-" + secrets.token_hex(12)
        self.redirect_uris: set[str] = set(redirect_uris)
        self.access_ttl = access_ttl
        self.code_ttl = 30.0
        self.part_size = part_size
        self.conflicts_as_list = False
        self.lock = threading.RLock()
        self.users: dict[str, BoxUser] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}
        self.refresh: dict[str, dict[str, Any]] = {}
        self.items: dict[str, Item] = {}
        self.sessions: dict[str, Session] = {}
        self.faults: list[Fault] = []
        self.log: list[str] = []
        self.refresh_count = 0
        self.revoked: list[str] = []
        self.authorize_as: str | None = None
        self._next = 1000
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self._dir = tempfile.TemporaryDirectory(prefix="box-standin-")
        self.ca_path = str(Path(self._dir.name) / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.standin = self
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.add_user("Box Tester", "tester@example.com")

    # -- addresses -----------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def upload_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/api"

    @property
    def authorize_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/oauth2/authorize"

    def settings(self) -> dict[str, str]:
        """Django settings that point Strongroom at this stand-in."""
        return {
            "BOX_API_URL": self.api_url,
            "BOX_UPLOAD_URL": self.upload_url,
            "BOX_AUTHORIZE_URL": self.authorize_url,
            "PROVIDER_CA_BUNDLE": self.ca_path,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._dir.cleanup()

    # -- test helpers --------------------------------------------------------------------

    def _id(self) -> str:
        with self.lock:
            self._next += 1
            return str(self._next)

    def add_user(self, name: str, login: str, *, root_missing: bool = False) -> BoxUser:
        user = BoxUser(self._id(), name, login, root_missing)
        with self.lock:
            self.users[user.id] = user
            if self.authorize_as is None:
                self.authorize_as = user.id
        return user

    def issue_tokens(self, user_id: str, *, ttl: float | None = None) -> dict[str, Any]:
        """A token pair for ``user_id`` as an authorisation would give (credentials)."""
        grant = secrets.token_hex(8)
        access = "box-at-" + secrets.token_urlsafe(24)
        refresh = "box-rt-" + secrets.token_urlsafe(24)
        lifetime = self.access_ttl if ttl is None else ttl
        with self.lock:
            self.access[access] = {
                "user": user_id,
                "expires": time.time() + lifetime,
                "grant": grant,
                "revoked": False,
            }
            self.refresh[refresh] = {"user": user_id, "used": False, "grant": grant}
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": int(lifetime),
            "token_type": "bearer",
            "restricted_to": [],
        }

    def credentials_for(self, user_id: str, *, ttl: float | None = None) -> dict[str, Any]:
        t = self.issue_tokens(user_id, ttl=ttl)
        return {
            "access_token": t["access_token"],
            "refresh_token": t["refresh_token"],
            "expires_at": time.time() + t["expires_in"],
            "token_type": "bearer",
        }

    def expire_access(self, token: str) -> None:
        with self.lock:
            self.access[token]["expires"] = 0

    def fail(self, kind: str, match: str = "", **kwargs: Any) -> Fault:
        fault = Fault(kind=kind, match=match, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()

    def folder(self, user_id: str, name: str = "Strongroom") -> Item | None:
        with self.lock:
            for item in self.items.values():
                if (
                    item.owner == user_id
                    and item.type == "folder"
                    and item.name == name
                    and item.parent == "0"
                ):
                    return item
        return None

    def files(self, user_id: str, folder: str = "Strongroom") -> list[Item]:
        parent = self.folder(user_id, folder)
        if parent is None:
            return []
        with self.lock:
            return [i for i in self.items.values() if i.parent == parent.id and i.type == "file"]

    def file(self, user_id: str, name: str) -> Item | None:
        for item in self.files(user_id):
            if item.name == name:
                return item
        return None

    def read(self, user_id: str, name: str) -> bytes:
        item = self.file(user_id, name)
        if item is None:
            raise FileNotFoundError(name)
        return item.versions[-1]

    def grant_active(self, user_id: str) -> bool:
        with self.lock:
            return any(
                a["user"] == user_id and not a["revoked"] and a["expires"] > time.time()
                for a in self.access.values()
            ) or any(r["user"] == user_id and not r["used"] for r in self.refresh.values())

    # -- request handling (called by _Handler) -------------------------------------------

    def take_fault(self, line: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match in line:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: BoxStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class _Reset(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    #: "wrong_sha1" / "no_sha1" while answering a request a SHA-1 fault matched.
    _sha1_tamper = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def box(self) -> BoxStandIn:
        return self.server.standin

    # -- plumbing ------------------------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw and self.command != "HEAD":
            self.wfile.write(raw)

    def _error(
        self,
        status: int,
        code: str,
        message: str = "",
        context: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "type": "error",
            "status": status,
            "code": code,
            "message": message or code,
            "request_id": secrets.token_hex(6),
        }
        if context is not None:
            body["context_info"] = context
        self._send(status, body, headers)

    def _oauth_error(self, status: int, error: str, description: str) -> None:
        self._send(status, {"error": error, "error_description": description})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self, read: int = 1024) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(read, length))
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise _Reset

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        line = f"{self.command} {path}"
        with self.box.lock:
            self.box.log.append(line)
        fault = self.box.take_fault(line)
        self._sha1_tamper = fault.kind if fault is not None else ""
        if fault is not None:
            if fault.kind == "delay":
                time.sleep(fault.delay)
            elif fault.kind == "reset":
                self._reset()
            elif fault.kind == "status":
                self._body()
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                self._error(fault.status, "unavailable", "injected fault", headers=headers)
                return
        try:
            self._route(path, query)
        except _Reset:
            raise
        except Exception as exc:  # a stand-in bug shows as a 500 with its text
            self._error(500, "internal_server_error", f"stand-in error: {exc!r}")

    def do_GET(self) -> None:
        self._wrap()

    def do_POST(self) -> None:
        self._wrap()

    def do_PUT(self) -> None:
        self._wrap()

    def do_DELETE(self) -> None:
        self._wrap()

    def do_OPTIONS(self) -> None:
        self._wrap()

    def _wrap(self) -> None:
        try:
            self._dispatch()
        except _Reset:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.close()

    # -- routes --------------------------------------------------------------------------

    def _route(self, path: str, query: dict[str, str]) -> None:
        m = self.command
        if path == "/oauth2/authorize" and m == "GET":
            return self._authorize(query)
        if path == "/oauth2/token" and m == "POST":
            return self._token()
        if path == "/oauth2/revoke" and m == "POST":
            return self._revoke()
        user = self._auth()
        if user is None:
            return
        seg = [s for s in path.split("/") if s]
        if seg[:1] == ["api"]:
            return self._upload_route(user, seg[1:], query)
        if seg == ["2.0", "users", "me"] and m == "GET":
            return self._send(
                200, {"type": "user", "id": user.id, "name": user.name, "login": user.login}
            )
        if seg[:2] == ["2.0", "folders"]:
            if len(seg) == 2 and m == "POST":
                return self._create_folder(user)
            if len(seg) == 4 and seg[3] == "items" and m == "GET":
                return self._items(user, seg[2], query)
        if seg[:2] == ["2.0", "files"] and len(seg) == 3:
            item = self._owned(user, seg[2], "file")
            if item is None:
                return self._error(404, "not_found", "Not Found")
            if m == "GET":
                return self._send(200, self._file_json(item))
            if m == "DELETE":
                with self.box.lock:
                    self.box.items.pop(item.id, None)
                return self._send(204)
        return self._error(404, "not_found", f"no route {m} {path}")

    def _auth(self) -> BoxUser | None:
        header = self.headers.get("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.box.lock:
            entry = self.box.access.get(token)
            ok = entry is not None and not entry["revoked"] and entry["expires"] > time.time()
            if ok and entry is not None:
                entry["uses"] = entry.get("uses", 0) + 1
            user = self.box.users.get(entry["user"]) if ok and entry else None
        if user is None:
            self._body()
            self._send(
                401,
                None,
                {"WWW-Authenticate": 'Bearer realm="Service", error="invalid_token"'},
            )
            return None
        return user

    def _owned(self, user: BoxUser, item_id: str, kind: str) -> Item | None:
        with self.box.lock:
            item = self.box.items.get(item_id)
        if item is None or item.owner != user.id or item.type != kind:
            return None
        return item

    def _folder_ok(self, user: BoxUser, folder_id: str) -> bool:
        if folder_id == "0":
            return not user.root_missing
        return self._owned(user, folder_id, "folder") is not None

    def _children(self, user: BoxUser, folder_id: str) -> list[Item]:
        with self.box.lock:
            return [
                i for i in self.box.items.values() if i.owner == user.id and i.parent == folder_id
            ]

    def _conflict(self, item: Item) -> None:
        mini = {"type": item.type, "id": item.id, "name": item.name}
        if item.type == "file":
            mini["sha1"] = _h1(item.versions[-1]).hexdigest()
        conflicts: Any = [mini] if self.box.conflicts_as_list else mini
        self._error(
            409,
            "item_name_in_use",
            "Item with the same name already exists",
            {"conflicts": conflicts},
        )

    def _file_json(self, item: Item) -> dict[str, Any]:
        data = item.versions[-1]
        sha1 = _h1(data).hexdigest()
        tamper = self._sha1_tamper
        if tamper == "wrong_sha1":
            sha1 = _h1(data + b"\x00").hexdigest()
        body: dict[str, Any] = {
            "type": "file",
            "id": item.id,
            "name": item.name,
            "size": len(data),
            "sha1": sha1,
            "etag": str(len(item.versions) - 1),
            "modified_at": item.modified_at,
            "file_version": {
                "type": "file_version",
                "id": f"{item.id}-v{len(item.versions)}",
                "sha1": sha1,
            },
            "parent": {"type": "folder", "id": item.parent},
        }
        if tamper == "no_sha1":
            del body["sha1"], body["file_version"]["sha1"]
        return body

    # OAuth -------------------------------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> None:
        box = self.box
        if query.get("client_id") != box.client_id:
            return self._page(400, "invalid_client: unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in box.redirect_uris:
            return self._page(400, "redirect_uri_mismatch: not registered for this app")
        if query.get("response_type") != "code":
            return self._page(400, "unsupported_response_type")
        code = secrets.token_urlsafe(24)
        with box.lock:
            box.codes[code] = {
                "user": box.authorize_as,
                "redirect_uri": redirect_uri,
                "expires": time.time() + box.code_ttl,
                "used": False,
            }
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        self.send_response(302)
        self.send_header("Location", redirect_uri + "?" + urlencode(params))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _page(self, status: int, text: str) -> None:
        raw = f"<!doctype html><title>Box</title><p>{text}</p>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self._body().decode()).items()}

    def _client_ok(self, form: dict[str, str]) -> bool:
        box = self.box
        if form.get("client_id") != box.client_id or form.get("client_secret") != (
            box.client_secret
        ):
            self._oauth_error(401, "invalid_client", "The client credentials are invalid")
            return False
        return True

    def _token(self) -> None:
        box = self.box
        form = self._form()
        if not self._client_ok(form):
            return
        grant = form.get("grant_type")
        with box.lock:
            if grant == "authorization_code":
                entry = box.codes.get(form.get("code", ""))
                if entry is None or entry["used"] or entry["expires"] < time.time():
                    return self._oauth_error(
                        400, "invalid_grant", "Auth code doesn't exist or is invalid for the client"
                    )
                if "redirect_uri" in form and form["redirect_uri"] != entry["redirect_uri"]:
                    return self._oauth_error(400, "invalid_grant", "redirect_uri mismatch")
                entry["used"] = True
                tokens = box.issue_tokens(entry["user"])
            elif grant == "refresh_token":
                entry = box.refresh.get(form.get("refresh_token", ""))
                if entry is None or entry["used"]:
                    return self._oauth_error(400, "invalid_grant", "Invalid refresh token")
                entry["used"] = True  # single-use
                box.refresh_count += 1
                tokens = box.issue_tokens(entry["user"])
            else:
                return self._oauth_error(400, "unsupported_grant_type", "grant not supported")
        self._send(200, tokens)

    def _revoke(self) -> None:
        box = self.box
        form = self._form()
        if not self._client_ok(form):
            return
        token = form.get("token", "")
        with box.lock:
            entry = box.access.get(token) or box.refresh.get(token)
            if entry is not None:
                grant = entry["grant"]
                for a in box.access.values():
                    if a["grant"] == grant:
                        a["revoked"] = True
                for r in box.refresh.values():
                    if r["grant"] == grant:
                        r["used"] = True
                box.revoked.append(grant)
        self._send(200, None)

    # folders -----------------------------------------------------------------------------

    def _create_folder(self, user: BoxUser) -> None:
        body = json.loads(self._body() or b"{}")
        name = str(body.get("name") or "")
        parent = str((body.get("parent") or {}).get("id") or "")
        if not name or not self._folder_ok(user, parent):
            return self._error(404, "not_found", "parent folder not found")
        with self.box.lock:
            for child in self._children(user, parent):
                if child.name == name:
                    return self._conflict(child)
            item = Item(self.box._id(), "folder", name, parent, user.id, modified_at=_now_iso())
            self.box.items[item.id] = item
        self._send(201, {"type": "folder", "id": item.id, "name": name})

    def _items(self, user: BoxUser, folder_id: str, query: dict[str, str]) -> None:
        if not self._folder_ok(user, folder_id):
            return self._error(404, "not_found", "Not Found")
        children = sorted(self._children(user, folder_id), key=lambda i: int(i.id))
        offset = int(query.get("offset") or 0)
        limit = int(query.get("limit") or 100)
        page = children[offset : offset + limit]
        entries = [{"type": i.type, "id": i.id, "name": i.name} for i in page]
        self._send(
            200,
            {"total_count": len(children), "entries": entries, "offset": offset, "limit": limit},
        )

    # uploads -----------------------------------------------------------------------------

    def _upload_route(self, user: BoxUser, seg: list[str], query: dict[str, str]) -> None:
        m = self.command
        if seg == ["2.0", "files", "content"] and m == "POST":
            return self._upload(user, None)
        if len(seg) == 4 and seg[:2] == ["2.0", "files"] and seg[3] == "content" and m == "POST":
            return self._upload(user, seg[2])
        if seg == ["2.0", "files", "upload_sessions"] and m == "POST":
            return self._new_session(user, None)
        if (
            len(seg) == 4
            and seg[:2] == ["2.0", "files"]
            and seg[3] == "upload_sessions"
            and m == "POST"
        ):
            return self._new_session(user, seg[2])
        if seg[:3] == ["2.0", "files", "upload_sessions"] and len(seg) >= 4:
            with self.box.lock:
                session = self.box.sessions.get(seg[3])
            if session is None or session.owner != user.id:
                return self._error(404, "not_found", "upload session not found")
            rest = seg[4:]
            if not rest and m == "PUT":
                return self._part(session)
            if not rest and m == "DELETE":
                with self.box.lock:
                    self.box.sessions.pop(session.id, None)
                return self._send(204)
            if rest == ["commit"] and m == "POST":
                return self._commit(user, session)
            if rest == ["parts"] and m == "GET":
                entries = [
                    {"part_id": pid, "offset": off, "size": len(d), "sha1": _sha1(d)}
                    for off, (pid, d) in sorted(session.parts.items())
                ]
                return self._send(200, {"entries": entries, "total_count": len(entries)})
        return self._error(404, "not_found", "no such upload route")

    def _multipart(self) -> tuple[dict[str, Any], bytes]:
        ctype = self.headers.get("Content-Type") or ""
        raw = self._body()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
        )
        attributes: dict[str, Any] = {}
        content = b""
        for part in msg.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "attributes":
                attributes = json.loads(payload)
            elif name == "file":
                content = payload
        return attributes, content

    def _upload(self, user: BoxUser, file_id: str | None) -> None:
        attributes, content = self._multipart()
        expected = self.headers.get("Content-MD5")
        if expected and expected.lower() != _sha1(content):
            return self._error(412, "precondition_failed", "The SHA1 of the content differs")
        box = self.box
        with box.lock:
            if file_id is None:
                parent = str((attributes.get("parent") or {}).get("id") or "")
                name = str(attributes.get("name") or "")
                if not name or not self._folder_ok(user, parent):
                    return self._error(404, "not_found", "parent folder not found")
                for child in self._children(user, parent):
                    if child.name == name:
                        return self._conflict(child)
                item = Item(box._id(), "file", name, parent, user.id, [content], _now_iso())
                box.items[item.id] = item
            else:
                found = self._owned(user, file_id, "file")
                if found is None:
                    return self._error(404, "not_found", "file not found")
                item = found
                item.versions.append(content)
                item.modified_at = _now_iso()
                if attributes.get("name"):
                    item.name = str(attributes["name"])
        self._send(201, {"total_count": 1, "entries": [self._file_json(item)]})

    def _new_session(self, user: BoxUser, file_id: str | None) -> None:
        body = json.loads(self._body() or b"{}")
        size = int(body.get("file_size") or 0)
        name = str(body.get("file_name") or "")
        folder_id = None if file_id else str(body.get("folder_id") or "")
        box = self.box
        with box.lock:
            if file_id is not None:
                item = self._owned(user, file_id, "file")
                if item is None:
                    return self._error(404, "not_found", "file not found")
                name = name or item.name
            else:
                if not self._folder_ok(user, folder_id or ""):
                    return self._error(404, "not_found", "parent folder not found")
                for child in self._children(user, folder_id or ""):
                    if child.name == name:
                        return self._conflict(child)
            session = Session(
                secrets.token_hex(8), user.id, folder_id, file_id, name, size, box.part_size
            )
            box.sessions[session.id] = session
        base = f"{box.upload_url}/2.0/files/upload_sessions/{session.id}"
        total = max(1, -(-size // session.part_size))
        self._send(
            201,
            {
                "type": "upload_session",
                "id": session.id,
                "session_expires_at": "2099-01-01T00:00:00+00:00",
                "part_size": session.part_size,
                "total_parts": total,
                "num_parts_processed": 0,
                "session_endpoints": {
                    "upload_part": base,
                    "commit": base + "/commit",
                    "abort": base,
                    "list_parts": base + "/parts",
                    "status": base,
                    "log_event": base + "/log",
                },
            },
        )

    def _part(self, session: Session) -> None:
        digest = self.headers.get("Digest") or ""
        crange = self.headers.get("Content-Range") or ""
        data = self._body()
        try:
            unit, spec = crange.split(" ", 1)
            span, total = spec.split("/")
            start, end = (int(x) for x in span.split("-"))
            if unit != "bytes" or int(total) != session.size:
                raise ValueError
        except ValueError:
            return self._error(416, "range_not_satisfiable", "bad Content-Range")
        last = start + session.part_size >= session.size
        if (
            start % session.part_size
            or end - start + 1 != len(data)
            or (not last and len(data) != session.part_size)
            or end >= session.size
        ):
            return self._error(416, "range_not_satisfiable", "part offsets do not fit")
        if digest != "sha=" + base64.b64encode(_h1(data).digest()).decode():
            return self._error(412, "precondition_failed", "The digest of the part differs")
        part_id = secrets.token_hex(4).upper()
        with self.box.lock:
            session.parts[start] = (part_id, data)
        self._send(
            200,
            {"part": {"part_id": part_id, "offset": start, "size": len(data), "sha1": _sha1(data)}},
        )

    def _commit(self, user: BoxUser, session: Session) -> None:
        body = json.loads(self._body() or b"{}")
        listed = body.get("parts") or []
        digest = self.headers.get("Digest") or ""
        with self.box.lock:
            ordered = sorted(session.parts.items())
            data = b"".join(d for _off, (_pid, d) in ordered)
            ids = [p.get("part_id") for p in listed]
            if ids != [pid for _off, (pid, _d) in ordered] or len(data) != session.size:
                return self._error(400, "bad_request", "the parts do not cover the file")
            if digest != "sha=" + base64.b64encode(_h1(data).digest()).decode():
                return self._error(422, "invalid_digest", "The digest of the file differs")
            self.box.sessions.pop(session.id, None)
            if session.file_id is not None:
                item = self._owned(user, session.file_id, "file")
                if item is None:
                    return self._error(404, "not_found", "file not found")
                item.versions.append(data)
                item.modified_at = _now_iso()
            else:
                parent = session.folder_id or "0"
                for child in self._children(user, parent):
                    if child.name == session.name:
                        return self._conflict(child)
                item = Item(
                    self.box._id(), "file", session.name, parent, user.id, [data], _now_iso()
                )
                self.box.items[item.id] = item
        self._send(201, {"total_count": 1, "entries": [self._file_json(item)]})


def _h1(data: bytes = b"") -> Any:
    return hashlib.sha1(data, usedforsecurity=False)


def _sha1(data: bytes) -> str:
    return _h1(data).hexdigest()


class BoxFaults(Faults):
    """The conformance suite's faults (standins/faults.py) on the Box stand-in."""

    UPLOADS = ("POST /api/2.0/files/", "PUT /api/2.0/files/upload_sessions/")

    def __init__(self, box: BoxStandIn, provider_parts: Callable[[], list[int]]) -> None:
        self.box = box
        self.provider_parts = provider_parts

    def reset_mid_upload(self) -> None:
        for match in self.UPLOADS:
            self.box.fail("reset", match, times=1)

    def unavailable(self, retry_after: float) -> None:
        self.box.fail("status", self.UPLOADS[0], status=429, retry_after=retry_after)

    def stall(self, seconds: float) -> None:
        self.box.fail("delay", self.UPLOADS[0], delay=seconds)

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        found: list[int] = []
        yield found
        found.extend(self.provider_parts())

    def corrupt_answer(self) -> bool:
        self.box.fail("wrong_sha1", "/content")  # Box answers with another SHA-1
        return True

    def clear(self) -> None:
        with self.box.lock:
            self.box.faults.clear()
