"""Cloud storage endpoints of the REST API (mounted at /api/v1/ by strongroom.api.main).

Admin: ``GET/PUT /storage/settings`` (providers, S3 endpoint allow-list, proxy; the proxy
password is write-only), ``POST /storage/providers/{name}/test``.
User: ``GET /storage/connections``, ``POST /storage/connections`` (verifies with a real
request before saving; 400 ``storage_check_failed`` with the precise reason),
``DELETE /storage/connections/{id}?delete_remote_copy=true``,
``POST /storage/providers/{name}/host-key`` (an SFTP server's host key fingerprint, to
confirm; a connection without a confirmed ``host_key`` gets 400 ``storage_check_failed``
with ``details.error == "sftp_host_key_unconfirmed"`` and ``details.host_key``). Credentials
are never returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema, Status

from strongroom.core.request import client_ip
from strongroom.storage import oauth, registry, services
from strongroom.storage.models import StorageConnection

router = Router(tags=["storage"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class ProviderSettingsOut(Schema):
    name: str
    label: str
    enabled: bool
    config: dict[str, Any]
    has_secret: bool


class ProxyOut(Schema):
    enabled: bool
    host: str
    port: int
    username: str
    has_password: bool


class SettingsOut(Schema):
    providers: list[ProviderSettingsOut]
    proxy: ProxyOut


class ProviderSettingsIn(Schema):
    name: str
    enabled: bool | None = None
    config: dict[str, Any] | None = None
    secret: dict[str, Any] | None = None  # write-only admin secrets (e.g. a client secret)


class ProxyIn(Schema):
    enabled: bool
    host: str = ""
    port: int = 3128
    username: str = ""
    password: str | None = None  # None keeps the stored password, "" removes it


class SettingsIn(Schema):
    providers: list[ProviderSettingsIn] = []
    proxy: ProxyIn | None = None


class TestResultOut(Schema):
    ok: bool
    provider: str
    stage: str
    message: str
    target: str
    via_proxy: str
    status: int | None


class ConnectionOut(Schema):
    id: UUID
    provider: str
    label: str
    status: str
    status_message: str
    account_label: str
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_checked_at: datetime | None


class ConnectionIn(Schema):
    provider: str
    config: dict[str, Any] = {}
    credentials: dict[str, Any] = {}


def _settings_out() -> dict[str, Any]:
    providers = []
    for name in registry.provider_names():
        row = services.provider_settings_get(name)
        providers.append(
            {
                "name": name,
                "label": registry.provider_class(name).label,
                "enabled": row.enabled,
                "config": row.config,
                "has_secret": row.secret is not None,
            }
        )
    proxy = services.proxy_settings_get()
    return {
        "providers": providers,
        "proxy": {
            "enabled": proxy.enabled,
            "host": proxy.host,
            "port": proxy.port,
            "username": proxy.username,
            "has_password": proxy.password is not None,
        },
    }


def _conn_out(conn: StorageConnection) -> dict[str, Any]:
    return {
        "id": conn.pk,
        "provider": conn.provider,
        "label": registry.provider_class(conn.provider).label,
        "status": conn.status,
        "status_message": conn.status_message,
        "account_label": conn.account_label,
        "config": conn.config,
        "created_at": conn.created_at,
        "updated_at": conn.updated_at,
        "last_checked_at": conn.last_checked_at,
    }


@router.get("/storage/settings", response=SettingsOut)
def settings_get(request: HttpRequest) -> dict[str, Any]:
    services._require_admin(_actor(request))
    return _settings_out()


@router.put("/storage/settings", response=SettingsOut)
def settings_put(request: HttpRequest, payload: SettingsIn) -> dict[str, Any]:
    actor = _actor(request)
    services._require_admin(actor)
    with transaction.atomic():  # all or nothing
        _settings_apply(request, actor, payload)
    return _settings_out()


def _settings_apply(request: HttpRequest, actor: Any, payload: SettingsIn) -> None:
    for item in payload.providers:
        services.provider_settings_update(
            actor=actor,
            provider=item.name,
            enabled=item.enabled,
            config=item.config,
            secret=item.secret,
            client_ip=client_ip(request),
        )
    if payload.proxy is not None:
        services.proxy_settings_update(
            actor=actor, client_ip=client_ip(request), **payload.proxy.dict()
        )


@router.post("/storage/providers/{name}/test", response=TestResultOut)
def provider_test(request: HttpRequest, name: str) -> dict[str, Any]:
    result = services.provider_test_connection(
        actor=_actor(request), provider=name, client_ip=client_ip(request)
    )
    return result.as_dict()


@router.get("/storage/connections", response=list[ConnectionOut])
def connections_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [_conn_out(c) for c in services.storage_connections_for(_actor(request))]


@router.post("/storage/connections", response={201: ConnectionOut})
def connection_create(request: HttpRequest, payload: ConnectionIn) -> Status:
    conn = services.storage_connection_save(
        actor=_actor(request),
        provider=payload.provider,
        config=payload.config,
        credentials=payload.credentials,
        client_ip=client_ip(request),
    )
    return Status(201, _conn_out(conn))


class HostKeyIn(Schema):
    host: str
    port: int = 22


class HostKeyOut(Schema):
    host_key: str
    key_type: str
    fingerprint: str


@router.post("/storage/providers/{name}/host-key", response=HostKeyOut)
def host_key_scan(request: HttpRequest, name: str, payload: HostKeyIn) -> dict[str, str]:
    """The SSH host key the server presents (SFTP), to compare before trusting it: send it
    back as ``config.host_key`` when creating the connection."""
    return services.storage_host_key_scan(
        actor=_actor(request), provider=name, host=payload.host, port=payload.port
    )


class OAuthStartOut(Schema):
    authorize_url: str
    state: str
    flow: str
    expires_at: datetime


class OAuthCompleteIn(Schema):
    state: str
    code: str


@router.post("/storage/oauth/{provider}/start", response=OAuthStartOut)
def oauth_start(request: HttpRequest, provider: str) -> dict[str, Any]:
    """Start an OAuth authorisation (Dropbox, Box): open ``authorize_url`` in a browser,
    then send the code (pasted, or from the redirect) with ``state`` to ``complete``."""
    start = oauth.storage_oauth_begin(
        actor=_actor(request), provider=provider, client_ip=client_ip(request)
    )
    return {
        "authorize_url": start.authorize_url,
        "state": start.state,
        "flow": start.flow,
        "expires_at": start.expires_at,
    }


@router.post("/storage/oauth/{provider}/complete", response={201: ConnectionOut})
def oauth_complete(request: HttpRequest, provider: str, payload: OAuthCompleteIn) -> Status:
    conn = oauth.storage_oauth_complete(
        actor=_actor(request),
        provider=provider,
        state=payload.state,
        code=payload.code,
        client_ip=client_ip(request),
    )
    return Status(201, _conn_out(conn))


@router.delete("/storage/connections/{connection_id}", response=ConnectionOut)
def connection_delete(
    request: HttpRequest, connection_id: UUID, delete_remote_copy: bool = False
) -> dict[str, Any]:
    conn = services.storage_connection_disconnect(
        actor=_actor(request),
        connection_id=connection_id,
        delete_remote_copy=delete_remote_copy,
        client_ip=client_ip(request),
    )
    return _conn_out(conn)
