"""Cloud sync throughput: 1,000 users, each with a 50-entry scope, synced to S3 (moto's
server mode on 127.0.0.1, credential checking on) by one worker.

usage: .venv/bin/python bench/sync.py [--users 1000] [--entries 50] [--provider s3|webdav|sftp] [--workers N]

``--provider webdav`` (default 200 users): the same jobs to a real WebDAV server on 127.0.0.1
(wsgidav laid out like Nextcloud, from tests/storage/webdav_servers.py, in its own process),
one account, one folder per user; each sync PUTs to a temporary name, verifies it by size and
the server's SHA1 checksum (PROPFIND), MOVEs it over the target and checks the target's size.
The bare client is one ``requests`` PUT of the same bytes with the same credentials.

``--provider sftp``: 200 users to OpenSSH's sshd instead (bench/sync_sftp.py says how).

With ``--workers N`` the jobs are not run in this process: each is enqueued on the real
queue (Redis: ``STRONGROOM_REDIS_URL``, a queue name of the run's own) and N
``strongroom worker`` processes (each with its default threads) take them, against the same
database, which may then be PostgreSQL (``STRONGROOM_DATABASE_URL``, a private database the
benchmark migrates and fills). Timed from the first enqueue until every job has succeeded,
after a warm-up of N jobs that proves the workers are up.

Set-up (not timed): a private installation (SQLite in a temporary data directory, or a new
database when STRONGROOM_DATABASE_URL points at PostgreSQL); users, resources and accounts
bulk-inserted with every password sealed like the services do; one moto IAM user per bench
user, with its own access key and an inline policy allowing ``s3:*`` on the bucket and its own
key prefix only (each job signs with a different key, as real users' jobs do); one S3
connection per user (its credentials sealed in the row); one queued sync job per user whose
copy keys were made with 10,000 PBKDF2 iterations (the passphrase stretching happens once, at
request time, in the web process; the worker's work per job is ECDH + HKDF + AES-GCM and does
not depend on it).

Timed: one worker (this process, one thread) runs every job through ``sync_job_run``:
claim with a lease, policy check, scope query and unsealing, file build, audit record,
S3 PUT with SSE and SHA-256 checksum, verification, result row, copy record and
notification. Then the overhead of one sync against a bare boto3 ``put_object`` of the same
bytes with the same key (medians of 20), and of one sync with the S3 provider's client cache
cleared before it (the first sync in a fresh worker process).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_ITERATIONS = 10_000
PASSPHRASE = "bench sync passphrase, not a secret"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _user_policy(bucket: str, prefix: str) -> str:
    """What a real deployment would grant one user: the bucket, and only its own prefix."""
    import json

    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{prefix}*"],
                }
            ],
        }
    )


def _iam_users_create(moto: Any, names: list[str]) -> dict[str, tuple[str, str]]:
    """One IAM user, access key and prefix-scoped policy per name, created with the admin
    key (moto's credential checking is already on); returns name -> (key ID, secret)."""
    import boto3

    admin = moto.admin
    iam = boto3.client(
        "iam",
        endpoint_url=moto.url,
        region_name=admin.region,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key,
    )
    keys = {}
    for name in names:
        iam.create_user(UserName=f"bench-{name}")
        iam.put_user_policy(
            UserName=f"bench-{name}",
            PolicyName="own-prefix",
            PolicyDocument=_user_policy(admin.bucket, f"{name}/"),
        )
        key = iam.create_access_key(UserName=f"bench-{name}")["AccessKey"]
        keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
    return keys


def _check_keys_are_scoped(moto: Any, keys: dict[str, tuple[str, str]]) -> None:
    """Refuse to measure unless the per-user keys are distinct and moto enforces them."""
    from botocore.exceptions import ClientError

    from storage.moto_server import S3Credentials

    if len({key_id for key_id, _ in keys.values()}) != len(keys):
        raise SystemExit("the bench users do not have distinct access keys")
    if len(keys) < 2:
        return
    (key_id, secret), second = next(iter(keys.values())), list(keys)[1]
    client = moto.client(S3Credentials(key_id, secret, bucket=moto.admin.bucket))
    try:
        client.put_object(Bucket=moto.admin.bucket, Key=f"{second}/intruder", Body=b"")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AccessDenied":
            raise
    else:
        raise SystemExit("moto let one bench user write under another user's prefix")


def _setup(tmp: Path) -> None:
    os.environ["STRONGROOM_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
    os.environ["STRONGROOM_LOG_LEVEL"] = "WARNING"
    os.environ["STRONGROOM_ARGON2_FAST"] = "1"
    os.environ["STRONGROOM_HUEY_IMMEDIATE"] = "0"  # jobs are run below, not by enqueueing
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "tests"))
    import django

    django.setup()
    from django.conf import settings

    # The bench-only cheap KDF (see the module docstring); production never goes below 600k.
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = BENCH_ITERATIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="100 users")
    parser.add_argument(
        "--provider",
        default="s3",
        choices=["s3", "webdav", "sftp"],
        help="webdav: wsgidav, sftp: OpenSSH sshd on 127.0.0.1; 200 users unless --users",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="worker processes on the real queue (0: in process)"
    )
    args, _ = parser.parse_known_args(argv)
    if args.provider == "webdav":
        users_n = 100 if args.quick else (args.users if "--users" in (argv or sys.argv) else 200)
        with tempfile.TemporaryDirectory(prefix="sr-bench-sync-") as tmpdir:
            _setup(Path(tmpdir))
            return _run_webdav(users_n, args.entries)
    users_n = 100 if args.quick else args.users
    if args.workers and not os.environ.get("STRONGROOM_REDIS_URL"):
        raise SystemExit("--workers needs STRONGROOM_REDIS_URL (e.g. redis://127.0.0.1:6379/7)")
    if args.workers:
        os.environ["STRONGROOM_QUEUE_NAME"] = f"bench-sync-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="sr-bench-sync-") as tmpdir:
        _setup(Path(tmpdir))
        if args.provider == "sftp":
            return _run_sftp(args, Path(tmpdir))
        return _run(users_n, args.entries, args.workers)


def _run_sftp(args: argparse.Namespace, tmp: Path) -> int:
    from django.core.management import call_command

    from strongroom.core import keys

    sys.path.insert(0, str(ROOT / "bench"))
    from sync_sftp import run

    call_command("migrate", verbosity=0)
    keys.verify()
    users_n = 100 if args.quick else (args.users if "--users" in sys.argv else 200)
    return int(run(users_n, args.entries, tmp))


def _workers_run(jobs: list[Any], workers: int) -> float:
    """Enqueue every job on the real queue and let ``workers`` worker processes run them.
    Returns the seconds from the first enqueue until all have succeeded."""
    import subprocess

    from strongroom.sync.models import JobState, SyncJob
    from strongroom.sync.tasks import sync_job_execute

    sys.path.insert(0, str(ROOT / "tests"))
    from cli.helpers import wait_until

    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="sync_worker_settings",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT / "src")]),
    )
    strongroom = str(Path(sys.executable).with_name("strongroom"))
    procs = [
        subprocess.Popen(
            [strongroom, "worker", "--skip-checks"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    try:
        warm, timed = jobs[:workers], jobs[workers:]

        def done(batch: list[Any]) -> bool:
            ids = [job.pk for job in batch]
            return SyncJob.objects.filter(pk__in=ids, state=JobState.SUCCEEDED).count() == len(ids)

        for job in warm:
            sync_job_execute(str(job.pk))
        wait_until(lambda: done(warm), timeout=120, what="the warm-up jobs to succeed")
        t0 = time.perf_counter()
        for job in timed:
            sync_job_execute(str(job.pk))
        wait_until(lambda: done(timed), timeout=1800, what="every job to succeed")
        return time.perf_counter() - t0
    finally:
        for proc in procs:
            proc.send_signal(2)  # SIGINT: Huey finishes running tasks and stops
        for proc in procs:
            proc.wait(timeout=60)


def _run(users_n: int, entries_n: int, workers: int = 0) -> int:
    import json

    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    if connection.vendor == "postgresql" and not workers:
        raise SystemExit("run on SQLite (the PostgreSQL variant needs a private database)")
    call_command("migrate", verbosity=0)
    from storage.moto_server import S3Credentials, start_moto_server
    from strongroom.accounts import services as people
    from strongroom.core import keys
    from strongroom.core.secrets import seal_into
    from strongroom.exports import offline_file
    from strongroom.exports.services import export_policy_update
    from strongroom.storage import services as storage
    from strongroom.storage.models import StorageConnection
    from strongroom.storage.providers.s3 import s3_clients_clear
    from strongroom.sync import services as sync
    from strongroom.sync.models import JobState, SyncJob

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
        users = _bulk_users(users_n, entries_n)
        config = {"bucket": creds.bucket, "region": "us-east-1", "prefix": "", "endpoint": moto.url}
        user_keys = _iam_users_create(moto, [user.username for user in users])
        _check_keys_are_scoped(moto, user_keys)
        conns = []
        for user in users:
            key_id, key_secret = user_keys[user.username]
            conn = StorageConnection(
                user=user,
                provider="s3",
                config={**config, "prefix": f"{user.username}/"},
                account_label=creds.bucket,
            )
            seal_into(
                conn,
                "credentials",
                json.dumps({"access_key_id": key_id, "secret_access_key": key_secret}),
            )
            conns.append(conn)
        StorageConnection.objects.bulk_create(conns, batch_size=500)
        jobs = _bulk_jobs(users, conns)
        setup_seconds = time.perf_counter() - t_setup

        rss_before = _rss_mib()
        if workers:
            total = _workers_run(jobs, workers)
        else:
            t0 = time.perf_counter()
            for job in jobs:
                sync.sync_job_run(job_id=job.pk, worker_id="bench-worker")
            total = time.perf_counter() - t0
        rss_after = _rss_mib()
        load_after = os.getloadavg()[0]
        states = dict(SyncJob.objects.values_list("state").annotate(n=Count("id")))
        succeeded = states.get(JobState.SUCCEEDED, 0)

        # Overhead of one sync against a bare put_object of the same bytes, both signed with
        # the last user's own key (moto looks keys up user by user, so the same key costs
        # the same on both sides). Then the same with the provider's client cache cleared
        # before each sync: what the first sync in a fresh worker process pays.
        last = SyncJob.objects.get(pk=jobs[-1].pk)
        last_user = users[-1].username
        client = moto.client(S3Credentials(*user_keys[last_user], bucket=creds.bucket))
        key = f"{last_user}/{last.object_name}"
        body = client.get_object(Bucket=creds.bucket, Key=key)["Body"].read()
        payload = offline_file.offline_file_open(html=body, passphrase=PASSPHRASE)
        assert len(payload.entries) == entries_n

        def one_sync() -> float:
            job = SyncJob.objects.create(
                user=users[-1],
                connection=conns[-1],
                provider="s3",
                copy_keys=last.copy_keys,
                object_name=last.object_name,
            )
            t = time.perf_counter()
            sync.sync_job_run(job_id=job.pk, worker_id="bench-worker")
            return time.perf_counter() - t

        bare, warm, cold = [], [], []
        for _ in range(20):
            t = time.perf_counter()
            client.put_object(
                Bucket=creds.bucket, Key=f"{last_user}/bare-{uuid.uuid4().hex}", Body=body
            )
            bare.append(time.perf_counter() - t)
            warm.append(one_sync())
            s3_clients_clear()
            cold.append(one_sync())
        bare_ms = statistics.median(bare) * 1000
        full_ms = statistics.median(warm) * 1000
        cold_ms = statistics.median(cold) * 1000
    finally:
        moto.stop()

    timed = users_n - workers  # with worker processes, their warm-up jobs are not timed
    runner = f"{workers} worker process(es) on the queue" if workers else "one worker in process"
    rows = [
        ("users (jobs)", f"{users_n:,}"),
        ("entries per user", f"{entries_n}"),
        ("set-up (not timed)", f"{setup_seconds:.1f} s"),
        ("jobs succeeded", f"{succeeded:,} of {users_n:,}  {states}"),
        (
            f"total time, {runner}",
            f"{total:.1f} s for {timed:,} jobs  (target: 1,000 within 60 s)",
        ),
        ("jobs per second", f"{timed / total:.1f}"),
        ("load average (1 min) after the run", f"{load_after:.2f}"),
        ("peak RSS (whole process)", f"{rss_after:.0f} MiB (before the run {rss_before:.0f} MiB)"),
        ("file size", f"{len(body):,} bytes"),
        ("bare boto3 put_object, median", f"{bare_ms:.1f} ms"),
        ("one sync job, median", f"{full_ms:.1f} ms"),
        (
            "overhead of a sync over the bare PUT",
            f"{full_ms - bare_ms:.1f} ms ({full_ms / bare_ms:.1f}x)",
        ),
        ("one sync job, S3 client cache cleared, median", f"{cold_ms:.1f} ms"),
        (
            "overhead of that sync over the bare PUT",
            f"{cold_ms - bare_ms:.1f} ms ({cold_ms / bare_ms:.1f}x)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nCloud sync to S3 (moto server on 127.0.0.1), {connection.vendor}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0 if succeeded == users_n else 1


def _bulk_users(users_n: int, entries_n: int) -> list[Any]:
    """``users_n`` users with ``entries_n`` resources and sealed passwords each."""
    from strongroom.accounts.models import User
    from strongroom.core.secrets import seal_into
    from strongroom.vault.models import Account, Resource

    users = [
        User(username=f"tech{i:04d}", role="password_admin", is_active=True) for i in range(users_n)
    ]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users, batch_size=500)
    users = list(User.objects.filter(username__startswith="tech").order_by("username"))
    resources, accounts = [], []
    for user in users:
        for j in range(entries_n):
            res = Resource(owner=user, name=f"{user.username}-host-{j:02d}", host="10.0.0.1")
            resources.append(res)
            account = Account(resource=res, username="root")
            seal_into(account, "password", f"pw-{user.username}-{j}")
            accounts.append(account)
    Resource.objects.bulk_create(resources, batch_size=2000)
    Account.objects.bulk_create(accounts, batch_size=2000)
    return users


def _bulk_jobs(users: list[Any], conns: list[Any]) -> list[Any]:
    """One queued sync job per user to that user's connection, copy keys made with the
    bench's KDF cost (the build key sealed, as the service does)."""
    from strongroom.crypto import offline
    from strongroom.sync import services as sync
    from strongroom.sync.keys import copy_keys_store
    from strongroom.sync.models import SyncJob

    jobs = []
    for user, conn in zip(users, conns, strict=True):
        copy_keys = offline.copy_keys_create(
            passphrase=PASSPHRASE,
            iterations=BENCH_ITERATIONS,
            minimum_iterations=BENCH_ITERATIONS,
        )
        job = SyncJob(
            user=user,
            connection=conn,
            provider=conn.provider,
            object_name=sync.object_name_for(conn),
        )
        copy_keys_store(job, copy_keys)
        jobs.append(job)
    SyncJob.objects.bulk_create(jobs, batch_size=500)
    return jobs


def _run_webdav(users_n: int, entries_n: int) -> int:
    import json

    import requests
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    if connection.vendor == "postgresql":
        raise SystemExit("run on SQLite (the PostgreSQL variant needs a private database)")
    call_command("migrate", verbosity=0)
    from storage.webdav_servers import start_wsgidav
    from strongroom.accounts import services as people
    from strongroom.core import keys
    from strongroom.core.secrets import seal_into
    from strongroom.exports import offline_file
    from strongroom.exports.services import export_policy_update
    from strongroom.storage import services as storage
    from strongroom.storage.models import StorageConnection
    from strongroom.sync import services as sync
    from strongroom.sync.models import JobState, SyncJob

    keys.verify()
    server = start_wsgidav()
    try:
        t_setup = time.perf_counter()
        boss = people.user_create(
            actor=None, username="boss", password="Bench-login-0123", role="admin"
        )
        export_policy_update(actor=boss, values={"kdf_iterations": BENCH_ITERATIONS})
        storage.provider_settings_update(
            actor=boss, provider="webdav", enabled=True, config={"servers": [server.origin]}
        )
        users = _bulk_users(users_n, entries_n)
        conns = []
        for user in users:
            server.folder(user.username)
            conn = StorageConnection(
                user=user,
                provider="webdav",
                config={
                    "server_url": server.url,
                    "username": server.username,
                    "folder": user.username,
                },
                account_label=server.username,
            )
            seal_into(conn, "credentials", json.dumps({"password": server.password}))
            conns.append(conn)
        StorageConnection.objects.bulk_create(conns, batch_size=500)
        jobs = _bulk_jobs(users, conns)
        setup_seconds = time.perf_counter() - t_setup

        t0 = time.perf_counter()
        for job in jobs:
            sync.sync_job_run(job_id=job.pk, worker_id="bench-worker")
        total = time.perf_counter() - t0
        states = dict(SyncJob.objects.values_list("state").annotate(n=Count("id")))
        succeeded = states.get(JobState.SUCCEEDED, 0)
        # Every user's copy is on the server, in that user's folder, and opens.
        copies = 0
        for user, job in zip(users, jobs, strict=True):
            path = server.root / user.username / job.object_name
            if path.is_file():
                payload = offline_file.offline_file_open(
                    html=path.read_bytes(), passphrase=PASSPHRASE
                )
                copies += len(payload.entries) == entries_n
        last = SyncJob.objects.get(pk=jobs[-1].pk)
        body = (server.root / users[-1].username / last.object_name).read_bytes()

        def one_sync() -> float:
            job = SyncJob.objects.create(
                user=users[-1],
                connection=conns[-1],
                provider="webdav",
                copy_keys=last.copy_keys,
                object_name=last.object_name,
            )
            t = time.perf_counter()
            sync.sync_job_run(job_id=job.pk, worker_id="bench-worker")
            return time.perf_counter() - t

        bare, full = [], []
        with requests.Session() as http:
            http.trust_env = False
            http.auth = (server.username, server.password)
            folder_url = f"{server.url}{users[-1].username}/"
            for _ in range(20):
                t = time.perf_counter()
                resp = http.put(f"{folder_url}bare-{uuid.uuid4().hex}.html", data=body)
                bare.append(time.perf_counter() - t)
                assert resp.status_code in (201, 204), resp.status_code
                full.append(one_sync())
        bare_ms = statistics.median(bare) * 1000
        full_ms = statistics.median(full) * 1000
    finally:
        server.stop()

    rows = [
        ("users (jobs)", f"{users_n:,}"),
        ("entries per user", f"{entries_n}"),
        ("set-up (not timed)", f"{setup_seconds:.1f} s"),
        ("jobs succeeded", f"{succeeded:,} of {users_n:,}  {states}"),
        ("copies on the server that open", f"{copies:,} of {users_n:,}"),
        ("total time, one worker", f"{total:.1f} s"),
        ("jobs per second", f"{users_n / total:.1f}"),
        ("file size", f"{len(body):,} bytes"),
        ("bare requests PUT, median", f"{bare_ms:.1f} ms"),
        ("one sync job, median", f"{full_ms:.1f} ms"),
        (
            "overhead of a sync over the bare PUT",
            f"{full_ms - bare_ms:.1f} ms ({full_ms / bare_ms:.1f}x)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nCloud sync to WebDAV (wsgidav on 127.0.0.1), {connection.vendor}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0 if succeeded == users_n and copies == users_n else 1


if __name__ == "__main__":
    raise SystemExit(main())
