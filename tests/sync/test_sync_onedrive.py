"""Sync to OneDrive (Microsoft Graph stand-in), what is OneDrive's own: the refresh-token
rotation under 6 concurrent OS processes (exactly one refresh, the rotated pair stored),
disconnect deleting the synced copy and forgetting the tokens, no token or client secret
anywhere. The flow, Retry-After, refused credentials (one notification) and the worker
kill are the provider-parametrised suites' (test_sync_providers.py, test_sync_worker_kill.py
with tests/sync/targets/onedrive.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from cli.helpers import LOGIN_PASSWORD, make_installation
from strongroom.exports import offline_file
from strongroom.storage import services as storage
from strongroom.sync.models import JobState

from .helpers import opened, scope_make, sync_start, user_make
from .targets import onedrive as targets_onedrive

PASSPHRASE = "plum orbit quietly seventy lantern"
PROCESSES = 6


@pytest.fixture
def onedrive_enabled(db, graph_api):
    targets_onedrive.enable(graph_api)
    return graph_api


def test_disconnect_deletes_the_copy_and_forgets_the_tokens(
    onedrive_enabled, django_capture_on_commit_callbacks, caplog
):
    graph = onedrive_enabled
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn, ms_user = targets_onedrive.connect(graph, alice)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert opened(graph.read(ms_user.id, job.object_name)) == scope
    creds = storage.unsealed_credentials(conn)
    conn = storage.storage_connection_disconnect(
        actor=alice, connection_id=conn.pk, delete_remote_copy=True
    )
    assert graph.names(ms_user.id) == []
    assert conn.status == "disconnected"
    assert storage.unsealed_credentials(conn) == {}
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (graph.client_secret, creds["access_token"], creds["refresh_token"]):
        assert secret not in logs


SEED_ONE_USER = f"""
from strongroom.accounts import services as people
from strongroom.storage import registry
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(actor=boss, provider="onedrive", enabled=True, **ADMIN)
user = people.user_create(
    actor=None, username="tech", password={LOGIN_PASSWORD!r}, role="password_admin"
)
for i in range(3):
    r = vault.resource_create(actor=user, name=f"host-{{i}}", host="10.0.0.1")
    vault.account_create(actor=user, resource_id=r.pk, username="root", password=f"pw-{{i}}")
conn = storage.storage_connection_save(
    actor=user, provider="onedrive", config={{}}, credentials=CREDS
)
jobs = [
    str(sync.sync_request(
        actor=user, connection_id=conn.pk, passphrase={PASSPHRASE!r}, reason="lock test"
    ).pk)
    for _ in range({PROCESSES})
]
# The stored pair is replaced by one whose access token has already expired (as an hour
# later), so every job must refresh before its first request to Graph.
registry._store_credentials(conn.pk, EXPIRED)
result = jobs
"""

RUN_ONE_JOB = """
import json, sys, django
django.setup()
import msal  # noqa: F401
import strongroom.storage.providers.onedrive  # noqa: F401
from strongroom.sync import services as sync
print("ready", flush=True)
sys.stdin.readline()
job = sync.sync_job_run(job_id=sys.argv[1], worker_id=f"proc-{sys.argv[1]}")
print("@@RESULT@@" + json.dumps([job.state, job.error_code, job.last_error]), flush=True)
"""

FINAL = """
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
conn = StorageConnection.objects.get(user__username="tech", provider="onedrive")
result = {"status": conn.status, "credentials": storage.unsealed_credentials(conn)}
"""


@pytest.mark.slow
def test_six_processes_with_an_expired_token_refresh_exactly_once(tmp_path, graph_standin):
    graph = graph_standin
    graph.clear()
    ms_user = graph.add_user("Lock Test")
    expired = graph.credentials_for(ms_user.id, ttl=0)  # Graph refuses this access token too
    expired["expires_at"] = 0
    env = {**graph.env(), "DJANGO_SETTINGS_MODULE": "strongroom.config.settings"}
    inst, cleanup = make_installation(tmp_path / "inst")
    procs: list[subprocess.Popen[str]] = []
    try:
        inst.ok("migrate")
        prelude = (
            f"ADMIN = {targets_onedrive.admin_settings(graph)!r}\n"
            f"CREDS = {json.dumps(graph.credentials_for(ms_user.id))}\n"
            f"EXPIRED = {json.dumps(expired)}\n"
        )
        jobs = inst.script(prelude + SEED_ONE_USER, env=env, timeout=600)
        assert len(set(jobs)) == PROCESSES
        refreshes_before = graph.refresh_count
        for job_id in jobs:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", RUN_ONE_JOB, job_id],
                    env={**inst.env, **env},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:
            line = proc.stdout.readline()
            assert line == "ready\n", (line, proc.stderr.read() if proc.poll() is not None else "")
        for proc in procs:  # all set up: release them together
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, (out, err[-3000:])
            line = next(ln for ln in out.splitlines() if ln.startswith("@@RESULT@@"))
            results.append(json.loads(line.removeprefix("@@RESULT@@")))
        assert results == [["succeeded", "", ""]] * PROCESSES
        assert graph.refresh_count - refreshes_before == 1
        final = inst.script(FINAL, env=env)
        assert final["status"] == "connected"
        stored = final["credentials"]
        # Rotation: the spent refresh token is the expired pair's; the stored one is live.
        assert stored["refresh_token"] != expired["refresh_token"]
        assert graph.refresh[expired["refresh_token"]]["used"]
        assert not graph.refresh[stored["refresh_token"]]["used"]
        assert graph.access[stored["access_token"]]["expires"] > time.time()
        versions = graph.versions(ms_user.id, graph.names(ms_user.id)[0])
        assert len(versions) == PROCESSES
        for data in versions:
            payload = offline_file.offline_file_open(html=data, passphrase=PASSPHRASE)
            assert sorted(e.name for e in payload.entries) == ["host-0", "host-1", "host-2"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)
        graph.clear()
        cleanup()
