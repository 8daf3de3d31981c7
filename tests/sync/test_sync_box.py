"""Sync to Box (box_sdk_gen over HTTPS to the Box stand-in), the real job code: a second
sync is a new version of one file; 20 concurrent jobs of one user whose access token has
expired make exactly one refresh (single-use refresh tokens) and none fails for a token
reason; 429 Retry-After, 5xx and resets mid-upload are retried and never leave a broken
file; a refused refresh token asks the user to reconnect once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection as db_connection

from strongroom.notifications.models import Notification
from strongroom.storage import registry
from strongroom.storage import services as storage
from strongroom.storage.models import ProviderSettings, StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncJob

from .helpers import Clock, admin, opened, scope_make, sync_start, user_make

CHUNK = 16 * 1024


@pytest.fixture
def box_enabled(db, box_api):
    storage.provider_settings_update(
        actor=admin(),
        provider="box",
        enabled=True,
        secret={"client_id": box_api.client_id, "client_secret": box_api.client_secret},
    )
    # The stand-in accepts upload sessions for small files; Box itself (and the admin form)
    # only from 20 MB, so the threshold is set on the row directly for the chunked tests.
    ProviderSettings.objects.filter(provider="box").update(config={"chunk_threshold": CHUNK})
    return box_api


@pytest.fixture
def box_connect(box_enabled):
    def connect(user: Any) -> tuple[StorageConnection, Any]:
        box_user = box_enabled.add_user(f"Box {user.username}", f"{user.username}@example.com")
        conn = storage.storage_connection_save(
            actor=user,
            provider="box",
            config={},
            credentials=box_enabled.credentials_for(box_user.id),
        )
        return conn, box_user

    return connect


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
def test_429_retry_after_5xx_and_reset_mid_upload_are_retried_and_keep_the_good_copy(
    box_connect, box_enabled, cheap_policy, settings
):
    settings.STRONGROOM_SYNC_MAX_ATTEMPTS = 5
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn, box_user = box_connect(alice)
    good = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert good.state == JobState.SUCCEEDED
    later = scope_make(alice, 1, prefix="later")
    box_enabled.fail("status", "POST /api/2.0/files/", status=429, retry_after=7)
    box_enabled.fail("status", "POST /api/2.0/files/", status=503)
    box_enabled.fail("reset", "POST /api/2.0/files/")
    job = sync_start(alice, conn)
    clock = Clock()
    waits = []
    for attempt in range(1, 4):
        done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
        assert done.state == JobState.RETRY_WAIT, (attempt, done.error_code, done.last_error)
        assert done.error_code == "storage_transient"
        # the previous good version is still the only one
        assert len(box_enabled.file(box_user.id, job.object_name).versions) == 1
        waits.append((done.next_attempt_at - clock.now).total_seconds())
        clock.now = done.next_attempt_at
    assert waits[0] >= 7  # Retry-After honoured
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert done.state == JobState.SUCCEEDED and done.attempts == 4
    versions = box_enabled.file(box_user.id, job.object_name).versions
    assert len(versions) == 2
    assert opened(versions[0]) == scope and opened(versions[1]) == {**scope, **later}


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
def test_refused_refresh_token_needs_reauth_with_one_notification(
    box_connect, box_enabled, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, box_user = box_connect(alice)
    creds = _expire_stored_tokens(box_enabled, conn, box_user)
    box_enabled.refresh[creds["refresh_token"]]["used"] = True  # revoked at Box
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "storage_auth"
    conn.refresh_from_db()
    assert conn.status == StorageConnection.Status.NEEDS_REAUTH and conn.credentials is None
    [note] = Notification.objects.filter(user=alice)
    assert note.level == "error" and "Reconnect" in note.title
    for secret in (creds["access_token"], creds["refresh_token"], box_enabled.client_secret):
        assert secret not in note.body + note.title + job.last_error
    sync.sync_jobs_sweep(now=datetime.now(UTC) + timedelta(days=1))
    assert Notification.objects.filter(user=alice).count() == 1


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
