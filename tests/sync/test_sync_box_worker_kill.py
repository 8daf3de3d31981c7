"""Fault tests with real processes and Box: a private installation, N users each connected
to their own Box account at the HTTPS stand-in, a real `strongroom worker` killed with
SIGKILL while it uploads (the stand-in slows uploads down so some are in flight), then the
sweep and a new worker. Jobs lost must be 0, and every version of every file in Box must
open (no partial or broken copy is ever visible: Box makes a version current only once it
is complete, and the stand-in does the same).

And the refresh lock across processes: several OS processes each run one sync job of the
same user, whose access token has expired, released together; Box's single-use refresh
token must be spent exactly once (the lock is in the database, not in process memory).

Runs at the real 600,000 PBKDF2 iterations (the subprocesses have no test settings), so N
is kept small."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cli.helpers import LOGIN_PASSWORD, make_installation
from strongroom.crypto import offline

PASSPHRASE = "plum orbit quietly seventy lantern"
USERS = 6
ENTRIES = 20

SEED = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(actor=boss, provider="box", enabled=True, secret=APP)
jobs = {{}}
for u, creds in enumerate(CREDS):
    user = people.user_create(
        actor=None, username=f"tech{{u}}", password={LOGIN_PASSWORD!r}, role="password_admin"
    )
    for i in range({ENTRIES}):
        r = vault.resource_create(actor=user, name=f"host-{{u}}-{{i:03d}}", host="10.0.0.1")
        vault.account_create(
            actor=user, resource_id=r.pk, username="root", password=f"pw-{{u}}-{{i}}"
        )
    conn = storage.storage_connection_save(
        actor=user, provider="box", config={{}}, credentials=creds
    )
    jobs[user.username] = str(sync.sync_request(
        actor=user, connection_id=conn.pk, passphrase={PASSPHRASE!r}, reason="kill test"
    ).pk)
result = jobs
"""

STATES = """
from strongroom.sync.models import SyncJob
result = {str(j.pk): [j.state, j.attempts, j.error_code] for j in SyncJob.objects.all()}
"""

SWEEP = """
from datetime import timedelta
from django.utils import timezone
from strongroom.sync.services import sync_jobs_sweep
r = sync_jobs_sweep(now=timezone.now() + timedelta(hours=1), queued_grace_seconds=0)
result = {"enqueued": r.enqueued, "reclaimed": r.reclaimed, "failed": r.failed}
"""


def _wait_until(condition, *, timeout: float, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


@pytest.mark.slow
def test_box_worker_killed_mid_upload_loses_no_job_and_leaves_no_broken_file(tmp_path, box_standin):
    box = box_standin
    box.clear()
    users = [box.add_user(f"Kill {u}", f"kill{u}@example.com") for u in range(USERS)]
    creds = [box.credentials_for(u.id) for u in users]
    app = {"client_id": box.client_id, "client_secret": box.client_secret}
    env = {
        "STRONGROOM_BOX_API_URL": box.api_url,
        "STRONGROOM_BOX_UPLOAD_URL": box.upload_url,
        "STRONGROOM_BOX_AUTHORIZE_URL": box.authorize_url,
        "STRONGROOM_PROVIDER_CA_BUNDLE": box.ca_path,
        "STRONGROOM_LOG_LEVEL": "INFO",
    }
    inst, cleanup = make_installation(tmp_path / "inst")
    worker = second = None

    def landed() -> int:
        return sum(1 for u in users if box.files(u.id))

    try:
        inst.ok("migrate")
        seed = f"APP = {app!r}\nCREDS = {json.dumps(creds)}\n" + SEED
        jobs = inst.script(seed, env=env, timeout=600)
        assert len(jobs) == USERS
        # Uploads take a while (the stand-in waits before answering), so the kill finds some
        # in flight.
        box.fail("delay", "POST /api/2.0/files/", times=USERS * 2, delay=0.4)
        worker = inst.start("worker", env=env)
        _wait_until(lambda: landed() >= 2, timeout=180)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        landed_before = landed()
        before = inst.script(STATES, env=env)
        in_flight = sorted(pk for pk, (state, _a, _e) in before.items() if state == "running")
        swept = inst.script(SWEEP, env=env)
        assert swept["reclaimed"] == len(in_flight)
        second = inst.start("worker", env=env)
        states: dict = {}

        def all_done() -> bool:
            states.update(inst.script(STATES, env=env))
            return all(state in {"succeeded", "failed"} for state, _a, _e in states.values())

        _wait_until(all_done, timeout=300, interval=0.2)
        lost = [pk for pk in jobs.values() if states.get(pk, ["missing"])[0] != "succeeded"]

        broken = []
        versions = 0
        for u, user in enumerate(users):
            for item in box.files(user.id):
                for data in item.versions:
                    versions += 1
                    try:
                        payload = offline.offline_file_open(html=data, passphrase=PASSPHRASE)
                    except offline.OfflineError:
                        broken.append((user.id, item.name))
                        continue
                    assert sorted(e.name for e in payload.entries) == [
                        f"host-{u}-{i:03d}" for i in range(ENTRIES)
                    ]
        report = {
            "jobs": USERS,
            "landed_before_kill": landed_before,
            "running_at_kill": len(in_flight),
            "reclaimed_by_sweep": swept["reclaimed"],
            "jobs_lost": len(lost),
            "files_in_box": sum(len(box.files(u.id)) for u in users),
            "versions_in_box": versions,
            "broken_versions": len(broken),
            "refreshes": box.refresh_count,
        }
        print("box worker kill report:", json.dumps(report))
        # The CLI once: `strongroom sync --to box --wait` for one user adds a new version of
        # that user's one file, which opens to exactly that user's entries.
        secret = tmp_path / "passphrase.txt"
        secret.write_text("another quiet meadow of lanterns\n", encoding="utf-8")
        versions_before = len(box.files(users[0].id)[0].versions)
        done = inst.ok(
            "sync", "--user", "tech0", "--to", "box", "--passphrase-file", str(secret),
            "--reason", "CLI check", "--wait", "--timeout", "120", env=env,
        )  # fmt: skip
        assert f"synced {ENTRIES} entries for tech0 to " in done.stdout
        assert "lantern" not in done.stdout + done.stderr
        assert box.client_secret not in done.stdout + done.stderr
        [item] = box.files(users[0].id)
        assert len(item.versions) == versions_before + 1
        payload = offline.offline_file_open(
            html=item.versions[-1], passphrase="another quiet meadow of lanterns"
        )
        assert sorted(e.name for e in payload.entries) == [
            f"host-0-{i:03d}" for i in range(ENTRIES)
        ]
        assert lost == [], {pk: states.get(pk) for pk in lost}
        assert broken == []
        assert report["files_in_box"] == USERS
    finally:
        box.clear()
        for proc in (worker, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        cleanup()


# -- the refresh lock across processes ---------------------------------------------------

PROCESSES = 6

SEED_ONE_USER = f"""
from strongroom.accounts import services as people
from strongroom.storage import registry
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(actor=boss, provider="box", enabled=True, secret=APP)
user = people.user_create(
    actor=None, username="tech", password={LOGIN_PASSWORD!r}, role="password_admin"
)
for i in range(3):
    r = vault.resource_create(actor=user, name=f"host-{{i}}", host="10.0.0.1")
    vault.account_create(actor=user, resource_id=r.pk, username="root", password=f"pw-{{i}}")
conn = storage.storage_connection_save(actor=user, provider="box", config={{}}, credentials=CREDS)
jobs = [
    str(sync.sync_request(
        actor=user, connection_id=conn.pk, passphrase={PASSPHRASE!r}, reason="lock test"
    ).pk)
    for _ in range({PROCESSES})
]
# Test setup: the stored pair is replaced by one whose access token has already expired
# (as an hour later), so every job must refresh before its first request to Box.
registry._store_credentials(conn.pk, EXPIRED)
result = jobs
"""

# One job per process, run by the real job code as a worker would. Each process is set up
# (Django, the Box SDK imported) before it says "ready"; all then start on the same line
# from the test, so their refreshes meet.
RUN_ONE_JOB = """
import json, sys, django
django.setup()
import strongroom.storage.providers.box  # noqa: F401
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
conn = StorageConnection.objects.get(user__username="tech", provider="box")
result = {
    "status": conn.status,
    "credentials": storage.unsealed_credentials(conn),
    "jobs": {str(j.pk): [j.state, j.attempts, j.worker_id] for j in SyncJob.objects.all()},
}
"""


@pytest.mark.slow
def test_jobs_in_separate_processes_with_an_expired_token_refresh_exactly_once(
    tmp_path, box_standin
):
    box = box_standin
    box.clear()
    box_user = box.add_user("Lock Test", "lock@example.com")
    app = {"client_id": box.client_id, "client_secret": box.client_secret}
    expired = box.credentials_for(box_user.id, ttl=0)  # Box refuses this access token too
    expired["expires_at"] = 0
    env = {
        "STRONGROOM_BOX_API_URL": box.api_url,
        "STRONGROOM_BOX_UPLOAD_URL": box.upload_url,
        "STRONGROOM_BOX_AUTHORIZE_URL": box.authorize_url,
        "STRONGROOM_PROVIDER_CA_BUNDLE": box.ca_path,
        "DJANGO_SETTINGS_MODULE": "strongroom.config.settings",
    }
    inst, cleanup = make_installation(tmp_path / "inst")
    procs: list[subprocess.Popen[str]] = []
    try:
        inst.ok("migrate")
        prelude = (
            f"APP = {app!r}\nCREDS = {json.dumps(box.credentials_for(box_user.id))}\n"
            f"EXPIRED = {json.dumps(expired)}\n"
        )
        jobs = inst.script(prelude + SEED_ONE_USER, env=env, timeout=600)
        assert len(set(jobs)) == PROCESSES
        refreshes_before = box.refresh_count
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
        assert box.refresh_count - refreshes_before == 1
        final = inst.script(FINAL, env=env)
        assert final["status"] == "connected"
        # The one refresh's pair is stored, and Box still honours it.
        stored = final["credentials"]
        assert stored["refresh_token"] != expired["refresh_token"]
        assert box.refresh[expired["refresh_token"]]["used"]
        assert not box.refresh[stored["refresh_token"]]["used"]
        assert box.access[stored["access_token"]]["expires"] > time.time()
        # Each job ran in its own process, and each uploaded one version.
        workers = {w for _state, _attempts, w in final["jobs"].values()}
        assert workers == {f"proc-{j}" for j in jobs}
        [item] = box.files(box_user.id)
        assert len(item.versions) == PROCESSES
        for data in item.versions:
            payload = offline.offline_file_open(html=data, passphrase=PASSPHRASE)
            assert sorted(e.name for e in payload.entries) == ["host-0", "host-1", "host-2"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)
        box.clear()
        cleanup()
