"""The provider registry: one ``register(Class)`` line per provider module, lazy imports
(an SDK is imported only when its provider is used), and building a provider instance from a
user's ``StorageConnection`` plus the admin's settings."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from strongroom.storage.base import Provider, ProxyConfig, StorageAuthError

if TYPE_CHECKING:
    from strongroom.storage.models import StorageConnection

logger = logging.getLogger(__name__)

#: Registry name -> module that registers it. Add one line per provider.
PROVIDER_MODULES: dict[str, str] = {
    "local": "strongroom.storage.providers.local",
    "s3": "strongroom.storage.providers.s3",
    "dropbox": "strongroom.storage.providers.dropbox",
    "box": "strongroom.storage.providers.box",
}

_registered: dict[str, type[Provider]] = {}


def register(cls: type[Provider]) -> type[Provider]:
    """Register a provider class under ``cls.name`` (usable as a decorator)."""
    _registered[cls.name] = cls
    return cls


def provider_class(name: str) -> type[Provider]:
    """The class registered as ``name``; imports its module on first use."""
    if name not in _registered:
        module = PROVIDER_MODULES.get(name)
        if module is None:
            raise KeyError(f"unknown storage provider {name!r}")
        importlib.import_module(module)
    return _registered[name]


def provider_names() -> list[str]:
    """Every known provider name, without importing any SDK."""
    return list(PROVIDER_MODULES)


def providers_available() -> list[str]:
    """Names of the providers the admin enabled."""
    from strongroom.storage.models import ProviderSettings

    enabled = set(ProviderSettings.objects.filter(enabled=True).values_list("provider", flat=True))
    return [n for n in PROVIDER_MODULES if n in enabled]


def proxy_config() -> ProxyConfig | None:
    """The admin's proxy, when enabled (password unsealed in memory only), pinned: its host
    resolved once and checked (``net.proxy_pin``), its URL naming the checked address.
    Raises ``net.AddressRefused`` (an internal address the operator did not allow),
    ``net.NameNotResolved`` or ValidationFailed (a malformed host stored before this check):
    all StorageError or ValidationFailed, so callers report them like any provider failure."""
    from strongroom.core.secrets import unseal
    from strongroom.storage import net
    from strongroom.storage.models import ProxySettings

    row = ProxySettings.objects.filter(pk=1).first()
    if row is None or not row.enabled or not row.host:
        return None
    return net.proxy_pin(
        ProxyConfig(
            host=row.host,
            port=row.port,
            username=row.username,
            password=unseal(row, "password") or "",
        )
    )


def admin_settings(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, unsealed secret dict) of the admin's settings for provider ``name``."""
    from strongroom.core.secrets import unseal
    from strongroom.storage.models import ProviderSettings

    row = ProviderSettings.objects.filter(provider=name).first()
    if row is None:
        return {}, {}
    secret = unseal(row, "secret")
    return dict(row.config or {}), (json.loads(secret) if secret else {})


def build_provider(
    name: str,
    *,
    config: dict[str, Any],
    credentials: dict[str, Any],
    **kwargs: Any,
) -> Provider:
    """A provider instance from explicit values plus the admin's settings and proxy."""
    cls = provider_class(name)
    admin_config, admin_secret = admin_settings(name)
    return cls(
        config=config,
        credentials=credentials,
        admin_config=admin_config,
        admin_secret=admin_secret,
        proxy=proxy_config(),
        **kwargs,
    )


def provider_for_connection(connection: StorageConnection, **kwargs: Any) -> Provider:
    """The provider for a user's connection, credentials unsealed in memory only.

    Raises StorageAuthError when the connection holds no credentials (disconnected or
    needs re-authorisation): the user must reconnect.
    """
    from strongroom.core.secrets import unseal

    if connection.status != connection.Status.CONNECTED:
        raise StorageAuthError(
            f"the {connection.provider} connection needs to be reconnected "
            f"(status: {connection.status})"
        )
    raw = unseal(connection, "credentials")
    if raw is None:
        raise StorageAuthError(f"the {connection.provider} connection has no credentials")
    conn_id = connection.pk

    def on_credentials_changed(new: dict[str, Any]) -> None:
        _store_credentials(conn_id, new)

    return build_provider(
        connection.provider,
        config=dict(connection.config or {}),
        credentials=json.loads(raw),
        on_credentials_changed=on_credentials_changed,
        credentials_lock=lambda: _credentials_lock(conn_id),
        owner=str(connection.user_id),
        **kwargs,
    )


def _store_credentials(connection_id: Any, credentials: dict[str, Any]) -> None:
    """Persist refreshed OAuth tokens at once (before they are used)."""
    from django.db import transaction

    from strongroom.core.secrets import seal_into
    from strongroom.storage.models import StorageConnection

    with transaction.atomic():
        conn = StorageConnection.objects.select_for_update().get(pk=connection_id)
        seal_into(conn, "credentials", json.dumps(credentials))
        conn.save(update_fields=["credentials", "updated_at"])
    logger.info("storage connection %s: refreshed credentials stored", connection_id)


@contextlib.contextmanager
def _credentials_lock(connection_id: Any) -> Iterator[dict[str, Any] | None]:
    """Serialise token refreshes of one connection across processes, and yield the
    credentials as stored *inside* the lock (None when erased), so a waiter that gets the
    lock after another process refreshed uses the new tokens instead of refreshing again
    (Box refresh tokens are single-use).

    PostgreSQL: a row lock (SELECT ... FOR UPDATE). SQLite ignores FOR UPDATE, so the
    transaction's first statement is an UPDATE of the row: it takes SQLite's database write
    lock (the settings also begin transactions IMMEDIATE), which other writers wait for
    (busy timeout), and the credentials are read after it."""
    from django.db import connection, transaction
    from django.db.models import F

    from strongroom.core.secrets import unseal
    from strongroom.storage.models import StorageConnection

    with transaction.atomic():
        if connection.vendor == "sqlite":
            StorageConnection.objects.filter(pk=connection_id).update(status=F("status"))
        row = StorageConnection.objects.select_for_update().filter(pk=connection_id).first()
        raw = unseal(row, "credentials") if row is not None else None
        yield json.loads(raw) if raw else None
