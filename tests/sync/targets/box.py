"""Box (the HTTPS stand-in) in the sync suites."""

from __future__ import annotations

from typing import Any

import pytest

from standins.box_api import BoxFaults
from strongroom.storage import services as storage

#: Uploads above this many bytes take Box's chunked path (the stand-in allows it below 20 MB).
CHUNK = 16 * 1024


def enable(box: Any) -> None:
    """The admin enables Box with the stand-in's app (and the small chunk threshold)."""
    from strongroom.storage.models import ProviderSettings
    from sync.helpers import admin

    storage.provider_settings_update(
        actor=admin(),
        provider="box",
        enabled=True,
        secret={"client_id": box.client_id, "client_secret": box.client_secret},
    )
    # Box itself (and the admin form) accept sessions only from 20 MB: set on the row.
    ProviderSettings.objects.filter(provider="box").update(config={"chunk_threshold": CHUNK})


def connect(box: Any, user: Any) -> tuple[Any, Any]:
    """(connection, Box user): the user's own Box account, tokens saved by the service."""
    box_user = box.add_user(f"Box {user.username}", f"{user.username}@example.com")
    conn = storage.storage_connection_save(
        actor=user, provider="box", config={}, credentials=box.credentials_for(box_user.id)
    )
    return conn, box_user


def sync_target(request: pytest.FixtureRequest) -> Any:
    from . import SyncTarget

    box = request.getfixturevalue("box_api")
    enable(box)
    owners: dict[Any, str] = {}

    def connect_user(user: Any) -> Any:
        conn, box_user = connect(box, user)
        owners[conn.pk] = box_user.id
        return conn

    def break_auth(conn: Any) -> None:
        creds = storage.unsealed_credentials(conn)
        with box.lock:
            box.access[creds["access_token"]]["revoked"] = True
            box.refresh[creds["refresh_token"]]["used"] = True

    return SyncTarget(
        provider="box",
        connect=connect_user,
        read=lambda conn, name: box.read(owners[conn.pk], name),
        faults=BoxFaults(box, lambda: []),
        break_auth=break_auth,
    )


def kill_target(request: pytest.FixtureRequest) -> Any:
    from . import KillTarget

    box = request.getfixturevalue("box_api")
    users = [box.add_user(f"Kill {u}", f"kill{u}@example.com") for u in range(6)]

    def copies(u: int, name: str) -> list[bytes]:
        item = box.file(users[u].id, name)
        return list(item.versions) if item is not None else []

    return KillTarget(
        provider="box",
        env={
            "STRONGROOM_BOX_API_URL": box.api_url,
            "STRONGROOM_BOX_UPLOAD_URL": box.upload_url,
            "STRONGROOM_BOX_AUTHORIZE_URL": box.authorize_url,
            "STRONGROOM_PROVIDER_CA_BUNDLE": box.ca_path,
        },
        admin={"secret": {"client_id": box.client_id, "client_secret": box.client_secret}},
        connection=lambda u: ({}, box.credentials_for(users[u].id)),
        copies=copies,
        slow_uploads=lambda n: box.fail("delay", "POST /api/2.0/files/", times=n, delay=0.4),
        users=len(users),
    )
