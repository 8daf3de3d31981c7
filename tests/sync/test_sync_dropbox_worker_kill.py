"""Fault test with real processes and the Dropbox stand-in: a private installation (own data
directory and database, SQLite Huey queue) whose users are connected to Dropbox, N sync
jobs, a real `strongroom worker` killed with SIGKILL while uploads are in flight (some
uploads are held by the stand-in, one connection is reset mid-upload), then the sweep and a
new worker. Jobs lost must be 0; every file in the stand-in's app folders must open to
exactly its user's entries (Dropbox commits an upload in one step: nothing partial is ever
visible). And the command line: `strongroom sync --to dropbox --wait`.

The subprocesses reach the stand-in through the environment the test session set at
conftest import (DROPBOX_API_HOST, DROPBOX_API_CONTENT_HOST, DROPBOX_WEB_HOST) and trust its
CA through STRONGROOM_PROVIDER_CA_BUNDLE. They run at the real 600,000 PBKDF2 iterations, so
N is kept small."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from cli.helpers import LOGIN_PASSWORD, make_installation
from strongroom.crypto import offline

PASSPHRASE = "plum orbit quietly seventy lantern"
USERS = 10
ENTRIES = 30
NAME = "/strongroom-offline.html"

SEED = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(
    actor=boss, provider="dropbox", enabled=True, config={{"app_key": APP_KEY}}
)
jobs = {{}}
for u in range({USERS}):
    user = people.user_create(
        actor=None, username=f"tech{{u}}", password={LOGIN_PASSWORD!r}, role="password_admin"
    )
    for i in range({ENTRIES}):
        r = vault.resource_create(actor=user, name=f"host-{{u}}-{{i:03d}}", host="10.0.0.1")
        vault.account_create(
            actor=user, resource_id=r.pk, username="root", password=f"pw-{{u}}-{{i}}"
        )
    conn = storage.storage_connection_save(
        actor=user, provider="dropbox", config={{}}, credentials=TOKENS[f"tech{{u}}"]
    )
    jobs[user.username] = str(sync.sync_request(
        actor=user, connection_id=conn.pk, passphrase={PASSPHRASE!r}, reason="kill test"
    ).pk)
result = jobs
"""

STATES = """
from strongroom.sync.models import SyncJob
result = {str(j.pk): [j.state, j.attempts] for j in SyncJob.objects.all()}
"""

SWEEP = """
from datetime import timedelta
from django.utils import timezone
from strongroom.sync.services import sync_jobs_sweep
r = sync_jobs_sweep(now=timezone.now() + timedelta(hours=1), queued_grace_seconds=0)
result = {"enqueued": r.enqueued, "reclaimed": r.reclaimed, "failed": r.failed}
"""


def _wait_until(condition: Any, *, timeout: float, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


@pytest.mark.slow
def test_worker_killed_mid_upload_to_dropbox_loses_no_job_and_no_file_is_broken(
    tmp_path: Any, dropbox_api: Any
) -> None:
    accounts = {
        f"tech{u}": dropbox_api.add_account(f"Tech {u}", f"t{u}@x.example") for u in range(USERS)
    }
    tokens = {user: dropbox_api.issue_tokens(acct) for user, acct in accounts.items()}

    def landed() -> int:
        return sum(1 for acct in accounts.values() if NAME in dropbox_api.files(acct))

    inst, cleanup = make_installation(tmp_path / "inst")
    inst.env["STRONGROOM_PROVIDER_CA_BUNDLE"] = dropbox_api.ca_path
    for var in ("DROPBOX_API_HOST", "DROPBOX_API_CONTENT_HOST", "DROPBOX_WEB_HOST"):
        assert inst.env[var] == os.environ[var]
    worker = second = None
    try:
        inst.ok("migrate")
        prelude = f"APP_KEY = {dropbox_api.app_key!r}\nTOKENS = {json.dumps(tokens)}\n"
        jobs = inst.script(prelude + SEED, timeout=600)
        assert len(jobs) == USERS
        # Uploads in flight at the kill: the stand-in holds some uploads for a while and
        # resets one connection mid-body.
        dropbox_api.requests.clear()
        dropbox_api.fault("/2/files/upload", "reset", reset_after=2048)
        dropbox_api.fault("/2/files/upload", "delay", delay=3.0, times=6)
        env = {"STRONGROOM_LOG_LEVEL": "INFO"}
        worker = inst.start("worker", env=env)
        _wait_until(lambda: landed() >= 2, timeout=240)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        landed_before = landed()
        before = inst.script(STATES)
        in_flight = sorted(pk for pk, (state, _) in before.items() if state == "running")

        swept = inst.script(SWEEP)
        assert swept["reclaimed"] == len(in_flight)
        second = inst.start("worker", env=env)
        states: dict = {}

        def all_done() -> bool:
            states.update(inst.script(STATES))
            return all(state == "succeeded" for state, _ in states.values())

        _wait_until(all_done, timeout=400, interval=0.3)
        lost = [pk for pk in jobs.values() if states.get(pk, ["missing"])[0] != "succeeded"]

        broken = []
        visible = 0
        for user, acct in accounts.items():
            files = dropbox_api.files(acct)
            assert set(files) <= {NAME}, files.keys()  # nothing else: no temp, no partial
            if NAME not in files:
                continue
            visible += 1
            try:
                payload = offline.offline_file_open(html=files[NAME], passphrase=PASSPHRASE)
            except offline.OfflineError:
                broken.append(user)
                continue
            u = user.removeprefix("tech")
            assert sorted(e.name for e in payload.entries) == [
                f"host-{u}-{i:03d}" for i in range(ENTRIES)
            ]
        report = {
            "jobs": USERS,
            "landed_before_kill": landed_before,
            "running_at_kill": len(in_flight),
            "reclaimed_by_sweep": swept["reclaimed"],
            "jobs_lost": len(lost),
            "files_visible": visible,
            "broken_files_visible": len(broken),
            "uploads_reset": dropbox_api.count("/2/files/upload", status=-1),
            "attempts": sorted(a for _, a in states.values()),
        }
        print("dropbox worker kill report:", json.dumps(report))
        assert lost == []
        assert broken == []
        assert visible == USERS
    finally:
        for proc in (worker, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        cleanup()


SEED_CLI = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(
    actor=boss, provider="dropbox", enabled=True, config={{"app_key": APP_KEY}}
)
for name in ("tech", "nodropbox"):
    user = people.user_create(
        actor=None, username=name, password={LOGIN_PASSWORD!r}, role="password_admin"
    )
    for i in range(3):
        r = vault.resource_create(actor=user, name=f"{{name}}-host-{{i}}", host="10.0.0.1")
        vault.account_create(actor=user, resource_id=r.pk, username="root", password=f"pw-{{i}}")
storage.storage_connection_save(
    actor=people.User.objects.get(username="tech"), provider="dropbox", config={{}},
    credentials=TOKENS,
)
"""

JOBS = """
from strongroom.sync.models import SyncJob
result = [[j.user.username, j.provider, j.state, j.reason, j.result_sha256]
          for j in SyncJob.objects.all()]
"""


@pytest.mark.slow
def test_cli_syncs_to_dropbox(tmp_path: Any, dropbox_api: Any) -> None:
    account = dropbox_api.add_account("Cli Tech", "cli@x.example")
    tokens = dropbox_api.issue_tokens(account)
    inst, cleanup = make_installation(tmp_path / "inst")
    inst.env["STRONGROOM_PROVIDER_CA_BUNDLE"] = dropbox_api.ca_path
    secret = tmp_path / "passphrase.txt"
    secret.write_text("another quiet meadow of lanterns\n", encoding="utf-8")
    try:
        inst.ok("migrate")
        prelude = f"APP_KEY = {dropbox_api.app_key!r}\nTOKENS = {json.dumps(tokens)}\n"
        inst.script(prelude + SEED_CLI, timeout=600)
        dropbox_api.requests.clear()
        done = inst.ok(
            "sync", "--user", "tech", "--to", "dropbox", "--passphrase-file", str(secret),
            "--reason", "CLI check", "--wait", "--timeout", "120",
        )  # fmt: skip
        assert f"synced 3 entries for tech to Dropbox app folder{NAME} (" in done.stdout
        output = done.stdout + done.stderr
        for value in ("lantern", tokens["access_token"], tokens["refresh_token"]):
            assert value not in output
        assert dropbox_api.count("/2/files/upload", status=200) == 1
        stored = dropbox_api.files(account)[NAME]
        payload = offline.offline_file_open(
            html=stored, passphrase="another quiet meadow of lanterns"
        )
        assert sorted(e.name for e in payload.entries) == [f"tech-host-{i}" for i in range(3)]
        [job] = inst.script(JOBS)
        assert job == [
            "tech",
            "dropbox",
            "succeeded",
            "CLI check",
            hashlib.sha256(stored).hexdigest(),
        ]
        # A user without a Dropbox connection: a clear error, no job, nothing sent.
        dropbox_api.requests.clear()
        refused = inst.run(
            "sync", "--user", "nodropbox", "--to", "dropbox", "--passphrase-file", str(secret),
            "--reason", "CLI check", "--wait",
        )  # fmt: skip
        assert refused.returncode != 0
        assert "nodropbox has no dropbox connection; connect it first" in refused.stderr
        assert len(inst.script(JOBS)) == 1
        assert dropbox_api.requests == []
    finally:
        cleanup()
