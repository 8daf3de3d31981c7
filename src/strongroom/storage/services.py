"""Cloud storage services: admin settings, proxy, user connections. Every change is audited
(audit record first, same transaction, fail closed). Credentials are sealed at rest and
never logged, never put in error messages, never passed as task arguments (a job carries
only IDs and calls ``registry.provider_for_connection``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from strongroom.accounts.models import Role
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import ErrorCode, NotFound, PermissionDenied, ValidationFailed
from strongroom.core.secrets import seal_into, unseal
from strongroom.storage import net, registry
from strongroom.storage.base import (
    Provider,
    StorageError,
    StorageNotFound,
    TestResult,
)
from strongroom.storage.models import ProviderSettings, ProxySettings, StorageConnection

logger = logging.getLogger(__name__)

#: The name of the synced offline file inside a user's container (bucket prefix, folder).
SYNCED_OBJECT_NAME = "strongroom-offline.html"
#: One name per offline copy format (sync/models.py CopyFormat).
SYNCED_OBJECT_NAMES = {"html": SYNCED_OBJECT_NAME, "kdbx": "strongroom-offline.kdbx"}


def synced_object_name(connection: StorageConnection | None = None, fmt: str = "html") -> str:
    """The object name sync jobs write in ``fmt`` and "also delete the synced copy" removes
    (it removes the copy of every format)."""
    return SYNCED_OBJECT_NAMES[fmt]


# ---------------------------------------------------------------------------------------
# Admin settings
# ---------------------------------------------------------------------------------------


def _require_admin(actor: Any) -> None:
    if (
        actor is None
        or not getattr(actor, "is_active", False)
        or getattr(actor, "role", None) != Role.ADMIN
    ):
        raise PermissionDenied("only an administrator can change cloud storage settings")


def provider_settings_get(provider: str) -> ProviderSettings:
    _known(provider)
    row, _ = ProviderSettings.objects.get_or_create(provider=provider)
    return row


def _known(provider: str) -> None:
    if provider not in registry.provider_names():
        raise NotFound(f"unknown storage provider {provider!r}", provider=provider)


def storage_audit(
    action: str,
    *,
    actor: Any,
    details: dict[str, Any],
    label: str = "",
    client_ip: str | None = None,
    outcome: str = "success",
    provider: str = "",
    connection_id: str = "",
) -> None:
    """One audit record: about a provider's admin settings when ``provider`` is given,
    otherwise about a user's storage connection (``connection_id`` once it has one):
    connect, refused connect, OAuth start, disconnect, re-authorisation needed. ``label``
    names the object (by default the label of ``provider``)."""
    audit_record(
        actor=actor,
        action=action,
        object_type="storage_provider" if provider else "storage_connection",
        object_id=provider or connection_id,
        object_name=label or registry.provider_class(provider).label,
        client_ip=client_ip,
        outcome=outcome,
        details=details,
    )


def provider_settings_update(
    *,
    actor: Any,
    provider: str,
    enabled: bool | None = None,
    config: dict[str, Any] | None = None,
    secret: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> ProviderSettings:
    """Enable/disable a provider and set its admin config (validated by the provider class:
    ``Provider.validate_admin_config``) and, when given, its sealed admin secret."""
    _require_admin(actor)
    _known(provider)
    cls = registry.provider_class(provider)
    if config is not None:
        config = cls.validate_admin_config(config)
    if secret:
        secret = cls.validate_admin_secret(secret)
    with transaction.atomic():
        row, _ = ProviderSettings.objects.select_for_update().get_or_create(provider=provider)
        changed: list[str] = []
        if enabled is not None and enabled != row.enabled:
            changed.append("enabled")
        if config is not None and config != row.config:
            changed.append("config")
        if secret is not None:
            changed.append("secret")
        storage_audit(
            AuditAction.STORAGE_PROVIDER_SETTINGS,
            actor=actor,
            provider=provider,
            client_ip=client_ip,
            details={
                "changed": changed,
                "enabled": row.enabled if enabled is None else enabled,
                "config": config if config is not None else row.config,
            },
        )
        if enabled is not None:
            row.enabled = enabled
        if config is not None:
            row.config = config
        if secret is not None:
            seal_into(row, "secret", json.dumps(secret) if secret else None)
        row.updated_by = actor
        row.save()
    logger.info("storage provider %s settings changed: %s", provider, ",".join(changed))
    return row


def proxy_settings_get() -> ProxySettings:
    row, _ = ProxySettings.objects.get_or_create(pk=1)
    return row


def proxy_settings_update(
    *,
    actor: Any,
    enabled: bool,
    host: str = "",
    port: int = 3128,
    username: str = "",
    password: str | None = None,
    client_ip: str | None = None,
) -> ProxySettings:
    """``password=None`` keeps the stored password, ``""`` erases it (write-only field)."""
    _require_admin(actor)
    host = (host or "").strip()
    username = (username or "").strip()
    if enabled and not host:
        raise ValidationFailed("the proxy host is required to enable the proxy", field="host")
    if host and any(c in host for c in "/@ \t?#"):
        raise ValidationFailed(
            "the proxy host must be a host name or IP address (no scheme, path or user)",
            field="host",
        )
    if not 1 <= int(port) <= 65535:
        raise ValidationFailed("the proxy port must be between 1 and 65535", field="port")
    if host:
        host = net.check_host(host, field="host")
    if enabled:
        # The same rules as any outbound target (SSRF): resolved and checked now, and
        # again, pinned, each time a provider uses it (registry.proxy_config).
        try:
            net.check_proxy(host, int(port))
        except StorageError as exc:
            raise ValidationFailed(exc.message, field="host") from None
    with transaction.atomic():
        row, _ = ProxySettings.objects.select_for_update().get_or_create(pk=1)
        audit_record(
            actor=actor,
            action=AuditAction.STORAGE_PROXY_SETTINGS,
            object_type="storage_proxy",
            object_id="1",
            client_ip=client_ip,
            details={
                "enabled": enabled,
                "host": host,
                "port": int(port),
                "username": username,
                "password_changed": password is not None,
            },
        )
        row.enabled = enabled
        row.host = host
        row.port = int(port)
        row.username = username
        if password is not None:
            seal_into(row, "password", password or None)
        row.updated_by = actor
        row.save()
    return row


def provider_test_connection(
    *, actor: Any, provider: str, client_ip: str | None = None
) -> TestResult:
    """Check that the provider's service answers, through the admin's proxy, and say what
    failed (DNS, proxy refused, TLS, HTTP status)."""
    _require_admin(actor)
    _known(provider)
    cls = registry.provider_class(provider)
    admin_config, _secret = registry.admin_settings(provider)
    try:
        proxy = registry.proxy_config()
    except StorageError as exc:  # the proxy host is refused or does not resolve
        result = TestResult(False, provider, "proxy", exc.message)
    else:
        result = cls.test_connection(admin_config=admin_config, proxy=proxy)
    storage_audit(
        AuditAction.STORAGE_TEST_CONNECTION,
        actor=actor,
        provider=provider,
        client_ip=client_ip,
        outcome="success" if result.ok else "failure",
        details={"stage": result.stage, "target": result.target, "status": result.status},
    )
    return result


# ---------------------------------------------------------------------------------------
# User connections
# ---------------------------------------------------------------------------------------


def _enabled_class(provider: str) -> type[Provider]:
    _known(provider)
    if provider not in registry.providers_available():
        raise ValidationFailed(
            f"the administrator has not enabled {registry.provider_class(provider).label}",
            field="provider",
        )
    return registry.provider_class(provider)


def _check_message(exc: StorageError) -> str:
    return exc.message


def storage_connection_save(
    *,
    actor: Any,
    provider: str,
    config: dict[str, Any],
    credentials: dict[str, Any],
    client_ip: str | None = None,
) -> StorageConnection:
    """Connect (or reconnect) the actor to ``provider``. Validates the input, then verifies
    it with a real request (``Provider.check``) BEFORE anything is saved; a failure raises
    ValidationFailed with a precise message and changes nothing."""
    if actor is None or not getattr(actor, "is_active", False):
        raise PermissionDenied("sign in to connect cloud storage")
    cls = _enabled_class(provider)
    admin_config, admin_secret = registry.admin_settings(provider)
    config, credentials = cls.validate_config(config or {}, credentials or {}, admin_config)
    try:
        instance = cls(
            config=config,
            credentials=credentials,
            admin_config=admin_config,
            admin_secret=admin_secret,
            proxy=registry.proxy_config(),
            owner=str(actor.pk),
        )
        account_label = instance.check()
    except StorageError as exc:
        logger.info(
            "storage connect check failed for user %s provider %s: %s",
            actor.pk,
            provider,
            exc.code,
        )
        storage_audit(
            AuditAction.STORAGE_CONNECT,
            actor=actor,
            label=cls.label,
            client_ip=client_ip,
            outcome="failure",
            details={"provider": provider, "error": exc.code, "message": exc.message},
        )
        raise ValidationFailed(
            f"{cls.label}: {_check_message(exc)}",
            code=ErrorCode.STORAGE_CHECK_FAILED,
            error=exc.code,
            # What the user must confirm (an SFTP server's host key fingerprint); never secret.
            **getattr(exc, "details", {}),
        ) from None
    with transaction.atomic():
        conn = (
            StorageConnection.objects.select_for_update()
            .filter(user=actor, provider=provider)
            .first()
        )
        if conn is None:
            conn = StorageConnection(user=actor, provider=provider)
        storage_audit(
            AuditAction.STORAGE_CONNECT,
            actor=actor,
            connection_id=str(conn.pk),
            label=cls.label,
            client_ip=client_ip,
            details={"provider": provider, "config": config, "account": account_label},
        )
        conn.config = config
        # instance.credentials: an OAuth provider whose check() refreshed its token holds the
        # new pair (Box refresh tokens are single-use: the old one is spent).
        seal_into(conn, "credentials", json.dumps(instance.credentials or credentials))
        conn.status = StorageConnection.Status.CONNECTED
        conn.status_message = ""
        conn.account_label = account_label[:300]
        conn.last_checked_at = timezone.now()
        conn.save()
    logger.info("user %s connected storage provider %s", actor.pk, provider)
    return conn


def storage_host_key_scan(*, actor: Any, provider: str, host: str, port: int) -> dict[str, str]:
    """The host key an SSH-based server (SFTP) presents, for the user to compare and confirm
    before connecting (key exchange only: no login, nothing sent). Same address rules as a
    connection (the admin's allow-list; internal addresses refused before any packet)."""
    if actor is None or not getattr(actor, "is_active", False):
        raise PermissionDenied("sign in to connect cloud storage")
    cls = _enabled_class(provider)
    scan = getattr(cls, "host_key_scan", None)
    if scan is None:
        raise ValidationFailed(f"{cls.label} has no host key to confirm", field="provider")
    admin_config, _secret = registry.admin_settings(provider)
    try:
        key = scan(
            host=host, port=int(port), admin_config=admin_config, proxy=registry.proxy_config()
        )
    except StorageError as exc:
        raise ValidationFailed(
            f"{cls.label}: {exc.message}", code=ErrorCode.STORAGE_CHECK_FAILED, error=exc.code
        ) from None
    return {"host_key": key.pin, "key_type": key.key_type, "fingerprint": key.fingerprint}


def storage_connections_for(user: Any) -> list[StorageConnection]:
    return list(StorageConnection.objects.filter(user=user).order_by("provider"))


def storage_connection_get(*, actor: Any, connection_id: Any) -> StorageConnection:
    conn = StorageConnection.objects.filter(pk=connection_id).first()
    if conn is None or (conn.user_id != getattr(actor, "pk", None)):
        raise NotFound("no such storage connection")
    return conn


def storage_connection_disconnect(
    *,
    actor: Any,
    connection_id: Any,
    delete_remote_copy: bool = False,
    client_ip: str | None = None,
) -> StorageConnection:
    """Erase the connection's credentials (status "disconnected"); optionally delete the
    synced copy first (best effort: a failure is reported in ``status_message`` and the
    audit record, and the credentials are erased anyway)."""
    conn = storage_connection_get(actor=actor, connection_id=connection_id)
    remote_result = _delete_remote_copy(conn) if delete_remote_copy else ""
    _revoke_at_provider(conn)
    _erase(conn, actor=actor, client_ip=client_ip, remote_result=remote_result, reason="user")
    return conn


def _revoke_at_provider(conn: StorageConnection) -> None:
    """OAuth providers: revoke the token at the provider (best effort; the credentials are
    erased here whatever the outcome)."""
    conn.refresh_from_db()  # tokens refreshed while deleting the copy are the live ones
    if conn.credentials is None or conn.status != StorageConnection.Status.CONNECTED:
        return
    try:
        registry.provider_for_connection(conn, timeout=10).revoke()
    except StorageError as exc:
        logger.warning("storage connection %s: token not revoked: %s", conn.pk, exc.code)


def _delete_remote_copy(conn: StorageConnection) -> str:
    if conn.credentials is None or conn.status != StorageConnection.Status.CONNECTED:
        return "not deleted: the connection has no valid credentials"
    try:
        provider = registry.provider_for_connection(conn)
        for fmt in SYNCED_OBJECT_NAMES:
            try:
                provider.delete(synced_object_name(conn, fmt))
            except StorageNotFound:
                continue
    except StorageError as exc:
        logger.warning("storage connection %s: synced copy not deleted: %s", conn.pk, exc.code)
        return f"not deleted: {exc.message}"
    return "deleted"


def _erase(
    conn: StorageConnection,
    *,
    actor: Any,
    client_ip: str | None,
    remote_result: str,
    reason: str,
) -> None:
    with transaction.atomic():
        locked = StorageConnection.objects.select_for_update().get(pk=conn.pk)
        storage_audit(
            AuditAction.STORAGE_DISCONNECT,
            actor=actor,
            connection_id=str(conn.pk),
            label=conn.provider,
            client_ip=client_ip,
            details={"provider": conn.provider, "remote_copy": remote_result, "reason": reason},
        )
        locked.credentials = None
        locked.status = StorageConnection.Status.DISCONNECTED
        locked.status_message = (
            f"synced copy {remote_result}" if remote_result else "disconnected"
        )[:500]
        locked.save(update_fields=["credentials", "status", "status_message", "updated_at"])
    conn.refresh_from_db()


def storage_connection_mark_needs_reauth(*, connection_id: Any, message: str) -> None:
    """Called by sync jobs on StorageAuthError: the credentials no longer work, so they are
    erased and the user must reconnect. ``message`` must be secret-free (an error message).
    The caller notifies the user."""
    with transaction.atomic():
        conn = StorageConnection.objects.select_for_update().filter(pk=connection_id).first()
        if conn is None or conn.status == StorageConnection.Status.DISCONNECTED:
            return
        storage_audit(
            AuditAction.STORAGE_NEEDS_REAUTH,
            actor=None,
            connection_id=str(conn.pk),
            label=conn.provider,
            details={"provider": conn.provider, "user_id": str(conn.user_id), "message": message},
        )
        conn.status = StorageConnection.Status.NEEDS_REAUTH
        conn.status_message = message[:500]
        conn.credentials = None
        conn.save(update_fields=["credentials", "status", "status_message", "updated_at"])
    logger.info("storage connection %s needs re-authorisation", connection_id)


def user_storage_erase(
    *, user: Any, delete_remote_copies: bool = True, actor: Any = None
) -> list[Callable[[], None]]:
    """Erase every credential of ``user`` (deactivation). Returns callables that delete the
    synced copies with the providers built *before* erasing (run them after commit)."""
    deleters: list[Callable[[], None]] = []
    for conn in StorageConnection.objects.filter(user=user).exclude(credentials=None):
        if delete_remote_copies and conn.status == StorageConnection.Status.CONNECTED:
            try:
                # Short timeouts: this runs after the deactivation commits, in its request.
                provider = registry.provider_for_connection(conn, timeout=10)
            except (StorageError, ValueError):  # no credentials, proxy refused...
                provider = None
            if provider is not None:
                deleters.append(_remote_deleter(provider, conn.pk))
        _erase(conn, actor=actor, client_ip=None, remote_result="", reason="user deactivated")
    return deleters


def _remote_deleter(provider: Provider, conn_id: Any) -> Callable[[], None]:
    def run() -> None:
        try:
            for fmt in SYNCED_OBJECT_NAMES:
                try:
                    provider.delete(synced_object_name(None, fmt))
                except StorageNotFound:
                    continue
            provider.revoke()
            logger.info("storage connection %s: synced copy deleted on deactivation", conn_id)
        except StorageError as exc:
            logger.warning(
                "storage connection %s: synced copy not deleted on deactivation: %s",
                conn_id,
                exc.code,
            )

    return run


def unsealed_credentials(conn: StorageConnection) -> dict[str, Any]:
    """For tests and the provider registry only."""
    raw = unseal(conn, "credentials")
    return json.loads(raw) if raw else {}


def demo_enable_local_folder(*, base_dir: str | None = None) -> ProviderSettings:
    """Enable the local folder provider with ``<data dir>/cloud-sync`` (the embedded demo;
    idempotent; audited as a system change)."""
    from pathlib import Path

    from django.conf import settings

    path = Path(base_dir) if base_dir else Path(settings.DATA_DIR) / "cloud-sync"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with transaction.atomic():
        row, _ = ProviderSettings.objects.select_for_update().get_or_create(provider="local")
        if row.enabled and row.config.get("base_dir"):
            return row
        storage_audit(
            AuditAction.STORAGE_PROVIDER_SETTINGS,
            actor=None,
            provider="local",
            details={"changed": ["enabled", "config"], "base_dir": str(path), "demo": True},
        )
        row.enabled = True
        row.config = {**row.config, "base_dir": str(path)}
        row.save()
    return row
