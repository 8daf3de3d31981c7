"""Fault test with real processes: a private installation (own data directory and
database, SQLite Huey queue), N sync jobs, a real `strongroom worker` killed with SIGKILL
while it uploads, then the sweep and a new worker. Jobs lost must be 0; every file present
in the sync folder must open (no partial or broken copy is ever visible).

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
USERS = 16
ENTRIES = 40

SEED = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(
    actor=boss, provider="local", enabled=True, config={{"base_dir": BASE}}
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
        actor=user, provider="local", config={{"folder": f"tech{{u}}"}}, credentials={{}}
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
# Every lease of the killed worker counts as expired: it is dead (its PID is gone).
r = sync_jobs_sweep(now=timezone.now() + timedelta(hours=1), queued_grace_seconds=0)
result = {"enqueued": r.enqueued, "reclaimed": r.reclaimed, "failed": r.failed}
"""


def _landed(base) -> int:
    return len(list(base.glob("*/tech*/strongroom-offline.html")))


def _wait_until(condition, *, timeout: float, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


@pytest.mark.slow
def test_worker_killed_mid_upload_loses_no_job_and_leaves_no_broken_file(tmp_path):
    inst, cleanup = make_installation(tmp_path / "inst")
    base = tmp_path / "sync-root"
    base.mkdir()
    worker = second = None
    try:
        inst.ok("migrate")
        jobs = inst.script(f"BASE = {str(base)!r}\n" + SEED, timeout=600)
        assert len(jobs) == USERS
        env = {"STRONGROOM_LOG_LEVEL": "INFO"}
        worker = inst.start("worker", env=env)
        # Kill as soon as a few copies have landed: the others are queued, being built or
        # being written. (Polling the folder is the condition; nothing here sleeps blindly.)
        _wait_until(lambda: _landed(base) >= 3, timeout=180)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        landed_before = _landed(base)
        before = inst.script(STATES)
        in_flight = sorted(pk for pk, (state, _) in before.items() if state == "running")

        swept = inst.script(SWEEP)
        assert swept["reclaimed"] == len(in_flight)
        second = inst.start("worker", env=env)
        states: dict = {}

        def all_done() -> bool:
            states.update(inst.script(STATES))
            return all(state == "succeeded" for state, _ in states.values())

        _wait_until(all_done, timeout=300, interval=0.2)
        lost = [pk for pk in jobs.values() if states.get(pk, ["missing"])[0] != "succeeded"]

        # Every object visible in the folder opens, and holds exactly that user's entries.
        visible = sorted(base.glob("*/tech*/strongroom-offline.html"))
        broken = []
        for path in visible:
            try:
                payload = offline.offline_file_open(html=path.read_bytes(), passphrase=PASSPHRASE)
            except offline.OfflineError:
                broken.append(path)
                continue
            user = path.parent.name
            assert sorted(e.name for e in payload.entries) == [
                f"host-{user.removeprefix('tech')}-{i:03d}" for i in range(ENTRIES)
            ]
        temps = sorted(p.name for p in base.rglob(".strongroom-tmp-*"))
        report = {
            "jobs": USERS,
            "landed_before_kill": landed_before,
            "running_at_kill": len(in_flight),
            "reclaimed_by_sweep": swept["reclaimed"],
            "jobs_lost": len(lost),
            "files_visible": len(visible),
            "broken_files_visible": len(broken),
            "leftover_temp_files": len(temps),
            "attempts": sorted(a for _, a in states.values()),
        }
        print("worker kill report:", json.dumps(report))

        # The CLI once: `strongroom sync --wait` for one user, then `strongroom open` reads
        # the object back to exactly that user's entries.
        secret = tmp_path / "passphrase.txt"
        secret.write_text("another quiet meadow of lanterns\n", encoding="utf-8")
        done = inst.ok(
            "sync", "--user", "tech0", "--to", "local", "--passphrase-file", str(secret),
            "--reason", "CLI check", "--wait", "--timeout", "120",
        )  # fmt: skip
        assert f"synced {ENTRIES} entries for tech0 to " in done.stdout
        assert "lantern" not in done.stdout + done.stderr
        shown = inst.ok(
            "open", str(next(base.glob("*/tech0/strongroom-offline.html"))), "--passphrase-file",
            str(secret), "--json",
        )  # fmt: skip
        names = sorted(e["name"] for e in json.loads(shown.stdout)["entries"])
        assert names == [f"host-0-{i:03d}" for i in range(ENTRIES)]
        assert lost == []
        assert broken == []
        assert len(visible) == USERS
    finally:
        for proc in (worker, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        cleanup()
