"""Google Drive (Drive API v3; OAuth with Google's own libraries, google-auth and
google-auth-oauthlib).

- Admin: the client ID and client secret of a Google Cloud "Web application" OAuth
  client, sealed together as the provider's admin secret (write-only). The user authorises
  with the authorization-code grant (PKCE S256, ``state``, ``access_type=offline`` and
  ``prompt=consent`` so Google always returns a refresh token) that returns to
  ``storage.oauth.oauth_redirect_uri("gdrive")``. Scope ``drive.file`` only: Strongroom
  sees the files it created and nothing else of the user's Drive.
- Credentials (sealed): access token, refresh token, expiry (epoch seconds). Refreshes go
  through ``google.oauth2.credentials.Credentials.refresh`` over the kit's guarded session,
  inside ``credentials_lock`` (kit ``OAuthTokens``: re-read under the lock, store before use).
- Files go into a folder ``Strongroom`` (created by the app, so visible under
  ``drive.file``). A later put of the same name updates the SAME file in place
  (``PATCH /upload/drive/v3/files/{id}``): one file ID, a new revision, so a shortcut or
  "available offline" mark on the phone keeps working. Drive makes new content current only
  when the upload completes (the multipart request, or the last chunk of a resumable
  session), so a failed upload leaves the previous revision: that is why replace is atomic.
  A 404 on the kept ID (the user deleted the file) creates it again.
- Above ``chunk_threshold`` (admin setting, default 8 MiB) the resumable protocol is used,
  in chunks of 256 KiB multiples (Drive's rule); a failed session is cancelled (DELETE).
- Verification: size and ``sha256Checksum`` from the answer (``fields=``), falling back to
  ``md5Checksum`` when Drive reports no SHA-256.
- Errors at the edge (``_classify_response``): 401 → one refresh and one repeat (kit), then
  reauth; 403 ``rateLimitExceeded``/``userRateLimitExceeded`` and 429/5xx → transient with
  Retry-After when present; 403 ``storageQuotaExceeded`` → permanent; 404 → not found.
  Messages never hold a token, secret or Google's raw text.
- Network: one guarded session per instance (only the Drive API, token and revoke origins;
  no redirects), certifi plus ``settings.PROVIDER_CA_BUNDLE``, the admin's proxy. The
  addresses are operator settings (``STRONGROOM_GDRIVE_*``), which the tests point at a
  local stand-in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import time
from typing import Any, ClassVar

from strongroom.storage import base, http, tokens
from strongroom.storage.base import ConfigField, ObjectInfo
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register
from strongroom.storage.tokens import OAuthTokens, TokenExpired

logger = logging.getLogger(__name__)

SERVICE = "Google Drive"
SCOPE = "https://www.googleapis.com/auth/drive.file"
FOLDER_NAME = "Strongroom"
FOLDER_MIME = "application/vnd.google-apps.folder"
#: Resumable uploads send chunks of a multiple of 256 KiB (Drive's rule).
CHUNK_UNIT = 256 * 1024
UPLOAD_CHUNK = CHUNK_UNIT
DEFAULT_THRESHOLD = 8 * 1024 * 1024
EXPIRY_MARGIN = 60.0
FILE_FIELDS = "id,name,size,sha256Checksum,md5Checksum,modifiedTime,version"
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{8,200}$")
CLIENT_SECRET_RE = re.compile(r"^[A-Za-z0-9_\-]{8,200}$")
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
REAUTH = "reconnect Google Drive on the Cloud storage page"


def _urls() -> dict[str, str]:
    from django.conf import settings

    return {
        "api": settings.GDRIVE_API_URL,
        "auth": settings.GDRIVE_AUTH_URL,
        "token": settings.GDRIVE_TOKEN_URL,
        "revoke": settings.GDRIVE_REVOKE_URL,
    }


def _app_credentials(admin_secret: dict[str, Any]) -> tuple[str, str]:
    return tokens.stored_app(admin_secret, app="the Google OAuth")


def _client_config(admin_secret: dict[str, Any], redirect_uri: str | None) -> dict[str, Any]:
    client_id, client_secret = _app_credentials(admin_secret)
    urls = _urls()
    return {
        "web": {
            "client_id": client_id,
            "client_secret": client_secret,
            "auth_uri": urls["auth"],
            "token_uri": urls["token"],
            "redirect_uris": [redirect_uri] if redirect_uri else [],
        }
    }


def _session(proxy: base.ProxyConfig | None, timeout: float) -> Any:
    urls = _urls()
    origins = http.Origins([urls["api"], urls["token"], urls["revoke"]], service=SERVICE)
    return http.guarded_session(origins, proxy=proxy, timeout=timeout, follow_redirects=False)


def _reason(response: Any) -> str:
    """Google's error reason (``errors[0].reason``) or OAuth ``error`` code, if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        for item in error.get("errors") or []:
            if isinstance(item, dict) and item.get("reason"):
                return str(item["reason"])
        return str(error.get("status") or "")
    return ""


def _classify_response(response: Any, where: str) -> base.StorageError:
    status = int(response.status_code)
    reason = _reason(response)
    if status == 401:
        return base.StorageAuthError(f"Google Drive no longer accepts this authorisation: {REAUTH}")
    if status == 403 and reason in RATE_REASONS:
        wait = http.retry_after(response.headers)
        message = f"Google Drive is rate limiting ({reason})"
        if wait is not None:
            message += f"; retry after {wait:g} s"
        return base.StorageTransientError(message, retry_after=wait)
    if status == 403 and reason == "storageQuotaExceeded":
        return base.StoragePermanentError("the Google Drive storage quota is exceeded")
    if status == 404:
        return base.StorageNotFound(f"not found in Google Drive: {where}")
    shared = http.status_error(status, SERVICE, headers=response.headers, code=reason)
    if shared is not None:
        return shared
    return base.StoragePermanentError(
        f"Google Drive refused the request (HTTP {status}{' ' + reason if reason else ''})"
    )


def _quote(value: str) -> str:
    """A string literal of the Drive query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class GoogleDriveProvider(tokens.OAuthProvider):
    name: ClassVar[str] = "gdrive"
    label: ClassVar[str] = "Google Drive"
    order: ClassVar[int] = 80
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "client_id",
            "OAuth client ID",
            level="admin",
            secret=True,
            required=False,
            max_length=200,
            help="Write-only. Google Cloud console → APIs & Services → Credentials → OAuth "
            "client ID (type Web application). Leave both fields empty to keep the stored ones.",
        ),
        tokens.client_secret_field(max_length=200),
        ConfigField(
            "chunk_threshold",
            "Resumable upload above (bytes)",
            level="admin",
            required=False,
            initial=str(DEFAULT_THRESHOLD),
            help="Files larger than this are sent with Drive's resumable upload.",
        ),
    )
    token_service: ClassVar[str] = "Google Drive"
    threshold_name: ClassVar[str] = "the resumable upload threshold"
    threshold_minimum: ClassVar[int] = CHUNK_UNIT
    threshold_refusal: ClassVar[str] = (
        "the resumable upload threshold must be at least 262144 bytes (256 KiB)"
    )
    oauth_pkce: ClassVar[bool] = True
    default_chunk_threshold: ClassVar[int] = DEFAULT_THRESHOLD

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._http: Any = None
        self._folder: str | None = None
        #: name → Drive file ID, kept for this instance (the ID never changes on update).
        self._ids: dict[str, str] = {}
        self.tokens = OAuthTokens(
            self, request=self._refresh_request, margin=EXPIRY_MARGIN, reauth=REAUTH
        )
        #: Chunk sizes of the last resumable upload (tests and logs).
        self.last_parts: list[int] = []

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        if str(config.get("chunk_threshold") or "").strip() == "":
            # A blank threshold (spaces too) is the default, not a refusal.
            config = {k: v for k, v in dict(config).items() if k != "chunk_threshold"}
        return super().validate_admin_config(config)

    @classmethod
    def validate_admin_secret(cls, secret: dict[str, Any]) -> dict[str, Any]:
        return tokens.app_credentials(
            secret,
            id_pattern=CLIENT_ID_RE,
            secret_pattern=CLIENT_SECRET_RE,
            id_required="the Google OAuth client ID is required",
            id_invalid="the client ID looks like 1234-abc.apps.googleusercontent.com (Google "
            "Cloud console → Credentials)",
            secret_required="the client secret is required (it is never shown again, so enter "
            "it with the client ID)",
            secret_invalid="the client secret contains characters Google never uses",
        )

    @classmethod
    def probe_urls(cls, admin_config: dict[str, Any]) -> tuple[str, ...]:
        urls = _urls()  # operator settings (STRONGROOM_GDRIVE_*)
        return (urls["api"] + "/drive/v3/about", urls["token"])

    # -- OAuth (google-auth-oauthlib) ----------------------------------------------------

    @classmethod
    def _flow(
        cls, admin_secret: dict[str, Any], redirect_uri: str | None, code_verifier: str | None
    ) -> Any:
        from google_auth_oauthlib.flow import Flow

        return Flow.from_client_config(
            _client_config(admin_secret, redirect_uri),
            scopes=[SCOPE],
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            autogenerate_code_verifier=False,
        )

    @classmethod
    def oauth_authorize_url(
        cls,
        *,
        admin_secret: dict[str, Any],
        state: str,
        redirect_uri: str | None,
        code_challenge: str | None = None,
        **_: Any,
    ) -> str:
        flow = cls._flow(admin_secret, redirect_uri, None)
        extra: dict[str, str] = {}
        if code_challenge:  # ours: the verifier is sealed server-side by storage.oauth
            extra = {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        url, _state = flow.authorization_url(
            state=state, access_type="offline", prompt="consent", **extra
        )
        return str(url)

    @classmethod
    def oauth_exchange_code(
        cls,
        *,
        admin_secret: dict[str, Any],
        proxy: base.ProxyConfig | None,
        code: str,
        code_verifier: str | None = None,
        redirect_uri: str | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        from oauthlib.oauth2.rfc6749.errors import OAuth2Error

        if not code_verifier:
            raise base.StorageAuthError("this authorisation has no PKCE verifier: authorise again")
        if not redirect_uri:  # storage.oauth passes the URI the authorisation started with
            raise base.StorageAuthError("this authorisation has no redirect URI: authorise again")
        flow = cls._flow(admin_secret, redirect_uri, code_verifier)
        # The library's own session, configured like the kit's: no environment proxies or CA,
        # the admin's proxy, certifi plus the configured bundle, no redirects.
        oauth_session = flow.oauth2session
        oauth_session.trust_env = False
        oauth_session.verify = http.ca_bundle()
        oauth_session.max_redirects = 0
        if proxy is not None:
            oauth_session.proxies = {"http": proxy.url(), "https": proxy.url()}
        try:
            token = flow.fetch_token(code=code, timeout=float(timeout or 30.0))
        except OAuth2Error as exc:
            if exc.error in {"invalid_grant", "invalid_request"}:
                raise base.StorageAuthError(
                    "Google refused the authorisation code (expired, already used or issued "
                    "for another request): authorise Google Drive again"
                ) from None
            raise base.StoragePermanentError(
                f"Google refused the app's credentials ({exc.error}): ask the administrator "
                "to check the client ID and secret"
            ) from None
        except base.StorageError:
            raise
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise http.edge_error(exc, SERVICE, "the Google token exchange failed") from None
        if not token.get("access_token") or not token.get("refresh_token"):
            raise base.StorageAuthError("Google returned no refresh token: authorise again")
        return {
            "access_token": token["access_token"],
            "refresh_token": token["refresh_token"],
            "expires_at": time.time() + float(token.get("expires_in") or 3600),
            "token_type": "bearer",
        }

    # -- tokens --------------------------------------------------------------------------

    def _session(self) -> Any:
        if self._http is None:
            self._http = _session(self.proxy, self.timeout)
        return self._http

    def _refresh_request(self, refresh_token: str) -> dict[str, Any]:
        """One refresh through google-auth (over the guarded session)."""
        from google.auth import exceptions
        from google.auth.transport.requests import Request
        from google.oauth2.credentials import Credentials

        client_id, client_secret = _app_credentials(self.admin_secret)
        creds = Credentials(
            token=None,
            refresh_token=refresh_token,
            token_uri=_urls()["token"],
            client_id=client_id,
            client_secret=client_secret,
        )
        try:
            creds.refresh(Request(session=self._session()))
        except exceptions.RefreshError as exc:
            details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            error = str(details.get("error") or "")
            if error == "invalid_client":
                raise base.StoragePermanentError(
                    "Google refused the app's client ID or secret: ask the administrator "
                    "to check them"
                ) from None
            if getattr(exc, "retryable", False):
                raise base.StorageTransientError("Google's token service is unavailable") from None
            raise base.StorageAuthError(
                f"Google refused the refresh token (expired or revoked): {REAUTH}"
            ) from None
        except exceptions.TransportError as exc:
            cause = exc.__cause__ or exc
            raise (
                http.transport_error(cause, SERVICE)
                or base.StorageTransientError("Google's token service is unreachable")
            ) from None
        expiry = creds.expiry
        from strongroom.storage.tokens import expires_at

        return {
            "access_token": str(creds.token),
            "refresh_token": str(creds.refresh_token or refresh_token),
            "expires_at": expires_at(expiry) if expiry is not None else time.time() + 3600,
            "token_type": "bearer",
        }

    def _api(
        self,
        method: str,
        path: str,
        *,
        where: str,
        ok: tuple[int, ...] = (200,),
        url: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """One Drive request with the access token; 401 → one refresh and one repeat."""
        target = url or _urls()["api"] + path
        session = self._session()
        extra = dict(kwargs.pop("headers", None) or {})

        def attempt(token: str) -> Any:
            headers = {**extra, "Authorization": "Bearer " + token}
            with http.at_edge(SERVICE, "Google Drive request failed"):
                response = session.request(method, target, headers=headers, **kwargs)
            if response.status_code == 401:
                raise TokenExpired
            if response.status_code not in ok:
                raise _classify_response(response, where)
            return response

        return self.tokens.call(attempt)

    # -- lookup --------------------------------------------------------------------------

    def _search(self, query: str, where: str) -> list[dict[str, Any]]:
        response = self._api(
            "GET",
            "/drive/v3/files",
            where=where,
            params={
                "q": query,
                "spaces": "drive",
                "fields": f"files({FILE_FIELDS})",
                "pageSize": "10",
                # Drive allows several files of one name; every job picks the oldest.
                "orderBy": "createdTime",
            },
        )
        files = response.json().get("files") or []
        return [f for f in files if isinstance(f, dict)]

    def _folder_query(self) -> str:
        return (
            f"name = {_quote(FOLDER_NAME)} and mimeType = {_quote(FOLDER_MIME)} "
            "and 'root' in parents and trashed = false"
        )

    def _folder_id(self, *, create: bool) -> str | None:
        if self._folder is not None:
            return self._folder
        found = self._search(self._folder_query(), FOLDER_NAME)
        if found:
            self._folder = str(found[0]["id"])
        elif create:
            response = self._api(
                "POST",
                "/drive/v3/files",
                where=FOLDER_NAME,
                params={"fields": "id"},
                json={"name": FOLDER_NAME, "mimeType": FOLDER_MIME, "parents": ["root"]},
            )
            mine = str(response.json()["id"])
            # Drive has no "name in use" refusal: jobs racing to create the folder each make
            # one. All of them then use the oldest; the others delete their own (empty) one.
            oldest = self._search(self._folder_query(), FOLDER_NAME)
            self._folder = str(oldest[0]["id"]) if oldest else mine
            if self._folder != mine:
                self._delete_quietly(mine)
        return self._folder

    def _delete_quietly(self, file_id: str) -> None:
        try:
            self._api("DELETE", f"/drive/v3/files/{file_id}", where="a duplicate", ok=(200, 204))
        except base.StorageError as exc:  # a duplicate left behind is untidy, not wrong
            logger.info("gdrive: duplicate not deleted (%s)", exc.code)

    def _file(self, name: str) -> dict[str, Any] | None:
        folder = self._folder_id(create=False)
        if folder is None:
            return None
        found = self._search(
            f"name = {_quote(name)} and {_quote(folder)} in parents and trashed = false",
            self.location(name),
        )
        if not found:
            return None
        entry = found[0]
        self._ids[name] = str(entry["id"])
        return entry

    def location(self, name: str) -> str:
        return f"Google Drive: /{FOLDER_NAME}/{name}"

    def describe(self) -> str:
        return f"Google Drive: /{FOLDER_NAME}"

    def _info(self, name: str, entry: dict[str, Any]) -> ObjectInfo:
        sha256 = entry.get("sha256Checksum")
        md5 = entry.get("md5Checksum")
        return ObjectInfo(
            name=name,
            size=int(entry.get("size") or 0),
            content_hash=str(sha256 or md5) if (sha256 or md5) else None,
            hash_algorithm="sha256" if sha256 else ("md5" if md5 else None),
            modified=entry.get("modifiedTime"),
            location=self.location(name),
        )

    # -- operations ----------------------------------------------------------------------

    def check(self) -> str:
        """Who the tokens belong to (about.user) and that the folder can be searched."""
        about = self._api(
            "GET",
            "/drive/v3/about",
            where="the account",
            params={"fields": "user(displayName,emailAddress)"},
        ).json()
        self._folder_id(create=False)
        user = about.get("user") or {}
        name = str(user.get("displayName") or "").strip()
        email = str(user.get("emailAddress") or "").strip()
        return f"{name} <{email}>" if name and email else (name or email or "Google Drive account")

    def put(self, name: str, data: bytes) -> ObjectInfo:
        name = check_object_name(name)
        folder = self._folder_id(create=True)
        assert folder is not None  # noqa: S101 - create=True always yields an ID
        file_id = self._ids.get(name)
        if file_id is None:
            entry = self._file(name)
            file_id = str(entry["id"]) if entry else None
        try:
            landed = self._upload(folder, file_id, name, data)
        except base.StorageNotFound:
            if file_id is None:
                raise
            # The kept file was deleted (by the user, on the phone): create it again, in a
            # new Strongroom folder when that went too.
            self._ids.pop(name, None)
            self._folder = None
            folder = self._folder_id(create=True)
            assert folder is not None  # noqa: S101 - create=True always yields an ID
            file_id = None
            landed = self._upload(folder, None, name, data)
        if file_id is None:
            landed = self._settle_new_file(folder, name, data, landed)
        self._ids[name] = str(landed["id"])
        info = self._info(name, landed)
        if info.hash_algorithm == "sha256":
            self.verify_landed(info, data, hashlib.sha256(data).hexdigest())
        elif info.hash_algorithm == "md5":
            self.verify_landed(info, data, hashlib.md5(data, usedforsecurity=False).hexdigest())
        else:
            raise base.StorageTransientError(
                f"upload verification failed for {info.location}: Google Drive reported no checksum"
            )
        logger.info("gdrive: stored %d bytes at %s", len(data), info.location)
        return info

    def _settle_new_file(
        self, folder: str, name: str, data: bytes, landed: dict[str, Any]
    ) -> dict[str, Any]:
        """After creating a file: when racing jobs created the same name too, every job
        uses the oldest one (its content becomes a revision of that file) and deletes its own
        duplicate, so the user keeps one file with one ID."""
        mine = str(landed["id"])
        entry = self._file(name)
        if entry is None or str(entry["id"]) == mine:
            return landed
        settled = self._upload(folder, str(entry["id"]), name, data)
        self._delete_quietly(mine)
        return dict(settled)

    def _upload(self, folder: str, file_id: str | None, name: str, data: bytes) -> Any:
        if len(data) > self.chunk_threshold:
            return self._upload_resumable(folder, file_id, name, data)
        return self._upload_multipart(folder, file_id, name, data)

    def _metadata(self, folder: str, file_id: str | None, name: str) -> dict[str, Any]:
        # Drive keeps the type it is given (docs/providers/gdrive.md): a web page opens
        # from a link, the KeePass file downloads under its own name.
        mime = base.content_type_for(name).bare
        if file_id is None:
            return {"name": name, "parents": [folder], "mimeType": mime}
        return {"name": name, "mimeType": mime}

    def _target(self, file_id: str | None) -> tuple[str, str]:
        if file_id is None:
            return "POST", "/upload/drive/v3/files"
        return "PATCH", f"/upload/drive/v3/files/{file_id}"

    def _upload_multipart(
        self, folder: str, file_id: str | None, name: str, data: bytes
    ) -> dict[str, Any]:
        boundary = "strongroom-" + secrets.token_hex(16)
        kind = base.content_type_for(name)
        meta = json.dumps(self._metadata(folder, file_id, name)).encode()
        body = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
                meta,
                f"\r\n--{boundary}\r\nContent-Type: {kind.mime}\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        method, path = self._target(file_id)
        response = self._api(
            method,
            path,
            where=self.location(name),
            params={"uploadType": "multipart", "fields": FILE_FIELDS},
            data=body,
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        )
        return dict(response.json())

    def _upload_resumable(
        self, folder: str, file_id: str | None, name: str, data: bytes
    ) -> dict[str, Any]:
        method, path = self._target(file_id)
        where = self.location(name)
        size = len(data)
        start = self._api(
            method,
            path,
            where=where,
            params={"uploadType": "resumable", "fields": FILE_FIELDS},
            json=self._metadata(folder, file_id, name),
            headers={
                "X-Upload-Content-Type": base.content_type_for(name).mime,
                "X-Upload-Content-Length": str(size),
            },
        )
        session_url = start.headers.get("Location") or ""
        if session_url not in http.Origins([_urls()["api"]], service=SERVICE):
            raise base.StoragePermanentError(
                "Google Drive answered with an unusable upload session"
            )
        self.last_parts = []
        done = False
        try:
            for offset in range(0, size, UPLOAD_CHUNK):
                chunk = data[offset : offset + UPLOAD_CHUNK]
                end = offset + len(chunk) - 1
                response = self._api(
                    "PUT",
                    "",
                    url=session_url,
                    where=where,
                    ok=(200, 201, 308),
                    data=chunk,
                    headers={"Content-Range": f"bytes {offset}-{end}/{size}"},
                )
                self.last_parts.append(len(chunk))
                if response.status_code in (200, 201):
                    if end != size - 1:
                        raise base.StorageTransientError(
                            f"upload verification failed for {where}: Drive finished the "
                            "upload before the last chunk"
                        )
                    done = True
                    return dict(response.json())
                received = str(response.headers.get("Range") or "")
                if received != f"bytes=0-{end}":
                    raise base.StorageTransientError(
                        f"upload verification failed for {where}: Drive received other "
                        "bytes than were sent"
                    )
            raise base.StorageTransientError(f"Google Drive did not finish the upload of {where}")
        finally:
            if not done:
                self._cancel(session_url)

    def _cancel(self, session_url: str) -> None:
        try:
            # Drive answers a cancelled session with 499 (Client Closed Request).
            self._api("DELETE", "", url=session_url, where="the upload session", ok=(204, 499))
        except base.StorageError as exc:  # best effort: Drive expires abandoned sessions (a week)
            logger.info("gdrive: upload session not cancelled (%s)", exc.code)

    def stat(self, name: str) -> ObjectInfo:
        name = check_object_name(name)
        entry = self._file(name)
        if entry is None:
            raise base.StorageNotFound(f"not found in Google Drive: {self.location(name)}")
        return self._info(name, entry)

    def delete(self, name: str) -> None:
        name = check_object_name(name)
        entry = self._file(name)
        if entry is None:
            return
        with contextlib.suppress(base.StorageNotFound):
            self._api(
                "DELETE",
                f"/drive/v3/files/{entry['id']}",
                where=self.location(name),
                ok=(200, 204),
            )
        self._ids.pop(name, None)

    def revoke(self) -> None:
        """Revoke the grant at Google (disconnect): revoking the refresh token ends it."""

        def send(credentials: dict[str, Any]) -> None:
            token = str(credentials.get("refresh_token") or credentials.get("access_token") or "")
            if not token:
                return
            try:
                response = self._session().post(
                    _urls()["revoke"],
                    data={"token": token},
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            except base.StorageError:
                raise
            except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
                raise http.edge_error(exc, SERVICE, "the revoke request failed") from None
            # 400 invalid_token: already revoked or expired, the grant is gone either way.
            if response.status_code not in (200, 400):
                raise _classify_response(response, "the revoke endpoint")
            logger.info("gdrive: grant revoked")

        self.tokens.revoke(send)


register(GoogleDriveProvider)
