"""WebDAV end to end, against wsgidav laid out like Nextcloud on 127.0.0.1: the admin
enables it and restricts servers on the generated settings card, "Test connection" goes
through the admin's proxy, a user connects on the generated form and through the API, syncs
from the export dialog, is notified, keeps the copy up to date (auto-sync), and rclone, a
third-party WebDAV client, lists and fetches what landed, which ``strongroom open`` decrypts
to exactly the user's scope."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from storage.faultproxy import FaultProxy
from storage.helpers import allow_internal_proxy
from storage.webdav_servers import DavServer, rclone_remote_args
from strongroom.notifications.models import Notification
from strongroom.storage import services as storage
from strongroom.storage.models import ProviderSettings, StorageConnection
from strongroom.sync import copies
from strongroom.sync.models import JobState, SyncJob
from strongroom.vault import services as vault

from .helpers import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    Clock,
    account_make,
    admin,
    api_for,
    auto_jobs,
    kept_copy,
    opened,
    resource_make,
    scope_make,
    sync_start,
    user_make,
)

pytestmark = pytest.mark.django_db

LABEL = "WebDAV (Nextcloud, ownCloud)"


@pytest.fixture
def dav(wsgidav_server: DavServer) -> DavServer:
    return wsgidav_server


def _login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=LOGIN_PASSWORD)
    return client


def _enable(dav: DavServer) -> None:
    storage.provider_settings_update(
        actor=admin(), provider="webdav", enabled=True, config={"servers": [dav.origin]}
    )


def _form(dav: DavServer, folder: str, password: str | None = None) -> dict[str, str]:
    return {
        "server_url": dav.url,
        "username": dav.username,
        "password": password or dav.password,
        "folder": folder,
    }


def test_admin_card_enables_webdav_with_an_allow_list(dav):
    client = _login(admin())
    page = client.get("/admin/storage/").content.decode()
    assert LABEL in page and "Allowed WebDAV servers" in page
    bad = client.post("/admin/storage/webdav/", {"enabled": "on", "servers": "ftp://x"})
    assert bad.status_code == 400 and "not a valid endpoint" in bad.content.decode()
    assert not ProviderSettings.objects.filter(provider="webdav", enabled=True).exists()
    resp = client.post(
        "/admin/storage/webdav/",
        {"enabled": "on", "servers": f"{dav.origin}\nhttps://*.cloud.example.com"},
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    row = ProviderSettings.objects.get(provider="webdav")
    assert row.enabled and row.config["servers"] == [dav.origin, "https://*.cloud.example.com"]


def test_test_connection_goes_through_the_admins_proxy(dav):
    _enable(dav)
    proxy = FaultProxy()  # a forward proxy on 127.0.0.1 that records what reaches it
    try:
        allow_internal_proxy(proxy.port)
        storage.proxy_settings_update(
            actor=admin(), enabled=True, host="127.0.0.1", port=proxy.port
        )
        page = _login(admin()).post("/admin/storage/webdav/test/")
        assert page.status_code == 200
        assert "Connection works" in page.content.decode()
        result = api_for(admin()).post("/storage/providers/webdav/test").json()
        assert result["ok"] is True and result["via_proxy"] == f"http://127.0.0.1:{proxy.port}"
        assert result["target"].startswith(dav.origin)
        # Both probes went through the proxy (absolute URLs to the allow-listed server).
        seen = [r.target for r in proxy.requests]
        assert len(seen) == 2 and all(t.startswith(dav.origin) for t in seen), seen
    finally:
        proxy.close()


def test_user_connects_on_the_generated_form_and_through_the_api(dav):
    _enable(dav)
    user = user_make("password_admin")
    client = _login(user)
    assert f"Connect {LABEL}" in client.get("/storage/").content.decode()
    folder = dav.folder(f"form-{uuid.uuid4().hex[:8]}").name
    wrong = client.post("/storage/webdav/connect/", _form(dav, folder, "wrong-app-pass-99"))
    assert wrong.status_code == 400
    body = wrong.content.decode()
    assert "refused the user name or app password" in body and "wrong-app-pass-99" not in body
    missing = client.post("/storage/webdav/connect/", _form(dav, "Nope"))
    assert (
        missing.status_code == 400 and "the folder Nope does not exist" in missing.content.decode()
    )
    assert not StorageConnection.objects.filter(user=user).exists()
    resp = client.post("/storage/webdav/connect/", _form(dav, folder))
    assert resp.status_code == 302, resp.content.decode()[:2000]
    page = client.get("/storage/").content.decode()
    assert "connected" in page and f"{dav.url}{folder}/" in page
    assert dav.password not in page
    conn = StorageConnection.objects.get(user=user)
    assert conn.config == {"server_url": dav.url, "username": dav.username, "folder": folder}
    assert dav.password.encode() not in bytes(conn.credentials)

    api = api_for(user_make())
    refused = api.post(
        "/storage/connections",
        {
            "provider": "webdav",
            "config": {"server_url": "https://10.0.0.7/dav/", "username": "x", "folder": ""},
            "credentials": {"password": "x"},
        },
    )
    assert refused.status_code == 400
    assert "not on the administrator's allow-list" in refused.json()["error"]["message"]
    made = api.post(
        "/storage/connections",
        {
            "provider": "webdav",
            "config": {"server_url": dav.url, "username": dav.username, "folder": folder},
            "credentials": {"password": dav.password},
        },
    )
    assert made.status_code == 201, made.content
    assert dav.password not in made.content.decode()


def test_sync_from_the_export_dialog_notifies_and_a_third_party_client_reads_it(
    dav, cheap_policy, django_capture_on_commit_callbacks, tmp_path
):
    _enable(dav)
    alice = user_make("password_admin")
    scope = scope_make(alice, 3)
    other = user_make("password_admin")
    scope_make(other, 2, prefix="not-alices")
    folder = dav.folder(f"dialog-{uuid.uuid4().hex[:8]}").name
    client = _login(alice)
    assert client.post("/storage/webdav/connect/", _form(dav, folder)).status_code == 302
    conn = StorageConnection.objects.get(user=alice)
    assert f"Sync with {LABEL} for Mobile Access" in client.get("/export/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            f"/export/sync/{conn.pk}/",
            {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE},
            headers={"X-Requested-With": "fetch"},
        )
    assert started.status_code == 202
    job = SyncJob.objects.get(pk=started.json()["job_id"])
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert job.result_location.endswith(f"{folder}/{job.object_name}")
    note = Notification.objects.filter(user=alice).order_by("-created_at").first()
    assert note is not None and note.level == "success", (note.title, note.body)
    assert LABEL in note.title + note.body or folder in note.title + note.body
    assert [p.name for p in (dav.root / folder).iterdir()] == [job.object_name]

    # rclone lists and fetches the object over WebDAV, as a third-party client would.
    remote = rclone_remote_args(dav)
    listing = subprocess.run(
        ["rclone", "lsf", f":webdav:{folder}", *remote],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert listing.stdout.split() == [job.object_name]
    fetched = tmp_path / "fetched.html"
    subprocess.run(
        ["rclone", "copyto", f":webdav:{folder}/{job.object_name}", str(fetched), *remote],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert fetched.read_bytes() == (dav.root / folder / job.object_name).read_bytes()
    # ``strongroom open`` decrypts it to exactly alice's scope, nothing of the other user's.
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    opened_out = subprocess.run(
        [sys.executable, "-m", "strongroom.cli", "open", str(fetched), "--passphrase-file",
         str(secret), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert opened_out.returncode == 0, opened_out.stderr[-2000:]
    entries = json.loads(opened_out.stdout)["entries"]
    assert {(e["name"], e["username"]): e["password"] for e in entries} == scope
    assert opened(fetched.read_bytes()) == scope


def test_auto_sync_rebuilds_the_kept_copy_after_a_change(dav, cheap_policy, run, settings):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    _enable(dav)
    owner = user_make("password_admin")
    resource = resource_make(owner, name="core-switch")
    account = account_make(owner, resource, username="admin", password="old-Secret-1")
    folder = dav.folder(f"auto-{uuid.uuid4().hex[:8]}").name
    conn = storage.storage_connection_save(
        actor=owner,
        provider="webdav",
        config={"server_url": dav.url, "username": dav.username, "folder": folder},
        credentials={"password": dav.password},
    )
    copy = kept_copy(owner, conn, run)
    path: Path = dav.root / folder / copy.object_name
    assert opened(path.read_bytes()) == {("core-switch", "admin"): "old-Secret-1"}
    run(vault.account_update, actor=owner, account_id=account.pk, password="new-Secret-2")
    clock = Clock(start=timezone.now())
    clock.advance(61)
    assert run(copies.sync_copies_sweep, clock=clock).started == 1
    [job] = auto_jobs(copy)
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert opened(path.read_bytes()) == {("core-switch", "admin"): "new-Secret-2"}
    assert sorted(p.name for p in path.parent.iterdir()) == [copy.object_name]


def test_sync_job_failure_tells_the_user_why(dav, cheap_policy):
    _enable(dav)
    alice = user_make("password_admin")
    scope_make(alice, 1)
    folder = dav.folder(f"gone-{uuid.uuid4().hex[:8]}")
    conn = storage.storage_connection_save(
        actor=alice,
        provider="webdav",
        config={"server_url": dav.url, "username": dav.username, "folder": folder.name},
        credentials={"password": dav.password},
    )
    folder.rmdir()  # someone removed the folder in Nextcloud
    from strongroom.sync import services as sync

    job = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert job.state == JobState.FAILED
    assert f"the folder {folder.name} does not exist" in job.last_error
    note = Notification.objects.filter(user=alice).order_by("-created_at").first()
    assert note is not None and note.level == "error"
    assert f"the folder {folder.name} does not exist" in note.title + note.body
