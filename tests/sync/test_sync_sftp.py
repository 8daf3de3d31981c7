"""Sync to SFTP beyond the shared provider suites (tests/sync/test_sync_providers.py and
test_sync_worker_kill.py run SFTP through tests/sync/targets/sftp.py): a third-party client
(rclone) fetches what the sync wrote and `strongroom open` decrypts it to exactly the user's
scope; a kept copy is rebuilt on the server after a change (auto-sync); a server whose host
key changed is refused, not retried, and the user is told."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from django.utils import timezone

from storage.sftp_servers import SshServer, key_pair, rclone_read
from strongroom.notifications.models import Notification
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState

from .helpers import (
    PASSPHRASE,
    Clock,
    account_make,
    admin,
    auto_jobs,
    kept_copy,
    opened,
    resource_make,
    scope_make,
    sync_start,
    user_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(tmp_path: Path):
    server = SshServer(tmp_path / "sshd").start()
    storage.provider_settings_update(
        actor=admin(), provider="sftp", enabled=True, config={"hosts": [f"127.0.0.1:{server.port}"]}
    )
    yield server
    server.stop()


def _connect(user, server: SshServer, folder: Path) -> StorageConnection:
    private, public = key_pair()
    server.authorize(public)
    shown = storage.storage_host_key_scan(
        actor=user, provider="sftp", host="127.0.0.1", port=server.port
    )
    return storage.storage_connection_save(
        actor=user,
        provider="sftp",
        config={
            "host": "127.0.0.1",
            "port": server.port,
            "username": server.user,
            "folder": str(folder),
            "host_key": shown["host_key"],
        },
        credentials={"private_key": private},
    )


def test_rclone_fetches_the_copy_and_strongroom_open_decrypts_it_to_the_scope(
    server: SshServer, tmp_path: Path, cheap_policy, django_capture_on_commit_callbacks
) -> None:
    from strongroom import cli

    alice = user_make("password_admin")
    scope = scope_make(alice, 4)
    scope_make(user_make("password_admin"), 2, prefix="other")  # someone else's: never in it
    folder = tmp_path / "alice-sync"
    folder.mkdir()
    conn = _connect(alice, server, folder)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert job.result_location.startswith(f"sftp://{server.user}@127.0.0.1:{server.port}/")

    listing, fetched = rclone_read(
        port=server.port,
        user=server.user,
        key_file=server.client_key_file,
        path=f"{folder}/{job.object_name}",
    )
    assert listing == [job.object_name]  # no temporary file left beside it
    copy = tmp_path / "fetched.html"
    copy.write_bytes(fetched)
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["open", str(copy), "--passphrase-file", str(secret), "--json"])
    assert code == 0
    entries = json.loads(out.getvalue())["entries"]
    assert {(e["name"], e["username"]): e["password"] for e in entries} == scope


def test_changed_host_key_fails_the_job_at_once_and_tells_the_user(
    server: SshServer, tmp_path: Path, cheap_policy
) -> None:
    alice = user_make("password_admin")
    scope_make(alice, 2)
    folder = tmp_path / "sync"
    folder.mkdir()
    conn = _connect(alice, server, folder)
    good = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert good.state == JobState.SUCCEEDED, good.last_error
    before = (folder / good.object_name).read_bytes()
    pinned = conn.config["host_key"]

    server.restart(new_host_key=True)
    job = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert job.state == JobState.FAILED and job.attempts == 1  # never retried
    assert job.error_code == "sftp_host_key_changed"  # a StorageAuthError: reconnect
    assert pinned in job.last_error and server.host_fingerprint in job.last_error
    assert (folder / good.object_name).read_bytes() == before
    conn.refresh_from_db()
    assert conn.status == StorageConnection.Status.NEEDS_REAUTH
    assert "has changed" in conn.status_message
    note = Notification.objects.filter(user=alice, level="error").latest("created_at")
    assert "host key" in (note.title + " " + note.body)


def test_kept_copy_is_rebuilt_on_the_server_after_a_change(
    server: SshServer, tmp_path: Path, cheap_policy, run, settings
) -> None:
    from strongroom.sync import copies
    from strongroom.vault import services as vault

    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    bob = user_make("password_admin")
    resource = resource_make(bob, name="edge-switch")
    account = account_make(bob, resource, username="admin", password="pw-0")
    folder = tmp_path / "bob-sync"
    folder.mkdir()
    copy = kept_copy(bob, _connect(bob, server, folder), run)
    landed = folder / copy.object_name
    assert opened(landed.read_bytes()) == {("edge-switch", "admin"): "pw-0"}

    run(vault.account_update, actor=bob, account_id=account.pk, password="pw-1")
    copy.refresh_from_db()
    assert copy.due_at is not None
    clock = Clock(start=timezone.now())
    clock.now = copy.due_at
    assert run(copies.sync_copies_sweep, clock=clock).started == 1
    [job] = auto_jobs(copy)
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert opened(landed.read_bytes()) == {("edge-switch", "admin"): "pw-1"}
    assert sorted(p.name for p in folder.iterdir()) == [copy.object_name]
