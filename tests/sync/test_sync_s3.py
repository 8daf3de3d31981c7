"""Sync to S3 (moto's server mode through the fault proxy): the flow, retries with
exponential backoff and jitter honouring Retry-After (schedule computed exactly from an
injected clock and random source), no retry on auth/permission errors, the previous good
copy never replaced by a broken one."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.notifications.models import Notification
from strongroom.storage.models import StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState

from .helpers import Clock, opened, scope_make, sync_start, user_make

pytestmark = pytest.mark.django_db

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def _object(moto, bucket: str, key: str) -> bytes:
    return moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _puts(proxy, bucket: str) -> int:
    return sum(1 for r in proxy.requests if r.method == "PUT" and bucket in r.target)


def test_sync_to_s3_object_decrypts_to_the_users_scope(
    s3_connect, moto, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope = scope_make(alice, 4)
    conn, bucket = s3_connect(alice)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert bucket in job.result_location
    assert opened(_object(moto, bucket, job.object_name)) == scope


def test_transient_errors_back_off_with_jitter_and_honour_retry_after(
    s3_connect, s3_enabled, moto, cheap_policy, settings, enqueued,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.STRONGROOM_SYNC_BACKOFF_BASE_SECONDS = 2
    settings.STRONGROOM_SYNC_MAX_ATTEMPTS = 5
    proxy = s3_enabled
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn, bucket = s3_connect(alice)
    proxy.add_fault("status", method="PUT", match=bucket, status=503, body=SLOW_DOWN,
                    headers={"Retry-After": "7"})  # fmt: skip
    proxy.add_fault("status", method="PUT", match=bucket, status=429,
                    body=b"<Error><Code>TooManyRequests</Code></Error>",
                    headers={"Retry-After": "3"})  # fmt: skip
    proxy.add_fault("reset", method="PUT", match=bucket, reset_after=512)
    puts_before = _puts(proxy, bucket)  # the connection check writes a probe
    job = sync_start(alice, conn)
    clock, rand, mirror = Clock(), random.Random(1234), random.Random(1234)
    start = clock.now
    expected_waits = [
        # attempt 1: 503 SlowDown, Retry-After 7 s beats the 2 s backoff (1-2 s with jitter)
        max(1 + mirror.uniform(0, 1), 7.0),
        # attempt 2: 429, Retry-After 3 s against a 4 s backoff (2-4 s): the larger wins
        max(2 + mirror.uniform(0, 2), 3.0),
        # attempt 3: connection reset mid-upload, no Retry-After: 8 s backoff (4-8 s)
        4 + mirror.uniform(0, 4),
    ]
    for attempt, wait in enumerate(expected_waits, start=1):
        enqueued.clear()
        with django_capture_on_commit_callbacks(execute=True):
            done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand)
        assert done.state == JobState.RETRY_WAIT, (attempt, done.error_code, done.last_error)
        assert done.attempts == attempt
        assert done.next_attempt_at == clock.now + timedelta(seconds=wait)
        assert done.error_code == "storage_transient"
        # re-enqueued for that moment, with the job ID only
        [(name, args, kwargs, _)] = enqueued
        assert name.endswith("sync_job_execute") and args == (str(job.pk),) and kwargs == {}
        # not due yet: a worker that gets the message early does nothing
        assert sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand) is None
        clock.now = done.next_attempt_at
    assert (clock.now - start).total_seconds() == pytest.approx(sum(expected_waits))
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand)
    assert done.state == JobState.SUCCEEDED and done.attempts == 4
    assert opened(_object(moto, bucket, job.object_name)) == scope
    assert Notification.objects.filter(user=alice).count() == 1  # the success only
    assert _puts(proxy, bucket) - puts_before == 4


def test_giving_up_after_max_attempts_keeps_the_previous_good_copy(
    s3_connect, s3_enabled, moto, cheap_policy, settings
):
    settings.STRONGROOM_SYNC_MAX_ATTEMPTS = 2
    alice = user_make("password_admin")
    first = scope_make(alice, 2)
    conn, bucket = s3_connect(alice)
    good = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert good.state == JobState.SUCCEEDED
    scope_make(alice, 1, prefix="later")
    s3_enabled.add_fault("reset", method="PUT", match=bucket, reset_after=256)
    s3_enabled.add_fault("status", method="PUT", match=bucket, status=503, body=SLOW_DOWN)
    job = sync_start(alice, conn, passphrase="another quiet meadow of lanterns")
    clock = Clock()
    first_try = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert first_try.state == JobState.RETRY_WAIT
    clock.now = first_try.next_attempt_at
    last = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert last.state == JobState.FAILED and last.attempts == 2
    assert opened(_object(moto, bucket, job.object_name)) == first  # the old copy, intact
    note = Notification.objects.filter(user=alice, level="error").get()
    assert "gave up after 2 attempts" in note.body


@pytest.mark.parametrize(
    ("status", "code", "error_code"),
    [
        (403, "InvalidAccessKeyId", "storage_auth"),
        (403, "SignatureDoesNotMatch", "storage_auth"),
        (403, "AccessDenied", "storage_permission"),
    ],
)
def test_auth_and_permission_errors_are_not_retried_and_ask_to_reconnect_once(
    s3_connect, s3_enabled, moto, cheap_policy, enqueued, django_capture_on_commit_callbacks,
    status, code, error_code,
):  # fmt: skip
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, bucket = s3_connect(alice)
    body = f"<Error><Code>{code}</Code><Message>no</Message></Error>".encode()
    s3_enabled.add_fault("status", method="PUT", match=bucket, status=status, times=10, body=body)
    puts_before = _puts(s3_enabled, bucket)  # the connection check writes a probe
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == 1
    assert job.error_code == error_code
    assert _puts(s3_enabled, bucket) - puts_before == 1
    assert len(enqueued) == 1  # the first run only: nothing scheduled
    conn.refresh_from_db()
    assert conn.status == StorageConnection.Status.NEEDS_REAUTH
    [note] = Notification.objects.filter(user=alice)
    assert note.level == "error" and "Reconnect" in note.title
    # the sweep does not bring it back, and nothing more is said
    sync.sync_jobs_sweep(now=datetime.now(UTC) + timedelta(days=1))
    assert Notification.objects.filter(user=alice).count() == 1
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_unreachable_endpoint_is_transient(s3_connect, moto, cheap_policy, settings):
    """Connection refused (the endpoint is down): retried later, not failed."""
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, _ = s3_connect(alice)
    job = sync_start(alice, conn)
    # the endpoint goes away after connecting: a closed port on 127.0.0.1
    from cli.helpers import free_port
    from strongroom.storage import services as storage

    from .helpers import admin

    dead = f"http://127.0.0.1:{free_port()}"
    storage.provider_settings_update(
        actor=admin(), provider="s3", config={"endpoints": [dead, conn.config["endpoint"]]}
    )
    StorageConnection.objects.filter(pk=conn.pk).update(config={**conn.config, "endpoint": dead})
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1")
    assert done.state == JobState.RETRY_WAIT and done.error_code == "storage_transient"
