"""The one narrow interface every cloud storage provider implements (rclone/fsspec style).

A provider is built from three things: the user's non-secret ``config`` (bucket, folder...),
the user's secret ``credentials`` (keys or OAuth tokens, unsealed only in memory), and the
admin's settings (``admin_config``, ``admin_secret``, ``proxy``). It does four things:
``check``, ``put``, ``stat``, ``delete``. ``owner`` (the connecting user's id) keeps a
target on this server in that user's namespace. It classifies its SDK's errors at the edge into the
typed errors below, so the sync jobs decide retry / no retry without knowing any SDK.

Messages of these errors are shown to users and written to logs: they never contain a
credential, a token or a signed URL.

OAuth providers (Dropbox, Box) refresh tokens themselves and hand every new token set to
``on_credentials_changed`` *before* using it (Box refresh tokens are single-use), and use
``credentials_lock`` to serialise refreshes across processes.
"""

from __future__ import annotations

import contextlib
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from strongroom.core.errors import ErrorCode

# ---------------------------------------------------------------------------------------
# Typed errors
# ---------------------------------------------------------------------------------------


class StorageError(Exception):
    """Base of every provider error. ``message`` is safe to show and to log."""

    code: ClassVar[str] = "storage_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def retryable(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.message


class StorageAuthError(StorageError):
    """Credentials invalid, revoked or expired: the user must reconnect. Never retried."""

    code = ErrorCode.STORAGE_AUTH


class StoragePermissionError(StorageError):
    """The credentials are valid but access is denied. Never retried."""

    code = ErrorCode.STORAGE_PERMISSION


class StorageNotFound(StorageError):
    """The container (bucket, folder) or object does not exist."""

    code = ErrorCode.STORAGE_NOT_FOUND


class StorageTransientError(StorageError):
    """503/SlowDown/429/5xx/timeouts/connection resets: retried, after ``retry_after``
    seconds when the provider said so."""

    code = ErrorCode.STORAGE_TRANSIENT

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class StoragePermanentError(StorageError):
    """Anything else (bad request, verification mismatch that retrying cannot fix...)."""

    code = ErrorCode.STORAGE_PERMANENT


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    """What a provider reports about one stored object."""

    name: str
    size: int
    content_hash: str | None = None
    hash_algorithm: str | None = None  # "sha256", "md5", "dropbox", "sha1"...
    modified: datetime | None = None
    location: str = ""  # human description: s3://bucket/prefix/name, /srv/sync/alice/name

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class ContentType:
    """How an uploaded object should be served: ``mime`` for its Content-Type, and for a
    file meant to be saved rather than shown, ``disposition`` (``attachment; filename=…``)
    so a browser or phone saves it under its own name."""

    mime: str
    disposition: str | None = None

    @property
    def bare(self) -> str:
        """The type without parameters (``text/html``), for APIs that take only that."""
        return self.mime.split(";", 1)[0].strip()


def content_type_for(name: str) -> ContentType:
    """The offline copy as a web page a phone opens from a link (``.html``); the KeePass
    file and anything else as a download under its own name (docs/providers/*.md say which
    providers keep what they are sent)."""
    base_name = name.rsplit("/", 1)[-1]
    if base_name.lower().endswith((".html", ".htm")):
        return ContentType("text/html; charset=utf-8")
    # Our object names are plain ASCII; anything else is left out of the header rather
    # than quoted wrongly.
    safe = "".join(c for c in base_name if c.isascii() and (c.isalnum() or c in "._-"))
    disposition = f'attachment; filename="{safe}"' if safe else "attachment"
    return ContentType("application/octet-stream", disposition)


@dataclass(frozen=True)
class ProxyConfig:
    """The admin's outbound HTTP(S) proxy. ``password`` is unsealed only in memory."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    #: The checked IP address to connect to (``storage.net.proxy_pin``): when set, the URL
    #: names it, so nothing resolves the host name again.
    address: str = ""

    def url(self, *, with_auth: bool = True) -> str:
        from urllib.parse import quote

        auth = ""
        if with_auth and self.username:
            auth = quote(self.username, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        return f"http://{auth}{self._hostport(self.address or self.host)}"

    def _hostport(self, host: str) -> str:
        return (f"[{host}]" if ":" in host else host) + f":{self.port}"

    def display(self) -> str:
        return f"http://{self._hostport(self.host)}"


@dataclass(frozen=True)
class ConfigField:
    """One declared setting of a provider. The admin's settings card and the user's connect
    form are generated from these (``storage.forms``); no form or view names a provider.

    - ``level``: "user" (the connect form: non-secret values go to the connection's
      ``config``, secret ones to its sealed ``credentials``) or "admin" (the provider's
      settings card: non-secret to ``ProviderSettings.config``, secret to its sealed
      ``secret``).
    - ``secret``: sealed, never echoed back; on the admin card also write-only (leaving
      every secret field empty keeps the stored secret).
    - ``kind``: "text", "password" (a masked input), "lines" (a list, one per line),
      "textarea" (multi-line text, e.g. a private key; never re-shown when secret),
      "choice" (from ``choices``, or from the admin's config key ``choices_from_admin``,
      with ``empty_label`` naming the empty choice; hidden when the admin listed none).
    """

    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""
    choices_from_admin: str = ""
    level: str = "user"
    kind: str = "text"
    max_length: int = 256
    initial: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    empty_label: str = ""


@dataclass
class TestResult:
    """The outcome of "Test connection": ``stage`` names what failed (dns, proxy, tls,
    connect, http, config) or is "ok"."""

    ok: bool
    provider: str
    stage: str
    message: str
    target: str = ""
    via_proxy: str = ""
    status: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "stage": self.stage,
            "message": self.message,
            "target": self.target,
            "via_proxy": self.via_proxy,
            "status": self.status,
        }


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------------------


DEFAULT_TIMEOUT = 60.0


class Provider(ABC):
    """One storage backend. A module in ``storage/providers/`` (or one named by a
    ``strongroom.storage_providers`` entry point) defines a subclass, sets ``name``,
    ``label`` and ``fields``, and calls ``registry.register(TheClass)`` at its bottom: that
    one line is its registration. The module imports its SDK inside functions only, so
    listing the providers stays cheap."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: "keys" (the user types credentials into a form) or "oauth" (Dropbox, Box).
    auth_kind: ClassVar[str] = "keys"
    #: Where names sort in lists (admin cards, the user's page, the API).
    order: ClassVar[int] = 100
    #: The declared settings, user and admin level (``ConfigField``); forms come from them.
    fields: ClassVar[tuple[ConfigField, ...]] = ()
    #: Uploads above this many bytes take the multipart / chunked path.
    default_chunk_threshold: ClassVar[int] = 8 * 1024 * 1024
    #: The admin field (kind "lines") holding a URL allow-list that the default
    #: ``validate_admin_config`` normalises (S3 "endpoints", WebDAV "servers"); "" for none.
    allow_list_field: ClassVar[str] = ""
    #: What the admin's ``chunk_threshold`` is called in messages ("the chunk size"); when
    #: set, the default ``validate_admin_config`` checks it (at least ``threshold_minimum``).
    threshold_name: ClassVar[str] = ""
    threshold_minimum: ClassVar[int] = 1024
    #: OAuth providers only: "paste" (the provider shows a code that the user pastes back
    #: into Strongroom: Dropbox) or "redirect" (the provider sends the browser back to
    #: ``storage.oauth.oauth_redirect_uri``: Box). See ``storage/oauth.py``.
    oauth_flow: ClassVar[str] = ""
    #: OAuth providers only: send a PKCE challenge (S256) and the verifier at exchange.
    oauth_pkce: ClassVar[bool] = False

    def __init__(
        self,
        *,
        config: dict[str, Any],
        credentials: dict[str, Any] | None = None,
        admin_config: dict[str, Any] | None = None,
        admin_secret: dict[str, Any] | None = None,
        proxy: ProxyConfig | None = None,
        on_credentials_changed: Callable[[dict[str, Any]], None] | None = None,
        credentials_lock: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        chunk_threshold: int | None = None,
        timeout: float | None = None,
        owner: str | None = None,
    ) -> None:
        self.config = dict(config)
        #: The id of the user whose connection this is: providers whose target lives on
        #: this server (the local folder) keep each user in a namespace of their own.
        self.owner = owner
        self.credentials = dict(credentials or {})
        self.admin_config = dict(admin_config or {})
        self.admin_secret = dict(admin_secret or {})
        self.proxy = proxy
        self.on_credentials_changed = on_credentials_changed
        self.credentials_lock = credentials_lock or _no_lock
        self.chunk_threshold = chunk_threshold or int(
            self.admin_config.get("chunk_threshold") or self.default_chunk_threshold
        )
        #: Seconds a network provider waits to connect / for an answer (then transient).
        self.timeout = float(timeout or self.admin_config.get("timeout") or DEFAULT_TIMEOUT)

    def __repr__(self) -> str:  # never show credentials
        return f"<{type(self).__name__} {self.describe()}>"

    # -- the four operations -------------------------------------------------------------

    @abstractmethod
    def check(self) -> str:
        """Verify credentials and container with a real request; return a description of
        the connected account/location (shown to the user as "connected account")."""

    @abstractmethod
    def put(self, name: str, data: bytes) -> ObjectInfo:
        """Store ``data`` as ``name``, atomically replacing any previous object (a failed
        upload never leaves a partial or empty object), multipart/chunked above
        ``chunk_threshold``, and verify what landed (size and hash): a mismatch raises
        StorageTransientError or StoragePermanentError."""

    @abstractmethod
    def stat(self, name: str) -> ObjectInfo:
        """Describe ``name``; StorageNotFound when it is missing."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove ``name``. Idempotent: a missing object is not an error."""

    # -- optional ------------------------------------------------------------------------

    def describe(self) -> str:
        """A short, secret-free description of where objects go (no request made)."""
        return self.label

    def revoke(self) -> None:  # noqa: B027  (optional hook, default no-op)
        """Revoke the credentials at the provider (OAuth providers); best effort."""

    @classmethod
    def validate_config(
        cls, config: dict[str, Any], credentials: dict[str, Any], admin_config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Normalise and validate user input before any request. Raise
        ``core.errors.ValidationFailed`` naming the field. Returns (config, credentials)."""
        return dict(config), dict(credentials)

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Normalise and validate the admin's non-secret settings (ValidationFailed). By
        default: the URL allow-list named by ``allow_list_field`` (``allow_list_setting``)
        and, when ``threshold_name`` is set, the chunk threshold (``threshold_setting``, at
        least ``threshold_minimum`` bytes); everything else is kept as given."""
        out = dict(config)
        if cls.allow_list_field:
            out |= cls.allow_list_setting(config, cls.allow_list_field)
        if cls.threshold_name:
            out.pop("chunk_threshold", None)
            out |= cls.threshold_setting(
                config, what=cls.threshold_name, minimum=cls.threshold_minimum
            )
        return out

    @staticmethod
    def threshold_setting(
        config: dict[str, Any],
        *,
        what: str,
        minimum: int,
        maximum: int | None = None,
        refusal: str = "",
    ) -> dict[str, int]:
        """``{"chunk_threshold": n}`` from the admin's config ({} when unset), refused with
        ValidationFailed (field "chunk_threshold") when not a whole number of bytes (``what``
        names it) or outside [minimum, maximum] (``refusal`` says why; by default
        "<what> must be at least <minimum> bytes")."""
        from strongroom.core.errors import ValidationFailed

        raw = config.get("chunk_threshold")
        if raw in (None, ""):
            return {}
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValidationFailed(
                f"{what} must be a number of bytes", field="chunk_threshold"
            ) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise ValidationFailed(
                refusal or f"{what} must be at least {minimum} bytes", field="chunk_threshold"
            )
        return {"chunk_threshold": value}

    @staticmethod
    def allow_list_setting(config: dict[str, Any], key: str) -> dict[str, list[str]]:
        """``{key: [normalised URLs]}`` from the admin's allow-list under ``key`` (a list, or
        text with one URL per line), refused with ValidationFailed (field ``key``) on a bad
        entry; see ``net.normalize_allow_list`` (``*.`` host wildcards allowed)."""
        from strongroom.storage import net

        entries = config.get(key) or []
        if isinstance(entries, str):
            entries = entries.split()
        return {key: net.normalize_allow_list(entries, field=key)}

    @classmethod
    def validate_admin_secret(cls, secret: dict[str, Any]) -> dict[str, Any]:
        """Normalise and validate the admin's secret settings (a client ID and secret...)
        before they are sealed (ValidationFailed naming the field; never echo the value)."""
        return dict(secret)

    @classmethod
    def test_connection(
        cls, *, admin_config: dict[str, Any], proxy: ProxyConfig | None
    ) -> TestResult:
        """Admin "Test connection": does the service answer (through ``proxy``)? Network
        providers probe their API with ``storage.net.probe`` and say what failed."""
        return TestResult(ok=True, provider=cls.name, stage="ok", message="nothing to test")

    # -- OAuth (auth_kind == "oauth") -----------------------------------------------------

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
        """The provider's consent page for a new authorisation (no request made)."""
        raise NotImplementedError(f"{cls.name} does not use OAuth")

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
        """Exchange an authorisation code for the credentials to seal (tokens, expiry).
        A wrong, expired or reused code raises StorageAuthError with a message for the
        user; an outage raises StorageTransientError."""
        raise NotImplementedError(f"{cls.name} does not use OAuth")

    def verify_landed(self, info: ObjectInfo, data: bytes, expected_hash: str | None) -> None:
        """Shared check: the size and (when the provider reports one) hash match."""
        if info.size != len(data):
            raise StorageTransientError(
                f"upload verification failed for {info.location or info.name}: stored size "
                f"{info.size} bytes, sent {len(data)} bytes"
            )
        if (
            expected_hash is not None
            and info.content_hash is not None
            and info.content_hash.lower() != expected_hash.lower()
        ):
            raise StorageTransientError(
                f"upload verification failed for {info.location or info.name}: "
                f"{info.hash_algorithm or 'content'} hash differs from what was sent"
            )


@contextlib.contextmanager
def _no_lock() -> Iterator[None]:
    yield
