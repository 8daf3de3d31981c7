"""The whole flow with the local folder provider, in process (Huey immediate mode): request
→ job row → task with the job ID only → file built from the stored public key → uploaded
→ notification; the file opens to exactly the user's scope."""

from __future__ import annotations

import pytest

from strongroom.audit.models import AuditEvent
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.notifications.models import Kind, Notification
from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncCopy, SyncJob

from .helpers import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    local_connect,
    opened,
    policy_set,
    rule_set,
    scope_make,
    sync_start,
    user_make,
)

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def test_sync_to_local_folder_uploads_exactly_the_users_scope(
    sync_dir, cheap_policy, enqueued, django_capture_on_commit_callbacks
):
    owner = user_make("password_admin")
    alice = user_make("password_admin")
    bob_only = scope_make(owner, 2, prefix="hidden")
    from strongroom.vault import services as vault
    from strongroom.vault.models import AccessLevel, Resource

    shared = scope_make(owner, 3, prefix="shared")
    for name, _ in shared:
        resource = Resource.objects.get(name=name)
        vault.share_grant(
            actor=owner, resource_id=resource.pk, user_id=alice.pk, level=AccessLevel.VIEW
        )
    own = scope_make(alice, 2, prefix="own")
    conn = local_connect(alice)

    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)

    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert job.attempts == 1
    stored = sync_dir / str(alice.pk) / f"f-{alice.username}" / job.object_name
    assert str(stored) in job.result_location
    html = stored.read_bytes()
    assert job.result_size == len(html)
    import hashlib

    assert job.result_sha256 == hashlib.sha256(html).hexdigest()
    assert opened(html) == {**shared, **own}
    assert not set(opened(html)) & set(bob_only)
    assert job.entry_count == 5
    # the queue carried the job ID and nothing else
    assert [(name.rsplit(".", 1)[-1], args, kwargs) for name, args, kwargs, _ in enqueued] == [
        ("sync_job_execute", (str(job.pk),), {})
    ]
    # the user is told where the file is
    note = Notification.objects.get(user=alice, kind=Kind.SYNC_LANDED)
    assert note.level == "success" and str(stored) in note.body and note.link == "/sync/history/"
    # audited: the request by the user, the upload as a system action on their behalf
    actions = list(
        AuditEvent.objects.filter(actor_id=alice.pk, action__startswith="sync.")
        .order_by("seq")
        .values_list("action", "outcome", "details")
    )
    assert [(a, o) for a, o, _ in actions] == [
        ("sync.request", "success"),
        ("sync.upload", "success"),
    ]
    assert actions[1][2]["system"] is True and actions[1][2]["entry_count"] == 5
    # the copy record keeps only public material for later rebuilds
    copy = SyncCopy.objects.get(user=alice, connection=conn)
    assert copy.copy_keys == job.copy_keys and copy.last_job_id == job.pk
    assert set(copy.copy_keys) == {
        "version",
        "public_key",
        "wrapped_private_key",
        "salt",
        "iterations",
    }


def test_rebuild_uses_the_current_scope_and_replaces_the_copy(
    sync_dir, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    first = scope_make(alice, 2, prefix="a")
    conn = local_connect(alice)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    path = sync_dir / str(alice.pk) / f"f-{alice.username}" / job.object_name
    assert opened(path.read_bytes()) == first
    second = scope_make(alice, 1, prefix="b")
    with django_capture_on_commit_callbacks(execute=True):
        sync_start(alice, conn, passphrase="another quiet meadow of lanterns")
    assert opened(path.read_bytes(), "another quiet meadow of lanterns") == {**first, **second}
    assert sorted(p.name for p in path.parent.iterdir()) == [job.object_name]


def test_running_the_same_job_twice_leaves_one_correct_file(
    sync_dir, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn = local_connect(alice)
    job = sync_start(alice, conn)  # on_commit not run: the job stays queued
    assert SyncJob.objects.get(pk=job.pk).state == JobState.QUEUED
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1")
    assert done is not None and done.state == JobState.SUCCEEDED
    assert sync.sync_job_run(job_id=job.pk, worker_id="w2") is None  # nothing to do
    folder = sync_dir / str(alice.pk) / f"f-{alice.username}"
    assert [p.name for p in folder.iterdir()] == [job.object_name]
    assert opened((folder / job.object_name).read_bytes()) == scope
    assert Notification.objects.filter(user=alice, kind=Kind.SYNC_LANDED).count() == 1


@pytest.mark.parametrize(
    ("setup", "kwargs", "error", "refusal"),
    [
        ("export_off", {}, PermissionDenied, "export_disabled"),
        (None, {"passphrase": "short"}, ValidationFailed, "passphrase_refused"),
        (None, {"passphrase": LOGIN_PASSWORD}, ValidationFailed, "passphrase_refused"),
        ("reason_required", {"reason": ""}, ValidationFailed, "reason_required"),
    ],
)
def test_policy_refusals_create_no_job_and_are_audited(
    sync_dir, cheap_policy, setup, kwargs, error, refusal
):
    alice = user_make()
    conn = local_connect(alice)
    if setup == "export_off":
        rule_set(False, user_id=str(alice.pk))
    elif setup == "reason_required":
        policy_set(reason_required=True)
    with pytest.raises(error) as caught:
        sync_start(alice, conn, **kwargs)
    assert caught.value.details.get("refusal", caught.value.code) == refusal
    assert PASSPHRASE not in caught.value.message
    assert not SyncJob.objects.exists()
    event = AuditEvent.objects.filter(action="sync.request").get()
    assert event.outcome == "failure" and event.details["refusal"] == refusal


def test_someone_elses_connection_is_not_found(sync_dir, cheap_policy):
    alice, mallory = user_make(), user_make()
    conn = local_connect(alice)
    with pytest.raises(NotFound):
        sync_start(mallory, conn)
    assert not SyncJob.objects.exists()


def test_policy_is_applied_again_when_the_job_runs(
    sync_dir, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn = local_connect(alice)
    job = sync_start(alice, conn)
    rule_set(False, user_id=str(alice.pk))  # export turned off before the worker ran
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1")
    assert done.state == JobState.FAILED and done.error_code == "export_refused"
    assert not any((sync_dir / str(alice.pk) / f"f-{alice.username}").glob("*.html"))
    note = Notification.objects.get(user=alice, kind=Kind.SYNC_FAILED)
    assert note.level == "error" and "administrator" in note.body


def test_max_age_becomes_the_files_expiry(sync_dir, cheap_policy):
    from strongroom.exports import offline_file

    policy_set(max_age_days=7)
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn = local_connect(alice)
    job = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    html = (sync_dir / str(alice.pk) / f"f-{alice.username}" / job.object_name).read_bytes()
    payload = offline_file.offline_file_open(html=html, passphrase=PASSPHRASE)
    assert payload.expires_at is not None
    assert round((payload.expires_at - payload.generated_at).total_seconds()) == 7 * 86400


def test_cancel_a_queued_job(sync_dir, cheap_policy):
    alice, other = user_make(), user_make()
    conn = local_connect(alice)
    job = sync_start(alice, conn)
    with pytest.raises(NotFound):
        sync.sync_job_cancel(actor=other, job_id=job.pk)
    assert sync.sync_job_cancel(actor=alice, job_id=job.pk).state == JobState.CANCELLED
    assert sync.sync_job_run(job_id=job.pk, worker_id="w1") is None
    assert not any((sync_dir / str(alice.pk) / f"f-{alice.username}").glob("*.html"))
