"""The sync job against every provider that joined (tests/sync/targets/): the copy lands
and opens to the user's exact scope, a second sync replaces it; transient failures (503/429
with Retry-After, a connection reset mid-upload) are retried with backoff and jitter that
honour Retry-After, computed exactly from an injected clock and random source, and never
replace the good copy with a broken one; giving up keeps the previous good copy; refused
credentials fail at once, ask the user to reconnect once, and are not retried."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.notifications.models import Notification
from strongroom.storage.models import StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState

from .helpers import Clock, opened, scope_make, sync_start, user_make
from .targets import SyncTarget

pytestmark = pytest.mark.django_db


def _good_copy(target: SyncTarget):
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn = target.connect(alice)
    good = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert good.state == JobState.SUCCEEDED, good.last_error
    assert opened(target.read(conn, good.object_name)) == scope
    return alice, conn, scope, good


def test_sync_lands_opens_to_the_scope_and_a_second_sync_replaces_it(
    sync_target, cheap_policy, django_capture_on_commit_callbacks
):
    alice, conn, scope, good = _good_copy(sync_target)
    assert good.result_location
    later = scope_make(alice, 1, prefix="later")
    with django_capture_on_commit_callbacks(execute=True):
        second = sync_start(alice, conn)
    second.refresh_from_db()
    assert second.state == JobState.SUCCEEDED, second.last_error
    assert second.object_name == good.object_name
    assert opened(sync_target.read(conn, second.object_name)) == {**scope, **later}


def test_transient_failures_back_off_with_jitter_honour_retry_after_and_keep_the_good_copy(
    sync_target, cheap_policy, settings, enqueued, django_capture_on_commit_callbacks
):
    settings.STRONGROOM_SYNC_BACKOFF_BASE_SECONDS = 2
    settings.STRONGROOM_SYNC_MAX_ATTEMPTS = 5
    alice, conn, scope, _good = _good_copy(sync_target)
    later = scope_make(alice, 1, prefix="later")
    sync_target.faults.unavailable(7)
    job = sync_start(alice, conn)
    clock, rand, mirror = Clock(), random.Random(1234), random.Random(1234)
    retry_after = 7.0 if sync_target.retry_after else 0.0
    expected_waits = [
        # attempt 1: 503/429 with Retry-After 7 s beats the 2 s backoff (1-2 s with jitter)
        max(1 + mirror.uniform(0, 1), retry_after),
        # attempt 2: the connection cut mid-upload, no Retry-After: 4 s backoff (2-4 s)
        2 + mirror.uniform(0, 2),
    ]
    for attempt, wait in enumerate(expected_waits, start=1):
        if attempt == 2:
            sync_target.faults.reset_mid_upload()
        enqueued.clear()
        with django_capture_on_commit_callbacks(execute=True):
            done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand)
        assert done.state == JobState.RETRY_WAIT, (attempt, done.error_code, done.last_error)
        assert done.attempts == attempt and done.error_code == "storage_transient"
        assert done.next_attempt_at == clock.now + timedelta(seconds=wait)
        [(name, args, kwargs, _)] = enqueued  # re-enqueued for that moment, the job ID only
        assert name.endswith("sync_job_execute") and args == (str(job.pk),) and kwargs == {}
        # not due yet: a worker that gets the message early does nothing
        assert sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand) is None
        assert opened(sync_target.read(conn, job.object_name)) == scope  # the good copy
        clock.now = done.next_attempt_at
    sync_target.faults.clear()
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand)
    assert done.state == JobState.SUCCEEDED and done.attempts == 3
    assert opened(sync_target.read(conn, job.object_name)) == {**scope, **later}
    assert Notification.objects.filter(user=alice, level="error").count() == 0


def test_giving_up_after_max_attempts_keeps_the_previous_good_copy(
    sync_target, cheap_policy, settings
):
    settings.STRONGROOM_SYNC_MAX_ATTEMPTS = 2
    alice, conn, scope, _good = _good_copy(sync_target)
    scope_make(alice, 1, prefix="later")
    sync_target.faults.reset_mid_upload()
    job = sync_start(alice, conn, passphrase="another quiet meadow of lanterns")
    clock = Clock()
    first_try = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert first_try.state == JobState.RETRY_WAIT, first_try.last_error
    clock.now = first_try.next_attempt_at
    sync_target.faults.unavailable(3)
    last = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert last.state == JobState.FAILED and last.attempts == 2
    assert opened(sync_target.read(conn, job.object_name)) == scope  # the old copy, intact
    note = Notification.objects.filter(user=alice, level="error").get()
    assert "gave up after 2 attempts" in note.body


def test_refused_credentials_fail_once_and_ask_to_reconnect_once(
    sync_target, cheap_policy, enqueued, django_capture_on_commit_callbacks
):
    if sync_target.break_auth is None:
        pytest.skip(f"{sync_target.provider} has no credentials to refuse")
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn = sync_target.connect(alice)
    sync_target.break_auth(conn)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == 1
    assert job.error_code == "storage_auth"
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
