"""A local HTTPS stand-in for the Microsoft identity platform and Microsoft Graph (tests
only), built on the Box stand-in's plumbing (``box_api``: threaded HTTPS server on
127.0.0.1 with a trustme certificate, fault hooks, connection resets).

Identity platform (``login_url``, MSAL's authority ``login_url/<tenant>``):
``/<tenant>/v2.0/.well-known/openid-configuration``, ``/<tenant>/oauth2/v2.0/authorize``
(checks client ID, registered redirect URI, PKCE S256 challenge; echoes ``state``) and
``/<tenant>/oauth2/v2.0/token`` (client secret; authorization codes single-use with the PKCE
verifier checked; refresh tokens ROTATE: each refresh returns a new one and the old one is
spent, reuse is ``invalid_grant``). ``refresh_count`` counts successful refreshes.

Graph (``graph_url`` = ``.../v1.0``): ``/me/drive``, ``/me/drive/special/approot``, items by
path in the app folder (GET, DELETE), simple upload (``PUT ...:/content``), upload sessions
(``createUploadSession`` → ``uploadUrl`` on the same origin, chunks must be 320 KiB
multiples except the last and follow ``nextExpectedRanges``; a file appears only when the
last byte arrives; ``expire_sessions()`` makes open sessions answer 404
``itemNotFound``). Items report ``file.hashes.quickXorHash`` (computed by the stand-in's own
implementation below, independent of the provider's).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

import trustme

from standins import register_ca
from standins.box_api import Fault, _Handler, _Server
from standins.faults import Faults

CHUNK_UNIT = 320 * 1024


def quickxor(data: bytes) -> str:
    """QuickXorHash, written straight from Microsoft's C# snippet (byte by byte)."""
    width, shift = 160, 11
    cells = [0, 0, 0]
    index, offset = 0, 0
    for i in range(min(len(data), width)):
        is_last = index == 2
        bits = 32 if is_last else 64
        xored = 0
        for j in range(i, len(data), width):
            xored ^= data[j]
        cells[index] ^= (xored << offset) & (2**64 - 1)
        if offset > bits - 8:
            cells[0 if is_last else index + 1] ^= xored >> (bits - offset)
        offset += shift
        while offset >= bits:
            index = 0 if is_last else index + 1
            offset -= bits
            is_last = index == 2
            bits = 32 if is_last else 64
    out = bytearray(cells[0].to_bytes(8, "little") + cells[1].to_bytes(8, "little"))
    out += (cells[2] & 0xFFFFFFFF).to_bytes(4, "little")
    for k, byte in enumerate(len(data).to_bytes(8, "little")):
        out[12 + k] ^= byte
    return base64.b64encode(bytes(out)).decode()


@dataclass
class GraphUser:
    id: str
    name: str
    login: str = ""
    files: dict[str, list[bytes]] = field(default_factory=dict)


@dataclass
class UploadSession:
    id: str
    owner: str
    name: str
    size: int = -1
    received: bytearray = field(default_factory=bytearray)
    expired: bool = False


class GraphStandIn:
    def __init__(self, *, client_id: str = "", access_ttl: float = 3600.0) -> None:
        self.client_id = client_id or "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        self.client_secret = "ms~secret." + secrets.token_urlsafe(18)
        self.redirect_uris: set[str] = set()
        self.access_ttl = access_ttl
        self.lock = threading.RLock()
        self.users: dict[str, GraphUser] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}
        self.refresh: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, UploadSession] = {}
        self.sent_types: dict[tuple[str, str], str] = {}
        self.faults: list[Fault] = []
        self.log: list[str] = []
        self.refresh_count = 0
        self.authorize_as: str | None = None
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.ca_path = register_ca(self.ca)
        self.server = _Server(("127.0.0.1", 0), _GraphHandler)
        self.server.standin = self  # type: ignore[assignment]
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.add_user("Graph Tester")

    @property
    def login_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/login"

    @property
    def graph_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1.0"

    def settings(self) -> dict[str, Any]:
        return {
            "MS_LOGIN_URL": self.login_url,
            "GRAPH_API_URL": self.graph_url,
            "PROVIDER_CA_BUNDLE": self.ca_path,
        }

    def env(self) -> dict[str, str]:
        return {
            "STRONGROOM_MS_LOGIN_URL": self.login_url,
            "STRONGROOM_GRAPH_API_URL": self.graph_url,
            "STRONGROOM_PROVIDER_CA_BUNDLE": self.ca_path,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- test helpers --------------------------------------------------------------------

    def add_user(self, name: str, login: str = "") -> GraphUser:
        uid = "u" + secrets.token_hex(6)
        login = login or name.lower().replace(" ", ".") + "@contoso.example"
        user = GraphUser(uid, name, login)
        with self.lock:
            self.users[user.id] = user
            if self.authorize_as is None:
                self.authorize_as = user.id
        return user

    def id_token(self, user_id: str, tenant: str) -> str:
        """An OpenID Connect ID token as Microsoft issues with the ``openid profile`` scopes
        (unsigned here: MSAL reads the claims of a token it got over TLS from the token
        endpoint, it does not verify a signature)."""
        user = self.users[user_id]

        def part(value: dict[str, Any]) -> str:
            raw = json.dumps(value).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        now = int(time.time())
        claims = {
            "iss": f"{self.login_url}/{tenant}/v2.0",
            "aud": self.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": "sub-" + user.id,
            "oid": user.id,
            "tid": "tenant-1",
            "name": user.name,
            "preferred_username": user.login,
        }
        return part({"alg": "RS256", "typ": "JWT"}) + "." + part(claims) + ".c2lnbmF0dXJl"

    def issue_tokens(self, user_id: str, *, grant: str = "") -> dict[str, Any]:
        grant = grant or secrets.token_hex(8)
        access = "ms-at-" + secrets.token_urlsafe(24)
        refresh = "ms-rt-" + secrets.token_urlsafe(24)
        with self.lock:
            self.access[access] = {
                "user": user_id,
                "expires": time.time() + self.access_ttl,
                "grant": grant,
                "revoked": False,
            }
            self.refresh[refresh] = {"user": user_id, "used": False, "grant": grant}
        return {
            "token_type": "Bearer",
            "scope": "Files.ReadWrite.AppFolder",
            "expires_in": int(self.access_ttl),
            "ext_expires_in": int(self.access_ttl),
            "access_token": access,
            "refresh_token": refresh,
        }

    def credentials_for(self, user_id: str, *, ttl: float | None = None) -> dict[str, Any]:
        t = self.issue_tokens(user_id)
        if ttl is not None:
            self.access[t["access_token"]]["expires"] = time.time() + ttl
        return {
            "access_token": t["access_token"],
            "refresh_token": t["refresh_token"],
            "expires_at": time.time() + (t["expires_in"] if ttl is None else ttl),
            "token_type": "bearer",
        }

    def revoke_grants(self, user_id: str) -> None:
        """As a user removing the app's consent: every token of the user stops working."""
        with self.lock:
            for a in self.access.values():
                if a["user"] == user_id:
                    a["revoked"] = True
            for r in self.refresh.values():
                if r["user"] == user_id:
                    r["used"] = True

    def expire_sessions(self) -> None:
        with self.lock:
            for s in self.sessions.values():
                s.expired = True

    def fail(self, kind: str, match: str = "", **kwargs: Any) -> Fault:
        fault = Fault(kind=kind, match=match, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()

    def take_fault(self, line: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match in line:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def versions(self, user_id: str, name: str) -> list[bytes]:
        with self.lock:
            return list(self.users[user_id].files.get(name, []))

    def read(self, user_id: str, name: str) -> bytes:
        found = self.versions(user_id, name)
        if not found:
            raise FileNotFoundError(name)
        return found[-1]

    def sent_type(self, user_id: str, name: str) -> str:
        """The Content-Type of the last simple upload of ``name`` (Graph itself derives
        ``file.mimeType`` from the name; this records what the client said)."""
        with self.lock:
            return self.sent_types.get((user_id, name), "")

    def names(self, user_id: str) -> list[str]:
        with self.lock:
            return sorted(self.users[user_id].files)


class _GraphHandler(_Handler):
    @property
    def g(self) -> GraphStandIn:
        return self.server.standin  # type: ignore[return-value]

    def _error(
        self,
        status: int,
        code: str,
        message: str = "",
        context: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code == "unavailable":
            code = "serviceNotAvailable" if status >= 500 else "activityLimitReached"
        self._send(status, {"error": {"code": code, "message": message or code}}, headers)

    def _route(self, path: str, query: dict[str, str]) -> None:
        seg = [unquote(s) for s in path.split("/") if s]
        if seg[:1] == ["login"] and len(seg) >= 3:
            tenant, rest = seg[1], seg[2:]
            if rest == ["v2.0", ".well-known", "openid-configuration"]:
                return self._oidc(tenant)
            if rest == ["oauth2", "v2.0", "authorize"] and self.command == "GET":
                return self._authorize(query)
            if rest == ["oauth2", "v2.0", "token"] and self.command == "POST":
                self._tenant = tenant
                return self._token()
        if seg[:2] == ["v1.0", "upload"] and len(seg) == 3:
            return self._upload_chunk(seg[2])
        if seg[:1] != ["v1.0"]:
            return self._error(404, "itemNotFound", f"no route {path}")
        user = self._auth()
        if user is None:
            return None
        return self._graph(user, "/" + "/".join(seg[1:]), path)

    # -- identity platform ---------------------------------------------------------------

    def _oidc(self, tenant: str) -> None:
        base = f"{self.g.login_url}/{tenant}"
        self._send(
            200,
            {
                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                "token_endpoint": base + "/oauth2/v2.0/token",
                "issuer": base + "/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "profile", "offline_access"],
            },
        )

    def _authorize(self, query: dict[str, str]) -> None:
        g = self.g
        if query.get("client_id") != g.client_id:
            return self._page(400, "AADSTS700016: application not found")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in g.redirect_uris:
            return self._page(400, "AADSTS50011: redirect URI mismatch")
        scopes = set(query.get("scope", "").split())
        if not {"Files.ReadWrite.AppFolder", "offline_access"} <= scopes:
            return self._page(400, "AADSTS65001: scope missing")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return self._page(400, "AADSTS9002325: PKCE required")
        code = secrets.token_urlsafe(24)
        with g.lock:
            g.codes[code] = {
                "user": g.authorize_as,
                "redirect_uri": redirect_uri,
                "challenge": query["code_challenge"],
                "expires": time.time() + 60,
                "used": False,
            }
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        self.send_response(302)
        self.send_header("Location", redirect_uri + "?" + urlencode(params))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _token(self) -> None:
        g = self.g
        form = self._form()
        if form.get("client_id") != g.client_id or form.get("client_secret") != g.client_secret:
            return self._oauth_error(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        grant = form.get("grant_type")
        with g.lock:
            if grant == "authorization_code":
                entry = g.codes.get(form.get("code", ""))
                if entry is None or entry["used"] or entry["expires"] < time.time():
                    return self._oauth_error(400, "invalid_grant", "AADSTS70008: code expired")
                entry["used"] = True
                if form.get("redirect_uri") != entry["redirect_uri"]:
                    return self._oauth_error(400, "invalid_grant", "AADSTS50011: redirect_uri")
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if challenge != entry["challenge"]:
                    return self._oauth_error(
                        400, "invalid_grant", "AADSTS501481: code verifier mismatch"
                    )
                tokens = g.issue_tokens(entry["user"])
                tokens["id_token"] = g.id_token(entry["user"], self._tenant)
            elif grant == "refresh_token":
                entry = g.refresh.get(form.get("refresh_token", ""))
                if entry is None or entry["used"]:
                    return self._oauth_error(
                        400, "invalid_grant", "AADSTS70000: refresh token revoked or used"
                    )
                entry["used"] = True  # rotation: the old refresh token is spent
                g.refresh_count += 1
                tokens = g.issue_tokens(entry["user"], grant=entry["grant"])
            else:
                return self._oauth_error(400, "unsupported_grant_type", "grant not supported")
        self._send(200, tokens)

    # -- Graph ---------------------------------------------------------------------------

    def _auth(self) -> GraphUser | None:  # type: ignore[override]
        header = self.headers.get("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.g.lock:
            entry = self.g.access.get(token)
            ok = entry is not None and not entry["revoked"] and entry["expires"] > time.time()
            user = self.g.users.get(entry["user"]) if ok and entry else None
        if user is None:
            self._body()
            self._send(
                401,
                {"error": {"code": "InvalidAuthenticationToken", "message": "token expired"}},
            )
        return user

    def _item(self, name: str, data: bytes) -> dict[str, Any]:
        digest = quickxor(data)
        if self._sha1_tamper == "wrong_sha1":
            digest = quickxor(data + b"x")
        body: dict[str, Any] = {
            "id": "item-" + hashlib.sha256(name.encode()).hexdigest()[:12],
            "name": name,
            "size": len(data),
            "lastModifiedDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "file": {"mimeType": "application/octet-stream", "hashes": {"quickXorHash": digest}},
        }
        if self._sha1_tamper == "no_sha1":
            body["file"]["hashes"] = {}
        return body

    def _graph(self, user: GraphUser, rest: str, path: str) -> None:
        g, m = self.g, self.command
        if rest == "/me/drive" and m == "GET":
            return self._send(
                200,
                {
                    "id": "drive-" + user.id,
                    "driveType": "business",
                    "owner": {"user": {"displayName": user.name, "id": user.id}},
                },
            )
        if rest == "/me/drive/special/approot" and m == "GET":
            return self._send(200, {"id": "approot", "name": "Strongroom", "folder": {}})
        prefix = "/me/drive/special/approot:/"
        if not rest.startswith(prefix):
            return self._error(404, "itemNotFound", f"no route {m} {path}")
        tail = rest[len(prefix) :]
        name, _, action = tail.partition(":")
        if action == "/content" and m == "PUT":
            data = self._body()
            with g.lock:
                user.files.setdefault(name, []).append(data)
                g.sent_types[(user.id, name)] = self.headers.get("Content-Type") or ""
            return self._send(201, self._item(name, data))
        if action == "/createUploadSession" and m == "POST":
            body = json.loads(self._body() or b"{}")
            behaviour = (body.get("item") or {}).get("@microsoft.graph.conflictBehavior")
            if behaviour != "replace" and name in user.files:
                return self._error(409, "nameAlreadyExists", "name in use")
            sid = secrets.token_urlsafe(16)
            with g.lock:
                g.sessions[sid] = UploadSession(sid, user.id, name)
            return self._send(
                200,
                {
                    "uploadUrl": f"{g.graph_url}/upload/{sid}",
                    "expirationDateTime": "2099-01-01T00:00:00Z",
                    "nextExpectedRanges": ["0-"],
                },
            )
        if action == "" and m == "GET":
            versions = user.files.get(name)
            if not versions:
                return self._error(404, "itemNotFound", "The resource could not be found.")
            return self._send(200, self._item(name, versions[-1]))
        if action == "" and m == "DELETE":
            with g.lock:
                gone = user.files.pop(name, None)
            if gone is None:
                return self._error(404, "itemNotFound", "The resource could not be found.")
            return self._send(204)
        return self._error(404, "itemNotFound", f"no route {m} {path}")

    def _upload_chunk(self, sid: str) -> None:
        g = self.g
        if self.headers.get("Authorization"):
            self._body()
            return self._error(401, "unauthenticated", "upload URLs take no Authorization")
        with g.lock:
            session = g.sessions.get(sid)
        if session is None or session.expired:
            self._body()
            return self._error(404, "itemNotFound", "The upload session was not found")
        if self.command == "DELETE":
            with g.lock:
                g.sessions.pop(sid, None)
            return self._send(204)
        data = self._body()
        rng = self.headers.get("Content-Range", "")
        try:
            span, total = rng.removeprefix("bytes ").split("/")
            start, end = (int(x) for x in span.split("-"))
            size = int(total)
        except ValueError:
            return self._error(400, "invalidRequest", "bad Content-Range")
        with g.lock:
            last = end + 1 == size
            if (
                start != len(session.received)
                or end - start + 1 != len(data)
                or (session.size not in (-1, size))
                or (not last and len(data) % CHUNK_UNIT)
            ):
                return self._error(
                    416 if start != len(session.received) else 400,
                    "invalidRange",
                    "fragment overlaps or is not a multiple of 320 KiB",
                )
            session.size = size
            session.received += data
            if not last:
                return self._send(
                    202,
                    {
                        "expirationDateTime": "2099-01-01T00:00:00Z",
                        "nextExpectedRanges": [f"{len(session.received)}-"],
                    },
                )
            g.sessions.pop(sid, None)
            content = bytes(session.received)
            g.users[session.owner].files.setdefault(session.name, []).append(content)
        self._send(201, self._item(session.name, content))


class GraphFaults(Faults):
    """The conformance suite's faults on the Graph stand-in."""

    UPLOADS = ("PUT /v1.0/me/drive/special/approot:/", "PUT /v1.0/upload/")

    def __init__(self, graph: GraphStandIn, provider_parts: Callable[[], list[int]]) -> None:
        self.graph = graph
        self.provider_parts = provider_parts

    def reset_mid_upload(self) -> None:
        for match in self.UPLOADS:
            self.graph.fail("reset", match, times=1)

    def unavailable(self, retry_after: float) -> None:
        self.graph.fail("status", "PUT /v1.0/", status=429, retry_after=retry_after)

    def stall(self, seconds: float) -> None:
        self.graph.fail("delay", "PUT /v1.0/", delay=seconds)

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        found: list[int] = []
        yield found
        found.extend(self.provider_parts())

    def corrupt_answer(self) -> bool:
        self.graph.fail("wrong_sha1", "PUT /v1.0/")
        return True

    def clear(self) -> None:
        with self.graph.lock:
            self.graph.faults.clear()
