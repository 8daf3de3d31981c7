"""Kept copies made before offline file format 2: their version 1 keys cannot build a file
any more (a version 1 file is forgeable by anyone holding one of them, and the server never
had the passphrase to add a build key). The next rebuild pauses the copy and tells its
owner once; nothing is uploaded in version 1; setting the passphrase again (web, API, CLI)
gives it version 2 keys and it resumes (docs/offline-file-format.md §10)."""

from __future__ import annotations

import base64
import json
import os
import struct
import unicodedata

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client
from django.utils import timezone

from strongroom.core.errors import Conflict, ValidationFailed
from strongroom.crypto import offline
from strongroom.exports import offline_file
from strongroom.notifications.models import Notification
from strongroom.sync import copies as sync_copies
from strongroom.sync import services as sync
from strongroom.sync.models import AutoState, JobState, SyncCopy, SyncJob

from .helpers import (
    PASSPHRASE,
    TEST_ITERATIONS,
    Clock,
    auto_jobs,
    kept_copy,
    local_connect,
    opened,
    scope_make,
    user_make,
)

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def version_1_keys(passphrase: str) -> dict:
    """Copy keys exactly as a version 1 server stored them (the public part; there was no
    build key), made from the version 1 spec with the primitives alone."""
    salt = os.urandom(16)
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, TEST_ITERATIONS).derive(
        unicodedata.normalize("NFC", passphrase).encode()
    )
    aad = b"strongroom-offline/1 private key\x00" + struct.pack(">I", TEST_ITERATIONS)
    nonce = os.urandom(12)
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    wrapped = nonce + AESGCM(kek).encrypt(nonce, scalar, aad + salt + public)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "version": 1,
        "public_key": b64(public),
        "wrapped_private_key": b64(wrapped),
        "salt": b64(salt),
        "iterations": TEST_ITERATIONS,
    }


def downgrade(row: SyncCopy | SyncJob) -> None:
    """What an upgraded installation holds for a copy set up under version 1."""
    row.copy_keys = version_1_keys(PASSPHRASE)
    row.build_key = None
    row.save()


def stored_file(sync_dir, copy: SyncCopy) -> bytes:
    [path] = list(sync_dir.rglob(copy.object_name))
    return path.read_bytes()


def test_a_version_1_copy_pauses_once_uploads_nothing_and_resumes_with_a_new_passphrase(
    sync_dir, cheap_policy, run, settings
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    alice = user_make("password_admin")
    scope_make(alice, 2)
    copy = kept_copy(alice, local_connect(alice), run)
    before = stored_file(sync_dir, copy)
    downgrade(copy)
    Notification.objects.all().delete()
    jobs_before = SyncJob.objects.count()

    clock = Clock(start=timezone.now())
    for i in range(4):
        run(scope_make, alice, 1, prefix=f"later{i}")
        clock.advance(61)
        run(sync_copies.sync_copies_sweep, clock=clock)
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.PAUSED and copy.keep_in_sync
    assert copy.state_code == "needs_passphrase"
    # One notification, naming what to do; no job was even started, nothing uploaded.
    [told] = Notification.objects.filter(user=alice)
    assert "passphrase again" in told.body and "Synced copies" in told.body
    assert SyncJob.objects.count() == jobs_before and auto_jobs(copy) == []
    assert stored_file(sync_dir, copy) == before

    # "Sync now" is refused with the same reason, and still uploads nothing.
    with pytest.raises(Conflict) as refused:
        run(sync_copies.sync_copy_resync, actor=alice, copy_id=copy.pk)
    assert refused.value.code == "needs_passphrase"
    assert stored_file(sync_dir, copy) == before

    # The Synced copies page says why and opens the passphrase form.
    client = Client()
    client.force_login(alice)
    page = client.get("/sync/copies/").content.decode()
    assert "data-copy-needs-passphrase" in page and "Set the passphrase again to resume" in page
    assert "set its passphrase again to keep it in sync" in page

    # The old passphrase is refused: anyone holding one of the copy's version 1 files could
    # make a version 1 file that opens with it (the red team's downgrade).
    reused = run(
        client.post,
        f"/api/v1/sync/copies/{copy.pk}/passphrase",
        data=json.dumps({"passphrase": PASSPHRASE, "reason": "after the upgrade"}),
        content_type="application/json",
    )
    assert reused.status_code == 400, reused.content
    assert reused.json()["error"]["code"] == "passphrase_refused"
    assert "reused_from_version_1" in reused.json()["error"]["details"]["problem_codes"]
    copy.refresh_from_db()
    assert copy.copy_keys["version"] == 1 and copy.auto_state == AutoState.PAUSED
    # Nor may a new sync of another connection take it.
    with pytest.raises(ValidationFailed, match="have not used for an offline copy"):
        run(
            sync.sync_request,
            actor=alice,
            connection_id=copy.connection_id,
            passphrase=PASSPHRASE,
            reason="r",
        )

    # The owner sets the passphrase again through the API: version 2 keys, resumed, rebuilt.
    new_passphrase = "tangerine voyage quietly ninety harbour"
    answer = run(
        client.post,
        f"/api/v1/sync/copies/{copy.pk}/passphrase",
        data=json.dumps({"passphrase": new_passphrase, "reason": "after the upgrade"}),
        content_type="application/json",
    )
    assert answer.status_code == 202, answer.content
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.ACTIVE and copy.state_code == ""
    assert copy.copy_keys["version"] == 2 and copy.build_key is not None
    assert (
        offline_file.offline_file_header(stored_file(sync_dir, copy))["version"] == offline.VERSION
    )
    assert len(opened(stored_file(sync_dir, copy), new_passphrase)) == 6
    # And it stays in sync from here on.
    run(scope_make, alice, 1, prefix="resumed")
    clock.advance(61)
    run(sync_copies.sync_copies_sweep, clock=clock)
    assert len(opened(stored_file(sync_dir, copy), new_passphrase)) == 7
    assert Notification.objects.filter(user=alice, title__icontains="passphrase").count() == 1


def test_a_job_queued_with_version_1_keys_before_the_upgrade_uploads_nothing(
    sync_dir, cheap_policy, run
):
    bob = user_make("password_admin")
    scope_make(bob, 1)
    conn = local_connect(bob)
    copy = kept_copy(bob, conn, run)
    before = stored_file(sync_dir, copy)
    job = SyncJob.objects.create(
        user=bob,
        connection=conn,
        provider="local",
        copy_keys=version_1_keys(PASSPHRASE),
        object_name=copy.object_name,
        sync_copy=copy,
        keep_in_sync=True,
    )
    run(sync.sync_job_run, job_id=job.pk, worker_id="test-worker")
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "needs_passphrase"
    assert stored_file(sync_dir, copy) == before
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.PAUSED and copy.state_code == "needs_passphrase"
