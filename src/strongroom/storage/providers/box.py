"""Box (official SDK ``boxsdk`` 10.x, module ``box_sdk_gen``).

- Admin: the Client ID and Client Secret of a Box Custom App (User Authentication,
  OAuth 2.0), sealed together as the provider's admin secret. The user authorises with
  the authorization-code grant that returns to ``storage.oauth.oauth_redirect_uri("box")``.
- Credentials (sealed): access token, refresh token, expiry (epoch seconds).
- Files go into a folder named ``Strongroom`` in the user's root (found by name, created
  when missing; a 409 ``item_name_in_use`` names the existing one, in
  ``context_info.conflicts`` as an object or a list). A later put of the same name uploads
  a new *version* of that file (``files/{id}/content``), never a second file. Box makes a
  version current only once it is complete, so a failed upload leaves the previous one.
- At and above ``chunk_threshold`` bytes (default 20 MB, Box's minimum for upload
  sessions) the chunked upload API is used: each part with ``Digest: sha=<base64 SHA-1>``
  and ``Content-Range``, committed with the whole file's SHA-1; a failed session is
  aborted. Small uploads send ``Content-MD5: <SHA-1>`` (Box checks it). What landed is
  verified: size and the SHA-1 Box reports.
- Tokens: Box refresh tokens are single-use. A refresh happens only inside
  ``credentials_lock`` (a database row lock, shared by every process), re-reads the stored
  tokens there (another job may have refreshed already: its token is used), and stores the
  new pair through ``on_credentials_changed`` BEFORE it is used.
- Network: the kit's guarded session (``storage.http``) per provider instance: only the
  configured Box API, upload and OAuth origins (redirects included), certifi plus
  ``settings.PROVIDER_CA_BUNDLE``, the admin's proxy. The SDK's own retries are off
  (``NoRetries``): the sync jobs decide, except that a 401 is answered by one refresh
  (the kit's ``OAuthTokens``) and one repeat of the request.
- Errors are classified at the edge (``_classify``); messages never hold a token or the
  client secret (the SDK's error text, which includes request headers, is never shown).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from typing import Any, ClassVar
from urllib.parse import urlencode

from strongroom.storage import base, http, tokens
from strongroom.storage.base import ConfigField, ObjectInfo
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register
from strongroom.storage.tokens import OAuthTokens

logger = logging.getLogger(__name__)

FOLDER_NAME = "Strongroom"
ROOT_FOLDER_ID = "0"
#: Box accepts upload sessions only for files of 20 MB and more.
BOX_CHUNK_THRESHOLD = 20 * 1024 * 1024
#: Refresh this many seconds before the access token's stated expiry.
EXPIRY_MARGIN = 60.0
PAGE = 1000
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")
CLIENT_SECRET_RE = re.compile(r"^[A-Za-z0-9_\-]{8,256}$")
_FILE_FIELDS = ["id", "name", "size", "sha1", "modified_at", "type"]


def _urls() -> tuple[str, str, str]:
    from django.conf import settings

    return settings.BOX_API_URL, settings.BOX_UPLOAD_URL, settings.BOX_AUTHORIZE_URL


# ---------------------------------------------------------------------------------------
# Error classification
# ---------------------------------------------------------------------------------------


def _api_error_parts(exc: Any) -> tuple[int, str, dict[str, Any], dict[str, Any]]:
    info = getattr(exc, "response_info", None)
    if info is None:
        return 0, "", {}, {}
    body = info.body if isinstance(info.body, dict) else {}
    code = str(info.code or body.get("code") or body.get("error") or "")
    context = info.context_info if isinstance(info.context_info, dict) else {}
    return int(info.status_code or 0), code, dict(info.headers or {}), context


def _classify(exc: BaseException, *, where: str = "") -> base.StorageError:
    """Map a box_sdk_gen / requests exception to a typed base.StorageError (secret-free)."""
    from box_sdk_gen.box.errors import BoxAPIError, BoxSDKError

    if isinstance(exc, base.StorageError):
        return exc
    if isinstance(exc, BoxAPIError):
        status, code, headers, _context = _api_error_parts(exc)
        if status == 407:
            return base.StoragePermanentError("the proxy refused the credentials (HTTP 407)")
        if code == "invalid_client":
            return base.StoragePermanentError(
                "Box refused the app's client ID or secret: ask the administrator to check them"
            )
        if status == 401 or code in {"invalid_grant", "invalid_token", "unauthorized"}:
            return base.StorageAuthError(
                "Box no longer accepts this authorisation: reconnect Box on the Cloud storage page"
            )
        if status == 429 or status >= 500:
            return http.unavailable(status, "Box", headers=headers)
        if status == 403:
            return base.StoragePermissionError(
                "access denied: the Box app or account may not use the Strongroom folder"
                + (f" ({code})" if code else "")
            )
        if status == 404:
            return base.StorageNotFound(f"not found in Box: {where or 'the folder'}")
        if status == 412:
            return base.StorageTransientError(
                f"upload verification failed for {where or 'the file'}: Box rejected the "
                "content digest (precondition failed)"
            )
        return base.StoragePermanentError(f"Box refused the request (HTTP {status} {code})".strip())
    if isinstance(exc, BoxSDKError):
        inner = exc.error if isinstance(exc.error, BaseException) else None
        network = http.transport_error(inner, "Box") if inner is not None else None
        return network or base.StoragePermanentError("Box request failed (SDK error)")
    network = http.transport_error(exc, "Box")
    if network is not None:
        return network
    if isinstance(exc, AssertionError):
        return base.StorageTransientError(
            f"upload verification failed for {where or 'the file'}: Box reported parts that "
            "differ from what was sent"
        )
    return base.StoragePermanentError(f"Box request failed ({type(exc).__name__})")


def _conflict_id(exc: Any, kind: str) -> str | None:
    """The ID of the existing item a 409 ``item_name_in_use`` names: Box sends
    ``context_info.conflicts`` as one object or as a list of them."""
    status, code, _headers, context = _api_error_parts(exc)
    if status != 409 or code not in {"item_name_in_use", "conflict"}:
        return None
    conflicts = context.get("conflicts")
    items = conflicts if isinstance(conflicts, list) else [conflicts]
    for item in items:
        if isinstance(item, dict) and item.get("id") and item.get("type", kind) == kind:
            return str(item["id"])
    return None


# ---------------------------------------------------------------------------------------
# The SDK's plumbing: network session, retries, authentication
# ---------------------------------------------------------------------------------------


def _network_session(proxy: base.ProxyConfig | None, timeout: float) -> Any:
    from box_sdk_gen.networking.base_urls import BaseUrls
    from box_sdk_gen.networking.box_network_client import BoxNetworkClient
    from box_sdk_gen.networking.network import NetworkSession
    from box_sdk_gen.networking.retries import RetryStrategy
    from box_sdk_gen.networking.timeout_config import TimeoutConfig

    class NoRetries(RetryStrategy):
        """The SDK retries nothing (the sync jobs decide), except one refresh on 401."""

        def should_retry(
            self, fetch_options: Any, fetch_response: Any, attempt_number: int
        ) -> bool:
            if (
                fetch_response.status == 401
                and attempt_number == 1
                and fetch_options.auth is not None
            ):
                fetch_options.auth.refresh_token(network_session=fetch_options.network_session)
                return True
            return False

        def retry_after(
            self, fetch_options: Any, fetch_response: Any, attempt_number: int
        ) -> float:
            return 0.0

    api, upload, authorize = _urls()
    origins = http.Origins([api, upload, authorize], service="Box")
    session = http.guarded_session(origins, proxy=proxy, timeout=timeout, follow_redirects=True)
    ms = int(timeout * 1000)
    return NetworkSession(
        network_client=BoxNetworkClient(requests_session=session),
        retry_strategy=NoRetries(),
        base_urls=BaseUrls(
            base_url=api,
            upload_url=upload,
            oauth_2_url=authorize.rsplit("/", 1)[0],
        ),
        timeout_config=TimeoutConfig(connection_timeout_ms=min(ms, 10_000), read_timeout_ms=ms),
    )


def _tokens_from(token: Any) -> dict[str, Any]:
    if not token.access_token or not token.refresh_token:
        raise base.StorageAuthError("Box returned no tokens: authorise again")
    return {
        "access_token": token.access_token,
        "refresh_token": token.refresh_token,
        "expires_at": time.time() + float(token.expires_in or 3600),
        "token_type": "bearer",
    }


def _request_tokens(
    *, network_session: Any, admin_secret: dict[str, Any], **grant: Any
) -> dict[str, Any]:
    from box_sdk_gen.managers.authorization import AuthorizationManager, RequestAccessTokenGrantType

    client_id, client_secret = _app_credentials(admin_secret)
    kind = (
        RequestAccessTokenGrantType.REFRESH_TOKEN
        if "refresh_token" in grant
        else RequestAccessTokenGrantType.AUTHORIZATION_CODE
    )
    manager = AuthorizationManager(network_session=network_session)
    try:
        token = manager.request_access_token(
            kind, client_id=client_id, client_secret=client_secret, **grant
        )
    except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
        from box_sdk_gen.box.errors import BoxAPIError

        if isinstance(exc, BoxAPIError):
            status, code, _h, _c = _api_error_parts(exc)
            if code == "invalid_grant" or (status in {400, 401} and code != "invalid_client"):
                what = "refresh token" if "refresh_token" in grant else "authorisation code"
                raise base.StorageAuthError(
                    f"Box refused the {what} (expired, already used or revoked): "
                    "authorise Box again"
                ) from None
        raise _classify(exc, where="the token endpoint") from None
    return _tokens_from(token)


class _NameInUse(Exception):
    def __init__(self, file_id: str) -> None:
        super().__init__(file_id)
        self.file_id = file_id


def _app_credentials(admin_secret: dict[str, Any]) -> tuple[str, str]:
    return tokens.stored_app(admin_secret, app="the Box app's")


def _make_auth(provider: BoxProvider) -> Any:
    from box_sdk_gen.networking.auth import Authentication
    from box_sdk_gen.schemas.access_token import AccessToken

    class ProviderAuth(Authentication):
        """Hands the SDK the provider's access token; refreshes through the provider
        (serialised in the database, stored before use)."""

        def retrieve_token(self, *, network_session: Any = None) -> Any:
            return AccessToken(access_token=provider.tokens.access_token())

        def refresh_token(self, *, network_session: Any = None) -> Any:
            return AccessToken(access_token=provider.tokens.refresh(provider._access_token_used))

        def retrieve_authorization_header(self, *, network_session: Any = None) -> str:
            token = provider.tokens.access_token()
            provider._access_token_used = token
            return "Bearer " + token

        def revoke_token(self, *, network_session: Any = None) -> None:
            provider.revoke()

        def downscope_token(self, scopes: Any, **kwargs: Any) -> Any:
            raise base.StoragePermanentError("downscoped tokens are not used")

    return ProviderAuth()


# ---------------------------------------------------------------------------------------
# The provider
# ---------------------------------------------------------------------------------------


class BoxProvider(tokens.OAuthProvider):
    name: ClassVar[str] = "box"
    label: ClassVar[str] = "Box"
    order: ClassVar[int] = 40
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "client_id",
            "Client ID",
            level="admin",
            secret=True,
            required=False,
            max_length=128,
            help="Write-only. From the Box developer console (Configuration → OAuth 2.0 "
            "Credentials). Leave both fields empty to keep the stored ones.",
        ),
        tokens.client_secret_field(),
    )
    token_service: ClassVar[str] = "Box"
    threshold_name: ClassVar[str] = "the chunked upload threshold"
    threshold_minimum: ClassVar[int] = BOX_CHUNK_THRESHOLD
    threshold_refusal: ClassVar[str] = (
        "Box accepts chunked uploads only for files of 20 MB (20971520 bytes) and more"
    )
    oauth_pkce: ClassVar[bool] = False
    default_chunk_threshold: ClassVar[int] = BOX_CHUNK_THRESHOLD

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sdk: Any = None
        self._session: Any = None
        self._folder: str | None = None
        self._access_token_used = ""
        self.tokens = OAuthTokens(
            self,
            request=lambda refresh_token: _request_tokens(
                network_session=self._network(),
                admin_secret=self.admin_secret,
                refresh_token=refresh_token,
            ),
            margin=EXPIRY_MARGIN,
            reauth="authorise Box again",
        )
        #: Part sizes of the last chunked upload (tests and logs).
        self.last_parts: list[int] = []

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_admin_secret(cls, secret: dict[str, Any]) -> dict[str, Any]:
        return tokens.app_credentials(
            secret,
            id_pattern=CLIENT_ID_RE,
            secret_pattern=CLIENT_SECRET_RE,
            id_required="the Box app's client ID is required",
            id_invalid="the client ID is the 32 letters and digits shown under OAuth 2.0 "
            "Credentials in the Box developer console",
            secret_required="the Box app's client secret is required (it is never shown "
            "again, so enter it with the client ID)",
            secret_invalid="the client secret contains characters Box never uses",
        )

    @classmethod
    def probe_urls(cls, admin_config: dict[str, Any]) -> tuple[str, ...]:
        api, upload, _authorize = _urls()  # the operator's URLs (STRONGROOM_BOX_*)
        return (api + "/2.0/users/me", upload.rstrip("/") + "/2.0/files/content")

    # -- OAuth ---------------------------------------------------------------------------

    @classmethod
    def oauth_authorize_url(
        cls, *, admin_secret: dict[str, Any], state: str, redirect_uri: str | None, **_: Any
    ) -> str:
        client_id, _secret = _app_credentials(admin_secret)
        params = {"client_id": client_id, "response_type": "code", "state": state}
        if redirect_uri:
            params["redirect_uri"] = redirect_uri
        return _urls()[2] + "?" + urlencode(params)

    @classmethod
    def oauth_exchange_code(
        cls,
        *,
        admin_secret: dict[str, Any],
        proxy: base.ProxyConfig | None,
        code: str,
        timeout: float | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        session = _network_session(proxy, float(timeout or 30.0))
        return _request_tokens(network_session=session, admin_secret=admin_secret, code=code)

    # -- tokens --------------------------------------------------------------------------

    def _network(self) -> Any:
        if self._session is None:
            self._session = _network_session(self.proxy, self.timeout)
        return self._session

    def _client(self) -> Any:
        if self._sdk is None:
            from box_sdk_gen.client import BoxClient

            self._sdk = BoxClient(auth=_make_auth(self), network_session=self._network())
        return self._sdk

    def _call(self, fn: Any, *args: Any, where: str = "", **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except base.StorageError:
            raise
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise _classify(exc, where=where) from None

    # -- folder and file lookup ----------------------------------------------------------

    def _find(self, folder_id: str, name: str, kind: str) -> Any | None:
        client = self._client()
        offset = 0
        while True:
            items = self._call(
                client.folders.get_folder_items,
                folder_id,
                fields=["id", "name", "type"],
                limit=PAGE,
                offset=offset,
                where=FOLDER_NAME if folder_id != ROOT_FOLDER_ID else "your Box root folder",
            )
            entries = list(items.entries or [])
            for entry in entries:
                entry_type = getattr(getattr(entry, "type", None), "value", entry.type)
                if entry.name == name and str(entry_type) == kind:
                    return entry
            offset += len(entries)
            total = int(items.total_count or 0)
            if not entries or offset >= total:
                return None

    def _folder_id(self, *, create: bool) -> str | None:
        if self._folder is not None:
            return self._folder
        found = self._find(ROOT_FOLDER_ID, FOLDER_NAME, "folder")
        if found is not None:
            self._folder = str(found.id)
        elif create:
            from box_sdk_gen.box.errors import BoxAPIError
            from box_sdk_gen.managers.folders import CreateFolderParent

            try:
                folder = self._client().folders.create_folder(
                    FOLDER_NAME, CreateFolderParent(id=ROOT_FOLDER_ID)
                )
                self._folder = str(folder.id)
            except BoxAPIError as exc:
                existing = _conflict_id(exc, "folder")
                if existing is None:
                    raise _classify(exc, where=FOLDER_NAME) from None
                self._folder = existing  # created meanwhile (another job)
            except base.StorageError:
                raise
            except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
                raise _classify(exc, where=FOLDER_NAME) from None
        return self._folder

    def _file_id(self, name: str) -> str | None:
        folder = self._folder_id(create=False)
        if folder is None:
            return None
        found = self._find(folder, name, "file")
        return str(found.id) if found is not None else None

    def location(self, name: str) -> str:
        return f"Box: /{FOLDER_NAME}/{name}"

    def describe(self) -> str:
        return f"Box: /{FOLDER_NAME}"

    def _info(self, name: str, entry: Any) -> ObjectInfo:
        return ObjectInfo(
            name=name,
            size=int(entry.size or 0),
            content_hash=str(entry.sha_1) if getattr(entry, "sha_1", None) else None,
            hash_algorithm="sha1",
            modified=getattr(entry, "modified_at", None),
            location=self.location(name),
        )

    # -- operations ----------------------------------------------------------------------

    def check(self) -> str:
        """Who the tokens belong to (users/me) and that the root folder can be listed."""
        me = self._call(self._client().users.get_user_me, fields=["id", "name", "login"])
        self._folder_id(create=False)
        name = str(getattr(me, "name", "") or "").strip()
        login = str(getattr(me, "login", "") or "").strip()
        return f"{name} <{login}>" if name and login else (name or login or "Box account")

    def put(self, name: str, data: bytes) -> ObjectInfo:
        name = check_object_name(name)
        folder = self._folder_id(create=True)
        assert folder is not None  # noqa: S101 - create=True always yields an ID
        existing = self._file_id(name)
        sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if len(data) >= self.chunk_threshold and len(data) > 0:
            entry = self._put_chunked(folder, existing, name, data)
        else:
            entry = self._put_simple(folder, existing, name, data, sha1)
        info = self._info(name, entry)
        self.verify_landed(info, data, sha1)
        if info.content_hash is None:
            raise base.StorageTransientError(
                f"upload verification failed for {info.location}: Box reported no SHA-1"
            )
        logger.info("box: stored %d bytes at %s", len(data), info.location)
        return info

    def _put_simple(
        self, folder: str, existing: str | None, name: str, data: bytes, sha1: str
    ) -> Any:
        from box_sdk_gen.box.errors import BoxAPIError
        from box_sdk_gen.managers.uploads import (
            UploadFileAttributes,
            UploadFileAttributesParentField,
            UploadFileVersionAttributes,
        )

        uploads = self._client().uploads
        where = self.location(name)
        if existing is None:
            try:
                files = uploads.upload_file(
                    UploadFileAttributes(
                        name=name, parent=UploadFileAttributesParentField(id=folder)
                    ),
                    io.BytesIO(data),
                    file_file_name=name,
                    content_md_5=sha1,
                    fields=_FILE_FIELDS,
                )
                return files.entries[0]
            except BoxAPIError as exc:
                existing = _conflict_id(exc, "file")
                if existing is None:
                    raise _classify(exc, where=where) from None
            except base.StorageError:
                raise
            except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
                raise _classify(exc, where=where) from None
        files = self._call(
            uploads.upload_file_version,
            existing,
            UploadFileVersionAttributes(name=name),
            io.BytesIO(data),
            file_file_name=name,
            content_md_5=sha1,
            fields=_FILE_FIELDS,
            where=where,
        )
        return files.entries[0]

    def _put_chunked(self, folder: str, existing: str | None, name: str, data: bytes) -> Any:
        try:
            return self._put_chunked_once(folder, existing, name, data)
        except _NameInUse as conflict:
            # Another job created the file while this session uploaded: Box refuses the
            # commit (409 item_name_in_use); upload again as a new version of that file.
            return self._put_chunked_once(folder, conflict.file_id, name, data)

    def _put_chunked_once(self, folder: str, existing: str | None, name: str, data: bytes) -> Any:
        import base64

        from box_sdk_gen.box.errors import BoxAPIError
        from box_sdk_gen.schemas.upload_part import UploadPart

        chunked = self._client().chunked_uploads
        where = self.location(name)
        size = len(data)
        session: Any
        try:
            if existing is None:
                session = chunked.create_file_upload_session(folder, size, name)
            else:
                session = chunked.create_file_upload_session_for_existing_file(
                    existing, size, file_name=name
                )
        except BoxAPIError as exc:
            conflict = _conflict_id(exc, "file")
            if conflict is None:
                raise _classify(exc, where=where) from None
            session = self._call(
                chunked.create_file_upload_session_for_existing_file,
                conflict,
                size,
                file_name=name,
                where=where,
            )
        except base.StorageError:
            raise
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise _classify(exc, where=where) from None
        endpoints = session.session_endpoints
        part_size = int(session.part_size)
        self.last_parts = []
        committed = False
        try:
            parts: list[Any] = []
            whole = hashlib.sha1(usedforsecurity=False)
            for offset in range(0, size, part_size):
                chunk = data[offset : offset + part_size]
                digest = base64.b64encode(hashlib.sha1(chunk, usedforsecurity=False).digest())
                uploaded = self._call(
                    chunked.upload_file_part_by_url,
                    endpoints.upload_part,
                    io.BytesIO(chunk),
                    "sha=" + digest.decode(),
                    f"bytes {offset}-{offset + len(chunk) - 1}/{size}",
                    where=where,
                )
                part = uploaded.part
                if (
                    int(part.offset or 0) != offset
                    or int(part.size or 0) != len(chunk)
                    or str(part.sha_1 or "").lower()
                    != hashlib.sha1(chunk, usedforsecurity=False).hexdigest()
                ):
                    raise base.StorageTransientError(
                        f"upload verification failed for {where}: Box stored part at "
                        f"offset {offset} differently"
                    )
                whole.update(chunk)
                parts.append(
                    UploadPart(
                        part_id=part.part_id, offset=part.offset, size=part.size, sha_1=part.sha_1
                    )
                )
                self.last_parts.append(len(chunk))
            try:
                result = chunked.create_file_upload_session_commit_by_url(
                    endpoints.commit,
                    parts,
                    "sha=" + base64.b64encode(whole.digest()).decode(),
                )
            except BoxAPIError as exc:
                conflict = _conflict_id(exc, "file")
                if conflict is not None and existing is None:
                    raise _NameInUse(conflict) from None
                raise _classify(exc, where=where) from None
            except base.StorageError:
                raise
            except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
                raise _classify(exc, where=where) from None
            if result is None or not result.entries:
                raise base.StorageTransientError(
                    f"Box is still processing the upload of {where}; retry later"
                )
            committed = True
            return result.entries[0]
        finally:
            if not committed:
                self._abort_session(endpoints.abort)

    def _abort_session(self, url: str | None) -> None:
        if not url:
            return
        try:
            self._client().chunked_uploads.delete_file_upload_session_by_url(url)
        except Exception as exc:  # noqa: BLE001  best effort: Box expires abandoned sessions anyway
            logger.info("box: upload session not aborted (%s)", _classify(exc).code)

    def stat(self, name: str) -> ObjectInfo:
        name = check_object_name(name)
        file_id = self._file_id(name)
        if file_id is None:
            raise base.StorageNotFound(f"not found in Box: {self.location(name)}")
        entry = self._call(
            self._client().files.get_file_by_id,
            file_id,
            fields=_FILE_FIELDS,
            where=self.location(name),
        )
        return self._info(name, entry)

    def delete(self, name: str) -> None:
        name = check_object_name(name)
        file_id = self._file_id(name)
        if file_id is None:
            return
        try:
            self._call(self._client().files.delete_file_by_id, file_id, where=self.location(name))
        except base.StorageNotFound:
            return

    def revoke(self) -> None:
        """Revoke the tokens at Box (disconnect). Revoking either token ends the grant."""
        from box_sdk_gen.managers.authorization import AuthorizationManager

        def send(credentials: dict[str, Any]) -> None:
            token = str(credentials.get("refresh_token") or credentials.get("access_token") or "")
            if not token:
                return
            client_id, client_secret = _app_credentials(self.admin_secret)
            manager = AuthorizationManager(network_session=self._network())
            self._call(
                manager.revoke_access_token,
                client_id=client_id,
                client_secret=client_secret,
                token=token,
                where="the revoke endpoint",
            )
            logger.info("box: tokens revoked")

        self.tokens.revoke(send)


register(BoxProvider)
