"""KeePass (.kdbx) kept copies on the Dropbox and Box stand-ins (connected through their
real OAuth flows): the first file, the rebuild after a shared password changes and the
file after the share is revoked each open in keepassxc-cli with the passphrase given at
set-up; entry UUIDs survive the rebuild; on Box a rebuild is a new version of one file."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from kdbx.readers import ReadDatabase, keepassxc_export
from strongroom.sync import copies as sync_copies
from strongroom.sync.models import JobState, SyncCopy
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .helpers import (
    PASSPHRASE,
    Clock,
    account_make,
    auto_jobs,
    policy_set,
    resource_make,
    sync_start,
    user_make,
)
from .test_autosync_providers import (  # noqa: F401  (fixtures)
    DEBOUNCE,
    _due_together,
    both_clouds,
    box_cloud,
    dropbox_cloud,
)

pytestmark = pytest.mark.django_db


def _kept(user, conn, run) -> SyncCopy:
    job = run(sync_start, user, conn, keep_in_sync=True, fmt="kdbx")
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    return SyncCopy.objects.get(user=user, connection=conn)


def _read(data: bytes, tmp_path, name: str) -> ReadDatabase:
    path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.kdbx"
    path.write_bytes(data)
    return keepassxc_export(path, PASSPHRASE)


def test_kdbx_copies_on_dropbox_and_box_rebuilt_and_revoked(
    both_clouds,  # noqa: F811  (the fixture imported above)
    cheap_policy,
    run,
    settings,
    tmp_path,
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = DEBOUNCE
    policy_set(kdbx_memory_mib=8, kdbx_iterations=1, kdbx_parallelism=1)
    dropbox, box = both_clouds
    owner = user_make("password_admin")
    dana, bert = user_make("password_user"), user_make("password_user")
    resource = resource_make(owner, name=f"core-router-{uuid.uuid4().hex[:4]}")
    account = account_make(owner, resource, username="admin", password="old-Secret-1")
    shares = {
        user.pk: run(
            vault.share_grant,
            actor=owner,
            resource_id=resource.pk,
            user_id=user.pk,
            level=AccessLevel.VIEW,
        )
        for user in (dana, bert)
    }
    on_dropbox = _kept(dana, dropbox.connect(dana), run)
    on_box = _kept(bert, box.connect(bert), run)
    assert on_dropbox.object_name == on_box.object_name == "strongroom-offline.kdbx"
    first = [
        _read(dropbox.latest(on_dropbox), tmp_path, "dropbox"),
        _read(box.latest(on_box), tmp_path, "box"),
    ]
    assert [[e.strings["Password"] for e in db.entries] for db in first] == [["old-Secret-1"]] * 2

    clock = Clock(start=timezone.now())
    edited_from = timezone.now()
    run(vault.account_update, actor=owner, account_id=account.pk, password="new-Secret-2")
    due = _due_together([on_dropbox, on_box], edited_from, timezone.now())
    clock.now = due
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 2
    for copy in (on_dropbox, on_box):
        [job] = auto_jobs(copy)
        assert job.state == JobState.SUCCEEDED, job.last_error
    again = [
        _read(dropbox.latest(on_dropbox), tmp_path, "dropbox"),
        _read(box.latest(on_box), tmp_path, "box"),
    ]
    for before, after in zip(first, again, strict=True):
        assert [e.strings["Password"] for e in after.entries] == ["new-Secret-2"]
        assert [e.uuid for e in after.entries] == [e.uuid for e in before.entries]
    [box_file] = box.items(on_box)
    assert len(box_file.versions) == 2

    edited_from = timezone.now()
    run(vault.share_revoke, actor=owner, share_id=shares[bert.pk].pk)
    revoke_due = _due_together([on_box], edited_from, timezone.now())
    clock.now = max(revoke_due, due + timedelta(seconds=DEBOUNCE))
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 1
    assert _read(box.latest(on_box), tmp_path, "box").entries == []
    assert len(_read(dropbox.latest(on_dropbox), tmp_path, "dropbox").entries) == 1
