"""WebDAV (wsgidav laid out like Nextcloud, behind the fault proxy) in the sync suites."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from standins.faults import ProxyFaults

from . import KillTarget, SyncTarget


def _proxy(request: pytest.FixtureRequest, origin: str) -> Any:
    from storage.faultproxy import FaultProxy

    proxy = FaultProxy(upstream=origin)
    request.addfinalizer(proxy.close)
    return proxy


def sync_target(request: pytest.FixtureRequest) -> SyncTarget:
    from strongroom.storage import services as storage
    from sync.helpers import admin

    server = request.getfixturevalue("wsgidav_server")
    proxy = _proxy(request, server.origin)
    storage.provider_settings_update(
        actor=admin(), provider="webdav", enabled=True, config={"servers": [proxy.url]}
    )
    path = server.url[len(server.origin) :]

    def connect(user: Any) -> Any:
        folder = server.folder(f"sync-{uuid.uuid4().hex[:10]}")
        return storage.storage_connection_save(
            actor=user,
            provider="webdav",
            config={
                "server_url": proxy.url + path,
                "username": server.username,
                "folder": folder.name,
            },
            credentials={"password": server.password},
        )

    def break_auth(conn: Any) -> None:
        # The account's app password revoked: the server answers 401 for that folder.
        proxy.add_fault("status", status=401, match=conn.config["folder"], times=20)

    return SyncTarget(
        provider="webdav",
        connect=connect,
        read=lambda conn, name: (server.root / conn.config["folder"] / name).read_bytes(),
        faults=ProxyFaults(proxy, parts=lambda r: "/remote.php/dav/uploads/" in r.target),
        break_auth=break_auth,
    )


def kill_target(request: pytest.FixtureRequest) -> KillTarget:
    server = request.getfixturevalue("wsgidav_server")
    proxy = _proxy(request, server.origin)
    run = uuid.uuid4().hex[:8]
    folders = [server.folder(f"kill-{run}-tech{u}") for u in range(8)]
    path = server.url[len(server.origin) :]

    def copies(u: int, name: str) -> list[bytes]:
        target = folders[u] / name
        return [target.read_bytes()] if target.is_file() else []

    def connection(u: int) -> tuple[dict[str, Any], dict[str, Any]]:
        config = {
            "server_url": proxy.url + path,
            "username": server.username,
            "folder": folders[u].name,
        }
        return config, {"password": server.password}

    return KillTarget(
        provider="webdav",
        env={},
        admin={"config": {"servers": [proxy.url]}},
        connection=connection,
        copies=copies,
        slow_uploads=lambda n: proxy.add_fault("delay", method="PUT", delay=0.5, times=n),
        users=len(folders),
        temps=lambda: sorted(p.name for f in folders for p in f.glob(".strongroom-tmp-*")),
    )
