"""Connecting an SFTP server through the real services, the REST API and the CLI, against
OpenSSH's sshd on 127.0.0.1: the host key is shown and must be confirmed before anything is
sent; the confirmed key is pinned; a changed key marks the connection for reconnection;
deactivating the user deletes the synced copy from the server."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from strongroom.core.errors import ValidationFailed
from strongroom.storage import registry, services
from strongroom.storage.models import ProviderSettings, StorageConnection

from .helpers import admin, api_for, user_make
from .sftp_servers import SshServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SshServer]:
    server = SshServer(tmp_path / "sshd").start()
    yield server
    server.stop()


@pytest.fixture
def enabled(server: SshServer) -> SshServer:
    services.provider_settings_update(
        actor=admin(),
        provider="sftp",
        enabled=True,
        config={"hosts": [f"127.0.0.1:{server.port}"]},
    )
    return server


def _input(server: SshServer, folder: Path, **config: object) -> tuple[dict, dict]:
    return (
        {
            "host": "127.0.0.1",
            "port": server.port,
            "username": server.user,
            "folder": str(folder),
            **config,
        },
        {"private_key": server.client_key},
    )


def test_connect_shows_the_host_key_then_pins_the_confirmed_one(
    enabled: SshServer, tmp_path: Path
) -> None:
    user = user_make()
    folder = tmp_path / "sync"
    folder.mkdir()
    config, creds = _input(enabled, folder)
    with pytest.raises(ValidationFailed) as excinfo:
        services.storage_connection_save(
            actor=user, provider="sftp", config=config, credentials=creds
        )
    shown = f"ssh-ed25519 {enabled.host_fingerprint}"
    assert excinfo.value.details["error"] == "sftp_host_key_unconfirmed"
    assert excinfo.value.details["host_key"] == shown
    assert enabled.host_fingerprint in excinfo.value.message
    assert not StorageConnection.objects.filter(user=user).exists()
    assert list(folder.iterdir()) == []  # no login, no probe file

    conn = services.storage_connection_save(
        actor=user, provider="sftp", config={**config, "host_key": shown}, credentials=creds
    )
    assert conn.config["host_key"] == shown and conn.is_connected
    assert "private_key" not in json.dumps(conn.config)
    assert enabled.client_key not in str(conn.credentials)  # sealed
    provider = registry.provider_for_connection(conn)
    provider.put(services.SYNCED_OBJECT_NAME, b"copy")
    assert (folder / services.SYNCED_OBJECT_NAME).read_bytes() == b"copy"

    # The server is reinstalled: its new key is refused naming both fingerprints.
    enabled.restart(new_host_key=True)
    with pytest.raises(ValidationFailed) as changed:
        services.storage_connection_save(
            actor=user, provider="sftp", config={**config, "host_key": shown}, credentials=creds
        )
    assert changed.value.details["error"] == "sftp_host_key_changed"
    assert enabled.host_fingerprint in changed.value.message
    assert shown in changed.value.message
    conn.refresh_from_db()
    assert conn.config["host_key"] == shown  # nothing changed


def test_api_scan_then_connect(enabled: SshServer, tmp_path: Path) -> None:
    user = user_make()
    api = api_for(user)
    folder = tmp_path / "api-sync"
    folder.mkdir()
    scanned = api.post(
        "/storage/providers/sftp/host-key", {"host": "127.0.0.1", "port": enabled.port}
    )
    assert scanned.status_code == 200, scanned.content
    body = scanned.json()
    assert body["fingerprint"] == enabled.host_fingerprint
    assert body["host_key"] == f"ssh-ed25519 {enabled.host_fingerprint}"
    config, creds = _input(enabled, folder)
    unconfirmed = api.post(
        "/storage/connections", {"provider": "sftp", "config": config, "credentials": creds}
    )
    assert unconfirmed.status_code == 400
    error = unconfirmed.json()["error"]
    assert error["code"] == "storage_check_failed"
    assert error["details"]["host_key"] == body["host_key"]
    assert "PRIVATE KEY" not in unconfirmed.content.decode()
    made = api.post(
        "/storage/connections",
        {
            "provider": "sftp",
            "config": {**config, "host_key": body["host_key"]},
            "credentials": creds,
        },
    )
    assert made.status_code == 201, made.content
    assert made.json()["config"]["host_key"] == body["host_key"]
    assert "private_key" not in made.content.decode()
    # Internal addresses not on the allow-list: refused before any connection.
    refused = api.post("/storage/providers/sftp/host-key", {"host": "10.0.0.7", "port": 22})
    assert refused.status_code == 400
    assert "allow-list" in refused.json()["error"]["message"]


def test_scan_needs_the_provider_enabled(server: SshServer) -> None:
    ProviderSettings.objects.filter(provider="sftp").delete()
    with pytest.raises(ValidationFailed) as excinfo:
        services.storage_host_key_scan(
            actor=user_make(), provider="sftp", host="127.0.0.1", port=server.port
        )
    assert "has not enabled" in excinfo.value.message


def test_cli_host_key_prints_the_fingerprint(enabled: SshServer) -> None:
    from strongroom import cli

    user = user_make()
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(
            [
                "host-key",
                "--user",
                user.username,
                "--host",
                "127.0.0.1",
                "--port",
                str(enabled.port),
            ]
        )
    assert code == 0, err.getvalue()
    assert out.getvalue().strip() == f"ssh-ed25519 {enabled.host_fingerprint}"
    assert "ssh-keygen -lf" in err.getvalue()


def test_deactivating_the_user_deletes_the_copy_on_the_server(
    enabled: SshServer, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    from strongroom.accounts.services import user_deactivate

    user = user_make()
    folder = tmp_path / "leaver"
    folder.mkdir()
    config, creds = _input(enabled, folder, host_key=f"ssh-ed25519 {enabled.host_fingerprint}")
    conn = services.storage_connection_save(
        actor=user, provider="sftp", config=config, credentials=creds
    )
    registry.provider_for_connection(conn).put(services.SYNCED_OBJECT_NAME, b"copy")
    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate(actor=admin(), user=user)
    conn.refresh_from_db()
    assert conn.credentials is None and conn.status == "disconnected"
    assert not (folder / services.SYNCED_OBJECT_NAME).exists()
