"""Dropbox (the HTTPS stand-in) in the sync suites."""

from __future__ import annotations

from typing import Any

import pytest

from standins.dropbox_api import DropboxFaults
from strongroom.storage import services as storage


def enable(api: Any) -> None:
    from sync.helpers import admin

    storage.provider_settings_update(
        actor=admin(), provider="dropbox", enabled=True, config={"app_key": api.app_key}
    )


def connect(api: Any, user: Any, **kw: Any) -> tuple[Any, str, dict[str, Any]]:
    """(connection, account ID, tokens): tokens issued by the stand-in as an exchange would
    (the OAuth paste flow has its own tests), saved by the real service."""
    account = api.add_account(f"{user.username} Example", f"{user.username}@example.com")
    tokens = api.issue_tokens(account, **kw)
    conn = storage.storage_connection_save(
        actor=user, provider="dropbox", config={}, credentials=dict(tokens)
    )
    return conn, account, tokens


def sync_target(request: pytest.FixtureRequest) -> Any:
    from . import SyncTarget

    api = request.getfixturevalue("dropbox_api")
    enable(api)
    accounts: dict[Any, tuple[str, dict[str, Any]]] = {}

    def connect_user(user: Any) -> Any:
        conn, account, tokens = connect(api, user)
        accounts[conn.pk] = (account, tokens)
        return conn

    def break_auth(conn: Any) -> None:
        _account, tokens = accounts[conn.pk]
        api.expire(tokens["access_token"])
        api.revoke_refresh(tokens["refresh_token"])  # the user removed the app at Dropbox

    return SyncTarget(
        provider="dropbox",
        connect=connect_user,
        read=lambda conn, name: api.files(accounts[conn.pk][0])["/" + name],
        faults=DropboxFaults(api),
        break_auth=break_auth,
    )


def kill_target(request: pytest.FixtureRequest) -> Any:
    import os

    from . import KillTarget

    api = request.getfixturevalue("dropbox_api")
    accounts = [api.add_account(f"Tech {u}", f"t{u}@x.example") for u in range(10)]
    for var in ("DROPBOX_API_HOST", "DROPBOX_API_CONTENT_HOST", "DROPBOX_WEB_HOST"):
        assert os.environ[var]  # the stand-in's hosts, inherited by the subprocesses

    def copies(u: int, name: str) -> list[bytes]:
        data = api.files(accounts[u]).get("/" + name)
        return [data] if data is not None else []

    def slow_uploads(n: int) -> None:
        api.fault("/2/files/upload", "reset", reset_after=2048)
        api.fault("/2/files/upload", "delay", delay=0.5, times=n)

    return KillTarget(
        provider="dropbox",
        env={"STRONGROOM_PROVIDER_CA_BUNDLE": api.ca_path},
        admin={"config": {"app_key": api.app_key}},
        connection=lambda u: ({}, api.issue_tokens(accounts[u])),
        copies=copies,
        slow_uploads=slow_uploads,
        users=len(accounts),
        entries=30,
    )
