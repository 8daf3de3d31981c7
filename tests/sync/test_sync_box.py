"""Sync to Box (box_sdk_gen over HTTPS to the Box stand-in), what is Box's own: a second
sync is a new version of one file; chunked uploads; 20 concurrent jobs (threads, then OS
processes) of one user whose access token has expired make exactly one refresh (single-use
refresh tokens) and none fails for a token reason; an unverified SHA-1 fails the attempt;
no token or client secret anywhere. The flow, retries and refused credentials are the
provider-parametrised suite's (test_sync_providers.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from django.db import connection as db_connection

from cli.helpers import LOGIN_PASSWORD, make_installation
from strongroom.exports import offline_file
from strongroom.notifications.models import Notification
from strongroom.storage import registry
from strongroom.storage import services as storage
from strongroom.storage.models import ProviderSettings, StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncJob

from .helpers import Clock, opened, scope_make, sync_start, user_make
from .targets import box as targets_box

CHUNK = 16 * 1024


@pytest.fixture
def box_enabled(db, box_api):
    targets_box.enable(box_api)
    return box_api


@pytest.fixture
def box_connect(box_enabled):
    return lambda user: targets_box.connect(box_enabled, user)


def _expire_stored_tokens(box: Any, conn: StorageConnection, box_user: Any) -> dict[str, Any]:
    """The stored pair is replaced by one whose access token has already expired."""
    creds = box.credentials_for(box_user.id, ttl=0)
    creds["expires_at"] = 0
    registry._store_credentials(conn.pk, creds)
    return creds


@pytest.mark.django_db
def test_second_sync_is_a_new_version_of_one_file(
    box_connect, box_enabled, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope = scope_make(alice, 3)
    conn, box_user = box_connect(alice)
    with django_capture_on_commit_callbacks(execute=True):
        first = sync_start(alice, conn)
    first.refresh_from_db()
    assert first.state == JobState.SUCCEEDED, first.last_error
    assert "Box: /Strongroom/" in first.result_location
    more = scope_make(alice, 1, prefix="later")
    with django_capture_on_commit_callbacks(execute=True):
        second = sync_start(alice, conn)
    second.refresh_from_db()
    assert second.state == JobState.SUCCEEDED, second.last_error
    [item] = box_enabled.files(box_user.id)
    assert item.name == first.object_name and len(item.versions) == 2
    assert opened(item.versions[0]) == scope
    assert opened(item.versions[1]) == {**scope, **more}
    notes = Notification.objects.filter(user=alice, level="success")
    assert notes.count() == 2


@pytest.mark.django_db
def test_chunked_sync_above_the_threshold(
    box_connect, box_enabled, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope = scope_make(alice, 60)
    conn, box_user = box_connect(alice)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert job.result_size > CHUNK
    assert sum(line.startswith("PUT /api/2.0/files/upload_sessions/") for line in box_enabled.log)
    assert opened(box_enabled.read(box_user.id, job.object_name)) == scope


def _run_concurrently(job_ids: list[Any]) -> list[SyncJob | None]:
    barrier = threading.Barrier(len(job_ids))
    results: list[Any] = [None] * len(job_ids)

    def work(i: int, job_id: Any) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = sync.sync_job_run(job_id=job_id, worker_id=f"worker-{i}")
        except Exception as exc:  # surfaced by the assertion below
            results[i] = exc
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work, args=(i, j)) for i, j in enumerate(job_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_jobs_with_an_expired_token_refresh_exactly_once(
    box_connect, box_enabled, cheap_policy
):
    from huey.contrib.djhuey import HUEY

    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn, box_user = box_connect(alice)
    HUEY.immediate = False  # queue the jobs; the threads below run them
    try:
        jobs = [sync_start(alice, conn).pk for _ in range(20)]
    finally:
        HUEY.immediate = True
        HUEY.flush()
    expired = _expire_stored_tokens(box_enabled, conn, box_user)
    refreshes_before = box_enabled.refresh_count

    results = _run_concurrently(jobs)

    errors = [r for r in results if not isinstance(r, SyncJob)]
    assert errors == []
    states = {
        j.pk: (j.state, j.error_code, j.last_error) for j in SyncJob.objects.filter(pk__in=jobs)
    }
    assert all(s[0] == JobState.SUCCEEDED for s in states.values()), set(states.values())
    assert box_enabled.refresh_count - refreshes_before == 1
    conn.refresh_from_db()
    assert conn.status == StorageConnection.Status.CONNECTED
    stored = storage.unsealed_credentials(conn)
    assert stored["refresh_token"] != expired["refresh_token"]
    [item] = box_enabled.files(box_user.id)
    assert len(item.versions) == 20
    assert all(opened(v) == scope for v in item.versions)


@pytest.mark.django_db
def test_reset_mid_chunked_upload_is_retried_and_leaves_no_broken_file(
    box_connect, box_enabled, cheap_policy
):
    alice = user_make("password_admin")
    scope = scope_make(alice, 60)
    conn, box_user = box_connect(alice)
    box_enabled.fail("reset", "PUT /api/2.0/files/upload_sessions/")
    job = sync_start(alice, conn)
    clock = Clock()
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert done.state == JobState.RETRY_WAIT and done.error_code == "storage_transient"
    assert box_enabled.file(box_user.id, job.object_name) is None  # nothing half-made
    clock.now = done.next_attempt_at
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert done.state == JobState.SUCCEEDED
    assert opened(box_enabled.read(box_user.id, job.object_name)) == scope


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tamper", "route"),
    [
        pytest.param("wrong_sha1", "/content", id="wrong-sha1-one-upload"),
        pytest.param("no_sha1", "/commit", id="no-sha1-upload-session"),
    ],
)
def test_unverified_sha1_fails_the_attempt_and_the_good_copy_stays_the_current_one(
    box_connect, box_enabled, cheap_policy, tamper, route
):
    from strongroom.sync.models import SyncCopy

    if route == "/content":  # Box's own 20 MB threshold: the file goes in one upload
        ProviderSettings.objects.filter(provider="box").update(config={})
    alice = user_make("password_admin")
    scope_make(alice, 2)
    conn, box_user = box_connect(alice)
    good = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert good.state == JobState.SUCCEEDED
    scope_make(alice, 1, prefix="later")
    box_enabled.fail(tamper, route)  # Box's answer to the new version
    job = sync_start(alice, conn)
    clock = Clock()
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert done.state == JobState.RETRY_WAIT, (done.error_code, done.last_error)
    assert done.error_code == "storage_transient"
    assert done.last_error.startswith("upload verification failed")
    assert box_enabled.faults == []  # the tampered answer was the one verified
    assert len(box_enabled.file(box_user.id, job.object_name).versions) == 2
    # Nothing presents the unverified upload as a success: the copy still names the good
    # job and its digest, the job has no result, the user got no second success message.
    copy = SyncCopy.objects.get(user=alice, connection=conn)
    assert copy.last_job_id == good.pk and copy.sha256 == good.result_sha256
    assert (done.result_size, done.result_sha256, done.finished_at) == (None, "", None)
    assert Notification.objects.filter(user=alice, level="success").count() == 1
    # The retry is answered truthfully and verifies.
    clock.now = done.next_attempt_at
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert done.state == JobState.SUCCEEDED and done.attempts == 2
    copy.refresh_from_db()
    assert copy.last_job_id == job.pk and copy.sha256 == done.result_sha256 != good.result_sha256


@pytest.mark.django_db
def test_canary_no_box_token_or_client_secret_anywhere(
    box_connect, box_enabled, cheap_policy, enqueued, caplog, django_capture_on_commit_callbacks
):
    import json
    import logging

    from django.core import serializers

    from strongroom.audit.models import AuditEvent
    from strongroom.storage.models import OAuthPending

    caplog.set_level(logging.DEBUG)
    alice = user_make("password_admin")
    scope_make(alice, 2)
    conn, box_user = box_connect(alice)
    first = storage.unsealed_credentials(conn)
    expired = _expire_stored_tokens(box_enabled, conn, box_user)
    box_enabled.fail("status", "POST /api/2.0/files/", status=503)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.RETRY_WAIT
    SyncJob.objects.filter(pk=job.pk).update(next_attempt_at=None)
    done = sync.sync_job_run(job_id=job.pk, worker_id="w")
    assert done.state == JobState.SUCCEEDED
    conn.refresh_from_db()
    refreshed = storage.unsealed_credentials(conn)
    storage.storage_connection_disconnect(actor=alice, connection_id=conn.pk)
    secrets = [
        box_enabled.client_secret,
        first["access_token"],
        first["refresh_token"],
        expired["access_token"],
        expired["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
    ]
    haystacks = {
        "logs": "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records),
        "queue": "\n".join(repr(e) for e in enqueued),
        "jobs": serializers.serialize("json", SyncJob.objects.all()),
        "notifications": serializers.serialize("json", Notification.objects.all()),
        "audit": json.dumps(list(AuditEvent.objects.values_list("details", "reason")), default=str),
        "settings rows": serializers.serialize("json", ProviderSettings.objects.all()),
        "connections": serializers.serialize("json", StorageConnection.objects.all()),
        "pending": serializers.serialize("json", OAuthPending.objects.all()),
    }
    assert any(r.name == "strongroom.storage.providers.box" for r in caplog.records)
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, (where, secret[:8])
    # Disconnect revoked the live grant at Box.
    assert box_enabled.access[refreshed["access_token"]]["revoked"]
    assert box_enabled.refresh[refreshed["refresh_token"]]["used"]


# -- the refresh lock across processes (real OS processes on a private installation) -----

PASSPHRASE = "plum orbit quietly seventy lantern"

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
            payload = offline_file.offline_file_open(html=data, passphrase=PASSPHRASE)
            assert sorted(e.name for e in payload.entries) == ["host-0", "host-1", "host-2"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)
        box.clear()
        cleanup()
