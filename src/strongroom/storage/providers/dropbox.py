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
- HTTP: the kit's guarded session (``storage.http``: ``trust_env=False``, certifi plus
  ``settings.PROVIDER_CA_BUNDLE``, the admin's proxy); requests go only to the SDK's API and
  content hosts, and redirects are never followed. Tokens: the kit's ``OAuthTokens``.
- Host names come from the SDK (``dropbox.session``), which reads ``DROPBOX_API_HOST``,
  ``DROPBOX_API_CONTENT_HOST`` and ``DROPBOX_WEB_HOST`` once at import (the tests point them at
  a local stand-in; production leaves them unset).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from typing import Any, ClassVar

from strongroom.core.errors import ValidationFailed
from strongroom.storage import base, http, net
from strongroom.storage.base import ConfigField, ObjectInfo, Provider
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register
from strongroom.storage.tokens import OAuthTokens, TokenExpired, expires_at

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


class _Conflict(base.StoragePermanentError):
    """Something already exists at the path (create_folder of an existing folder)."""


def _session(proxy: base.ProxyConfig | None, timeout: float = 30.0) -> Any:
    """The kit's guarded session: Dropbox's API and content hosts only, no redirects."""
    api, content, _web = _hosts()
    origins = http.Origins([f"https://{api}", f"https://{content}"], service="Dropbox")
    return http.guarded_session(origins, proxy=proxy, timeout=timeout)


def _classify(exc: BaseException, *, where: str = "") -> base.StorageError:
    """Map a dropbox SDK / requests exception to a typed base.StorageError."""
    from dropbox import exceptions as dbx

    if isinstance(exc, base.StorageError):
        return exc
    if isinstance(exc, dbx.RateLimitError):
        return http.unavailable(429, "Dropbox", headers={"Retry-After": exc.backoff})
    if isinstance(exc, dbx.InternalServerError):
        return base.StorageTransientError(f"Dropbox is unavailable (HTTP {exc.status_code})")
    if isinstance(exc, dbx.AuthError):
        err = exc.error
        if err is not None and err.is_missing_scope():
            return base.StoragePermissionError(
                "the Dropbox app lacks a permission (scope) Strongroom needs: the "
                "administrator must enable files.content.write, files.metadata.read and "
                "account_info.read, then " + REAUTH
            )
        if err is not None and err.is_user_suspended():
            return base.StorageAuthError("the Dropbox account is suspended")
        if err is not None and err.is_expired_access_token():
            return base.StorageAuthError(
                "the Dropbox access token expired and could not be renewed"
            )
        return base.StorageAuthError("Dropbox no longer accepts the access token: " + REAUTH)
    if isinstance(exc, dbx.BadInputError):
        return base.StoragePermanentError("Dropbox refused the request as malformed (HTTP 400)")
    if isinstance(exc, dbx.HttpError):
        status = int(exc.status_code or 0)
        known = http.status_error(status, "Dropbox")
        return known or base.StoragePermanentError(f"Dropbox refused the request (HTTP {status})")
    if isinstance(exc, dbx.ApiError):
        return _api_error(exc, where=where)
    return http.transport_error(exc, "Dropbox") or base.StoragePermanentError(
        f"Dropbox request failed ({type(exc).__name__})"
    )


def _api_error(exc: Any, *, where: str) -> base.StorageError:
    """A route error (HTTP 409): the path does not exist, no space, an upload problem."""
    err = exc.error
    text = str(err)
    if "content_hash_mismatch" in text:
        # Dropbox hashed what arrived and it differs from what we sent: damaged in transit.
        return base.StorageTransientError(
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
        return base.StorageTransientError(f"the upload of {where} to Dropbox was interrupted")
    if "conflict" in text:
        return _Conflict(f"{where} already exists in the Dropbox app folder")
    if "not_found" in text:
        return base.StorageNotFound(f"no such file in the Dropbox app folder: {where}")
    if "insufficient_space" in text:
        return base.StoragePermanentError("the Dropbox account is out of space")
    if "no_write_permission" in text or "disallowed_name" in text:
        return base.StoragePermissionError(f"Dropbox does not allow writing {where}")
    if "too_many_write_operations" in text:
        return base.StorageTransientError("Dropbox is busy with other writes to this folder")
    tag = getattr(err, "_tag", None) or type(err).__name__
    return base.StoragePermanentError(f"Dropbox refused the request for {where} ({tag})")


def _oauth_http_error(response: Any) -> base.StorageError:
    """The token endpoint's answer to a refused code or refresh token."""
    status = int(getattr(response, "status_code", 0) or 0)
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = str(body.get("error") or "") if isinstance(body, dict) else ""
    if status == 429 or status >= 500:
        return http.unavailable(status, "Dropbox", headers=response.headers)
    if error == "invalid_client" or status == 401:
        return base.StorageAuthError(
            "Dropbox does not know the app key: ask your administrator to check it"
        )
    if error == "invalid_grant":
        return base.StorageAuthError("invalid_grant")
    return base.StorageAuthError(f"Dropbox refused the authorisation (HTTP {status})")


class DropboxProvider(Provider):
    name: ClassVar[str] = "dropbox"
    label: ClassVar[str] = "Dropbox"
    order: ClassVar[int] = 30
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "app_key",
            "App key",
            level="admin",
            required=False,
            max_length=64,
            help="From the Dropbox App Console (Settings → App key). No app secret needed.",
        ),
    )
    auth_kind: ClassVar[str] = "oauth"
    oauth_flow: ClassVar[str] = "paste"
    oauth_pkce: ClassVar[bool] = True
    default_chunk_threshold: ClassVar[int] = SINGLE_REQUEST_LIMIT
    #: The SDK client for the current access token (rebuilt after a refresh).
    _client_obj: Any = None
    _client_token: str = ""
    _tokens: OAuthTokens | None = None

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
        return {
            "app_key": app_key,
            **cls.threshold_setting(
                config,
                what="the upload session threshold",
                minimum=1024,
                maximum=SINGLE_REQUEST_LIMIT,
                refusal="the upload session threshold must be between 1 KiB and 150 MiB",
            ),
        }

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
        cls, *, admin_config: dict[str, Any], proxy: base.ProxyConfig | None
    ) -> base.TestResult:
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
            raise base.StorageAuthError("the administrator has not set the Dropbox app key")
        return DropboxOAuth2FlowNoRedirect(
            app_key,
            use_pkce=True,
            token_access_type="offline",
            scope=SCOPES,
            timeout=timeout or 30,
        )

    @classmethod
    def oauth_authorize_url(
        cls, *, admin_config: dict[str, Any], code_challenge: str | None, **_: Any
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
        proxy: base.ProxyConfig | None,
        code: str,
        code_verifier: str | None,
        timeout: float | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        import requests

        if not code_verifier:
            raise base.StorageAuthError("this authorisation has no PKCE verifier: click Authorize")
        flow = cls._flow(admin_config, timeout)
        flow.requests_session = _session(proxy)
        flow.code_verifier = code_verifier
        try:
            result = flow.finish(code)
        except requests.HTTPError as exc:
            err = _oauth_http_error(exc.response)
            if err.message == "invalid_grant":
                raise base.StorageAuthError(
                    "that code was not accepted: it is wrong, expired, already used, or "
                    "from another authorisation. Click Authorize to get a new code"
                ) from None
            raise err from None
        except (base.StorageError, ValueError, KeyError) as exc:
            if isinstance(exc, base.StorageError):
                raise
            raise base.StoragePermanentError("Dropbox sent an unexpected answer") from None
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise _classify(exc) from None
        if not result.refresh_token:
            raise base.StoragePermanentError("Dropbox issued no refresh token (offline access)")
        return {
            "access_token": result.access_token,
            "refresh_token": result.refresh_token,
            "expires_at": expires_at(result.expires_at),
            "account_id": result.account_id,
        }

    # -- tokens (the kit's OAuthTokens) ---------------------------------------------------

    @property
    def tokens(self) -> OAuthTokens:
        if self._tokens is None:
            self._tokens = OAuthTokens(
                self, request=self._request_token, margin=REFRESH_MARGIN, reauth=REAUTH
            )
        return self._tokens

    def _request_token(self, refresh_token: str) -> dict[str, Any]:
        """Dropbox's token endpoint: a new access token for the refresh token."""
        api, _content, _web = _hosts()
        session = _session(self.proxy, self.timeout)
        data = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": str(self.admin_config.get("app_key") or ""),
        }
        try:
            response = session.post(f"https://{api}/oauth2/token", data=data)
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise _classify(exc) from None
        finally:
            session.close()
        if response.status_code != 200:
            err = _oauth_http_error(response)
            if err.message == "invalid_grant":
                raise base.StorageAuthError(
                    "Dropbox refused the refresh token (revoked or expired): " + REAUTH
                )
            raise err
        try:
            body = response.json()
            return {
                "access_token": str(body["access_token"]),
                "expires_at": expires_at(body.get("expires_in")),
            }
        except (ValueError, KeyError, TypeError):
            raise base.StorageTransientError("Dropbox sent an unexpected token answer") from None

    def _client(self, token: str) -> Any:
        """The SDK client for ``token`` (rebuilt when the token changes)."""
        if self._client_obj is not None and self._client_token == token:
            return self._client_obj
        import dropbox

        class Client(dropbox.Dropbox):  # type: ignore[misc]
            def refresh_access_token(self, host: Any = None, scope: Any = None) -> None:
                raise TokenExpired()  # the SDK would refresh itself: ours does

        self._client_obj = Client(
            oauth2_access_token=token,
            max_retries_on_error=0,
            max_retries_on_rate_limit=0,
            user_agent="Strongroom",
            session=_session(self.proxy, self.timeout),
            timeout=self.timeout,
        )
        self._client_token = token
        return self._client_obj

    def _call(self, method: str, *args: Any, where: str = "", **kwargs: Any) -> Any:
        """One SDK call through the token helper (refresh before expiry; after an
        ``expired_access_token`` 401, one refresh and one repeat)."""
        from dropbox import exceptions as dbx

        def attempt(token: str) -> Any:
            try:
                return getattr(self._client(token), method)(*args, **kwargs)
            except (base.StorageError, TokenExpired):
                raise
            except dbx.AuthError as exc:
                if exc.error is not None and exc.error.is_expired_access_token():
                    raise TokenExpired() from None
                raise _classify(exc, where=where) from None
            except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
                raise _classify(exc, where=where) from None

        return self.tokens.call(attempt)

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
            raise base.StoragePermanentError("the Dropbox app folder check failed")
        try:
            self._call("files_delete_v2", CHECK_FOLDER, where=CHECK_FOLDER)
        except (base.StorageNotFound, base.StoragePermissionError, dbx.ApiError):
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
            raise base.StorageNotFound(f"no such file in the Dropbox app folder: {self.path(name)}")
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
        except base.StorageNotFound:
            return

    def revoke(self) -> None:
        """Revoke the token at Dropbox (this disables the refresh token too)."""
        try:
            self.tokens.revoke(lambda _credentials: self._call("auth_token_revoke"))
        except base.StorageError as exc:
            logger.warning("dropbox: token revoke failed: %s", exc.code)
            raise
        finally:
            self._client_obj = None


register(DropboxProvider)
