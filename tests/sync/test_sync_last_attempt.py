"""A synced copy's last attempt (issue 17, point 3): after a sync to a deleted bucket failed,
the copy no longer reads "Kept in sync · Last error none". The API (``last_attempt``) and
the Synced copies page tell how the newest upload to the copy's place ended, when, why and
what to do, including a one-off sync that was not the copy's own rebuild and a retry that
is still waiting. Only the owner and administrators see it."""

from __future__ import annotations

import pytest

from strongroom.sync.models import JobState, SyncCopy

from .helpers import admin, api_for, scope_make, sync_start, user_make

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]  # a subquery per copy


def _delete_bucket(moto, bucket: str) -> None:
    client = moto.client()
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def test_a_failed_one_off_sync_shows_on_the_kept_copy(
    s3_connect, moto, cheap_policy, django_capture_on_commit_callbacks, client
):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, bucket = s3_connect(alice)
    with django_capture_on_commit_callbacks(execute=True):
        kept = sync_start(alice, conn, keep_in_sync=True)
    kept.refresh_from_db()
    assert kept.state == JobState.SUCCEEDED
    [ok] = api_for(alice).get("/sync/copies").json()
    assert ok["last_attempt"]["state"] == "succeeded" and ok["last_attempt"]["problem"] == ""

    _delete_bucket(moto, bucket)
    with django_capture_on_commit_callbacks(execute=True):
        failed = sync_start(alice, conn)  # one-off: not the copy's own job
    failed.refresh_from_db()
    assert failed.state == JobState.FAILED and failed.sync_copy_id is None

    [listed] = api_for(alice).get("/sync/copies").json()
    attempt = listed["last_attempt"]
    assert attempt["job_id"] == str(failed.pk)
    assert attempt["state"] == "failed"
    assert attempt["problem"] == f"no such bucket: {bucket}"
    assert attempt["advice"] == (
        "Check that the bucket or folder still exists in Amazon S3, then sync again."
    )
    assert attempt["at"].startswith(failed.finished_at.isoformat()[:19])

    # The page says it in words, never "Last error none".
    client.force_login(alice)
    html = client.get("/sync/copies/").content.decode()
    assert 'data-copy-attempt="failed"' in html
    assert f"no such bucket: {bucket}" in html
    assert "the last attempt did not land" in html
    assert ">none<" not in html

    # Who sees it: the owner and administrators; nobody else gets the copy at all.
    bob = user_make("password_admin")
    assert api_for(bob).get("/sync/copies").json() == []
    boss = api_for(admin())
    [seen] = boss.get(f"/sync/copies?user_id={alice.pk}").json()
    assert seen["last_attempt"]["state"] == "failed"
    assert SyncCopy.objects.filter(user=alice).count() == 1


def test_a_retry_that_is_waiting_says_so(s3_connect, s3_enabled, cheap_policy, run):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, bucket = s3_connect(alice)
    s3_enabled.add_fault("status", method="PUT", match=bucket, status=503, times=1)
    job = sync_start(alice, conn, keep_in_sync=True)
    from strongroom.sync import services as sync

    sync.sync_job_run(job_id=job.pk, worker_id="test-worker")
    job.refresh_from_db()
    assert job.state == JobState.RETRY_WAIT
    [listed] = api_for(alice).get("/sync/copies").json()
    attempt = listed["last_attempt"]
    assert attempt["state"] == "retry_wait"
    assert attempt["next_attempt_at"] is not None
    assert attempt["advice"] == "Strongroom tries again by itself; nothing to do yet."
    assert attempt["problem"]
