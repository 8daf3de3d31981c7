"""WebDAV (RFC 4918): Nextcloud, ownCloud, and any other WebDAV server (plain HTTP verbs,
no SDK; ``requests`` through the guarded, pinned session).

- Admin: enables the provider and may restrict server URLs with an allow-list (exact
  origins or ``https://*.example.com`` wildcards, the same rules as S3's endpoints). An
  empty list allows any *public* HTTPS server. A server URL that is, or resolves to, a
  loopback, link-local, private or otherwise internal address is refused unless its exact
  origin is on the list; plain ``http://`` only for an exact entry. Every connection
  resolves the name once, checks every address and connects to a checked one
  (``net.connect_checked``), and redirects are refused.
- User: server URL (the WebDAV root of their files, e.g.
  ``https://cloud.example.com/remote.php/dav/files/alice/``), user name, an app password
  (sealed; HTTP Basic), and a folder under that root that must exist (a missing folder is
  a clear error, never created behind the user's back).
- Atomic replace: the bytes go to a temporary name in the same folder
  (``.strongroom-tmp-<random>-<name>``), are verified there, then ``MOVE`` with
  ``Overwrite: T`` replaces the target in one step: readers see the old copy or the new
  one. A failed upload deletes its temporary file (best effort); a killed worker may leave
  one behind, never a broken target.
- Verification of the temporary file before the MOVE: its size, and its checksum when the
  server reports one (``oc:checksums``, which Nextcloud and ownCloud fill from the
  ``OC-Checksum`` header we send); otherwise it is read back (GET) and hashed. After the
  MOVE the target's size is checked once more.
- Large files: Nextcloud chunking v2 (``remote.php/dav/uploads/<user>/<id>``: MKCOL, one PUT
  per chunk, MOVE ``.file``) when the server URL is a Nextcloud files URL and the server
  accepts the upload collection; a plain PUT otherwise. A failed chunked upload is
  deleted.
- Errors are classified at the edge (``_classify``): 401 auth, 403 permission, 404/409
  missing folder, 423 locked / 429 / 5xx transient with Retry-After, 507 (quota) permanent.
  Messages never hold the password.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from strongroom.core.errors import ValidationFailed
from strongroom.storage import base, http, net
from strongroom.storage.base import ConfigField, ObjectInfo, Provider
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register

logger = logging.getLogger(__name__)

DAV_NS = "DAV:"
OC_NS = "http://owncloud.org/ns"
TMP_PREFIX = ".strongroom-tmp-"
CHECK_NAME = ".strongroom-check"
NEXTCLOUD_FILES_RE = re.compile(r"^(?P<base>.*)/remote\.php/dav/files/(?P<user>[^/]+)/")
MAX_FOLDER_CHARS = 400
USERNAME_MAX = 256

_PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<d:propfind xmlns:d="{DAV_NS}" xmlns:oc="{OC_NS}"><d:prop>'
    "<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/>"
    "<oc:checksums/></d:prop></d:propfind>"
).encode()

# Checksum algorithms the server may report in oc:checksums ("SHA1:abc MD5:def").
_HASHES = {"SHA1": "sha1", "MD5": "md5", "SHA256": "sha256", "SHA512": "sha512"}


# ---------------------------------------------------------------------------------------
# Server URL rules (SSRF)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerUrl:
    """A checked server URL: ``origin`` (scheme://host[:port]) and ``path`` (ends in /)."""

    origin: str
    path: str
    allow_internal: bool

    @property
    def url(self) -> str:
        return self.origin + self.path


def parse_server_url(url: str) -> tuple[net.Endpoint, str]:
    """(origin, path ending in "/") of a WebDAV root URL; ValidationFailed (field
    "server_url") for anything else (user info, query, fragment, bad host...)."""
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ValidationFailed(f"{raw!r} is not a valid server URL", field="server_url") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationFailed(
            f"{raw!r} is not a valid server URL (use https://host/path/)", field="server_url"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationFailed(
            "the server URL may not contain a user name, password, query or fragment "
            "(give the user name and app password in their own fields)",
            field="server_url",
        )
    try:
        origin = net.parse_endpoint(f"{parts.scheme}://{parts.netloc}", field="server_url")
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, field="server_url") from None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if any(s in {".", ".."} or "\x00" in s for s in segments):
        raise ValidationFailed("the server URL path may not contain . or ..", field="server_url")
    path = "/" + "".join(quote(s, safe="@:+,;=!$&'()*~") + "/" for s in segments)
    return origin, path


def server_policy(url: str, allow_list: list[str]) -> ServerUrl:
    """The checked server URL under the admin's allow-list (see the module docstring)."""
    origin, path = parse_server_url(url)
    allowed = net.normalize_allow_list(allow_list or [])
    exact = origin.url in allowed
    if allowed:
        try:
            normalised, exact = net.endpoint_policy(origin.url, allowed)
        except ValidationFailed as exc:
            message = exc.message.replace("the endpoint", "the server")
            raise ValidationFailed(message, field="server_url") from None
    else:
        normalised = origin.url
        addresses = net.resolve(origin.host, origin.port)
        if any(net.is_internal_address(a) for a in addresses):
            raise ValidationFailed(
                f"the server {origin.url} is, or resolves to, an internal address; the "
                "administrator must allow-list this exact server URL",
                field="server_url",
            )
    if origin.scheme != "https" and not exact:
        raise ValidationFailed(
            "the server URL must use https:// (plain http:// only for a server the "
            "administrator allow-listed exactly)",
            field="server_url",
        )
    return ServerUrl(origin=normalised, path=path, allow_internal=exact)


def check_folder(folder: str) -> str:
    """A folder path under the server URL: segments without '.', '..', control characters
    or backslashes; no leading or trailing slash. Empty means the root itself."""
    text = (folder or "").strip().strip("/")
    if len(text) > MAX_FOLDER_CHARS:
        raise ValidationFailed("the folder path is too long", field="folder")
    segments = [s for s in text.split("/") if s] if text else []
    for segment in segments:
        if segment in {".", ".."} or segment.strip() != segment or "\\" in segment:
            raise ValidationFailed(f"the folder segment {segment!r} is not valid", field="folder")
        if any(ord(c) < 32 or ord(c) == 127 for c in segment):
            raise ValidationFailed("the folder may not contain control characters", field="folder")
    return "/".join(segments)


# ---------------------------------------------------------------------------------------
# HTTP session and error classification
# ---------------------------------------------------------------------------------------


SERVICE = "the WebDAV server"


def _session(server: ServerUrl, proxy: base.ProxyConfig | None, timeout: float) -> Any:
    """The kit's guarded session (this server's origin only, no redirects, the admin's
    proxy, the CA rule) whose connections resolve once, check every address and connect to
    a checked one (internal addresses only for an exact allow-list entry)."""
    from requests.adapters import HTTPAdapter

    allow_internal = server.allow_internal

    class PinnedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = net.pinned_pool_classes(
                dict(self.poolmanager.pool_classes_by_scheme), allow_internal=allow_internal
            )

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            fresh = proxy not in self.proxy_manager  # requests caches one per proxy URL
            manager = super().proxy_manager_for(proxy, **kwargs)
            if fresh:
                manager.pool_classes_by_scheme = net.pinned_pool_classes(
                    dict(manager.pool_classes_by_scheme), allow_internal=allow_internal
                )
            return manager

    session = http.guarded_session(
        http.Origins([server.origin], service=SERVICE), proxy=proxy, timeout=timeout
    )
    for scheme in ("http://", "https://"):
        session.mount(scheme, PinnedAdapter(max_retries=0))
    return session


def _classify(response: Any, *, what: str, missing: str) -> base.StorageError:
    """An unexpected HTTP answer as a typed error. ``what`` names the resource for the
    message; ``missing`` is the message for 404/409 (a missing folder or object)."""
    status = int(response.status_code)
    if status == 401:
        return base.StorageAuthError(
            "the WebDAV server refused the user name or app password (HTTP 401): check them, "
            "or create a new app password"
        )
    if status in {404, 409}:
        return base.StorageNotFound(missing)
    if status == 507:
        return base.StoragePermanentError(
            "the WebDAV server has no space left for this account (HTTP 507 Insufficient "
            "Storage): free some space or ask for a larger quota"
        )
    if status == 423:
        wait = http.retry_after(response.headers)
        message = f"the WebDAV server says {what} is locked (HTTP 423)"
        if wait is not None:
            message += f"; retry after {wait:g} s"
        return base.StorageTransientError(message, retry_after=wait)
    shared = http.status_error(status, SERVICE, headers=response.headers)
    if shared is not None:
        return shared
    return base.StoragePermanentError(f"the WebDAV server refused the request (HTTP {status})")


@dataclass(frozen=True)
class Props:
    is_collection: bool
    size: int | None
    modified: datetime | None
    etag: str | None
    checksums: dict[str, str]  # hashlib name -> lower-case hex


def parse_multistatus(body: bytes) -> list[tuple[str, Props]]:
    """(last path segment of the href, properties) of every response of a 207
    Multi-Status PROPFIND answer, in the server's order."""
    from defusedxml import ElementTree

    try:
        root = ElementTree.fromstring(body)
    except Exception as exc:  # defusedxml raises ParseError or its own refusals
        raise base.StoragePermanentError(
            "the WebDAV server sent a PROPFIND answer that is not valid XML"
        ) from exc
    out = []
    for response in root.findall(f"{{{DAV_NS}}}response"):
        href = unquote(urlsplit((response.findtext(f"{{{DAV_NS}}}href") or "").strip()).path)
        out.append((href.rstrip("/").rsplit("/", 1)[-1], _props(response)))
    return out


def parse_propfind(body: bytes) -> Props:
    """The properties of the first response of a 207 Multi-Status PROPFIND answer."""
    responses = parse_multistatus(body)
    if not responses:
        raise base.StoragePermanentError("the WebDAV server sent an empty PROPFIND answer")
    return responses[0][1]


def _props(response: Any) -> Props:
    found: dict[str, Any] = {}
    for propstat in response.findall(f"{{{DAV_NS}}}propstat"):
        status = propstat.findtext(f"{{{DAV_NS}}}status") or ""
        if " 200 " not in f"{status} ":
            continue
        prop = propstat.find(f"{{{DAV_NS}}}prop")
        for child in list(prop) if prop is not None else []:
            found[child.tag] = child
    rtype = found.get(f"{{{DAV_NS}}}resourcetype")
    is_collection = rtype is not None and rtype.find(f"{{{DAV_NS}}}collection") is not None
    length = found.get(f"{{{DAV_NS}}}getcontentlength")
    size = int(length.text.strip()) if length is not None and (length.text or "").strip() else None
    modified = None
    lm = found.get(f"{{{DAV_NS}}}getlastmodified")
    if lm is not None and lm.text:
        try:
            modified = parsedate_to_datetime(lm.text.strip())
        except (TypeError, ValueError):
            modified = None
    etag_el = found.get(f"{{{DAV_NS}}}getetag")
    etag = (etag_el.text or "").strip().strip('"') or None if etag_el is not None else None
    checksums: dict[str, str] = {}
    sums = found.get(f"{{{OC_NS}}}checksums")
    if sums is not None:
        text = " ".join(t.strip() for t in sums.itertext() if t.strip())
        for item in text.split():
            algorithm, _, value = item.partition(":")
            name = _HASHES.get(algorithm.upper())
            if name and re.fullmatch(r"[0-9a-fA-F]+", value):
                checksums[name] = value.lower()
    return Props(is_collection, size, modified, etag, checksums)


# ---------------------------------------------------------------------------------------
# The provider
# ---------------------------------------------------------------------------------------


class WebDAVProvider(Provider):
    name: ClassVar[str] = "webdav"
    label: ClassVar[str] = "WebDAV (Nextcloud, ownCloud)"
    order: ClassVar[int] = 50
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "server_url",
            "Server URL",
            max_length=500,
            help="The WebDAV address of your files, e.g. "
            "https://cloud.example.com/remote.php/dav/files/alice/",
        ),
        ConfigField("username", "User name", max_length=USERNAME_MAX),
        ConfigField(
            "password",
            "App password",
            secret=True,
            kind="password",
            help="Nextcloud: Settings → Security → Devices & sessions → Create new app "
            "password. Stored encrypted, never shown again.",
        ),
        ConfigField(
            "folder",
            "Folder",
            required=False,
            max_length=MAX_FOLDER_CHARS,
            initial="Strongroom",
            help="An existing folder under the server URL; empty: the top level.",
        ),
        ConfigField(
            "servers",
            "Allowed WebDAV servers",
            level="admin",
            kind="lines",
            required=False,
            help="One per line, e.g. https://cloud.example.com or https://*.example.com. "
            "Empty: any public HTTPS server. An internal server (loopback, private, "
            "link-local) only when its exact address is listed here.",
        ),
    )
    default_chunk_threshold: ClassVar[int] = 10 * 1024 * 1024
    allow_list_field: ClassVar[str] = "servers"
    threshold_name: ClassVar[str] = "the chunk size"

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_config(
        cls, config: dict[str, Any], credentials: dict[str, Any], admin_config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        url = str(config.get("server_url") or "").strip()
        username = str(config.get("username") or credentials.get("username") or "").strip()
        password = str(credentials.get("password") or "")
        if not url:
            raise ValidationFailed("the server URL is required", field="server_url")
        server = server_policy(url, admin_config.get("servers") or [])
        if not username:
            raise ValidationFailed("the user name is required", field="username")
        if len(username) > USERNAME_MAX or ":" in username or any(ord(c) < 32 for c in username):
            raise ValidationFailed(
                "the user name may not contain ':' or control characters", field="username"
            )
        if not password:
            raise ValidationFailed("the app password is required", field="password")
        if any(ord(c) < 32 for c in password):
            raise ValidationFailed(
                "the app password may not contain control characters", field="password"
            )
        folder = check_folder(str(config.get("folder") or ""))
        return (
            {"server_url": server.url, "username": username, "folder": folder},
            {"password": password},
        )

    @classmethod
    def test_connection(
        cls, *, admin_config: dict[str, Any], proxy: base.ProxyConfig | None
    ) -> base.TestResult:
        """Probe every exact allow-listed server (through the proxy). A WebDAV server
        answers an anonymous GET with 401, which means reachable."""
        servers = [s for s in admin_config.get("servers") or [] if "://*." not in s]
        if not servers:
            return base.TestResult(
                ok=True,
                provider=cls.name,
                stage="ok",
                message="no exact server URL is allow-listed, so there is nothing to test "
                "here; each user's server is tested when they connect",
            )
        result = base.TestResult(ok=True, provider=cls.name, stage="ok", message="")
        for server in servers:
            result = net.probe(cls.name, server.rstrip("/") + "/", proxy=proxy, allow_internal=True)
            if not result.ok:
                return result
        return result

    # -- locations -----------------------------------------------------------------------

    @property
    def server(self) -> ServerUrl:
        cached: ServerUrl | None = getattr(self, "_server", None)
        if cached is None:
            # Re-checked at use: the allow-list may have changed since the user connected.
            try:
                cached = server_policy(
                    str(self.config.get("server_url") or ""),
                    self.admin_config.get("servers") or [],
                )
            except ValidationFailed as exc:
                raise base.StoragePermanentError(exc.message) from None
            self._server = cached
        return cached

    @property
    def folder(self) -> str:
        return str(self.config.get("folder") or "")

    def _folder_path(self) -> str:
        path = self.server.path
        if self.folder:
            path += "".join(quote(s, safe="") + "/" for s in self.folder.split("/"))
        return path

    def url(self, name: str) -> str:
        return self.server.origin + self._folder_path() + quote(name, safe="")

    def folder_url(self) -> str:
        return self.server.origin + self._folder_path()

    def location(self, name: str) -> str:
        return f"{self.describe()}{name}"

    def describe(self) -> str:
        user = str(self.config.get("username") or "")
        server = str(self.config.get("server_url") or "")
        folder = f"{self.folder}/" if self.folder else ""
        return f"{user} at {server}{folder}"

    # -- HTTP ----------------------------------------------------------------------------

    def _http(self) -> Any:
        session = getattr(self, "_session_obj", None)
        if session is None:
            session = _session(self.server, self.proxy, self.timeout)
            session.auth = (
                str(self.config.get("username") or ""),
                str(self.credentials.get("password") or ""),
            )
            self._session_obj = session
        return session

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", (min(10.0, self.timeout), self.timeout))
        try:
            return self._http().request(method, url, **kwargs)
        except base.StorageError:
            raise
        except Exception as exc:  # classified at the edge, never re-raised raw
            error = http.transport_error(exc, SERVICE)
            if error is None:
                raise base.StoragePermanentError(
                    f"WebDAV request failed ({type(exc).__name__})"
                ) from exc
            raise error from None

    def _missing_folder(self) -> str:
        folder = self.folder or "(the server URL itself)"
        return (
            f"the folder {folder} does not exist on {self.server.url} for user "
            f"{self.config.get('username')}: create it, or change the folder"
        )

    def _propfind(self, url: str) -> Props | None:
        """The resource's properties, or None when it does not exist."""
        resp = self._request(
            "PROPFIND",
            url,
            data=_PROPFIND_BODY,
            headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 207:
            raise _classify(resp, what="the file", missing=self._missing_folder())
        return parse_propfind(resp.content)

    def _check_folder(self) -> None:
        props = self._propfind(self.folder_url())
        if props is None:
            raise base.StorageNotFound(self._missing_folder())
        if not props.is_collection:
            raise base.StoragePermanentError(
                f"{self.folder} on the WebDAV server is a file, not a folder"
            )

    def _delete(self, url: str) -> None:
        resp = self._request("DELETE", url)
        if resp.status_code in {200, 202, 204, 404}:
            return
        raise _classify(resp, what="the file", missing=self._missing_folder())

    # -- the four operations -------------------------------------------------------------

    def check(self) -> str:
        """PROPFIND the folder, then write and delete a tiny probe file: proves the
        address, the credentials, the folder and the permission to upload."""
        self._check_folder()
        probe = self.url(CHECK_NAME)
        resp = self._request("PUT", probe, data=b"")
        if resp.status_code not in {200, 201, 204}:
            raise _classify(resp, what="the folder", missing=self._missing_folder())
        self._delete(probe)
        return self.describe()

    def put(self, name: str, data: bytes) -> ObjectInfo:
        name = check_object_name(name)
        target = self.url(name)
        temp = self.url(f"{TMP_PREFIX}{secrets.token_hex(6)}-{name}")
        sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        try:
            if len(data) > self.chunk_threshold and self._chunked_upload(temp, data, sha1):
                pass
            else:
                resp = self._request(
                    "PUT",
                    temp,
                    data=data,
                    headers={
                        # Servers derive the type from the name (docs/providers/webdav.md);
                        # sent for those that keep what they are told.
                        "Content-Type": base.content_type_for(name).mime,
                        "OC-Checksum": f"SHA1:{sha1}",
                    },
                )
                if resp.status_code not in {200, 201, 204}:
                    raise _classify(resp, what="the folder", missing=self._missing_folder())
            algorithm, digest, uploaded = self._verify(temp, name, data)
            resp = self._request("MOVE", temp, headers={"Destination": target, "Overwrite": "T"})
            if resp.status_code == 404:
                raise base.StorageTransientError(
                    f"the temporary upload of {self.location(name)} vanished before it was "
                    "moved into place (another upload of the same copy?)"
                )
            if resp.status_code not in {201, 204}:
                raise _classify(resp, what=name, missing=self._missing_folder())
        except Exception as exc:
            if not isinstance(exc, net.AddressRefused):  # else nothing was sent
                self._discard(temp)
            raise
        props = self._landed(name, uploaded)
        if props is None or props.size != len(data):
            raise base.StorageTransientError(
                f"upload verification failed for {self.location(name)}: the file is not "
                "where it was moved, or its size differs"
            )
        logger.info("webdav: stored %d bytes (%s verified)", len(data), algorithm)
        return ObjectInfo(
            name=name,
            size=len(data),
            content_hash=digest,
            hash_algorithm=algorithm,
            modified=props.modified,
            location=self.location(name),
        )

    def _discard(self, temp: str) -> None:
        try:
            self._delete(temp)
        except base.StorageError as exc:
            logger.warning("webdav: could not delete a temporary file (%s)", exc.code)

    def _verify(self, url: str, name: str, data: bytes) -> tuple[str, str, datetime | None]:
        """Size, then the server's checksum or a read-back hash: (algorithm, hex digest,
        the upload's modification time by the server's clock)."""
        props = self._propfind(url)
        where = self.location(name)
        if props is None:
            raise base.StorageTransientError(
                f"upload verification failed for {where}: the uploaded file is missing"
            )
        self.verify_landed(ObjectInfo(name=name, size=props.size or 0, location=where), data, None)
        for algorithm, reported in props.checksums.items():
            expected = hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()
            if reported != expected:
                raise base.StorageTransientError(
                    f"upload verification failed for {where}: {algorithm} checksum differs"
                )
            return algorithm, reported, props.modified
        resp = self._request("GET", url)
        if resp.status_code != 200:
            raise _classify(resp, what=name, missing=f"upload verification failed for {where}")
        digest = hashlib.sha256(resp.content).hexdigest()
        if digest != hashlib.sha256(data).hexdigest():
            raise base.StorageTransientError(
                f"upload verification failed for {where}: the content read back differs"
            )
        return "sha256", digest, props.modified

    def _landed(self, name: str, uploaded: datetime | None) -> Props | None:
        """The target's properties after the MOVE, from one listing of the folder (PROPFIND,
        Depth 1), which also finds temporary uploads of ``name`` not newer than this one
        (by the server's clock, in whole seconds): a worker killed between its PUT and its
        MOVE leaves one, and the next successful upload of the same copy removes it (best
        effort; a concurrent upload of the same copy whose file goes fails as transient)."""
        resp = self._request(
            "PROPFIND",
            self.folder_url(),
            data=_PROPFIND_BODY,
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        if resp.status_code != 207:
            raise _classify(resp, what="the folder", missing=self._missing_folder())
        listing = parse_multistatus(resp.content)
        landed = next((p for entry, p in listing if entry == name and not p.is_collection), None)
        stale = [
            entry
            for entry, props in listing
            if entry.startswith(TMP_PREFIX)
            and entry.endswith(f"-{name}")
            and uploaded is not None
            and props.modified is not None
            and props.modified <= uploaded  # whole seconds: the same second counts as older
        ]
        for entry in stale:
            self._discard(self.url(entry))
        if stale:
            logger.info("webdav: removed %d stale temporary files", len(stale))
        return landed

    def _chunked_upload(self, temp: str, data: bytes, sha1: str) -> bool:
        """Nextcloud chunking v2 into ``temp``; False (nothing sent but a MKCOL) when the
        server has no upload collection for this URL."""
        match = NEXTCLOUD_FILES_RE.match(self.server.path)
        if match is None:
            return False
        upload = (
            f"{self.server.origin}{match['base']}/remote.php/dav/uploads/{match['user']}/"
            f"strongroom-{secrets.token_hex(8)}/"
        )
        headers = {"Destination": temp, "OC-Total-Length": str(len(data))}
        resp = self._request("MKCOL", upload, headers=headers)
        if resp.status_code in {404, 405, 501}:
            logger.info("webdav: no chunked upload at this server (HTTP %d)", resp.status_code)
            return False
        if resp.status_code != 201:
            raise _classify(resp, what="the upload", missing=self._missing_folder())
        try:
            size = self.chunk_threshold
            for number, offset in enumerate(range(0, len(data), size), start=1):
                resp = self._request(
                    "PUT",
                    f"{upload}{number:05d}",
                    data=data[offset : offset + size],
                    headers=headers,
                )
                if resp.status_code not in {200, 201, 204}:
                    raise _classify(resp, what="the upload", missing=self._missing_folder())
            resp = self._request(
                "MOVE",
                f"{upload}.file",
                headers={**headers, "Overwrite": "T", "OC-Checksum": f"SHA1:{sha1}"},
            )
            if resp.status_code not in {201, 204}:
                raise _classify(resp, what="the upload", missing=self._missing_folder())
        except Exception as exc:
            if not isinstance(exc, net.AddressRefused):  # else nothing was sent
                self._discard(upload)
            raise
        return True

    def stat(self, name: str) -> ObjectInfo:
        name = check_object_name(name)
        props = self._propfind(self.url(name))
        if props is None or props.is_collection:
            raise base.StorageNotFound(f"no such file: {self.location(name)}")
        algorithm, digest = next(iter(props.checksums.items()), (None, None))
        return ObjectInfo(
            name=name,
            size=props.size or 0,
            content_hash=digest,
            hash_algorithm=algorithm,
            modified=props.modified,
            location=self.location(name),
        )

    def delete(self, name: str) -> None:
        self._delete(self.url(check_object_name(name)))


register(WebDAVProvider)
