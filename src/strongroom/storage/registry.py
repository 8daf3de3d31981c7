"""The provider registry. A provider registers itself, once: its module (any module in the
``strongroom.storage.providers`` package, or one named by a ``strongroom.storage_providers``
entry point of an installed distribution) calls ``register(TheClass)``. There is no list to
edit. Provider modules are found by a package scan and imported on first need; they import
their SDK inside functions only, so finding them costs no SDK import."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import pkgutil
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from strongroom.storage.base import Provider, ProxyConfig, StorageAuthError

if TYPE_CHECKING:
    from strongroom.storage.models import StorageConnection

logger = logging.getLogger(__name__)

PACKAGE = "strongroom.storage.providers"
ENTRY_POINT_GROUP = "strongroom.storage_providers"

_registered: dict[str, type[Provider]] = {}
_loaded = False
_load_lock = threading.Lock()


def register(cls: type[Provider]) -> type[Provider]:
    """Register a provider class under ``cls.name`` (usable as a decorator)."""
    other = _registered.get(cls.name)
    if other is not None and other.__qualname__ != cls.__qualname__:
        raise RuntimeError(f"two storage providers are named {cls.name!r}")
    _registered[cls.name] = cls
    return cls


def _modules() -> list[str]:
    from importlib.metadata import entry_points

    package = importlib.import_module(PACKAGE)
    names = [
        f"{PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    names += [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    return names


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if not _loaded:
            for module in _modules():
                importlib.import_module(module)
            _loaded = True


def provider_class(name: str) -> type[Provider]:
    """The class registered as ``name``."""
    if name not in _registered:
        _load()
    try:
        return _registered[name]
    except KeyError:
        raise KeyError(f"unknown storage provider {name!r}") from None


def provider_names() -> list[str]:
    """Every registered provider name, in display order."""
    _load()
    return sorted(_registered, key=lambda n: (_registered[n].order, n))


def providers_available() -> list[str]:
    """Names of the providers the admin enabled."""
    from strongroom.storage.models import ProviderSettings

    enabled = set(ProviderSettings.objects.filter(enabled=True).values_list("provider", flat=True))
    return [n for n in provider_names() if n in enabled]


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
