"""Dropbox (official ``dropbox`` SDK), app-folder access, connected by the "paste the code"
OAuth flow (PKCE, offline refresh token; no app secret).

- Admin config: ``app_key`` of the organisation's Dropbox app (App folder access, scopes
  ``files.content.write``, ``files.metadata.read``, ``account_info.read``).
- Credentials (sealed): ``access_token``, ``expires_at`` (epoch seconds), ``refresh_token``,
  ``account_id``. No user config: the file lands at ``/<name>`` in the app folder.
- Token life: the access token is refreshed ``REFRESH_MARGIN`` seconds before it expires
  and once after an ``expired_access_token`` 401 (then the call is retried once). Every new
  token set goes to ``on_credentials_changed`` before it is used; refreshes hold
  ``credentials_lock``. A refused refresh (``invalid_grant``: revoked or expired refresh
  token) or an ``invalid_access_token`` is a StorageAuthError: the sync framework marks the
  connection "needs re-authorisation" and notifies once; nothing is retried.
- The SDK's own retries are off (``max_retries_on_error=0``, ``max_retries_on_rate_limit=0``)
  and its own refresh is replaced by ours (``_Client.refresh_access_token``): the sync jobs
  decide when to retry (429 ``Retry-After`` and 5xx are StorageTransientError).
- Atomic replace: ``files/upload`` and ``upload_session/finish`` with ``WriteMode.overwrite``
  commit the new revision in one step; the previous file stays until then, and an abandoned
  upload session never becomes visible. Above ``chunk_threshold`` (default 150 MiB, Dropbox's
  single-request limit) the upload goes through an upload session in chunks of at most
  ``chunk_threshold`` bytes.
- Verification: the size and Dropbox's ``content_hash`` (SHA-256 of the SHA-256s of 4 MiB
  blocks) of what was sent against the metadata Dropbox returns.
- HTTP: our own requests session (``trust_env=False``; ``verify`` is
  ``settings.PROVIDER_CA_BUNDLE`` or the default CA store; the admin's proxy); requests go
  only to the SDK's API and content hosts, and redirects are never followed.
- Host names come from the SDK (``dropbox.session``), which reads ``DROPBOX_API_HOST``,
  ``DROPBOX_API_CONTENT_HOST`` and ``DROPBOX_WEB_HOST`` once at import (the tests point them at
  a local stand-in; production leaves them unset).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from strongroom.core.errors import ValidationFailed
from strongroom.storage import net
from strongroom.storage.base import (
    ObjectInfo,
    Provider,
    ProxyConfig,
    StorageAuthError,
    StorageError,
    StorageNotFound,
    StoragePermanentError,
    StoragePermissionError,
    StorageTransientError,
    TestResult,
)
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register

logger = logging.getLogger(__name__)

#: Dropbox's limit for one ``files/upload`` request.
SINGLE_REQUEST_LIMIT = 150 * 1024 * 1024
#: Refresh the access token when it expires within this many seconds.
REFRESH_MARGIN = 300.0
SCOPES = ["account_info.read", "files.content.write", "files.metadata.read"]
APP_KEY_RE = re.compile(r"^[A-Za-z0-9]{5,64}$")
CHECK_FOLDER = "/.strongroom-check"
BLOCK_SIZE = 4 * 1024 * 1024

REAUTH = "reconnect Dropbox (Storage → Dropbox → Authorize)"


def dropbox_content_hash(data: bytes) -> str:
    """Dropbox's content_hash: SHA-256 over the SHA-256 digests of 4 MiB blocks."""
    overall = hashlib.sha256()
    for i in range(0, len(data), BLOCK_SIZE):
        overall.update(hashlib.sha256(data[i : i + BLOCK_SIZE]).digest())
    return overall.hexdigest()


def _hosts() -> tuple[str, str, str]:
    from dropbox import session

    return session.API_HOST, session.API_CONTENT_HOST, session.WEB_HOST


class _ExpiredToken(Exception):
    """Raised from inside the SDK when it would refresh the token itself."""


class _Conflict(StoragePermanentError):
    """Something already exists at the path (create_folder of an existing folder)."""


class _RefusedRequest(Exception):
    """A request to a host other than Dropbox's, or a redirect."""


def _session(proxy: ProxyConfig | None) -> Any:
    """A requests session: no environment, our CA, the admin's proxy, Dropbox hosts only,
    no redirects."""
    import requests
    from django.conf import settings

    api, content, _web = _hosts()
    allowed = {api.lower(), content.lower()}

    class GuardedSession(requests.Session):
        def send(self, request: Any, **kwargs: Any) -> Any:
            parts = urlsplit(str(request.url))
            netloc = (parts.netloc or "").lower()
            if parts.scheme != "https" or netloc not in allowed:
                raise _RefusedRequest("refused a request to a host other than Dropbox's")
            kwargs["allow_redirects"] = False
            response = super().send(request, **kwargs)
            if response.is_redirect:
                response.close()
                raise _RefusedRequest("refused to follow a redirect from Dropbox")
            return response

    s = GuardedSession()
    s.trust_env = False
    s.verify = settings.PROVIDER_CA_BUNDLE or True
    if proxy is not None:
        s.proxies = {"https": proxy.url(), "http": proxy.url()}
    return s


def _retry_after(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _network_error(exc: BaseException) -> StorageError | None:
    """Classify requests' transport errors (never containing a token)."""
    import requests

    if isinstance(exc, _RefusedRequest):
        return StoragePermanentError(str(exc))
    if isinstance(exc, requests.exceptions.SSLError):
        if net.tls_connection_cut(exc):
            return StorageTransientError("the TLS connection to Dropbox was cut")
        return StoragePermanentError("Dropbox unreachable: TLS verification failed")
    if isinstance(exc, requests.exceptions.ProxyError):
        return StorageTransientError("Dropbox unreachable: the proxy refused the connection")
    if isinstance(exc, requests.exceptions.Timeout):
        return StorageTransientError("Dropbox unreachable: the request timed out")
    if isinstance(
        exc, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        return StorageTransientError("the connection to Dropbox was reset")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return StorageTransientError("the connection to Dropbox was reset")
    return None


def _classify(exc: BaseException, *, where: str = "") -> StorageError:
    """Map a dropbox SDK / requests exception to a typed StorageError."""
    from dropbox import exceptions as dbx

    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, dbx.RateLimitError):
        retry_after = _retry_after(exc.backoff)
        msg = "Dropbox is rate limiting (HTTP 429)"
        if retry_after is not None:
            msg += f"; retry after {retry_after:g} s"
        return StorageTransientError(msg, retry_after=retry_after)
    if isinstance(exc, dbx.InternalServerError):
        return StorageTransientError(f"Dropbox is unavailable (HTTP {exc.status_code})")
    if isinstance(exc, dbx.AuthError):
        err = exc.error
        if err is not None and err.is_missing_scope():
            return StoragePermissionError(
                "the Dropbox app lacks a permission (scope) Strongroom needs: the "
                "administrator must enable files.content.write, files.metadata.read and "
                "account_info.read, then " + REAUTH
            )
        if err is not None and err.is_user_suspended():
            return StorageAuthError("the Dropbox account is suspended")
        if err is not None and err.is_expired_access_token():
            return StorageAuthError("the Dropbox access token expired and could not be renewed")
        return StorageAuthError("Dropbox no longer accepts the access token: " + REAUTH)
    if isinstance(exc, dbx.BadInputError):
        return StoragePermanentError("Dropbox refused the request as malformed (HTTP 400)")
    if isinstance(exc, dbx.HttpError):
        status = int(exc.status_code or 0)
        if status == 407:
            return StoragePermanentError("the proxy refused the credentials (HTTP 407)")
        if status >= 500 or status == 429:
            return StorageTransientError(f"Dropbox is unavailable (HTTP {status})")
        if status == 403:
            return StoragePermissionError("Dropbox denied access (HTTP 403)")
        return StoragePermanentError(f"Dropbox refused the request (HTTP {status})")
    if isinstance(exc, dbx.ApiError):
        return _api_error(exc, where=where)
    network = _network_error(exc)
    if network is not None:
        return network
    return StoragePermanentError(f"Dropbox request failed ({type(exc).__name__})")


def _api_error(exc: Any, *, where: str) -> StorageError:
    """A route error (HTTP 409): the path does not exist, no space, an upload problem."""
    err = exc.error
    text = str(err)
    if "content_hash_mismatch" in text:
        # Dropbox hashed what arrived and it differs from what we sent: damaged in transit.
        return StorageTransientError(
            f"upload verification failed for {where}: the bytes Dropbox received differ from "
            "what was sent (content_hash mismatch)"
        )
    if (
        "lookup_failed" in text
        or "incorrect_offset" in text
        or "not_closed" in text
        or (type(err).__name__.startswith("UploadSession") and "path" not in text)
    ):
        # The upload session is gone, behind or ahead: the next attempt starts a new one.
        return StorageTransientError(f"the upload of {where} to Dropbox was interrupted")
    if "conflict" in text:
        return _Conflict(f"{where} already exists in the Dropbox app folder")
    if "not_found" in text:
        return StorageNotFound(f"no such file in the Dropbox app folder: {where}")
    if "insufficient_space" in text:
        return StoragePermanentError("the Dropbox account is out of space")
    if "no_write_permission" in text or "disallowed_name" in text:
        return StoragePermissionError(f"Dropbox does not allow writing {where}")
    if "too_many_write_operations" in text:
        return StorageTransientError("Dropbox is busy with other writes to this folder")
    tag = getattr(err, "_tag", None) or type(err).__name__
    return StoragePermanentError(f"Dropbox refused the request for {where} ({tag})")


def _oauth_http_error(response: Any) -> StorageError:
    """The token endpoint's answer to a refused code or refresh token."""
    status = int(getattr(response, "status_code", 0) or 0)
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = str(body.get("error") or "") if isinstance(body, dict) else ""
    if status == 429:
        return StorageTransientError(
            "Dropbox is rate limiting (HTTP 429)",
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    if status >= 500:
        return StorageTransientError(f"Dropbox is unavailable (HTTP {status})")
    if error == "invalid_client" or status == 401:
        return StorageAuthError(
            "Dropbox does not know the app key: ask your administrator to check it"
        )
    if error == "invalid_grant":
        return StorageAuthError("invalid_grant")
    return StorageAuthError(f"Dropbox refused the authorisation (HTTP {status})")


class DropboxProvider(Provider):
    name: ClassVar[str] = "dropbox"
    label: ClassVar[str] = "Dropbox"
    auth_kind: ClassVar[str] = "oauth"
    oauth_flow: ClassVar[str] = "paste"
    oauth_pkce: ClassVar[bool] = True
    default_chunk_threshold: ClassVar[int] = SINGLE_REQUEST_LIMIT
    #: The SDK client for the current access token (rebuilt after a refresh).
    _client_obj: Any = None

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        app_key = str(config.get("app_key") or "").strip()
        if not app_key:
            raise ValidationFailed("the Dropbox app key is required", field="app_key")
        if not APP_KEY_RE.match(app_key):
            raise ValidationFailed(
                "that is not a Dropbox app key (letters and digits, from the App Console)",
                field="app_key",
            )
        out: dict[str, Any] = {"app_key": app_key}
        threshold = config.get("chunk_threshold")
        if threshold not in (None, ""):
            try:
                value = int(threshold)
            except (TypeError, ValueError):
                raise ValidationFailed(
                    "the upload session threshold must be a number of bytes",
                    field="chunk_threshold",
                ) from None
            if not 1024 <= value <= SINGLE_REQUEST_LIMIT:
                raise ValidationFailed(
                    "the upload session threshold must be between 1 KiB and 150 MiB",
                    field="chunk_threshold",
                )
            out["chunk_threshold"] = value
        return out

    @classmethod
    def validate_config(
        cls, config: dict[str, Any], credentials: dict[str, Any], admin_config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if not credentials.get("access_token") or not credentials.get("refresh_token"):
            raise ValidationFailed(
                "connect Dropbox with Authorize (no tokens were given)", field="code"
            )
        return {}, dict(credentials)

    @classmethod
    def test_connection(
        cls, *, admin_config: dict[str, Any], proxy: ProxyConfig | None
    ) -> TestResult:
        from django.conf import settings

        api, _content, _web = _hosts()
        return net.probe(
            cls.name,
            f"https://{api}/2/check/user",
            proxy=proxy,
            ca_certs=settings.PROVIDER_CA_BUNDLE or None,
            # The API host is the SDK's (or the operator's DROPBOX_API_HOST), never an
            # admin's or user's input; an internal answer is still reported as stage only.
            allow_internal=True,
        )

    # -- OAuth ---------------------------------------------------------------------------

    @classmethod
    def _flow(cls, admin_config: dict[str, Any], timeout: float | None = None) -> Any:
        from dropbox import DropboxOAuth2FlowNoRedirect

        app_key = str(admin_config.get("app_key") or "")
        if not app_key:
            raise StorageAuthError("the administrator has not set the Dropbox app key")
        return DropboxOAuth2FlowNoRedirect(
            app_key,
            use_pkce=True,
            token_access_type="offline",
            scope=SCOPES,
            timeout=timeout or 30,
        )

    @classmethod
    def oauth_authorize_url(
        cls,
        *,
        admin_config: dict[str, Any],
        admin_secret: dict[str, Any],
        state: str,
        code_challenge: str | None,
        redirect_uri: str | None,
    ) -> str:
        flow = cls._flow(admin_config)
        # Our challenge (its verifier is sealed server-side by storage.oauth), not the SDK's.
        flow.code_verifier = None
        flow.code_challenge = code_challenge
        return str(flow.start())

    @classmethod
    def oauth_exchange_code(
        cls,
        *,
        admin_config: dict[str, Any],
        admin_secret: dict[str, Any],
        proxy: ProxyConfig | None,
        code: str,
        code_verifier: str | None,
        redirect_uri: str | None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        import requests

        if not code_verifier:
            raise StorageAuthError("this authorisation has no PKCE verifier: click Authorize")
        flow = cls._flow(admin_config, timeout)
        flow.requests_session = _session(proxy)
        flow.code_verifier = code_verifier
        try:
            result = flow.finish(code)
        except requests.HTTPError as exc:
            err = _oauth_http_error(exc.response)
            if err.message == "invalid_grant":
                raise StorageAuthError(
                    "that code was not accepted: it is wrong, expired, already used, or "
                    "from another authorisation. Click Authorize to get a new code"
                ) from None
            raise err from None
        except (StorageError, ValueError, KeyError) as exc:
            if isinstance(exc, StorageError):
                raise
            raise StoragePermanentError("Dropbox sent an unexpected answer") from None
        except Exception as exc:
            raise _classify(exc) from None
        if not result.refresh_token:
            raise StoragePermanentError("Dropbox issued no refresh token (offline access)")
        return {
            "access_token": result.access_token,
            "refresh_token": result.refresh_token,
            "expires_at": _expires_at(result.expires_at),
            "account_id": result.account_id,
        }

    # -- tokens --------------------------------------------------------------------------

    def _expiring(self, credentials: dict[str, Any]) -> bool:
        expires_at = credentials.get("expires_at")
        if not credentials.get("access_token"):
            return True
        if expires_at in (None, ""):
            return False
        return float(expires_at) - time.time() <= REFRESH_MARGIN

    def _refresh(self, *, stale: str) -> None:
        """Get a new access token with the refresh token (once per stale token)."""
        with self.credentials_lock() as current:
            # A lock that yields the stored credentials lets a second waiter use the token
            # the first one stored instead of refreshing again.
            if (
                isinstance(current, dict)
                and current.get("access_token") not in (None, stale)
                and not self._expiring(current)
            ):
                self.credentials = dict(current)
                return
            if self.credentials.get("access_token") != stale and not self._expiring(
                self.credentials
            ):
                return
            refresh_token = str(self.credentials.get("refresh_token") or "")
            app_key = str(self.admin_config.get("app_key") or "")
            if not refresh_token:
                raise StorageAuthError("no Dropbox refresh token: " + REAUTH)
            api, _content, _web = _hosts()
            session = _session(self.proxy)
            try:
                response = session.post(
                    f"https://{api}/oauth2/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": refresh_token,
                        "client_id": app_key,
                    },
                    timeout=self.timeout,
                )
            except Exception as exc:
                raise _classify(exc) from None
            finally:
                session.close()
            if response.status_code != 200:
                err = _oauth_http_error(response)
                if err.message == "invalid_grant":
                    raise StorageAuthError(
                        "Dropbox refused the refresh token (revoked or expired): " + REAUTH
                    )
                raise err
            try:
                body = response.json()
                new = {
                    **self.credentials,
                    "access_token": str(body["access_token"]),
                    "expires_at": _expires_at(body.get("expires_in")),
                }
            except (ValueError, KeyError, TypeError):
                raise StorageTransientError("Dropbox sent an unexpected token answer") from None
            if self.on_credentials_changed is not None:
                self.on_credentials_changed(new)  # stored before it is used
            self.credentials = new
            self._client_obj = None
            logger.info("dropbox: access token refreshed")

    def _client(self) -> Any:
        cached: Any = getattr(self, "_client_obj", None)
        if cached is not None:
            return cached
        import dropbox

        class Client(dropbox.Dropbox):  # type: ignore[misc]
            def refresh_access_token(self, host: Any = None, scope: Any = None) -> None:
                raise _ExpiredToken()

        self._client_obj = Client(
            oauth2_access_token=str(self.credentials.get("access_token") or ""),
            max_retries_on_error=0,
            max_retries_on_rate_limit=0,
            user_agent="Strongroom",
            session=_session(self.proxy),
            timeout=self.timeout,
        )
        return self._client_obj

    def _call(self, method: str, *args: Any, where: str = "", **kwargs: Any) -> Any:
        """One SDK call: refresh first when the token is about to expire; after an
        ``expired_access_token`` 401, refresh once and retry the call once."""
        from dropbox import exceptions as dbx

        if self._expiring(self.credentials):
            self._refresh(stale=str(self.credentials.get("access_token") or ""))
        for attempt in (1, 2):
            token = str(self.credentials.get("access_token") or "")
            try:
                return getattr(self._client(), method)(*args, **kwargs)
            except _ExpiredToken:
                expired = True
            except dbx.AuthError as exc:
                if exc.error is None or not exc.error.is_expired_access_token():
                    raise _classify(exc, where=where) from None
                expired = True
            except StorageError:
                raise
            except Exception as exc:  # classified at the edge, never re-raised raw
                raise _classify(exc, where=where) from None
            if expired and attempt == 1:
                self._refresh(stale=token)
                continue
        raise StorageAuthError("the Dropbox access token expired and could not be renewed")

    # -- operations ----------------------------------------------------------------------

    def path(self, name: str) -> str:
        return "/" + check_object_name(name)

    def location(self, name: str) -> str:
        return f"Dropbox app folder{self.path(name)}"

    def describe(self) -> str:
        return "Dropbox app folder"

    def check(self) -> str:
        """The connected account ("Name <email>"); proves write and metadata access to the
        app folder with a probe folder (created, read back, removed)."""
        from dropbox import exceptions as dbx
        from dropbox import files

        account = self._call("users_get_current_account")
        with contextlib.suppress(_Conflict):  # a probe folder left from an earlier check
            self._call("files_create_folder_v2", CHECK_FOLDER, where=CHECK_FOLDER)
        meta = self._call("files_get_metadata", CHECK_FOLDER, where=CHECK_FOLDER)
        if not isinstance(meta, files.FolderMetadata):
            raise StoragePermanentError("the Dropbox app folder check failed")
        try:
            self._call("files_delete_v2", CHECK_FOLDER, where=CHECK_FOLDER)
        except (StorageNotFound, StoragePermissionError, dbx.ApiError):
            logger.info("dropbox check: probe folder not deletable")
        name = str(getattr(account.name, "display_name", "") or "Dropbox user")
        email = str(account.email or "")
        return f"{name} <{email}>" if email else name

    def put(self, name: str, data: bytes) -> ObjectInfo:
        from dropbox import files

        path = self.path(name)
        mode = files.WriteMode.overwrite
        size = len(data)
        if size <= self.chunk_threshold:
            meta = self._call(
                "files_upload", data, path, where=path, mode=mode, mute=True, strict_conflict=False
            )
        else:
            chunk = self.chunk_threshold
            start = self._call("files_upload_session_start", data[:chunk], where=path)
            cursor = files.UploadSessionCursor(session_id=start.session_id, offset=chunk)
            while size - cursor.offset > chunk:
                self._call(
                    "files_upload_session_append_v2",
                    data[cursor.offset : cursor.offset + chunk],
                    cursor,
                    where=path,
                )
                cursor = files.UploadSessionCursor(
                    session_id=start.session_id, offset=cursor.offset + chunk
                )
            commit = files.CommitInfo(path=path, mode=mode, mute=True, strict_conflict=False)
            meta = self._call(
                "files_upload_session_finish", data[cursor.offset :], cursor, commit, where=path
            )
        info = self._info(name, meta)
        self.verify_landed(info, data, dropbox_content_hash(data))
        logger.info("dropbox: stored %d bytes at %s", size, info.location)
        return info

    def _info(self, name: str, meta: Any) -> ObjectInfo:
        from dropbox import files

        if not isinstance(meta, files.FileMetadata):
            raise StorageNotFound(f"no such file in the Dropbox app folder: {self.path(name)}")
        return ObjectInfo(
            name=name,
            size=int(meta.size),
            content_hash=meta.content_hash,
            hash_algorithm="dropbox",
            modified=meta.server_modified,
            location=self.location(name),
        )

    def stat(self, name: str) -> ObjectInfo:
        path = self.path(name)
        return self._info(name, self._call("files_get_metadata", path, where=path))

    def delete(self, name: str) -> None:
        path = self.path(name)
        try:
            self._call("files_delete_v2", path, where=path)
        except StorageNotFound:
            return

    def revoke(self) -> None:
        """Revoke the token at Dropbox (this disables the refresh token too)."""
        try:
            self._call("auth_token_revoke")
        except StorageError as exc:
            logger.warning("dropbox: token revoke failed: %s", exc.code)
            raise
        finally:
            self.credentials = {}
            self._client_obj = None


def _expires_at(value: Any) -> float | None:
    """Epoch seconds when a token with ``value`` (seconds to live, or a naive UTC datetime
    from the SDK) expires."""
    from datetime import UTC, datetime

    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).timestamp()
    return time.time() + float(value)


register(DropboxProvider)
