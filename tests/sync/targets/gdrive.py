"""Google Drive (the HTTPS stand-in of Google OAuth + Drive v3) in the sync suites."""

from __future__ import annotations

from typing import Any

import pytest

from standins.gdrive_api import GDriveFaults
from strongroom.storage import services as storage

#: Uploads above this many bytes take Drive's resumable path.
CHUNK = 256 * 1024


def enable(g: Any) -> None:
    """The admin enables Google Drive with the stand-in's OAuth client."""
    from sync.helpers import admin

    storage.provider_settings_update(
        actor=admin(),
        provider="gdrive",
        enabled=True,
        config={"chunk_threshold": str(CHUNK)},
        secret={"client_id": g.client_id, "client_secret": g.client_secret},
    )


def connect(g: Any, user: Any) -> tuple[Any, Any]:
    """(connection, Google user): the user's own Drive, tokens saved by the service."""
    g_user = g.add_user(f"Drive {user.username}", f"{user.username}@example.com")
    conn = storage.storage_connection_save(
        actor=user, provider="gdrive", config={}, credentials=g.credentials_for(g_user.id)
    )
    return conn, g_user


def sync_target(request: pytest.FixtureRequest) -> Any:
    from . import SyncTarget

    g = request.getfixturevalue("gdrive_api")
    enable(g)
    owners: dict[Any, str] = {}

    def connect_user(user: Any) -> Any:
        conn, g_user = connect(g, user)
        owners[conn.pk] = g_user.id
        return conn

    def break_auth(conn: Any) -> None:
        creds = storage.unsealed_credentials(conn)
        g.revoke_grant(creds["refresh_token"])  # the user removed the app's access

    return SyncTarget(
        provider="gdrive",
        connect=connect_user,
        read=lambda conn, name: g.read(owners[conn.pk], name),
        faults=GDriveFaults(g, lambda: []),
        break_auth=break_auth,
    )


def kill_target(request: pytest.FixtureRequest) -> Any:
    from . import KillTarget

    g = request.getfixturevalue("gdrive_api")
    users = [g.add_user(f"Kill {u}", f"kill{u}@example.com") for u in range(6)]

    def copies(u: int, name: str) -> list[bytes]:
        item = g.file(users[u].id, name)
        return list(item.revisions) if item is not None else []

    return KillTarget(
        provider="gdrive",
        env=g.env(),
        admin={
            "config": {"chunk_threshold": str(CHUNK)},
            "secret": {"client_id": g.client_id, "client_secret": g.client_secret},
        },
        connection=lambda u: ({}, g.credentials_for(users[u].id)),
        copies=copies,
        slow_uploads=lambda n: g.fail("delay", "/upload/drive/v3/files", times=n, delay=0.4),
        users=len(users),
    )
