"""SFTP in the sync suites: OpenSSH's sshd on 127.0.0.1 behind the TCP fault relay
(tests/storage/sftp_servers.py), started once per test session. Each user logs in with a key
of their own, and connects the way a person does: the host key is scanned, then confirmed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storage.sftp_servers import SftpFaults, SshServer, TcpFaultProxy, key_pair
from strongroom.storage import services as storage

from . import KillTarget, SyncTarget

_RUNNING: dict[str, Any] = {}


def _server(request: pytest.FixtureRequest) -> tuple[SshServer, TcpFaultProxy]:
    """One sshd and relay for the whole session (stopped when pytest ends)."""
    if not _RUNNING:
        base = request.getfixturevalue("tmp_path_factory").mktemp("sync-sshd")
        server = SshServer(base).start()
        relay = TcpFaultProxy(server.port)
        _RUNNING.update(server=server, relay=relay)

        def stop() -> None:
            relay.close()
            server.stop()
            _RUNNING.clear()

        request.config.add_cleanup(stop)
    relay = _RUNNING["relay"]
    relay.clear()
    return _RUNNING["server"], relay


def sync_target(request: pytest.FixtureRequest) -> SyncTarget:
    from sync.helpers import admin

    server, relay = _server(request)
    tmp: Path = request.getfixturevalue("tmp_path")
    storage.provider_settings_update(
        actor=admin(), provider="sftp", enabled=True, config={"hosts": [f"127.0.0.1:{relay.port}"]}
    )
    public_keys: dict[str, str] = {}

    def connect(user: Any) -> Any:
        folder = tmp / f"sftp-{user.username}"
        folder.mkdir()
        private, public = key_pair()
        server.authorize(public)
        public_keys[str(folder)] = public
        shown = storage.storage_host_key_scan(
            actor=user, provider="sftp", host="127.0.0.1", port=relay.port
        )
        return storage.storage_connection_save(
            actor=user,
            provider="sftp",
            config={
                "host": "127.0.0.1",
                "port": relay.port,
                "username": server.user,
                "folder": str(folder),
                "host_key": shown["host_key"],
            },
            credentials={"private_key": private},
        )

    return SyncTarget(
        provider="sftp",
        connect=connect,
        read=lambda conn, name: (Path(conn.config["folder"]) / name).read_bytes(),
        faults=SftpFaults(relay),
        break_auth=lambda conn: server.revoke(public_keys[conn.config["folder"]]),
        retry_after=False,
    )


def kill_target(request: pytest.FixtureRequest) -> KillTarget:
    server, relay = _server(request)
    base: Path = request.getfixturevalue("tmp_path") / "sftp-root"
    base.mkdir()
    pin = f"ssh-ed25519 {server.host_fingerprint}"
    users = 8
    keys = [key_pair() for _ in range(users)]
    for _, public in keys:
        server.authorize(public)

    def connection(u: int) -> tuple[dict[str, Any], dict[str, Any]]:
        folder = base / f"tech{u}"
        folder.mkdir(exist_ok=True)
        config = {
            "host": "127.0.0.1",
            "port": relay.port,
            "username": server.user,
            "folder": str(folder),
            "host_key": pin,
        }
        return config, {"private_key": keys[u][0]}

    def copies(u: int, name: str) -> list[bytes]:
        path = base / f"tech{u}" / name
        return [path.read_bytes()] if path.exists() else []

    return KillTarget(
        provider="sftp",
        env={},
        admin={"config": {"hosts": [f"127.0.0.1:{relay.port}"]}},
        connection=connection,
        copies=copies,
        slow_uploads=lambda n: relay.slow_next(n, 0.5),
        users=users,
        temps=lambda: sorted(p.name for p in base.rglob(".strongroom-tmp-*")),
    )
