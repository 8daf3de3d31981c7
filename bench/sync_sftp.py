"""Cloud sync throughput to SFTP (``bench/sync.py --provider sftp``): N users (200 by
default), each with a scope of E entries, synced by one worker to Debian's OpenSSH ``sshd``
on 127.0.0.1 (started here with a temporary config, as the tests do).

Set-up (not timed): a private installation (SQLite in a temporary data directory); users,
resources and accounts bulk-inserted with every password sealed like the services do; one
Ed25519 key pair per bench user, every public key in the server's authorized_keys (each job
logs in with its own key, as real users' jobs do); one SFTP connection per user (host key
pinned, private key sealed in the row) to a folder of its own; one queued sync job per user
(copy keys made with 10,000 PBKDF2 iterations; see bench/sync.py).

Timed: one worker (this process, one thread) runs every job through ``sync_job_run``:
claim, policy, scope, file build, audit, then the SFTP upload: TCP connect to the checked
address, SSH key exchange with the pinned host key, public-key login, temporary file,
fsync@openssh.com, size check and SHA-256 re-read, posix-rename, stat. Then one sync
against the bare client's upload of the same bytes (paramiko: connect, the same login,
``putfo`` to a new name, close), and the provider's own ``put`` of those bytes without a
job (the SFTP part of a sync); medians of 20.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

BENCH_ITERATIONS = 10_000
PASSPHRASE = "bench sync passphrase, not a secret"


def run(users_n: int, entries_n: int, tmp: Path) -> int:
    from django.db import connection
    from django.db.models import Count

    from storage.sftp_servers import SshServer, key_pair
    from strongroom.accounts import services as people
    from strongroom.accounts.models import User
    from strongroom.core.secrets import seal_into
    from strongroom.crypto import offline
    from strongroom.exports import offline_file
    from strongroom.exports.services import export_policy_update
    from strongroom.storage import registry
    from strongroom.storage import services as storage
    from strongroom.storage.models import StorageConnection
    from strongroom.sync import services as sync
    from strongroom.sync.keys import copy_keys_store
    from strongroom.sync.models import JobState, SyncJob
    from strongroom.vault.models import Account, Resource

    server = SshServer(tmp / "sshd")
    base = tmp / "sftp-root"
    base.mkdir()
    t_setup = time.perf_counter()
    users = [
        User(username=f"tech{i:04d}", role="password_admin", is_active=True) for i in range(users_n)
    ]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users, batch_size=500)
    users = list(User.objects.filter(username__startswith="tech").order_by("username"))
    pairs = {user.username: key_pair() for user in users}
    server.workdir.mkdir(parents=True)
    server.start()  # writes its own client key into authorized_keys; add every user's
    authorized = server.workdir / "authorized_keys"
    authorized.write_text(
        authorized.read_text() + "".join(public + "\n" for _, public in pairs.values())
    )
    try:
        boss = people.user_create(
            actor=None, username="boss", password="Bench-login-0123", role="admin"
        )
        export_policy_update(actor=boss, values={"kdf_iterations": BENCH_ITERATIONS})
        storage.provider_settings_update(
            actor=boss,
            provider="sftp",
            enabled=True,
            config={"hosts": [f"127.0.0.1:{server.port}"]},
        )
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
        pin = f"ssh-ed25519 {server.host_fingerprint}"
        conns = []
        for user in users:
            folder = base / user.username
            folder.mkdir()
            conn = StorageConnection(
                user=user,
                provider="sftp",
                config={
                    "host": "127.0.0.1",
                    "port": server.port,
                    "username": server.user,
                    "folder": str(folder),
                    "host_key": pin,
                },
                account_label=f"sftp://{server.user}@127.0.0.1:{server.port}{folder}",
            )
            seal_into(conn, "credentials", json.dumps({"private_key": pairs[user.username][0]}))
            conns.append(conn)
        StorageConnection.objects.bulk_create(conns, batch_size=500)
        jobs = []
        last_keys: Any = None
        for user, conn in zip(users, conns, strict=True):
            copy_keys = last_keys = offline.copy_keys_create(
                passphrase=PASSPHRASE,
                iterations=BENCH_ITERATIONS,
                minimum_iterations=BENCH_ITERATIONS,
            )
            job = SyncJob(
                user=user, connection=conn, provider="sftp", object_name=sync.object_name_for(conn)
            )
            copy_keys_store(job, copy_keys)
            jobs.append(job)
        SyncJob.objects.bulk_create(jobs, batch_size=500)
        setup_seconds = time.perf_counter() - t_setup

        t0 = time.perf_counter()
        for job in jobs:
            sync.sync_job_run(job_id=job.pk, worker_id="bench-worker")
        total = time.perf_counter() - t0
        states = dict(SyncJob.objects.values_list("state").annotate(n=Count("id")))
        succeeded = states.get(JobState.SUCCEEDED, 0)

        last = SyncJob.objects.get(pk=jobs[-1].pk)
        folder = base / users[-1].username
        body = (folder / last.object_name).read_bytes()
        payload = offline_file.offline_file_open(html=body, passphrase=PASSPHRASE)
        assert len(payload.entries) == entries_n
        private_key = pairs[users[-1].username][0]

        def one_sync() -> float:
            job = SyncJob(
                user=users[-1], connection=conns[-1], provider="sftp", object_name=last.object_name
            )
            copy_keys_store(job, last_keys)  # the build key sealed too: a job that can run
            job.save()
            t = time.perf_counter()
            done = sync.sync_job_run(job_id=job.pk, worker_id="bench-worker")
            elapsed = time.perf_counter() - t
            assert done is not None and done.state == JobState.SUCCEEDED
            return elapsed

        def bare_upload(n: int) -> float:
            t = time.perf_counter()
            _bare_put(server.port, server.user, private_key, f"{folder}/bare-{n}.html", body)
            return time.perf_counter() - t

        provider = registry.provider_for_connection(conns[-1])

        def provider_put() -> float:
            t = time.perf_counter()
            provider.put(last.object_name, body)
            return time.perf_counter() - t

        bare, full, puts = [], [], []
        for n in range(20):
            bare.append(bare_upload(n))
            full.append(one_sync())
            puts.append(provider_put())
        bare_ms = statistics.median(bare) * 1000
        full_ms = statistics.median(full) * 1000
        put_ms = statistics.median(puts) * 1000
    finally:
        server.stop()

    rows = [
        ("users (jobs)", f"{users_n:,}"),
        ("entries per user", f"{entries_n}"),
        ("set-up (not timed)", f"{setup_seconds:.1f} s"),
        ("jobs succeeded", f"{succeeded:,} of {users_n:,}  {states}"),
        ("copies landed (files in the users' folders)", f"{_landed(base, last.object_name):,}"),
        ("total time, one worker", f"{total:.1f} s"),
        ("jobs per second", f"{users_n / total:.1f}"),
        ("file size", f"{len(body):,} bytes"),
        ("bare paramiko upload (connect, login, put), median", f"{bare_ms:.1f} ms"),
        ("the provider's put alone (+ fsync, verify, rename), median", f"{put_ms:.1f} ms"),
        ("one sync job, median", f"{full_ms:.1f} ms"),
        (
            "overhead of a sync over the bare upload",
            f"{full_ms - bare_ms:.1f} ms ({full_ms / bare_ms:.1f}x)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nCloud sync to SFTP (OpenSSH sshd on 127.0.0.1), {connection.vendor}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0 if succeeded == users_n else 1


def _landed(base: Path, name: str) -> int:
    return len(list(base.glob(f"tech*/{name}")))


def _bare_put(port: int, user: str, private_key: str, path: str, body: bytes) -> None:
    """The bare client: what any script would do to upload the same bytes."""
    import paramiko

    key: Any = paramiko.Ed25519Key.from_private_key(io.StringIO(private_key))
    transport = paramiko.Transport(("127.0.0.1", port))
    try:
        transport.connect(username=user, pkey=key)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        sftp.putfo(io.BytesIO(body), path)
    finally:
        transport.close()
