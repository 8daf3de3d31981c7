"""OneDrive / SharePoint through Microsoft Graph (OAuth with Microsoft's own MSAL).

- Admin: the application (client) ID and tenant (``common``, ``organizations`` or a tenant
  ID) of an app registration in Microsoft Entra (``ProviderSettings.config``), and its
  client secret (sealed, write-only). Delegated permissions ``Files.ReadWrite.AppFolder``
  and ``offline_access``: Strongroom sees only its own app folder, never the user's files.
- OAuth: MSAL's ``ConfidentialClientApplication`` with the authority
  ``settings.MS_LOGIN_URL + "/" + tenant`` (instance discovery off, so the authority is
  what the operator configured; the tests point it at a stand-in), the authorization-code
  grant back to ``storage.oauth.oauth_redirect_uri("onedrive")`` with PKCE (S256) and
  state. MSAL talks through the kit's guarded session (only the login and Graph origins,
  the admin's proxy, certifi plus ``settings.PROVIDER_CA_BUNDLE``).
- Tokens: Microsoft rotates refresh tokens (each refresh returns a new one). A refresh runs
  only inside the kit's cross-process lock (``OAuthTokens``) and the new pair is stored
  before use. There is no revoke endpoint for a delegated refresh token: disconnecting
  forgets the tokens here (the user or tenant admin removes the app's consent at
  https://myapps.microsoft.com / in Entra to end the grant at Microsoft).
- Files live in the app folder ``/me/drive/special/approot`` (Graph creates it on first
  use: ``Apps/<app name>``). Below ``chunk_threshold`` one PUT of the content; at and above
  it an upload session (``createUploadSession``, conflict behaviour ``replace``) fed in
  chunks of a multiple of 320 KiB; an expired or unknown session (404, ``invalidRequest``
  / ``itemNotFound`` on the upload URL) starts again once. What landed is verified: size
  and the ``quickXorHash`` Graph reports against the one computed here.
- Errors: 401 → one refresh and one repeat; 429/503/5xx with Retry-After → transient;
  423 (locked) transient; 507 (quota) permanent; 403 permission. Messages never hold a
  token, the client secret or an upload URL.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

from strongroom.core.errors import ValidationFailed
from strongroom.storage import base, http, tokens
from strongroom.storage.base import ConfigField, ObjectInfo
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register
from strongroom.storage.tokens import OAuthTokens, TokenExpired

logger = logging.getLogger(__name__)

#: Graph wants upload-session chunks in multiples of 320 KiB.
CHUNK_UNIT = 320 * 1024
#: Graph's simple upload takes up to 250 MB; Microsoft recommends sessions above 4 MB.
DEFAULT_THRESHOLD = 4 * 1024 * 1024
#: Bytes per upload-session request (a multiple of CHUNK_UNIT, below Graph's 60 MiB).
DEFAULT_CHUNK = 10 * CHUNK_UNIT
MAX_CHUNK = 192 * CHUNK_UNIT  # 60 MiB, Graph's limit per request
#: Smallest admin threshold (an upload session accepts any size; below this it only costs).
MIN_THRESHOLD = 4096
EXPIRY_MARGIN = 120.0
#: The delegated permission asked for (MSAL adds offline_access, openid, profile).
SCOPES = ("Files.ReadWrite.AppFolder",)
PERMISSIONS = ("Files.ReadWrite.AppFolder", "offline_access")
GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
TENANT_DOMAIN_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9\-]{0,62}(\.[A-Za-z0-9][A-Za-z0-9\-]{0,62})+$"
)
SECRET_RE = re.compile(r"^[\x21-\x7e]{8,256}$")


# ---------------------------------------------------------------------------------------
# QuickXorHash (Microsoft's published algorithm, OneDrive API docs "code snippets")
# ---------------------------------------------------------------------------------------


class QuickXorHash:
    """160-bit QuickXorHash: each byte is XORed into a 160-bit ring at a position that
    advances 11 bits per byte; the total length (64-bit little-endian) is XORed into the
    last 8 bytes. ``digest_b64()`` is what Graph reports as ``quickXorHash``."""

    WIDTH = 160
    SHIFT = 11
    _MASK = (1 << 64) - 1

    def __init__(self, data: bytes = b"") -> None:
        self._cells = [0, 0, 0]
        self._shift_so_far = 0
        self._length = 0
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        width = self.WIDTH
        cells = self._cells
        last = len(cells) - 1
        index = self._shift_so_far // 64
        offset = self._shift_so_far % 64
        size = len(data)
        # Bytes i, i+160, i+320... land on one spot: fold the data into one 160-byte block
        # first (XOR of whole blocks as integers), then place each of its bytes.
        folded = bytearray(width)
        if size:
            padded = data + bytes(-size % width)
            acc = 0
            for k in range(0, len(padded), width):
                acc ^= int.from_bytes(padded[k : k + width], "little")
            folded = bytearray(acc.to_bytes(width, "little"))
        for i in range(min(size, width)):
            is_last = index == last
            bits = width % 64 if is_last else 64
            xored = folded[i]
            cells[index] ^= (xored << offset) & self._MASK
            if offset > bits - 8:  # the byte straddles two cells (the ring wraps at 160)
                cells[0 if is_last else index + 1] ^= xored >> (bits - offset)
            offset += self.SHIFT
            while offset >= bits:
                index = 0 if is_last else index + 1
                offset -= bits
                is_last = index == last
                bits = width % 64 if is_last else 64
        self._shift_so_far = (self._shift_so_far + self.SHIFT * (size % width)) % width
        self._length += size

    def digest(self) -> bytes:
        out = bytearray()
        for cell in self._cells[:-1]:
            out += cell.to_bytes(8, "little")
        out += (self._cells[-1] & 0xFFFFFFFF).to_bytes(4, "little")
        for i, byte in enumerate(self._length.to_bytes(8, "little")):
            out[len(out) - 8 + i] ^= byte
        return bytes(out)

    def digest_b64(self) -> str:
        return base64.b64encode(self.digest()).decode()


def quick_xor_hash(data: bytes) -> str:
    return QuickXorHash(data).digest_b64()


# ---------------------------------------------------------------------------------------
# Addresses, app credentials, MSAL
# ---------------------------------------------------------------------------------------


def _login_url() -> str:
    from django.conf import settings

    return str(settings.MS_LOGIN_URL)


def _graph_url() -> str:
    from django.conf import settings

    return str(settings.GRAPH_API_URL)


def _app(admin_config: dict[str, Any], admin_secret: dict[str, Any]) -> tuple[str, str, str]:
    client_id = str(admin_config.get("client_id") or "")
    tenant = str(admin_config.get("tenant") or "common")
    secret = str(admin_secret.get("client_secret") or "")
    if not client_id or not secret:
        raise base.StoragePermanentError(
            "the administrator has not entered the OneDrive app's client ID and secret"
        )
    return client_id, tenant, secret


def _msal_app(
    admin_config: dict[str, Any],
    admin_secret: dict[str, Any],
    proxy: base.ProxyConfig | None,
    timeout: float,
) -> Any:
    import msal

    # MSAL's DEBUG records show the token request's form, authorisation code included:
    # never below INFO, whatever the root logger's level.
    msal_logger = logging.getLogger("msal")
    if msal_logger.getEffectiveLevel() < logging.INFO:
        msal_logger.setLevel(logging.INFO)
    client_id, tenant, secret = _app(admin_config, admin_secret)
    session = http.guarded_session(
        http.Origins([_login_url()], service="Microsoft sign-in"),
        proxy=proxy,
        timeout=timeout,
        follow_redirects=False,
    )
    try:
        return msal.ConfidentialClientApplication(
            client_id,
            client_credential=secret,
            authority=f"{_login_url()}/{quote(tenant, safe='')}",
            http_client=session,
            instance_discovery=False,
            validate_authority=False,
            token_cache=msal.TokenCache(),  # in memory only: the sealed credentials are ours
        )
    except base.StorageError:
        raise
    except ValueError as exc:
        raise base.StoragePermanentError(
            f"Microsoft sign-in refused the tenant: check the tenant setting ({type(exc).__name__})"
        ) from None
    except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
        raise http.edge_error(
            exc, "Microsoft sign-in", f"Microsoft sign-in failed ({type(exc).__name__})"
        ) from None


def _tokens_from(result: dict[str, Any], *, what: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise base.StorageTransientError("Microsoft sign-in gave no answer; retry later")
    error = str(result.get("error") or "")
    if error:
        if error == "invalid_client" or "AADSTS7000215" in str(result.get("error_description")):
            raise base.StoragePermanentError(
                "Microsoft refused the app's client ID or secret: ask the administrator to "
                "check them (a client secret expires; create a new one in Entra)"
            )
        if error in {"invalid_grant", "interaction_required", "consent_required", "bad_token"}:
            raise base.StorageAuthError(
                f"Microsoft refused the {what} (expired, already used or revoked): "
                "authorise OneDrive again"
            )
        if error in {"temporarily_unavailable", "server_error"}:
            raise base.StorageTransientError("Microsoft sign-in is unavailable; retry later")
        raise base.StoragePermanentError(f"Microsoft sign-in refused the request ({error})")
    if not result.get("access_token") or not result.get("refresh_token"):
        raise base.StorageAuthError("Microsoft returned no refresh token: authorise OneDrive again")
    tokens = {
        "access_token": str(result["access_token"]),
        "refresh_token": str(result["refresh_token"]),
        "expires_at": time.time() + float(result.get("expires_in") or 3600),
        "token_type": "bearer",
    }
    # Who signed in, from the ID token MSAL checked (audience, issuer, expiry): the
    # account label. Graph's /me/drive is not readable with Files.ReadWrite.AppFolder alone.
    claims = result.get("id_token_claims") or {}
    name = str(claims.get("name") or "").strip()[:200]
    login = str(claims.get("preferred_username") or "").strip()[:200]
    if name or login:
        tokens["account"] = f"{name} <{login}>" if name and login else (name or login)
    return tokens


def _msal_call(fn: Any, *args: Any, what: str, **kwargs: Any) -> dict[str, Any]:
    with http.at_edge("Microsoft sign-in", "Microsoft sign-in failed"):
        result = fn(*args, **kwargs)
    return _tokens_from(result, what=what)


# ---------------------------------------------------------------------------------------
# The provider
# ---------------------------------------------------------------------------------------


class _SessionGone(Exception):
    """The upload session expired or is unknown: start a new one."""


class OneDriveProvider(tokens.OAuthProvider):
    name: ClassVar[str] = "onedrive"
    label: ClassVar[str] = "OneDrive / SharePoint"
    order: ClassVar[int] = 50
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "client_id",
            "Application (client) ID",
            level="admin",
            required=False,
            max_length=36,
            help="From Microsoft Entra admin centre → App registrations → your app → Overview.",
        ),
        ConfigField(
            "tenant",
            "Tenant",
            level="admin",
            required=False,
            max_length=255,
            initial="organizations",
            help="“organizations” (any work or school account), “common” (also personal "
            "Microsoft accounts) or your tenant ID / domain (only your organisation).",
        ),
        tokens.client_secret_field(
            help="Write-only: the secret's Value (not its ID). Stored encrypted and never "
            "shown again; leave empty to keep the stored one."
        ),
    )
    token_service: ClassVar[str] = "OneDrive"
    token_extra: ClassVar[tuple[str, ...]] = ("account",)
    threshold_name: ClassVar[str] = "the upload session threshold"
    threshold_minimum: ClassVar[int] = MIN_THRESHOLD
    threshold_maximum: ClassVar[int | None] = 250 * 1024 * 1024
    threshold_refusal: ClassVar[str] = (
        "Graph takes simple uploads up to 250 MB: the threshold must lie between "
        f"{MIN_THRESHOLD} bytes and 250 MB"
    )
    oauth_pkce: ClassVar[bool] = True
    default_chunk_threshold: ClassVar[int] = DEFAULT_THRESHOLD

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._graph: Any = None
        self.chunk_size = int(self.admin_config.get("chunk_size") or DEFAULT_CHUNK)
        self.tokens = OAuthTokens(
            self,
            request=self._refresh_request,
            margin=EXPIRY_MARGIN,
            reauth="authorise OneDrive again",
        )
        #: Chunk sizes of the last upload session (tests and logs).
        self.last_parts: list[int] = []

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in dict(config).items() if k == "timeout"}
        client_id = str(config.get("client_id") or "").strip()
        if client_id and not GUID_RE.match(client_id):
            raise ValidationFailed(
                "the application (client) ID is a GUID like "
                "00000000-0000-0000-0000-000000000000 (Entra → App registrations → Overview)",
                field="client_id",
            )
        tenant = str(config.get("tenant") or "").strip() or "organizations"
        if tenant.lower() in {"common", "organizations"}:
            tenant = tenant.lower()
        elif tenant.lower() == "consumers":
            raise ValidationFailed(
                "“consumers” allows only personal accounts: use “common” or your tenant",
                field="tenant",
            )
        elif not (GUID_RE.match(tenant) or TENANT_DOMAIN_RE.match(tenant)):
            raise ValidationFailed(
                "the tenant is “common”, “organizations”, a tenant ID (GUID) or a domain "
                "such as contoso.onmicrosoft.com",
                field="tenant",
            )
        if config.get("chunk_size") not in (None, ""):
            try:
                chunk = int(config["chunk_size"])
            except (TypeError, ValueError):
                chunk = -1
            if chunk <= 0 or chunk % CHUNK_UNIT or chunk > MAX_CHUNK:
                raise ValidationFailed(
                    "the upload session chunk size must be a multiple of 327680 bytes "
                    "(320 KiB) up to 60 MiB",
                    field="chunk_size",
                )
            out["chunk_size"] = chunk
        if client_id:
            out["client_id"] = client_id.lower()
        out["tenant"] = tenant
        return out | cls.admin_threshold(config)

    @classmethod
    def validate_admin_secret(cls, secret: dict[str, Any]) -> dict[str, Any]:
        value = str(secret.get("client_secret") or "").strip()
        if not value:
            raise ValidationFailed(
                "the app's client secret (its Value) is required", field="client_secret"
            )
        if not SECRET_RE.match(value):
            raise ValidationFailed(
                "the client secret contains characters Entra never uses (copy the Value, "
                "not the Secret ID)",
                field="client_secret",
            )
        return {"client_secret": value}

    @classmethod
    def probe_urls(cls, admin_config: dict[str, Any]) -> tuple[str, ...]:
        # The operator's URLs (STRONGROOM_MS_LOGIN_URL / GRAPH_API_URL) and the admin's
        # validated tenant.
        tenant = str(admin_config.get("tenant") or "organizations")
        return (
            f"{_login_url()}/{quote(tenant, safe='')}/v2.0/.well-known/openid-configuration",
            _graph_url() + "/me",
        )

    # -- OAuth ---------------------------------------------------------------------------

    @classmethod
    def oauth_authorize_url(
        cls,
        *,
        admin_config: dict[str, Any],
        admin_secret: dict[str, Any],
        state: str,
        code_challenge: str | None,
        redirect_uri: str | None,
        **_: Any,
    ) -> str:
        import warnings

        from strongroom.storage.registry import proxy_config

        # MSAL reads the tenant's OpenID configuration first: through the admin's proxy.
        try:
            app = _msal_app(admin_config, admin_secret, proxy_config(), 30.0)
        except base.StorageError as exc:  # shown to the user on the connect page, nothing stored
            raise ValidationFailed(
                f"Microsoft sign-in cannot be reached to start the authorisation: {exc}",
                field="provider",
            ) from None
        # MSAL's initiate_auth_code_flow() would make its own state and PKCE verifier; the
        # kit keeps both server-side (storage/oauth.py), so the URL comes from
        # get_authorization_request_url() (authority's endpoint, scopes with
        # offline_access) and the S256 challenge is added to it, as the flow would.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            url = str(
                app.get_authorization_request_url(
                    list(SCOPES), state=state, redirect_uri=redirect_uri, prompt="select_account"
                )
            )
        if code_challenge:
            url += "&" + urlencode(
                {"code_challenge": code_challenge, "code_challenge_method": "S256"}
            )
        return url

    @classmethod
    def oauth_exchange_code(
        cls,
        *,
        admin_config: dict[str, Any],
        admin_secret: dict[str, Any],
        proxy: base.ProxyConfig | None,
        code: str,
        code_verifier: str | None,
        redirect_uri: str | None,
        timeout: float | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        app = _msal_app(admin_config, admin_secret, proxy, float(timeout or 30.0))
        import warnings

        data = {"code_verifier": code_verifier} if code_verifier else {}
        with warnings.catch_warnings():  # the kit, not MSAL's flow dict, holds the verifier
            warnings.simplefilter("ignore", DeprecationWarning)
            return _msal_call(
                app.acquire_token_by_authorization_code,
                code,
                list(SCOPES),
                redirect_uri=redirect_uri,
                data=data,
                what="authorisation code",
            )

    def _refresh_request(self, refresh_token: str) -> dict[str, Any]:
        app = _msal_app(self.admin_config, self.admin_secret, self.proxy, self.timeout)
        return _msal_call(
            app.acquire_token_by_refresh_token,
            refresh_token,
            list(SCOPES),
            what="refresh token",
        )

    def revoke(self) -> None:
        """Microsoft has no endpoint that revokes a delegated refresh token for an app:
        the tokens are forgotten here (the access token lapses within its hour)."""
        self.tokens.revoke(lambda _credentials: None)
        logger.info("onedrive: tokens forgotten (no revoke endpoint at Microsoft)")

    # -- Graph requests ------------------------------------------------------------------

    def _session(self) -> Any:
        if self._graph is None:
            self._graph = http.guarded_session(
                http.Origins([_graph_url()], service="Microsoft Graph"),
                proxy=self.proxy,
                timeout=self.timeout,
                follow_redirects=False,
            )
        return self._graph

    def _item_url(self, name: str, suffix: str = "") -> str:
        return f"{_graph_url()}/me/drive/special/approot:/{quote(name, safe='')}:{suffix}"

    def _request(
        self, method: str, url: str, *, where: str, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> Any:
        session = self._session()
        extra_headers = dict(kwargs.pop("headers", {}))

        def attempt(token: str) -> Any:
            headers = {**extra_headers, "Authorization": "Bearer " + token}
            with http.at_edge("Microsoft Graph", "Microsoft Graph request failed"):
                response = session.request(method, url, headers=headers, **kwargs)
            if response.status_code == 401:
                raise TokenExpired
            return response

        response = self.tokens.call(attempt)
        if response.status_code not in ok:
            raise self._classify(response, where=where)
        return response

    @staticmethod
    def _error_code(response: Any) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        error = body.get("error") if isinstance(body, dict) else None
        return str(error.get("code") or "") if isinstance(error, dict) else ""

    def _classify(self, response: Any, *, where: str) -> base.StorageError:
        status = int(response.status_code)
        code = self._error_code(response)
        if status == 401:
            return base.StorageAuthError(
                "Microsoft no longer accepts this authorisation: reconnect OneDrive"
            )
        if status == 404:
            return base.StorageNotFound(f"not found in OneDrive: {where}")
        if status == 423:
            return base.StorageTransientError(
                f"OneDrive has {where} locked (open or being changed elsewhere); retry later"
            )
        if status == 507 or code == "quotaLimitReached":
            return base.StoragePermanentError(
                "the OneDrive is full (HTTP 507 insufficient storage): free space or raise "
                "the quota"
            )
        if status == 403:
            return base.StoragePermissionError(
                "access denied by OneDrive (the app's permission or the tenant's policy)"
                + (f" ({code})" if code else "")
            )
        typed = http.status_error(status, "Microsoft Graph", headers=response.headers)
        if typed is not None:
            return typed
        return base.StoragePermanentError(
            f"Microsoft Graph refused the request (HTTP {status}{' ' + code if code else ''})"
        )

    # -- operations ----------------------------------------------------------------------

    def location(self, name: str) -> str:
        return f"OneDrive: Apps/Strongroom/{name}"

    def describe(self) -> str:
        return "OneDrive: app folder"

    def _info(self, name: str, item: dict[str, Any]) -> ObjectInfo:
        hashes = (item.get("file") or {}).get("hashes") or {}
        return ObjectInfo(
            name=name,
            size=int(item.get("size") or 0),
            content_hash=str(hashes["quickXorHash"]) if hashes.get("quickXorHash") else None,
            hash_algorithm="quickxor",
            modified=item.get("lastModifiedDateTime"),
            location=self.location(name),
        )

    def check(self) -> str:
        """That the tokens work and the app folder answers (the one thing the
        ``Files.ReadWrite.AppFolder`` permission allows); the account from the ID token."""
        self._request("GET", _graph_url() + "/me/drive/special/approot", where="the app folder")
        account = str(self.credentials.get("account") or "").strip()
        return f"{account} (OneDrive)" if account else "OneDrive app folder"

    def put(self, name: str, data: bytes) -> ObjectInfo:
        name = check_object_name(name)
        expected = quick_xor_hash(data)
        if len(data) >= self.chunk_threshold and len(data) > 0:
            try:
                item = self._put_session(name, data)
            except _SessionGone:
                logger.info("onedrive: upload session expired; starting again")
                item = self._put_session(name, data)
        else:
            self.last_parts = []
            item = self._request(
                "PUT",
                self._item_url(name, "/content"),
                where=self.location(name),
                ok=(200, 201),
                data=data,
                # OneDrive derives the item's type from its name (docs/providers/onedrive.md);
                # the request still says what it sends.
                headers={"Content-Type": base.content_type_for(name).mime},
            ).json()
        info = self._info(name, item)
        if info.content_hash is None:
            raise base.StorageTransientError(
                f"upload verification failed for {info.location}: OneDrive reported no quickXorHash"
            )
        self.verify_landed(info, data, None)
        if info.content_hash != expected:
            raise base.StorageTransientError(
                f"upload verification failed for {info.location}: quickXorHash differs "
                "from what was sent"
            )
        logger.info("onedrive: stored %d bytes at %s", len(data), info.location)
        return info

    def _upload_session_for(self, url: str) -> Any:
        from django.conf import settings

        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        allowed = http.origin(url) == http.origin(_graph_url()) or any(
            host == suffix or host.endswith("." + suffix)
            for suffix in getattr(settings, "GRAPH_UPLOAD_HOSTS", ())
        )
        if parts.scheme != "https" or not allowed:
            raise base.StoragePermanentError(
                "OneDrive named an upload address on a host Strongroom does not trust"
            )
        return http.guarded_session(
            http.Origins([url], service="OneDrive upload"),
            proxy=self.proxy,
            timeout=self.timeout,
            follow_redirects=False,
        )

    def _put_session(self, name: str, data: bytes) -> dict[str, Any]:
        where = self.location(name)
        created = self._request(
            "POST",
            self._item_url(name, "/createUploadSession"),
            where=where,
            json={"item": {"@microsoft.graph.conflictBehavior": "replace"}},
        ).json()
        upload_url = str(created.get("uploadUrl") or "")
        if not upload_url:
            raise base.StorageTransientError("OneDrive opened no upload session; retry later")
        session = self._upload_session_for(upload_url)
        size = len(data)
        chunk = max(CHUNK_UNIT, self.chunk_size // CHUNK_UNIT * CHUNK_UNIT)
        self.last_parts = []
        finished = False
        try:
            offset = 0
            while offset < size:
                piece = data[offset : offset + chunk]
                with http.at_edge("OneDrive", "OneDrive upload failed"):
                    # The upload URL is pre-authenticated: no Authorization header.
                    response = session.put(
                        upload_url,
                        data=piece,
                        headers={
                            "Content-Range": f"bytes {offset}-{offset + len(piece) - 1}/{size}",
                            "Content-Type": "application/octet-stream",
                        },
                    )
                status = response.status_code
                if (
                    status == 404
                    or (
                        status == 400
                        and self._error_code(response) in {"invalidRequest", "itemNotFound"}
                    )
                    or status == 410
                ):
                    raise _SessionGone
                if status == 202:
                    self.last_parts.append(len(piece))
                    ranges = (response.json() or {}).get("nextExpectedRanges") or []
                    offset = int(str(ranges[0]).split("-")[0]) if ranges else offset + len(piece)
                    continue
                if status in (200, 201):
                    self.last_parts.append(len(piece))
                    finished = True
                    return dict(response.json())
                raise self._classify(response, where=where)
            raise base.StorageTransientError(
                f"OneDrive did not complete the upload of {where}; retry later"
            )
        finally:
            if not finished:
                self._cancel(session, upload_url)

    def _cancel(self, session: Any, upload_url: str) -> None:
        try:
            session.delete(upload_url)
        except Exception as exc:  # noqa: BLE001  best effort: Graph expires abandoned sessions anyway
            logger.info("onedrive: upload session not cancelled (%s)", type(exc).__name__)

    def stat(self, name: str) -> ObjectInfo:
        name = check_object_name(name)
        item = self._request("GET", self._item_url(name), where=self.location(name)).json()
        return self._info(name, item)

    def delete(self, name: str) -> None:
        name = check_object_name(name)
        try:
            self._request("DELETE", self._item_url(name), where=self.location(name), ok=(204, 200))
        except base.StorageNotFound:
            return


register(OneDriveProvider)
