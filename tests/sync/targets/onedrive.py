"""OneDrive / SharePoint (the Microsoft identity platform + Graph stand-in) in the sync
suites. Uploads take Graph's upload-session path (threshold 4 KiB, 320 KiB chunks), so the
worker-kill suite kills workers mid upload session."""

from __future__ import annotations

from typing import Any

import pytest

from standins.graph_api import CHUNK_UNIT, GraphFaults
from strongroom.storage import services as storage

THRESHOLD = 4096


def admin_settings(graph: Any) -> dict[str, Any]:
    return {
        "config": {
            "client_id": graph.client_id,
            "tenant": "organizations",
            "chunk_threshold": THRESHOLD,
            "chunk_size": CHUNK_UNIT,
        },
        "secret": {"client_secret": graph.client_secret},
    }


def enable(graph: Any) -> None:
    """The admin enables OneDrive with the stand-in's app registration."""
    from sync.helpers import admin

    storage.provider_settings_update(
        actor=admin(), provider="onedrive", enabled=True, **admin_settings(graph)
    )


def connect(graph: Any, user: Any) -> tuple[Any, Any]:
    """(connection, Graph user): the user's own OneDrive, tokens saved by the service."""
    ms_user = graph.add_user(f"MS {user.username}")
    conn = storage.storage_connection_save(
        actor=user, provider="onedrive", config={}, credentials=graph.credentials_for(ms_user.id)
    )
    return conn, ms_user


def sync_target(request: pytest.FixtureRequest) -> Any:
    from . import SyncTarget

    graph = request.getfixturevalue("graph_api")
    enable(graph)
    owners: dict[Any, str] = {}

    def connect_user(user: Any) -> Any:
        conn, ms_user = connect(graph, user)
        owners[conn.pk] = ms_user.id
        return conn

    return SyncTarget(
        provider="onedrive",
        connect=connect_user,
        read=lambda conn, name: graph.read(owners[conn.pk], name),
        faults=GraphFaults(graph, lambda: []),
        break_auth=lambda conn: graph.revoke_grants(owners[conn.pk]),
    )


def kill_target(request: pytest.FixtureRequest) -> Any:
    from . import KillTarget

    graph = request.getfixturevalue("graph_standin")
    users = [graph.add_user(f"Kill {u}") for u in range(6)]
    return KillTarget(
        provider="onedrive",
        env=graph.env(),
        admin=admin_settings(graph),
        connection=lambda u: ({}, graph.credentials_for(users[u].id)),
        copies=lambda u, name: graph.versions(users[u].id, name),
        # Held chunk PUTs: a worker killed now dies inside an open upload session.
        slow_uploads=lambda n: graph.fail("delay", "PUT /v1.0/upload/", times=n, delay=0.4),
        users=len(users),
        # Open upload sessions are never visible as files; an abandoned one is left to expire.
        temps=lambda: [],
    )
