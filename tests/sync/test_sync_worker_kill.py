"""Fault test with real processes, for every provider that joined (tests/sync/targets/): a
private installation (own data directory and database, SQLite Huey queue), N users each
connected to the provider, N sync jobs, two real `strongroom worker` processes, one of them
killed with SIGKILL while it holds a running job (the target holds some uploads a while, so
they are in flight). Nothing but the workers themselves recovers it: a 3-second lease that
the dead worker no longer renews (heartbeat) and the other worker's own sweep (every second
here, 15 s by default). Jobs lost must be 0, the killed worker's jobs must succeed within 60 s
of the kill, each job's successful upload is audited exactly once, and every copy the
service shows (every version, where it keeps versions) opens to exactly its user's entries,
the current one being the job's recorded result: never a partial or broken file. Then the
command line once: `strongroom sync --to <provider> --wait` and `strongroom open`.

Runs at the test-only PBKDF2 minimum (``make_installation(cheap_kdf=True)``, the policy set
in the seed): the key derivation is not what this test is about."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from typing import Any

import pytest

from cli.helpers import LOGIN_PASSWORD, StreamWatcher, make_installation, wait_until
from factories import TEST_ITERATIONS
from strongroom.crypto import offline
from strongroom.exports import offline_file

from .targets import KillTarget

PASSPHRASE = "plum orbit quietly seventy lantern"
OBJECT = "strongroom-offline.html"

pytestmark = pytest.mark.db_specific

SEED = f"""
from strongroom.accounts import services as people
from strongroom.exports import services as exports
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
exports.export_policy_update(actor=boss, values={{"kdf_iterations": {TEST_ITERATIONS}}})
storage.provider_settings_update(actor=boss, provider=PROVIDER, enabled=True, **ADMIN)
jobs = {{}}
for u, (config, credentials) in enumerate(CONNS):
    user = people.user_create(
        actor=None, username=f"tech{{u}}", password={LOGIN_PASSWORD!r}, role="password_admin"
    )
    for i in range(ENTRIES):
        r = vault.resource_create(actor=user, name=f"host-{{u}}-{{i:03d}}", host="10.0.0.1")
        vault.account_create(
            actor=user, resource_id=r.pk, username="root", password=f"pw-{{u}}-{{i}}"
        )
    conn = storage.storage_connection_save(
        actor=user, provider=PROVIDER, config=config, credentials=credentials
    )
    jobs[user.username] = str(sync.sync_request(
        actor=user, connection_id=conn.pk, passphrase={PASSPHRASE!r}, reason="kill test"
    ).pk)
result = jobs
"""

ENV = {
    "STRONGROOM_LOG_LEVEL": "INFO",
    "STRONGROOM_SYNC_LEASE_SECONDS": "3",
    "STRONGROOM_SYNC_SWEEP_SECONDS": "1",
    # An upload the target fails (Dropbox resets one) is retried after a 1-2 s backoff, not
    # the default 15-30 s: the backoff is not what this test is about (test_sync_providers.py
    # tests it), and the survivor otherwise sat idle waiting for it.
    "STRONGROOM_SYNC_BACKOFF_BASE_SECONDS": "2",
}

RESULTS = """
from strongroom.audit.models import AuditEvent
from strongroom.sync.models import SyncJob
result = {}
for j in SyncJob.objects.select_related("user"):
    audits = AuditEvent.objects.filter(action="sync.upload", object_id=str(j.pk))
    result[str(j.pk)] = {
        "user": j.user.username,
        "state": j.state,
        "attempts": j.attempts,
        "sha256": j.result_sha256,
        "audited": [[a.details["attempt"], a.details["sha256"]] for a in audits],
    }
"""


def _query(inst: Any, sql: str, *params: str) -> list[tuple]:
    """Read the installation's database directly (milliseconds, not a Django start-up)."""
    if inst.db_name:
        import psycopg

        with psycopg.connect(inst.database_url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())
    db = sqlite3.connect(f"file:{inst.data_dir / 'strongroom.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(sql.replace("%s", "?"), params).fetchall()
    finally:
        db.close()


def _running_on(inst: Any, pid: int) -> list[str]:
    rows = _query(
        inst,
        "SELECT id FROM strongroom_sync_job WHERE state = 'running' AND worker_id LIKE %s",
        f"%:{pid}:%",
    )
    return sorted(str(uuid.UUID(str(r[0]))) for r in rows)


def _states(inst: Any) -> dict[str, str]:
    rows = _query(inst, "SELECT id, state FROM strongroom_sync_job")
    return {str(uuid.UUID(str(pk))): state for pk, state in rows}


@pytest.mark.slow
def test_worker_killed_mid_upload_is_recovered_by_the_other_worker_within_a_minute(
    tmp_path: Any, kill_target: KillTarget
) -> None:
    target = kill_target
    users, entries = target.users, target.entries

    def landed() -> int:
        return sum(1 for u in range(users) if target.copies(u, OBJECT))

    inst, cleanup = make_installation(tmp_path / "inst", cheap_kdf=True)
    inst.env.update(target.env)
    victim = survivor = None
    try:
        inst.ok("migrate")
        conns = [target.connection(u) for u in range(users)]
        prelude = (
            f"PROVIDER = {target.provider!r}\nADMIN = {target.admin!r}\n"
            f"CONNS = {conns!r}\nENTRIES = {entries}\n"
        )
        jobs = inst.script(prelude + SEED, timeout=600)
        assert len(jobs) == users
        target.slow_uploads(users * 2)
        victim = inst.start("worker", env=ENV)
        survivor = inst.start("worker", env=ENV)
        # Drain both workers' output: a full pipe would block a worker that logs at INFO.
        _drains = [
            StreamWatcher(stream)
            for proc in (victim, survivor)
            for stream in (proc.stdout, proc.stderr)
        ]
        # Kill the victim as soon as it holds a running job after a few copies landed.
        # (Polling the service and the database is the condition; nothing sleeps blindly.)
        wait_until(lambda: landed() >= 2 and bool(_running_on(inst, victim.pid)), timeout=240)
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(timeout=30)
        orphaned = _running_on(inst, victim.pid)
        landed_before = landed()
        assert orphaned, "the victim held no job when it died"
        recovered_after: dict[str, float] = {}

        def all_done() -> bool:
            states = _states(inst)
            for pk in orphaned:
                if states[pk] == "succeeded" and pk not in recovered_after:
                    recovered_after[pk] = time.monotonic() - killed_at
            return all(state == "succeeded" for state in states.values())

        wait_until(all_done, timeout=400, interval=0.05)
        results = inst.script(RESULTS)
        lost = [pk for pk in jobs.values() if results[pk]["state"] != "succeeded"]

        # Every copy the service shows opens and holds exactly that user's entries; the
        # current one is the job's recorded result, audited exactly once as that result.
        by_user = {r["user"]: r for r in results.values()}
        broken, mismatched, audited_twice, copies_seen = [], [], [], 0
        for u in range(users):
            result = by_user[f"tech{u}"]
            copies = target.copies(u, OBJECT)
            copies_seen += len(copies)
            if not copies or hashlib.sha256(copies[-1]).hexdigest() != result["sha256"]:
                mismatched.append(u)
            if [sha for _, sha in result["audited"]].count(result["sha256"]) != 1:
                audited_twice.append(u)
            for content in copies:
                try:
                    payload = offline_file.offline_file_open(html=content, passphrase=PASSPHRASE)
                except offline.OfflineError:
                    broken.append(u)
                    continue
                assert sorted(e.name for e in payload.entries) == [
                    f"host-{u}-{i:03d}" for i in range(entries)
                ]
        temps = target.temps()
        report = {
            "provider": target.provider,
            "jobs": users,
            "landed_before_kill": landed_before,
            "running_on_victim_at_kill": len(orphaned),
            "recovered_after_s": sorted(round(t, 1) for t in recovered_after.values()),
            "jobs_lost": len(lost),
            "copies_visible": copies_seen,
            "broken_copies_visible": len(broken),
            "current_copy_not_the_recorded_result": len(mismatched),
            "successful_uploads_audited_more_than_once": len(audited_twice),
            "leftover_temp_files": len(temps),
            "attempts": sorted(r["attempts"] for r in results.values()),
        }
        print("worker kill report:", json.dumps(report))
        assert lost == []
        assert sorted(recovered_after) == orphaned
        assert max(recovered_after.values()) < 60
        assert all(results[pk]["attempts"] >= 2 for pk in orphaned)
        assert broken == [] and mismatched == [] and audited_twice == [] and temps == []

        # The CLI once: `strongroom sync --wait` for one user, then `strongroom open` reads
        # the object back to exactly that user's entries.
        secret = tmp_path / "passphrase.txt"
        secret.write_text("another quiet meadow of lanterns\n", encoding="utf-8")
        done = inst.ok(
            "sync", "--user", "tech0", "--to", target.provider, "--passphrase-file",
            str(secret), "--reason", "CLI check", "--wait", "--timeout", "120",
        )  # fmt: skip
        assert f"synced {entries} entries for tech0 to " in done.stdout
        assert "lantern" not in done.stdout + done.stderr
        copy = tmp_path / OBJECT
        copy.write_bytes(target.copies(0, OBJECT)[-1])
        shown = inst.ok("open", str(copy), "--passphrase-file", str(secret), "--json")
        names = sorted(e["name"] for e in json.loads(shown.stdout)["entries"])
        assert names == [f"host-0-{i:03d}" for i in range(entries)]
    finally:
        for proc in (victim, survivor):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        cleanup()
