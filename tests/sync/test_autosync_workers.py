"""The auto-sync scheduler with real processes: a private installation (own database, the
SQLite Huey queue), kept copies for several users on the local folder provider, two real
`strongroom worker` processes, plus two extra processes running the real sweep at the same
moment. One worker is killed with SIGKILL in the middle of a round and another started in
its place; in a later round both are killed right after the change and replaced. Every
round must rebuild every kept copy exactly once (0 double runs) and every
copy must end with the final state (0 missed).

Set-up derives the copies' keys at the test-only PBKDF2 minimum
(``make_installation(cheap_kdf=True)``); rebuilds need no KDF. A 1-second debounce and a
5-second lease keep it short."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from cli.helpers import LOGIN_PASSWORD, make_installation
from factories import TEST_ITERATIONS
from strongroom.exports import offline_file

pytestmark = pytest.mark.db_specific

PASSPHRASE = "plum orbit quietly seventy lantern"
USERS = 6
ROUNDS = 4
ENV = {
    "STRONGROOM_LOG_LEVEL": "INFO",
    "STRONGROOM_SYNC_DEBOUNCE_SECONDS": "1",
    "STRONGROOM_SYNC_LEASE_SECONDS": "5",
}

SEED = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.sync import services as sync
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
from strongroom.exports import services as exports
exports.export_policy_update(actor=boss, values={{"kdf_iterations": {TEST_ITERATIONS}}})
storage.provider_settings_update(
    actor=boss, provider="local", enabled=True, config={{"base_dir": BASE}}
)
owner = people.user_create(
    actor=None, username="owner", password={LOGIN_PASSWORD!r}, role="password_admin"
)
r = vault.resource_create(actor=owner, name="shared-core", host="10.0.0.1")
account = vault.account_create(actor=owner, resource_id=r.pk, username="root", password="round-0")
jobs = []
for u in range({USERS}):
    user = people.user_create(
        actor=None, username=f"tech{{u}}", password={LOGIN_PASSWORD!r}, role="password_user"
    )
    vault.share_grant(actor=owner, resource_id=r.pk, user_id=user.pk, level=1)
    storage.storage_connection_save(
        actor=user, provider="local", config={{"folder": f"tech{{u}}"}}, credentials={{}}
    )
result = {{"account": str(account.pk)}}
"""

EDIT = """
from strongroom.accounts.models import User
from strongroom.vault import services as vault
owner = User.objects.get(username="owner")
vault.account_update(actor=owner, account_id=ACCOUNT, password=PASSWORD)
result = True
"""

STATE = """
from strongroom.sync.models import ACTIVE_STATES, SyncCopy, SyncJob
result = {}
for c in SyncCopy.objects.select_related("user"):
    jobs = SyncJob.objects.filter(sync_copy=c, trigger="auto")
    result[c.user.username] = {
        "id": str(c.pk),
        "keep": c.keep_in_sync,
        "current": c.built_seq == c.change_seq and c.due_at is None,
        "active_jobs": jobs.filter(state__in=ACTIVE_STATES).count(),
        "auto_jobs": jobs.count(),
        "succeeded": jobs.filter(state="succeeded").count(),
        "folder": f"{c.connection.user_id}/{c.connection.config['folder']}",  # the namespace
        "object": c.object_name,
    }
"""

SWEEP = """
from datetime import timedelta
from django.utils import timezone
from strongroom.sync.copies import sync_copies_sweep
r = sync_copies_sweep(clock=lambda: timezone.now() + timedelta(seconds=2))
result = r.started
"""


def _wait_until(condition, *, timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)  # polling another process's progress


def _stop(proc) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_two_workers_and_a_killed_one_rebuild_every_copy_exactly_once_per_round(tmp_path):
    inst, cleanup = make_installation(tmp_path / "inst", cheap_kdf=True)
    base = tmp_path / "sync-root"
    base.mkdir()
    workers: list = []
    try:
        inst.ok("migrate")
        seeded = inst.script(f"BASE = {str(base)!r}\n" + SEED, timeout=600)
        secret = tmp_path / "passphrase.txt"
        secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
        # The CLI sets up each kept copy (`sync --keep --wait`; the passphrase from a file).
        for u in range(USERS):
            done = inst.ok(
                "sync", "--user", f"tech{u}", "--to", "local", "--passphrase-file", str(secret),
                "--keep", "--wait", "--timeout", "120", env=ENV,
            )  # fmt: skip
            assert PASSPHRASE not in done.stdout + done.stderr
        state: dict = {}

        def refresh() -> dict:
            state.clear()
            state.update(inst.script(STATE))
            return state

        assert len(refresh()) == USERS and all(c["keep"] for c in state.values())

        workers = [inst.start("worker", env=ENV), inst.start("worker", env=ENV)]
        report = {"rounds": ROUNDS, "copies": USERS, "one_killed": 2, "both_killed": 4}
        for rnd in range(1, ROUNDS + 1):
            inst.script(
                f"ACCOUNT = {seeded['account']!r}\nPASSWORD = 'round-{rnd}'\n" + EDIT, env=ENV
            )
            if rnd == 2:
                # Kill one worker as soon as this round's first rebuild exists, start another.
                _wait_until(
                    lambda r=rnd: any(c["auto_jobs"] >= r for c in refresh().values()),
                    timeout=120,
                    interval=0.02,
                )
                os.kill(workers[0].pid, signal.SIGKILL)
                workers[0].wait(timeout=30)
                workers[0] = inst.start("worker", env=ENV)
            if rnd == 4:
                # Both workers die right after the change (its rebuilds are scheduled, not yet
                # due) and two new ones start: the state in the database is all they need.
                for i, proc in enumerate(workers):
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    workers[i] = inst.start("worker", env=ENV)
            if rnd == 3:
                # Two more processes run the real sweep at the same moment as the workers.
                results: list = []

                def sweep(into: list = results) -> None:
                    into.append(inst.script(SWEEP, env=ENV))

                threads = [threading.Thread(target=sweep) for _ in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                report["concurrent_sweeps_started"] = sum(results)

            def round_done(r=rnd) -> bool:
                copies = refresh().values()
                return all(
                    c["current"] and c["active_jobs"] == 0 and c["auto_jobs"] >= r for c in copies
                )

            # Recovery from the kill may wait for the every-minute sweep (lease 5 s).
            _wait_until(round_done, timeout=200)
            counts = sorted(c["auto_jobs"] for c in state.values())
            report[f"round_{rnd}_rebuilds_per_copy"] = counts
            assert counts == [rnd] * USERS, (rnd, counts)  # exactly one per copy per round
            assert all(c["succeeded"] == rnd for c in state.values())
            for user, c in state.items():
                html = (base / c["folder"] / c["object"]).read_bytes()
                payload = offline_file.offline_file_open(html=html, passphrase=PASSPHRASE)
                assert [e.password for e in payload.entries] == [f"round-{rnd}"], user

        # The CLI lists the copies and stops one: the next change no longer rebuilds it.
        listed = inst.ok("sync-copies", "list", "--user", "boss", env=ENV).stdout
        assert listed.count(" active ") == USERS and str(base) in listed
        stop_id = state["tech0"]["id"]
        inst.ok("sync-copies", "stop", stop_id, "--user", "tech0", env=ENV)
        inst.script(f"ACCOUNT = {seeded['account']!r}\nPASSWORD = 'final'\n" + EDIT, env=ENV)

        def final_done() -> bool:
            copies = refresh()
            return all(
                c["current"] and c["active_jobs"] == 0 and c["auto_jobs"] == ROUNDS + 1
                for u, c in copies.items()
                if u != "tech0"
            )

        _wait_until(final_done, timeout=200)
        assert state["tech0"]["auto_jobs"] == ROUNDS and not state["tech0"]["keep"]
        tech1 = base / state["tech1"]["folder"] / state["tech1"]["object"]
        shown = inst.ok(
            "open", str(tech1), "--passphrase-file", str(secret), "--json",
        )  # fmt: skip
        assert [e["password"] for e in json.loads(shown.stdout)["entries"]] == ["final"]
        report["missed"] = 0
        report["double_runs"] = 0
        print("auto-sync worker report:", json.dumps(report))
    finally:
        for proc in workers:
            _stop(proc)
        cleanup()
