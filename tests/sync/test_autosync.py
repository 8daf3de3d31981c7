"""Auto-synchronisation in process (Huey immediate mode, real providers: the local folder
and S3 on moto's server): kept copies are rebuilt once per debounce window after a change,
with the passphrase given at set-up; revoked access leaves the next file; the policy,
re-authorisation and the controls behave as docs/sync.md says.

Time is driven with the services' ``clock`` argument (a fake clock); uploads happen for
real."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from strongroom.audit.models import AuditEvent
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.crypto import offline
from strongroom.exports import offline_file
from strongroom.notifications.models import Notification
from strongroom.sync import copies as sync_copies
from strongroom.sync.models import AutoState, JobState, JobTrigger, SyncCopy, SyncJob
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .helpers import (
    PASSPHRASE,
    Clock,
    account_make,
    admin,
    auto_jobs,
    kept_copy,
    local_connect,
    local_folder,
    opened,
    resource_make,
    rule_set,
    scope_make,
    user_make,
)

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def _read(copy: SyncCopy, sync_dir, moto) -> bytes:
    copy.refresh_from_db()
    if copy.connection.provider == "s3":
        bucket = copy.connection.config["bucket"]
        return moto.client().get_object(Bucket=bucket, Key=copy.object_name)["Body"].read()
    return (local_folder(sync_dir, copy.connection) / copy.object_name).read_bytes()


def test_shared_password_edit_rebuilds_each_copy_once_and_revoke_removes_the_entry(
    sync_dir, cheap_policy, s3_connect, moto, run, enqueued, settings
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    owner = user_make("password_admin")
    users = [user_make("password_user") for _ in range(3)]
    resource = resource_make(owner, name="core-router")
    account = account_make(owner, resource, username="admin", password="old-Secret-1")
    shares = {}
    for user in users:
        shares[user.pk] = run(
            vault.share_grant,
            actor=owner,
            resource_id=resource.pk,
            user_id=user.pk,
            level=AccessLevel.VIEW,
        )
    alice, bob, carol = users
    copies = [
        kept_copy(alice, local_connect(alice), run),
        kept_copy(bob, s3_connect(bob)[0], run),
        kept_copy(carol, local_connect(carol), run),
    ]
    assert {c.connection.provider for c in copies} == {"local", "s3"}
    for copy in copies:
        assert opened(_read(copy, sync_dir, moto)) == {("core-router", "admin"): "old-Secret-1"}

    clock = Clock(start=timezone.now())
    enqueued.clear()
    run(vault.account_update, actor=owner, account_id=account.pk, password="new-Secret-2")
    # Marked stale, due one debounce window later; the queue carries copy IDs only.
    for copy in copies:
        copy.refresh_from_db()
        assert copy.change_seq == copy.built_seq + 1
        assert copy.due_at is not None
    scheduled = sorted(pk for name, args, kwargs, _ in enqueued for pk in args[0])
    assert scheduled == sorted(str(c.pk) for c in copies)
    assert all(name.endswith("sync_copies_rebuild") for name, *_ in enqueued)
    assert all(kwargs == {} and len(args) == 1 for _, args, kwargs, _ in enqueued)

    clock.advance(30)  # inside the window: nothing yet
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
    clock.advance(31)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 3
    clock.advance(1)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
    for copy in copies:
        [job] = auto_jobs(copy)
        assert job.state == JobState.SUCCEEDED, job.last_error
        # Opened with the passphrase given at set-up: the server kept no passphrase.
        html = _read(copy, sync_dir, moto)
        assert opened(html, PASSPHRASE) == {("core-router", "admin"): "new-Secret-2"}
        copy.refresh_from_db()
        assert copy.is_current and copy.last_synced_at is not None
    # Each rebuild is audited as a system action on behalf of the user.
    uploads = AuditEvent.objects.filter(action="sync.upload", details__trigger="auto")
    assert sorted(str(e.actor_id) for e in uploads) == sorted(str(u.pk) for u in users)
    assert all(e.details["system"] is True for e in uploads)

    # Revoke Bob: his next file no longer holds the entry; the others get no upload.
    run(vault.share_revoke, actor=owner, share_id=shares[bob.pk].pk)
    clock.advance(61)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 1
    assert opened(_read(copies[1], sync_dir, moto)) == {}
    assert [len(auto_jobs(c)) for c in copies] == [1, 2, 1]


def test_burst_of_1000_edits_by_10_users_uploads_once_per_window_and_ends_current(
    sync_dir, cheap_policy, run, settings
):
    """1,000 edits over 60 simulated seconds by 10 users, on resources all of them see:
    never more than one upload per copy per debounce window, the burst does not starve
    the copies (uploads happen during it), and the last upload matches the final state."""
    debounce = 10
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = debounce
    owner = user_make("password_admin")
    editors = [user_make("password_admin") for _ in range(10)]
    resources = [resource_make(owner, name=f"burst-{i}") for i in range(10)]
    accounts = [account_make(owner, r, username="root", password="p-0") for r in resources]
    group = vault.resource_group_create(actor=owner, name="burst")
    for r in resources:
        run(
            vault.resource_group_add_resource,
            actor=owner,
            resource_group_id=group.pk,
            resource_id=r.pk,
        )
    for editor in editors:
        run(
            vault.share_grant,
            actor=owner,
            resource_group_id=group.pk,
            user_id=editor.pk,
            level=AccessLevel.MODIFY,
        )
    copies = [kept_copy(e, local_connect(e), run) for e in editors]
    clock = Clock(start=timezone.now())
    start = clock.now
    final = {}
    for i in range(1000):
        clock.now = max(timezone.now(), start + timedelta(seconds=0.06 * (i + 1)))
        editor = editors[i % 10]
        target = accounts[(i * 7) % 10]
        password = f"p-{i + 1}"
        run(vault.account_update, actor=editor, account_id=target.pk, password=password)
        final[target.pk] = password
        if i % 5 == 0:  # the workers' sweep, interleaved with the edits
            run(sync_copies.sync_copies_sweep, clock=clock)
    burst_end = clock.now
    # After the burst: everything due gets its last rebuild.
    for _ in range(3):
        clock.advance(debounce + 1)
        run(sync_copies.sync_copies_sweep, clock=clock)
    expected = {
        (r.name, "root"): final.get(a.pk, "p-0") for r, a in zip(resources, accounts, strict=True)
    }
    for copy in copies:
        jobs = auto_jobs(copy)
        assert all(j.state == JobState.SUCCEEDED for j in jobs)
        starts = [j.created_at for j in jobs]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        assert all(gap >= debounce for gap in gaps), gaps  # at most one per window
        during = [s for s in starts if s <= burst_end]
        # Not starved: at least one upload per window of the simulated 60 s burst (less one).
        # The clock never runs behind real time, so on a slow machine the burst spans more
        # windows than that; the bound stays the simulated one.
        assert len(during) >= int(60 // debounce) - 1, (len(during), burst_end - start)
        assert len(jobs) <= int((clock.now - start).total_seconds() // debounce) + 1
        html = (local_folder(sync_dir, copy.connection) / copy.object_name).read_bytes()
        assert opened(html) == expected
        copy.refresh_from_db()
        assert copy.is_current


def test_change_during_a_rebuild_causes_exactly_one_more(sync_dir, cheap_policy, run, settings):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    alice = user_make("password_admin")
    scope_make(alice, 1)
    copy = kept_copy(alice, local_connect(alice), run)
    clock = Clock(start=timezone.now())
    sync_copies.sync_copies_touch(user_ids=[alice.pk], clock=clock)
    clock.advance(61)
    # Claim without running the job (commit callbacks not executed): the job is "running".
    job = sync_copies.sync_copy_claim(copy_id=copy.pk, clock=clock)
    assert job is not None and job.state == JobState.QUEUED
    # Two changes while it runs: one more rebuild, not two; not while the job is active.
    sync_copies.sync_copies_touch(user_ids=[alice.pk], clock=clock)
    sync_copies.sync_copies_touch(user_ids=[alice.pk], clock=clock)
    copy.refresh_from_db()
    assert copy.change_seq == copy.built_seq + 2 and copy.due_at == clock.now + timedelta(
        seconds=60
    )
    clock.advance(61)
    assert sync_copies.sync_copy_claim(copy_id=copy.pk, clock=clock) is None  # job still active
    from strongroom.sync import services as sync

    run(sync.sync_job_run, job_id=job.pk, worker_id="w1")
    second = sync_copies.sync_copy_claim(copy_id=copy.pk, clock=clock)
    assert second is not None
    assert sync_copies.sync_copy_claim(copy_id=copy.pk, clock=clock) is None
    copy.refresh_from_db()
    assert copy.built_seq == copy.change_seq and copy.due_at is None


def test_every_write_path_marks_the_copies_of_exactly_the_users_affected(
    sync_dir, cheap_policy, run
):
    owner = user_make("password_admin")
    viewer = user_make("password_user")
    member = user_make("password_user")
    bystander = user_make("password_user")
    from strongroom.accounts import services as people

    team = people.user_group_create(actor=admin(), name=f"team-{uuid.uuid4().hex[:6]}")
    people.user_group_add_member(actor=admin(), group=team, user=member)
    resource = resource_make(owner, name="r1")
    account = account_make(owner, resource, username="u", password="p")
    run(vault.share_grant, actor=owner, resource_id=resource.pk, user_id=viewer.pk, level=1)
    run(vault.share_grant, actor=owner, resource_id=resource.pk, user_group_id=team.pk, level=1)
    kept = {u.pk: kept_copy(u, local_connect(u), run) for u in (owner, viewer, member, bystander)}

    def seqs():
        return {pk: SyncCopy.objects.get(pk=c.pk).change_seq for pk, c in kept.items()}

    def marked(action) -> set:
        before = seqs()
        run(action)
        after = seqs()
        return {pk for pk in after if after[pk] != before[pk]}

    everyone = {owner.pk, viewer.pk, member.pk}
    assert (
        marked(lambda: vault.account_update(actor=owner, account_id=account.pk, notes="n"))
        == everyone
    )
    assert (
        marked(lambda: vault.resource_update(actor=owner, resource_id=resource.pk, host="h2"))
        == everyone
    )
    second = account_make(owner, resource, username="u2", password="p2")
    assert marked(lambda: vault.account_delete(actor=owner, account_id=second.pk)) == everyone
    assert (
        marked(
            lambda: vault.account_create(
                actor=owner, resource_id=resource.pk, username="x", password="y"
            )
        )
        == everyone
    )
    group = vault.resource_group_create(actor=owner, name="g")
    other = user_make("password_user")
    assert (
        marked(
            lambda: vault.resource_group_add_resource(
                actor=owner, resource_group_id=group.pk, resource_id=resource.pk
            )
        )
        == everyone
    )
    assert marked(
        lambda: vault.share_grant(
            actor=owner, resource_group_id=group.pk, user_id=bystander.pk, level=1
        )
    ) == {bystander.pk}
    assert marked(
        lambda: people.user_group_remove_member(actor=admin(), group=team, user=member)
    ) == {member.pk}
    assert marked(lambda: people.user_group_add_member(actor=admin(), group=team, user=member)) == {
        member.pk
    }
    assert marked(
        lambda: people.user_update(actor=admin(), user=viewer, role="password_admin")
    ) == {viewer.pk}
    assert marked(lambda: people.user_group_delete(actor=admin(), group=team)) == {member.pk}
    csv = (
        b"resource_name,resource_type,host,url,department,location,description,username,"
        b"password,notes,totp_seed,resource_group\nimported,,,,,,,root,pw,,,g\n"
    )
    from strongroom.vault.services import import_csv

    report = marked(lambda: import_csv(actor=owner, data=csv, fmt="strongroom"))
    assert owner.pk in report
    assert marked(lambda: vault.resource_delete(actor=owner, resource_id=resource.pk)) == {
        owner.pk, viewer.pk, bystander.pk,
    }  # fmt: skip
    assert other.pk not in kept
    # A rolled-back change marks nothing.
    from django.db import transaction

    before = seqs()
    with pytest.raises(RuntimeError), transaction.atomic():
        vault.resource_create(actor=owner, name="never")
        raise RuntimeError
    assert seqs() == before


def test_export_disabled_stops_the_copies_and_tells_user_and_admins_once(
    sync_dir, cheap_policy, run, settings
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    boss = admin()
    alice = user_make("password_admin")
    scope_make(alice, 2)
    copy = kept_copy(alice, local_connect(alice), run)
    html_before = (local_folder(sync_dir, copy.connection) / copy.object_name).read_bytes()
    Notification.objects.all().delete()
    rule_set(False, user_id=str(alice.pk))
    clock = Clock(start=timezone.now())
    for _ in range(3):
        run(vault.resource_create, actor=alice, name=f"more-{uuid.uuid4().hex[:4]}")
        clock.advance(61)
        run(sync_copies.sync_copies_sweep, clock=clock)
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.STOPPED and not copy.keep_in_sync
    assert copy.state_code == "export_refused"
    assert not auto_jobs(copy)
    mine = Notification.objects.filter(user=alice)
    assert mine.count() == 1 and "no longer kept up to date" in mine.get().title
    assert Notification.objects.filter(user=boss, title__contains=alice.username).count() == 1
    assert AuditEvent.objects.filter(action="sync.auto_stop", object_id=str(copy.pk)).count() == 1
    # The old copy is left as it was.
    path = local_folder(sync_dir, copy.connection) / copy.object_name
    assert path.read_bytes() == html_before
    # Turning it back on is policy-checked.
    with pytest.raises(PermissionDenied):
        sync_copies.sync_copy_keep_set(actor=alice, copy_id=copy.pk, keep=True)


def test_policy_refusal_at_build_time_stops_the_copy(sync_dir, cheap_policy, run):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    copy = kept_copy(alice, local_connect(alice), run)
    clock = Clock(start=timezone.now())
    sync_copies.sync_copies_touch(user_ids=[alice.pk], clock=clock)
    clock.advance(61)
    job = sync_copies.sync_copy_claim(copy_id=copy.pk, clock=clock)
    rule_set(False, user_id=str(alice.pk))  # between the claim and the build
    from strongroom.sync import services as sync

    run(sync.sync_job_run, job_id=job.pk, worker_id="w1")
    job.refresh_from_db()
    copy.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "export_refused"
    assert copy.auto_state == AutoState.STOPPED


def test_reauth_pauses_the_copy_with_one_notification_and_reconnect_resumes(
    sync_dir, cheap_policy, s3_connect, moto, s3_credentials, run, settings
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    bob = user_make("password_admin")
    scope_make(bob, 1)
    conn, _bucket = s3_connect(bob)
    copy = kept_copy(bob, conn, run)
    Notification.objects.all().delete()
    # The key stops working (as when a user rotates it at the provider).
    from strongroom.core.secrets import seal_into
    from strongroom.storage.models import StorageConnection

    stored = StorageConnection.objects.get(pk=conn.pk)
    seal_into(
        stored,
        "credentials",
        '{"access_key_id": "AKIAWRONGWRONGWRONG0", "secret_access_key": "nope"}',
    )
    stored.save()
    clock = Clock(start=timezone.now())
    for i in range(4):
        run(scope_make, bob, 1, prefix=f"x{i}")
        clock.advance(61)
        run(sync_copies.sync_copies_sweep, clock=clock)
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.PAUSED and copy.keep_in_sync
    assert Notification.objects.filter(user=bob).count() == 1
    assert len(auto_jobs(copy)) == 1  # the one that found out; none after
    # Reconnect: the sweep resumes it at once, and the next file has everything.
    from strongroom.storage import services as storage

    run(
        storage.storage_connection_save,
        actor=bob,
        provider="s3",
        config=conn.config,
        credentials={
            "access_key_id": s3_credentials.access_key_id,
            "secret_access_key": s3_credentials.secret_access_key,
        },
    )
    clock.advance(1)
    result = run(sync_copies.sync_copies_sweep, clock=clock)
    assert result.resumed == 1 and result.started == 1
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.ACTIVE and copy.is_current
    assert len(opened(_read(copy, sync_dir, moto))) == 5


def test_full_check_rebuilds_daily_and_within_half_the_maximum_age(
    sync_dir, cheap_policy, run, settings
):
    from .helpers import policy_set

    settings.STRONGROOM_SYNC_FULL_CHECK_SECONDS = 86400
    alice = user_make("password_admin")
    scope_make(alice, 1)
    copy = kept_copy(alice, local_connect(alice), run)
    clock = Clock(start=timezone.now())
    assert run(sync_copies.sync_copies_sweep, clock=clock).full_check == 0
    clock.advance(86400 + 1)
    result = run(sync_copies.sync_copies_sweep, clock=clock)
    assert result.full_check == 1 and result.started == 1
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
    # A 1-day maximum age: rebuilt every 12 hours so the copy never expires.
    policy_set(max_age_days=1)
    clock.advance(12 * 3600 + 1)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 1
    jobs = auto_jobs(copy)
    assert len(jobs) == 2 and all(j.state == JobState.SUCCEEDED for j in jobs)
    header = offline_file.offline_file_header(
        (local_folder(sync_dir, copy.connection) / copy.object_name).read_bytes()
    )
    assert header.get("expires_at")


def test_controls_stop_resync_rekey_and_admin_stop(sync_dir, cheap_policy, run):
    boss = admin()
    alice = user_make("password_admin")
    mallory = user_make("password_admin")
    scope_make(alice, 2)
    copy = kept_copy(alice, local_connect(alice), run)
    path = local_folder(sync_dir, copy.connection) / copy.object_name
    # Somebody else's copy is not found, whatever they try.
    for attempt in (
        lambda: sync_copies.sync_copy_keep_set(actor=mallory, copy_id=copy.pk, keep=False),
        lambda: sync_copies.sync_copy_resync(actor=mallory, copy_id=copy.pk),
        lambda: sync_copies.sync_copy_rekey(actor=mallory, copy_id=copy.pk, passphrase="x" * 30),
        lambda: sync_copies.sync_copy_resync(actor=alice, copy_id="not-a-uuid"),
    ):
        with pytest.raises(NotFound):
            attempt()
    # Re-sync now: one job at once, same passphrase.
    job = run(sync_copies.sync_copy_resync, actor=alice, copy_id=copy.pk)
    job.refresh_from_db()
    assert job.trigger == JobTrigger.RESYNC and job.state == JobState.SUCCEEDED
    assert len(opened(path.read_bytes())) == 2
    # New passphrase: policy-checked like sync_request, nothing changes on refusal.
    keys_before = SyncCopy.objects.get(pk=copy.pk).copy_keys
    with pytest.raises(ValidationFailed):
        run(
            sync_copies.sync_copy_rekey,
            actor=alice,
            copy_id=copy.pk,
            passphrase="short",
            reason="r",
        )
    assert SyncCopy.objects.get(pk=copy.pk).copy_keys == keys_before
    new_passphrase = "tangerine voyage quietly ninety harbour"
    job = run(
        sync_copies.sync_copy_rekey,
        actor=alice,
        copy_id=copy.pk,
        passphrase=new_passphrase,
        reason="r",
    )
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert len(opened(path.read_bytes(), new_passphrase)) == 2
    with pytest.raises(offline.OfflineWrongPassphrase):
        opened(path.read_bytes(), PASSPHRASE)
    # Later automatic versions open with the new passphrase.
    clock = Clock(start=timezone.now())
    run(vault.resource_create, actor=alice, name="after-rekey")
    clock.advance(61)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 1
    assert offline_file.offline_file_open(html=path.read_bytes(), passphrase=new_passphrase)
    # The user stops it; changes no longer mark it.
    run(sync_copies.sync_copy_keep_set, actor=alice, copy_id=copy.pk, keep=False)
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.OFF and not copy.keep_in_sync
    run(vault.resource_create, actor=alice, name="after-stop")
    clock.advance(61)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
    # ...starts again (rebuilt at once), and an administrator stops it; the user is told.
    run(sync_copies.sync_copy_keep_set, actor=alice, copy_id=copy.pk, keep=True)
    copy.refresh_from_db()
    assert copy.keep_in_sync and copy.is_current
    with pytest.raises(NotFound):
        sync_copies.sync_copy_keep_set(actor=mallory, copy_id=copy.pk, keep=False)
    Notification.objects.all().delete()
    run(sync_copies.sync_copy_keep_set, actor=boss, copy_id=copy.pk, keep=False)
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.OFF and copy.state_code == "stopped_by_admin"
    assert Notification.objects.filter(user=alice).count() == 1
    actions = set(
        AuditEvent.objects.filter(object_id=str(copy.pk)).values_list("action", flat=True)
    )
    assert {"sync.resync", "sync.rekey", "sync.keep", "sync.auto_stop"} <= actions


def test_deactivated_user_copies_stop(sync_dir, cheap_policy, run):
    from strongroom.accounts import services as people

    alice = user_make("password_admin")
    scope_make(alice, 1)
    copy = kept_copy(alice, local_connect(alice), run)
    run(people.user_deactivate, actor=admin(), user=alice)
    clock = Clock(start=timezone.now())
    clock.advance(61)
    run(sync_copies.sync_copies_sweep, clock=clock)
    # No rebuild for a deactivated user: the copy is stopped (or went with the erased
    # connection).
    assert not SyncJob.objects.filter(user=alice, trigger=JobTrigger.AUTO).exists()
    remaining = SyncCopy.objects.filter(pk=copy.pk).first()
    assert remaining is None or not remaining.keep_in_sync
