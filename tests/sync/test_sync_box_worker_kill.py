"""Fault test with real processes and Box: a private installation, N users each connected
to their own Box account at the HTTPS stand-in, a real `strongroom worker` killed with
SIGKILL while it uploads (the stand-in slows uploads down so some are in flight), then the
sweep and a new worker. Jobs lost must be 0, and every version of every file in Box must
open (no partial or broken copy is ever visible: Box makes a version current only once it
is complete, and the stand-in does the same).

Runs at the real 600,000 PBKDF2 iterations (the subprocesses have no test settings), so N
is kept small."""

from __future__ import annotations

import json
import os
import signal
import subprocess
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
