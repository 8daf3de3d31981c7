"""The provider kit's OAuth half: one token helper for every OAuth provider (Dropbox, Box).

- Refresh before expiry: ``access_token()`` refreshes when the token expires within
  ``margin`` seconds (a token without a stated expiry is used until refused).
- Refresh on 401: ``call(attempt)`` runs ``attempt(token)``; when it raises ``TokenExpired``
  (the provider's reading of a 401 expired/invalid token), the token is refreshed once and
  the attempt repeated once.
- Cross-process lock with re-read: a refresh runs inside ``provider.credentials_lock()``
  (a database row lock shared by every process), which yields the credentials as stored;
  when another process already stored a newer, unexpired token, that token is used and no
  refresh is made (Box refresh tokens are single-use). A thread lock covers one instance.
- Store before use: the new token set goes to ``provider.on_credentials_changed`` before
  anything uses it.
- Revoke: ``revoke(send)`` hands the current credentials to the provider's revoke request
  and forgets them, whatever the answer.

The provider supplies only ``request(refresh_token) -> dict`` (its token endpoint: the new
``access_token``, ``expires_at`` and, where tokens rotate, ``refresh_token``) and classifies
its own errors.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from strongroom.core.errors import ValidationFailed
from strongroom.storage import http, net
from strongroom.storage.base import (
    ConfigField,
    Provider,
    ProxyConfig,
    StorageAuthError,
    StoragePermanentError,
    TestResult,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TokenExpired(Exception):
    """Raised by an attempt when the service refused the access token as expired."""


def expires_at(seconds_to_live: Any) -> float | None:
    """Epoch seconds when a token living ``seconds_to_live`` seconds (or a datetime, naive
    meaning UTC) expires; None when unknown."""
    from datetime import UTC, datetime

    if seconds_to_live in (None, ""):
        return None
    if isinstance(seconds_to_live, datetime):
        return seconds_to_live.replace(tzinfo=seconds_to_live.tzinfo or UTC).timestamp()
    return time.time() + float(seconds_to_live)


class OAuthTokens:
    def __init__(
        self,
        provider: Provider,
        *,
        request: Callable[[str], dict[str, Any]],
        margin: float,
        reauth: str,
    ) -> None:
        self.provider = provider
        self.request = request
        self.margin = margin
        #: What the user must do when the tokens are gone ("reconnect Dropbox (...)").
        self.reauth = reauth
        self._lock = threading.Lock()

    def expiring(self, credentials: dict[str, Any]) -> bool:
        if not credentials.get("access_token"):
            return True
        when = credentials.get("expires_at")
        if when in (None, "", 0):
            return False
        return float(when) - time.time() <= self.margin

    def access_token(self) -> str:
        """A usable access token: refreshed first when it expires within the margin."""
        credentials = self.provider.credentials
        token = str(credentials.get("access_token") or "")
        if self.expiring(credentials):
            token = self.refresh(token)
        return token

    def refresh(self, stale: str) -> str:
        """A new access token instead of ``stale`` (at most one refresh per stored refresh
        token across every process), stored before it is returned."""
        provider = self.provider
        with self._lock, provider.credentials_lock() as stored:
            current = dict(stored) if isinstance(stored, dict) and stored else provider.credentials
            token = str(current.get("access_token") or "")
            if token and token != stale and not self.expiring(current):
                provider.credentials = dict(current)  # another job refreshed: use its token
                return token
            refresh_token = str(current.get("refresh_token") or "")
            if not refresh_token:
                raise StorageAuthError(f"the connection holds no refresh token: {self.reauth}")
            new = {**current, **self.request(refresh_token)}
            if provider.on_credentials_changed is not None:
                provider.on_credentials_changed(new)  # stored BEFORE use (single-use tokens)
            provider.credentials = new
            logger.info("%s: access token refreshed", provider.name)
            return str(new["access_token"])

    def call(self, attempt: Callable[[str], T]) -> T:
        """``attempt(token)``; after a ``TokenExpired``, one refresh and one more attempt."""
        token = self.access_token()
        try:
            return attempt(token)
        except TokenExpired:
            pass
        token = self.refresh(token)
        try:
            return attempt(token)
        except TokenExpired:
            raise StorageAuthError(
                f"the access token expired and could not be renewed: {self.reauth}"
            ) from None

    def revoke(self, send: Callable[[dict[str, Any]], None]) -> None:
        """Revoke the grant at the provider (``send``), then forget the credentials."""
        try:
            if self.provider.credentials:
                send(dict(self.provider.credentials))
        finally:
            self.provider.credentials = {}


#: What an OAuth provider keeps of the credentials it is given (``token_credentials``).
TOKEN_FIELDS = ("access_token", "refresh_token", "expires_at", "token_type")


def token_credentials(
    credentials: dict[str, Any], *, service: str, extra: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An OAuth provider's ``validate_config``: no config, and the token fields of
    ``credentials`` (``TOKEN_FIELDS`` plus ``extra``); refused with ValidationFailed (field
    "code", "authorise <service> first") unless both tokens are there."""
    creds = {str(k): credentials[k] for k in (*TOKEN_FIELDS, *extra) if k in credentials}
    if not creds.get("access_token") or not creds.get("refresh_token"):
        raise ValidationFailed(f"authorise {service} first (no tokens)", field="code")
    return {}, creds


def client_secret_field(
    *, help: str = "Write-only: stored encrypted and never shown again.", max_length: int = 256
) -> ConfigField:
    """The admin card's write-only ``client_secret`` field of an OAuth app."""
    return ConfigField(
        "client_secret",
        "Client secret",
        level="admin",
        secret=True,
        kind="password",
        required=False,
        max_length=max_length,
        help=help,
    )


def app_credentials(
    secret: dict[str, Any],
    *,
    id_pattern: re.Pattern[str],
    secret_pattern: re.Pattern[str],
    id_required: str,
    id_invalid: str,
    secret_required: str,
    secret_invalid: str,
) -> dict[str, Any]:
    """An OAuth provider's ``validate_admin_secret`` for a client ID and secret: both
    stripped, required and matching their pattern, refused with the provider's own wording
    (ValidationFailed on field "client_id" / "client_secret")."""
    client_id = str(secret.get("client_id") or "").strip()
    client_secret = str(secret.get("client_secret") or "").strip()
    if not client_id:
        raise ValidationFailed(id_required, field="client_id")
    if not id_pattern.match(client_id):
        raise ValidationFailed(id_invalid, field="client_id")
    if not client_secret:
        raise ValidationFailed(secret_required, field="client_secret")
    if not secret_pattern.match(client_secret):
        raise ValidationFailed(secret_invalid, field="client_secret")
    return {"client_id": client_id, "client_secret": client_secret}


def stored_app(admin_secret: dict[str, Any], *, app: str) -> tuple[str, str]:
    """The stored (client ID, client secret) of the OAuth app; refused with
    StoragePermanentError "the administrator has not entered <app> client ID and secret"
    (``app`` e.g. "the Box app's") when either is missing."""
    client_id = str(admin_secret.get("client_id") or "")
    client_secret = str(admin_secret.get("client_secret") or "")
    if not client_id or not client_secret:
        raise StoragePermanentError(f"the administrator has not entered {app} client ID and secret")
    return client_id, client_secret


def probe_operator_urls(name: str, urls: Iterable[str], *, proxy: ProxyConfig | None) -> TestResult:
    """An OAuth provider's ``test_connection``: ``net.probe`` of each URL in turn (through
    ``proxy``, with the kit's CA rule), the first failure or else the last answer. The URLs
    are the operator's settings, never an admin's or user's input, so an internal answer is
    still reported as stage only."""
    ca_certs = http.ca_file()
    result: TestResult | None = None
    for url in urls:
        result = net.probe(name, url, proxy=proxy, ca_certs=ca_certs, allow_internal=True)
        if not result.ok:
            return result
    assert result is not None  # noqa: S101 - every caller passes at least one URL
    return result


class OAuthProvider(Provider):
    """The kit's base for an OAuth provider (Box, Google Drive, OneDrive): the redirect
    flow, ``validate_config`` by ``token_credentials`` and ``test_connection`` by
    ``probe_operator_urls``. A subclass sets ``token_service`` (and ``token_extra``) and
    returns its operator URLs from ``probe_urls``."""

    auth_kind: ClassVar[str] = "oauth"
    oauth_flow: ClassVar[str] = "redirect"
    #: The service in "authorise <service> first (no tokens)".
    token_service: ClassVar[str] = ""
    #: Credential fields kept besides ``TOKEN_FIELDS``.
    token_extra: ClassVar[tuple[str, ...]] = ()
    #: The admin's chunk threshold (``admin_threshold``): besides ``threshold_name`` and
    #: ``threshold_minimum``, an upper limit and the provider's refusal ("" for the kit's).
    threshold_maximum: ClassVar[int | None] = None
    threshold_refusal: ClassVar[str] = ""

    @classmethod
    def admin_threshold(cls, config: dict[str, Any]) -> dict[str, int]:
        """``threshold_setting`` with the class's name, limits and refusal."""
        return cls.threshold_setting(
            config,
            what=cls.threshold_name,
            minimum=cls.threshold_minimum,
            maximum=cls.threshold_maximum,
            refusal=cls.threshold_refusal,
        )

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """By default the ``timeout`` is kept and the chunk threshold checked
        (``admin_threshold``); anything else is dropped."""
        out = {k: v for k, v in dict(config).items() if k == "timeout"}
        return out | cls.admin_threshold(config)

    @classmethod
    def validate_config(
        cls, config: dict[str, Any], credentials: dict[str, Any], admin_config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return token_credentials(credentials, service=cls.token_service, extra=cls.token_extra)

    @classmethod
    def probe_urls(cls, admin_config: dict[str, Any]) -> tuple[str, ...]:
        """The URLs "Test connection" probes: the operator's settings (never a user's input)."""
        return ()

    @classmethod
    def test_connection(
        cls, *, admin_config: dict[str, Any], proxy: ProxyConfig | None
    ) -> TestResult:
        urls = cls.probe_urls(admin_config)
        if not urls:
            return super().test_connection(admin_config=admin_config, proxy=proxy)
        return probe_operator_urls(cls.name, urls, proxy=proxy)
