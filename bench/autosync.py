"""Auto-sync cost: rebuilding and uploading one kept copy, and how many kept copies per
second one worker brings up to date after a change that touches all of them.

usage: .venv/bin/python bench/autosync.py [--users 200] [--entries 50] [--runs 3] [--quick]

Set-up (not timed): a private installation (SQLite in a temporary data directory); users,
resources and accounts bulk-inserted with every password sealed like the services do; one
shared resource every user can see; one S3 connection per user (moto's server mode on
127.0.0.1, credential checking on) and one kept copy per user whose keys were made with
10,000 PBKDF2 iterations (a rebuild never runs PBKDF2: it encrypts to the stored public key).

Timed, each several times (medians):

* the trigger: ``hooks.scope_changed`` for a change to the shared resource (who is affected,
  then every affected copy marked stale, one debounced rebuild scheduled per copy);
* one copy: claim (``sync_copy_claim``: row lock, policy check, job row) plus the upload job
  (``sync_job_run``: scope and unsealing, build, audit record, S3 PUT, verification, result);
* all copies: ``sync_copies_sweep`` past the debounce claims every copy, then one worker (this
  process, one thread) runs every job: copies kept current per second.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_ITERATIONS = 10_000
PASSPHRASE = "bench autosync passphrase, not a secret"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup(tmp: Path) -> None:
    os.environ["STRONGROOM_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
    os.environ["STRONGROOM_LOG_LEVEL"] = "WARNING"
    os.environ["STRONGROOM_ARGON2_FAST"] = "1"
    os.environ["STRONGROOM_HUEY_IMMEDIATE"] = "0"  # jobs are run below, not by the queue
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "tests"))
    import django

    django.setup()
    from django.conf import settings

    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = BENCH_ITERATIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="50 users, 2 runs")
    args, _ = parser.parse_known_args(argv)
    if "django.conf" in sys.modules:
        # Another bench set Django up in this process (bench/run.py): run in a fresh one, with
        # its own data directory and database.
        import subprocess

        return subprocess.run([sys.executable, __file__, *(argv or [])], check=False).returncode
    users_n = 50 if args.quick else args.users
    runs = 2 if args.quick else max(1, args.runs)
    with tempfile.TemporaryDirectory(prefix="sr-bench-autosync-") as tmpdir:
        _setup(Path(tmpdir))
        return _run(users_n, args.entries, runs)


def _run(users_n: int, entries_n: int, runs: int) -> int:
    import json

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    if connection.vendor == "postgresql":
        raise SystemExit("run on SQLite (the PostgreSQL variant needs a private database)")
    call_command("migrate", verbosity=0)
    from storage.moto_server import start_moto_server
    from strongroom.accounts import services as people
    from strongroom.accounts.models import User
    from strongroom.core import keys
    from strongroom.core.secrets import seal_into
    from strongroom.crypto import offline
    from strongroom.exports import offline_file
    from strongroom.exports.services import export_policy_update
    from strongroom.storage import services as storage
    from strongroom.storage.models import StorageConnection
    from strongroom.sync import common, hooks
    from strongroom.sync import copies as sync_copies
    from strongroom.sync import services as sync
    from strongroom.sync.keys import copy_keys_store
    from strongroom.sync.models import AutoState, JobState, SyncCopy, SyncJob
    from strongroom.vault.models import Account, Resource, Share

    keys.verify()
    moto = start_moto_server()
    try:
        creds = moto.admin
        t_setup = time.perf_counter()
        boss = people.user_create(
            actor=None, username="boss", password="Bench-login-0123", role="admin"
        )
        export_policy_update(actor=boss, values={"kdf_iterations": BENCH_ITERATIONS})
        storage.provider_settings_update(
            actor=boss, provider="s3", enabled=True, config={"endpoints": [moto.url]}
        )
        users = [
            User(username=f"tech{i:04d}", role="password_admin", is_active=True)
            for i in range(users_n)
        ]
        for user in users:
            user.set_unusable_password()
        User.objects.bulk_create(users, batch_size=500)
        users = list(User.objects.filter(username__startswith="tech").order_by("username"))
        resources, accounts = [], []
        for user in users:
            for j in range(entries_n - 1):
                res = Resource(owner=user, name=f"{user.username}-host-{j:02d}", host="10.0.0.1")
                resources.append(res)
                account = Account(resource=res, username="root")
                seal_into(account, "password", f"pw-{user.username}-{j}")
                accounts.append(account)
        shared = Resource(owner=boss, name="shared-core-router", host="10.0.0.254")
        resources.append(shared)
        shared_account = Account(resource=shared, username="admin")
        seal_into(shared_account, "password", "shared-0")
        accounts.append(shared_account)
        Resource.objects.bulk_create(resources, batch_size=2000)
        Account.objects.bulk_create(accounts, batch_size=2000)
        Share.objects.bulk_create(
            [Share(resource=shared, user=u, level=1, created_by=boss) for u in users],
            batch_size=500,
        )
        config = {"bucket": creds.bucket, "region": "us-east-1", "endpoint": moto.url}
        secret = json.dumps(
            {"access_key_id": creds.access_key_id, "secret_access_key": creds.secret_access_key}
        )
        conns = []
        for user in users:
            conn = StorageConnection(
                user=user,
                provider="s3",
                config={**config, "prefix": f"{user.username}/"},
                account_label=creds.bucket,
            )
            seal_into(conn, "credentials", secret)
            conns.append(conn)
        StorageConnection.objects.bulk_create(conns, batch_size=500)
        copies = []
        for user, conn in zip(users, conns, strict=True):
            copy_keys = offline.copy_keys_create(
                passphrase=PASSPHRASE,
                iterations=BENCH_ITERATIONS,
                minimum_iterations=BENCH_ITERATIONS,
            )
            copy = SyncCopy(
                user=user,
                connection=conn,
                object_name=sync.object_name_for(conn),
                keep_in_sync=True,
                auto_state=AutoState.ACTIVE,
            )
            copy_keys_store(copy, copy_keys)  # the build key sealed, as the service does
            copies.append(copy)
        SyncCopy.objects.bulk_create(copies, batch_size=500)
        setup_seconds = time.perf_counter() - t_setup

        debounce = common.debounce_seconds()
        # The fake clock moves past each debounce window; uploads are real.
        clock_now = [timezone.now()]

        def clock():
            return clock_now[0]

        def advance() -> None:
            clock_now[0] += timedelta(seconds=debounce + 1)

        rss_before = _rss_mib()
        trigger_ms, one_claim_ms, one_job_ms, one_total_ms = [], [], [], []
        all_seconds, per_second = [], []
        version = 0
        for _ in range(runs):
            # The whole population: one change to the shared resource.
            version += 1
            Account.objects.filter(pk=shared_account.pk).update(username=f"admin-{version}")
            t = time.perf_counter()
            hooks.scope_changed(cause="bench", resource_ids=[shared.pk])
            trigger_ms.append((time.perf_counter() - t) * 1000)
            advance()
            t = time.perf_counter()
            started = sync_copies.sync_copies_sweep(clock=clock).started
            job_ids = list(
                SyncJob.objects.filter(state=JobState.QUEUED).values_list("pk", flat=True)
            )
            for job_id in job_ids:
                sync.sync_job_run(job_id=job_id, worker_id="bench-worker")
            elapsed = time.perf_counter() - t
            assert started == users_n == len(job_ids), (started, users_n, len(job_ids))
            all_seconds.append(elapsed)
            per_second.append(users_n / elapsed)
            # One copy at a time (the first user's), several times.
            for _ in range(5):
                advance()
                sync_copies.sync_copies_touch(user_ids=[users[0].pk], clock=clock)
                advance()
                t = time.perf_counter()
                job = sync_copies.sync_copy_claim(copy_id=copies[0].pk, clock=clock)
                t_claim = time.perf_counter()
                assert job is not None
                sync.sync_job_run(job_id=job.pk, worker_id="bench-worker")
                t_end = time.perf_counter()
                one_claim_ms.append((t_claim - t) * 1000)
                one_job_ms.append((t_end - t_claim) * 1000)
                one_total_ms.append((t_end - t) * 1000)
        rss_after = _rss_mib()
        failed = SyncJob.objects.exclude(state=JobState.SUCCEEDED).count()
        stale = sum(1 for c in SyncCopy.objects.all() if not c.is_current)
        # The last file opens with the passphrase and holds the last change.
        last = SyncCopy.objects.get(pk=copies[-1].pk)
        body = (
            moto.client()
            .get_object(Bucket=creds.bucket, Key=f"{users[-1].username}/{last.object_name}")["Body"]
            .read()
        )
        payload = offline_file.offline_file_open(html=body, passphrase=PASSPHRASE)
        assert len(payload.entries) == entries_n
        assert any(e.username == f"admin-{version}" for e in payload.entries)
    finally:
        moto.stop()

    med = statistics.median
    rows = [
        ("kept copies (users)", f"{users_n:,}"),
        ("entries per copy", f"{entries_n}"),
        ("runs", f"{runs}"),
        ("set-up (not timed)", f"{setup_seconds:.1f} s"),
        ("trigger for a change all of them see", f"{med(trigger_ms):.1f} ms (median)"),
        ("one copy: claim", f"{med(one_claim_ms):.1f} ms (median of {len(one_claim_ms)})"),
        ("one copy: rebuild + upload job", f"{med(one_job_ms):.1f} ms"),
        ("one copy: total", f"{med(one_total_ms):.1f} ms"),
        (f"all {users_n:,} copies after one change", f"{med(all_seconds):.2f} s (median)"),
        ("copies kept current per second, one worker", f"{med(per_second):.1f}"),
        ("jobs not succeeded / copies left stale", f"{failed} / {stale}"),
        ("peak RSS (whole process)", f"{rss_after:.0f} MiB (before the runs {rss_before:.0f})"),
        ("file size", f"{len(body):,} bytes"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nAuto-sync to S3 (moto server on 127.0.0.1), {connection.vendor}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0 if failed == 0 and stale == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
