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

    code = "storage_auth"


class StoragePermissionError(StorageError):
    """The credentials are valid but access is denied. Never retried."""

    code = "storage_permission"


class StorageNotFound(StorageError):
    """The container (bucket, folder) or object does not exist."""

    code = "storage_not_found"


class StorageTransientError(StorageError):
    """503/SlowDown/429/5xx/timeouts/connection resets: retried, after ``retry_after``
    seconds when the provider said so."""

    code = "storage_transient"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class StoragePermanentError(StorageError):
    """Anything else (bad request, verification mismatch that retrying cannot fix...)."""

    code = "storage_permanent"


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
    """One field of a provider's connection form (drives the web form and API docs)."""

    name: str
    label: str
    secret: bool = False  # goes into the sealed credentials, never echoed back
    required: bool = True
    help: str = ""
    choices_from_admin: str = ""  # e.g. "endpoints": choose from the admin's allow-list


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
    """One storage backend. Subclasses set ``name``/``label`` and call
    ``registry.register(TheClass)`` at the bottom of their module."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: "keys" (the user types credentials into a form) or "oauth" (Dropbox, Box).
    auth_kind: ClassVar[str] = "keys"
    #: The user's connection form; secret fields go to the sealed credentials.
    fields: ClassVar[tuple[ConfigField, ...]] = ()
    #: Uploads above this many bytes take the multipart / chunked path.
    default_chunk_threshold: ClassVar[int] = 8 * 1024 * 1024
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
        """Normalise and validate the admin's non-secret settings (ValidationFailed)."""
        return dict(config)

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
