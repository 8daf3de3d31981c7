"""Sync to Google Drive (Drive v3 over HTTPS to the Google stand-in), what is Drive's own:
six jobs in separate OS processes of one user whose access token has expired make exactly
one refresh (the kit's cross-process lock) and all land as revisions of one file. The flow,
retries, refused credentials and worker kill are the provider-parametrised suites'."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from cli.helpers import LOGIN_PASSWORD, make_installation
from strongroom.exports import offline_file

PASSPHRASE = "plum orbit quietly seventy lantern"

PROCESSES = 6

SEED_ONE_USER = f"""
from strongroom.accounts import services as people
from strongroom.storage import registry
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(actor=boss, provider="gdrive", enabled=True, secret=APP)
user = people.user_create(
    actor=None, username="tech", password={LOGIN_PASSWORD!r}, role="password_admin"
)
for i in range(3):
    r = vault.resource_create(actor=user, name=f"host-{{i}}", host="10.0.0.1")
    vault.account_create(actor=user, resource_id=r.pk, username="root", password=f"pw-{{i}}")
conn = storage.storage_connection_save(
    actor=user, provider="gdrive", config={{}}, credentials=CREDS
)
jobs = [
    str(sync.sync_request(
        actor=user, connection_id=conn.pk, passphrase={PASSPHRASE!r}, reason="lock test"
    ).pk)
    for _ in range({PROCESSES})
]
# Test setup: the stored pair is replaced by one whose access token has already expired
# (as an hour later), so every job must refresh before its first request to Google.
registry._store_credentials(conn.pk, EXPIRED)
result = jobs
"""

# One job per process, run by the real job code as a worker would. Each process is set up
# (Django, the google-auth imported) before it says "ready"; all then start on the same line
# from the test, so their refreshes meet.
RUN_ONE_JOB = """
import json, sys, django
django.setup()
import strongroom.storage.providers.gdrive  # noqa: F401
from strongroom.sync import services as sync
print("ready", flush=True)
sys.stdin.readline()
job = sync.sync_job_run(job_id=sys.argv[1], worker_id=f"proc-{sys.argv[1]}")
print("@@RESULT@@" + json.dumps([job.state, job.error_code, job.last_error]), flush=True)
"""

FINAL = """
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync.models import SyncJob
conn = StorageConnection.objects.get(user__username="tech", provider="gdrive")
result = {
    "status": conn.status,
    "credentials": storage.unsealed_credentials(conn),
    "jobs": {str(j.pk): [j.state, j.attempts, j.worker_id] for j in SyncJob.objects.all()},
}
"""


@pytest.mark.slow
def test_six_processes_with_an_expired_token_refresh_exactly_once(tmp_path, gdrive_standin):
    g = gdrive_standin
    g.clear()
    g_user = g.add_user("Lock Test", "lock@example.com")
    app = {"client_id": g.client_id, "client_secret": g.client_secret}
    expired = g.credentials_for(g_user.id, ttl=0)  # Google refuses this access token too
    expired["expires_at"] = 0
    env = {**g.env(), "DJANGO_SETTINGS_MODULE": "strongroom.config.settings"}
    inst, cleanup = make_installation(tmp_path / "inst")
    procs: list[subprocess.Popen[str]] = []
    try:
        inst.ok("migrate")
        prelude = (
            f"APP = {app!r}\nCREDS = {json.dumps(g.credentials_for(g_user.id))}\n"
            f"EXPIRED = {json.dumps(expired)}\n"
        )
        jobs = inst.script(prelude + SEED_ONE_USER, env=env, timeout=600)
        assert len(set(jobs)) == PROCESSES
        refreshes_before = g.refresh_count
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
        assert g.refresh_count - refreshes_before == 1
        final = inst.script(FINAL, env=env)
        assert final["status"] == "connected"
        stored = final["credentials"]
        assert stored["access_token"] != expired["access_token"]
        assert g.access[stored["access_token"]]["expires"] > time.time()
        workers = {w for _state, _attempts, w in final["jobs"].values()}
        assert workers == {f"proc-{j}" for j in jobs}
        # One file (one ID), one revision per job: the phone's shortcut keeps working.
        [item] = g.files_of(g_user.id)
        assert len(item.revisions) == PROCESSES
        for data in item.revisions:
            payload = offline_file.offline_file_open(html=data, passphrase=PASSPHRASE)
            assert sorted(e.name for e in payload.entries) == ["host-0", "host-1", "host-2"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)
        g.clear()
        cleanup()
