"""A local HTTPS stand-in for Google OAuth 2.0 and the Drive v3 API (tests only).

One threaded HTTPS server on 127.0.0.1 (trustme certificate, CA registered in the shared
stand-in bundle) serves the consent page (``/o/oauth2/auth``), the token endpoint
(``/token``), the revoke endpoint (``/revoke``) and Drive (``/drive/v3``, ``/upload/drive/v3``).
The official libraries (google-auth, google-auth-oauthlib) reach it by configuration: the
client config's ``auth_uri``/``token_uri`` and Strongroom's ``GDRIVE_*`` settings.

It enforces what Google enforces:

- OAuth: the client ID and secret (form body or HTTP Basic), the registered redirect URI,
  ``scope`` exactly ``drive.file``, PKCE S256 (the verifier must match the challenge),
  ``access_type=offline`` (else no refresh token); codes single-use and expiring; access
  tokens expire (``access_ttl``); ``/revoke`` ends the whole grant. ``refresh_count``
  counts successful refreshes.
- Drive: files belong to their user; ``drive.file`` means the API lists only files the
  app created; an update (PATCH) keeps the file ID and adds a revision; a resumable session
  stores nothing until its last chunk (chunks must be 256 KiB multiples, except the last);
  the answers carry ``size``, ``sha256Checksum`` and ``md5Checksum`` when ``fields`` asks.
  Errors have Google's shape (``error.errors[0].reason``).

Fault hooks (``fail``): the next ``times`` matching requests get a status (with a reason and
Retry-After), a connection reset after part of the body, a delay, or a wrong checksum.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import trustme

from standins import register_ca
from standins.faults import Faults

SCOPE = "https://www.googleapis.com/auth/drive.file"
FOLDER_MIME = "application/vnd.google-apps.folder"
CHUNK_UNIT = 256 * 1024
_CREATED = itertools.count()


@dataclass
class Fault:
    kind: str  # "status" | "reset" | "delay" | "wrong_checksum"
    match: str = ""  # substring of "METHOD /path?query"
    times: int = 1
    status: int = 503
    reason: str = "backendError"
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class GUser:
    id: str
    name: str
    email: str


@dataclass
class GFile:
    id: str
    name: str
    mime: str
    parent: str
    owner: str
    revisions: list[bytes] = field(default_factory=list)
    modified: str = ""
    created: int = field(default_factory=lambda: next(_CREATED))


@dataclass
class Upload:
    id: str
    owner: str
    file_id: str | None
    metadata: dict[str, Any]
    size: int
    received: bytearray = field(default_factory=bytearray)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class GDriveStandIn:
    def __init__(
        self,
        *,
        client_id: str = "1234-standin.apps.googleusercontent.com",
        client_secret: str | None = None,
        redirect_uris: tuple[str, ...] = (),
        access_ttl: float = 3600.0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or "GOCSPX-" + secrets.token_hex(12)
        self.redirect_uris: set[str] = set(redirect_uris)
        self.access_ttl = access_ttl
        self.code_ttl = 30.0
        self.lock = threading.RLock()
        self.users: dict[str, GUser] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}
        self.refresh: dict[str, dict[str, Any]] = {}
        self.files: dict[str, GFile] = {}
        self.uploads: dict[str, Upload] = {}
        self.faults: list[Fault] = []
        self.log: list[str] = []
        self.refresh_count = 0
        self.revoked: list[str] = []
        self.authorize_as: str | None = None
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = register_ca(self.ca)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.standin = self
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.add_user("Drive Tester", "tester@example.com")

    # -- addresses -----------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        """Django settings that point Strongroom at this stand-in."""
        return {
            "GDRIVE_API_URL": self.base,
            "GDRIVE_AUTH_URL": self.base + "/o/oauth2/auth",
            "GDRIVE_TOKEN_URL": self.base + "/token",
            "GDRIVE_REVOKE_URL": self.base + "/revoke",
            "PROVIDER_CA_BUNDLE": self.ca_path,
        }

    def env(self) -> dict[str, str]:
        return {"STRONGROOM_" + k: v for k, v in self.settings().items()}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- test helpers --------------------------------------------------------------------

    def add_user(self, name: str, email: str) -> GUser:
        user = GUser(secrets.token_hex(6), name, email)
        with self.lock:
            self.users[user.id] = user
            if self.authorize_as is None:
                self.authorize_as = user.id
        return user

    def _issue(self, user_id: str, grant: str, ttl: float | None = None) -> tuple[str, float]:
        access = "ya29." + secrets.token_urlsafe(32)
        lifetime = self.access_ttl if ttl is None else ttl
        self.access[access] = {
            "user": user_id,
            "expires": time.time() + lifetime,
            "grant": grant,
            "revoked": False,
        }
        return access, lifetime

    def credentials_for(self, user_id: str, *, ttl: float | None = None) -> dict[str, Any]:
        """Sealed-credentials shape for ``user_id``, as an authorisation would give."""
        grant = secrets.token_hex(8)
        refresh = "1//" + secrets.token_urlsafe(32)
        with self.lock:
            access, lifetime = self._issue(user_id, grant, ttl)
            self.refresh[refresh] = {"user": user_id, "grant": grant, "revoked": False}
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": time.time() + lifetime,
            "token_type": "bearer",
        }

    def revoke_grant(self, token: str) -> bool:
        with self.lock:
            entry = self.refresh.get(token) or self.access.get(token)
            if entry is None:
                return False
            grant = entry["grant"]
            for table in (self.access, self.refresh):
                for item in table.values():
                    if item["grant"] == grant:
                        item["revoked"] = True
            self.revoked.append(grant)
        return True

    def grant_active(self, user_id: str) -> bool:
        with self.lock:
            return any(
                r["user"] == user_id and not r["revoked"] for r in self.refresh.values()
            ) or any(
                a["user"] == user_id and not a["revoked"] and a["expires"] > time.time()
                for a in self.access.values()
            )

    def fail(self, kind: str, match: str = "", **kwargs: Any) -> Fault:
        fault = Fault(kind=kind, match=match, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()

    def folder(self, user_id: str, name: str = "Strongroom") -> GFile | None:
        with self.lock:
            for f in self.files.values():
                if f.owner == user_id and f.mime == FOLDER_MIME and f.name == name:
                    return f
        return None

    def files_of(self, user_id: str) -> list[GFile]:
        parent = self.folder(user_id)
        if parent is None:
            return []
        with self.lock:
            return [f for f in self.files.values() if f.parent == parent.id]

    def file(self, user_id: str, name: str) -> GFile | None:
        return next((f for f in self.files_of(user_id) if f.name == name), None)

    def read(self, user_id: str, name: str) -> bytes:
        item = self.file(user_id, name)
        if item is None:
            raise FileNotFoundError(name)
        return item.revisions[-1]

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
    standin: GDriveStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class _Reset(Exception):
    pass


_TERM = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _unq(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _match_query(q: str, f: GFile) -> bool:
    """The Drive query subset Strongroom sends: name =, mimeType =, 'X' in parents,
    trashed = false, joined by ``and``."""
    for clause in re.split(r"\s+and\s+", q.strip()):
        clause = clause.strip()
        if clause == "trashed = false":
            continue
        m = re.fullmatch(r"(name|mimeType)\s*=\s*" + _TERM.pattern, clause)
        if m:
            value = _unq(m.group(2))
            if (f.name if m.group(1) == "name" else f.mime) != value:
                return False
            continue
        m = re.fullmatch(_TERM.pattern + r"\s+in\s+parents", clause)
        if m:
            if f.parent != _unq(m.group(1)):
                return False
            continue
        raise ValueError(f"unsupported query clause: {clause}")
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _tamper = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def g(self) -> GDriveStandIn:
        return self.server.standin

    # -- plumbing ------------------------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw:
            self.wfile.write(raw)

    def _error(
        self, status: int, reason: str, message: str = "", headers: dict[str, str] | None = None
    ) -> None:
        body = {
            "error": {
                "code": status,
                "message": message or reason,
                "errors": [{"domain": "global", "reason": reason, "message": message or reason}],
            }
        }
        self._send(status, body, headers)

    def _oauth_error(self, status: int, error: str, description: str = "") -> None:
        self._send(status, {"error": error, "error_description": description or error})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self, read: int = 1024) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(read, length))
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise _Reset

    def _wrap(self) -> None:
        try:
            self._dispatch()
        except _Reset:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _wrap

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        line = f"{self.command} {parts.path}?{parts.query}"
        with self.g.lock:
            self.g.log.append(line)
        fault = self.g.take_fault(line)
        self._tamper = fault.kind if fault is not None else ""
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
                self._error(fault.status, fault.reason, "injected fault", headers)
                return
        try:
            self._route(parts.path, query)
        except _Reset:
            raise
        except Exception as exc:  # a stand-in bug shows as a 500 with its text
            self._error(500, "backendError", f"stand-in error: {exc!r}")

    # -- routes --------------------------------------------------------------------------

    def _route(self, path: str, query: dict[str, str]) -> None:
        m = self.command
        if path == "/o/oauth2/auth" and m == "GET":
            return self._authorize(query)
        if path == "/token" and m == "POST":
            return self._token()
        if path == "/revoke" and m == "POST":
            return self._revoke()
        user = self._auth()
        if user is None:
            return None
        seg = [s for s in path.split("/") if s]
        if seg == ["drive", "v3", "about"] and m == "GET":
            return self._send(200, {"user": {"displayName": user.name, "emailAddress": user.email}})
        if seg == ["drive", "v3", "files"]:
            if m == "GET":
                return self._list(user, query)
            if m == "POST":
                return self._create_metadata(user, query)
        if seg[:3] == ["drive", "v3", "files"] and len(seg) == 4:
            item = self._owned(user, seg[3])
            if item is None:
                self._body()
                return self._error(404, "notFound", f"File not found: {seg[3]}.")
            if m == "GET":
                return self._send(200, self._file_json(item, query))
            if m == "DELETE":
                with self.g.lock:
                    self.g.files.pop(item.id, None)
                return self._send(204)
        if seg[:4] == ["upload", "drive", "v3", "files"]:
            file_id = seg[4] if len(seg) == 5 else None
            if "upload_id" in query:
                return self._chunk(user, query)
            kind = query.get("uploadType")
            if (m == "POST" and file_id is None) or (m == "PATCH" and file_id is not None):
                if kind == "multipart":
                    return self._multipart(user, file_id, query)
                if kind == "resumable":
                    return self._start_resumable(user, file_id)
        self._body()
        return self._error(404, "notFound", f"no route {m} {path}")

    def _auth(self) -> GUser | None:
        header = self.headers.get("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.g.lock:
            entry = self.g.access.get(token)
            ok = entry is not None and not entry["revoked"] and entry["expires"] > time.time()
            user = self.g.users.get(entry["user"]) if ok and entry else None
        if user is None:
            self._body()
            self._error(401, "authError", "Invalid Credentials")
            return None
        return user

    def _owned(self, user: GUser, file_id: str) -> GFile | None:
        with self.g.lock:
            item = self.g.files.get(file_id)
        return item if item is not None and item.owner == user.id else None

    def _file_json(self, item: GFile, query: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "drive#file", "id": item.id, "name": item.name}
        fields = query.get("fields", "")
        if item.mime == FOLDER_MIME:
            return out | {"mimeType": FOLDER_MIME}
        data = item.revisions[-1]
        if self._tamper == "wrong_checksum":
            data = data + b"\x00"
        full = {
            "mimeType": item.mime,
            "size": str(len(item.revisions[-1])),
            "sha256Checksum": hashlib.sha256(data).hexdigest(),
            "md5Checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "modifiedTime": item.modified,
            "version": str(len(item.revisions)),
        }
        for key, value in full.items():
            if key in fields:
                out[key] = value
        return out

    def _list(self, user: GUser, query: dict[str, str]) -> None:
        q = query.get("q", "")
        with self.g.lock:
            mine = [f for f in self.g.files.values() if f.owner == user.id]
        try:
            found = [f for f in mine if _match_query(q, f)]
            if query.get("orderBy") == "createdTime":
                found.sort(key=lambda f: f.created)
        except ValueError as exc:
            return self._error(400, "invalid", str(exc))
        inner = re.search(r"files\(([^)]*)\)", query.get("fields", ""))
        sub = {"fields": inner.group(1) if inner else ""}
        self._send(200, {"files": [self._file_json(f, sub) for f in found]})

    def _new_file(self, user: GUser, meta: dict[str, Any], data: bytes | None) -> GFile | str:
        parents = meta.get("parents") or ["root"]
        parent = str(parents[0])
        if parent != "root" and self._owned(user, parent) is None:
            return f"File not found: {parent}."
        with self.g.lock:  # the creation order and the listing agree
            item = GFile(
                secrets.token_urlsafe(24),
                str(meta.get("name") or "Untitled"),
                str(meta.get("mimeType") or "application/octet-stream"),
                parent,
                user.id,
                [] if data is None else [data],
                _now(),
            )
            self.g.files[item.id] = item
        return item

    def _create_metadata(self, user: GUser, query: dict[str, str]) -> None:
        meta = json.loads(self._body() or b"{}")
        item = self._new_file(user, meta, None if meta.get("mimeType") == FOLDER_MIME else b"")
        if isinstance(item, str):
            return self._error(404, "notFound", item)
        self._send(200, self._file_json(item, query))

    def _store(
        self, user: GUser, file_id: str | None, meta: dict[str, Any], data: bytes
    ) -> GFile | str:
        if file_id is None:
            return self._new_file(user, meta, data)
        item = self._owned(user, file_id)
        if item is None:
            return f"File not found: {file_id}."
        with self.g.lock:
            item.revisions.append(data)
            item.modified = _now()
            if meta.get("name"):
                item.name = str(meta["name"])
            if meta.get("mimeType"):
                item.mime = str(meta["mimeType"])
        return item

    def _multipart(self, user: GUser, file_id: str | None, query: dict[str, str]) -> None:
        ctype = self.headers.get("Content-Type") or ""
        raw = self._body()
        if not ctype.startswith("multipart/related"):
            return self._error(400, "badContent", "multipart/related expected")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
        )
        parts = list(msg.iter_parts())  # type: ignore[attr-defined]
        if len(parts) != 2:
            return self._error(400, "badContent", "two parts expected")
        meta = json.loads(parts[0].get_payload(decode=True) or b"{}")
        data = parts[1].get_payload(decode=True) or b""
        item = self._store(user, file_id, meta, data)
        if isinstance(item, str):
            return self._error(404, "notFound", item)
        self._send(200, self._file_json(item, query))

    def _start_resumable(self, user: GUser, file_id: str | None) -> None:
        meta = json.loads(self._body() or b"{}")
        size = int(self.headers.get("X-Upload-Content-Length") or -1)
        if size < 0:
            return self._error(400, "badRequest", "X-Upload-Content-Length required")
        if file_id is not None and self._owned(user, file_id) is None:
            return self._error(404, "notFound", f"File not found: {file_id}.")
        upload = Upload(secrets.token_urlsafe(16), user.id, file_id, meta, size)
        with self.g.lock:
            self.g.uploads[upload.id] = upload
        target = f"/upload/drive/v3/files{'/' + file_id if file_id else ''}"
        fields = parse_qs(urlsplit(self.path).query).get("fields", [""])[0]
        location = f"{self.g.base}{target}?" + urlencode(
            {"uploadType": "resumable", "upload_id": upload.id, "fields": fields}
        )
        self._send(200, None, {"Location": location})

    def _chunk(self, user: GUser, query: dict[str, str]) -> None:
        with self.g.lock:
            upload = self.g.uploads.get(query["upload_id"])
        if upload is None or upload.owner != user.id:
            self._body()
            return self._error(404, "notFound", "upload session not found")
        if self.command == "DELETE":
            with self.g.lock:
                self.g.uploads.pop(upload.id, None)
            return self._send(499)
        data = self._body()
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", self.headers.get("Content-Range") or "")
        if not match or int(match.group(3)) != upload.size:
            return self._error(400, "badRequest", "bad Content-Range")
        start, end = int(match.group(1)), int(match.group(2))
        last = end == upload.size - 1
        if (
            start != len(upload.received)
            or end - start + 1 != len(data)
            or (not last and len(data) % CHUNK_UNIT)
        ):
            return self._error(400, "badRequest", "chunk does not fit the session")
        upload.received.extend(data)
        if not last:
            return self._send(308, None, {"Range": f"bytes=0-{end}"})
        with self.g.lock:
            self.g.uploads.pop(upload.id, None)
        item = self._store(user, upload.file_id, upload.metadata, bytes(upload.received))
        if isinstance(item, str):
            return self._error(404, "notFound", item)
        self._send(200, self._file_json(item, query))

    # -- OAuth -----------------------------------------------------------------------------

    def _page(self, status: int, text: str) -> None:
        raw = f"<!doctype html><title>Google</title><p>{text}</p>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorize(self, query: dict[str, str]) -> None:
        g = self.g
        if query.get("client_id") != g.client_id:
            return self._page(401, "invalid_client: The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in g.redirect_uris:
            return self._page(400, "redirect_uri_mismatch")
        if query.get("response_type") != "code" or query.get("scope") != SCOPE:
            return self._page(400, "invalid_request: response_type code, scope drive.file")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return self._page(400, "invalid_request: PKCE S256 required by this client")
        code = "4/" + secrets.token_urlsafe(24)
        with g.lock:
            g.codes[code] = {
                "user": g.authorize_as,
                "redirect_uri": redirect_uri,
                "challenge": query["code_challenge"],
                "offline": query.get("access_type") == "offline",
                "expires": time.time() + g.code_ttl,
                "used": False,
            }
        params = {"code": code, "scope": SCOPE}
        if "state" in query:
            params["state"] = query["state"]
        self.send_response(302)
        self.send_header("Location", redirect_uri + "?" + urlencode(params))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _client_ok(self, form: dict[str, str]) -> bool:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = self.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            raw = base64.b64decode(header[6:]).decode()
            client_id, _, secret = raw.partition(":")
            from urllib.parse import unquote_plus

            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        return client_id == self.g.client_id and secret == self.g.client_secret

    def _token(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
        g = self.g
        if not self._client_ok(form):
            return self._oauth_error(401, "invalid_client", "Unauthorized")
        grant_type = form.get("grant_type")
        with g.lock:
            if grant_type == "authorization_code":
                entry = g.codes.get(form.get("code", ""))
                if entry is None or entry["used"] or entry["expires"] < time.time():
                    return self._oauth_error(400, "invalid_grant", "Malformed auth code.")
                entry["used"] = True
                if entry["redirect_uri"] != form.get("redirect_uri"):
                    return self._oauth_error(400, "redirect_uri_mismatch", "Bad Request")
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if challenge != entry["challenge"]:
                    return self._oauth_error(400, "invalid_grant", "Invalid code verifier.")
                grant = secrets.token_hex(8)
                access, ttl = g._issue(entry["user"], grant)
                body: dict[str, Any] = {
                    "access_token": access,
                    "expires_in": int(ttl),
                    "scope": SCOPE,
                    "token_type": "Bearer",
                }
                if entry["offline"]:
                    refresh = "1//" + secrets.token_urlsafe(32)
                    g.refresh[refresh] = {"user": entry["user"], "grant": grant, "revoked": False}
                    body["refresh_token"] = refresh
                return self._send(200, body)
            if grant_type == "refresh_token":
                entry = g.refresh.get(form.get("refresh_token", ""))
                if entry is None or entry["revoked"]:
                    return self._oauth_error(
                        400, "invalid_grant", "Token has been expired or revoked."
                    )
                access, ttl = g._issue(entry["user"], entry["grant"])
                g.refresh_count += 1
                return self._send(
                    200,
                    {
                        "access_token": access,
                        "expires_in": int(ttl),
                        "scope": SCOPE,
                        "token_type": "Bearer",
                    },
                )
        return self._oauth_error(400, "unsupported_grant_type", "Invalid grant_type")

    def _revoke(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
        if not self.g.revoke_grant(form.get("token", "")):
            return self._oauth_error(400, "invalid_token", "Token expired or revoked")
        self._send(200, {})


class GDriveFaults(Faults):
    """The conformance suite's faults (standins/faults.py) on the Drive stand-in."""

    UPLOAD = "/upload/drive/v3/files"

    def __init__(self, g: GDriveStandIn, provider_parts: Callable[[], list[int]]) -> None:
        self.g = g
        self.provider_parts = provider_parts

    def reset_mid_upload(self) -> None:
        # The multipart request, or the first chunk of a resumable session.
        self.g.fail("reset", "uploadType=multipart", times=1)
        self.g.fail("reset", "upload_id=", times=1)

    def unavailable(self, retry_after: float) -> None:
        self.g.fail("status", self.UPLOAD, status=429, retry_after=retry_after)

    def rate_limited(self, retry_after: float | None = None) -> None:
        self.g.fail(
            "status",
            self.UPLOAD,
            status=403,
            reason="userRateLimitExceeded",
            retry_after=retry_after,
        )

    def stall(self, seconds: float) -> None:
        self.g.fail("delay", self.UPLOAD, delay=seconds)

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        found: list[int] = []
        yield found
        found.extend(self.provider_parts())

    def corrupt_answer(self) -> bool:
        self.g.fail("wrong_checksum", self.UPLOAD)
        return True

    def clear(self) -> None:
        with self.g.lock:
            self.g.faults.clear()
