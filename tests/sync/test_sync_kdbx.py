"""The KeePass (.kdbx) copy through sync and auto-sync, on the local folder and S3 (moto):
the first file and every rebuild open in keepassxc-cli with the passphrase given at
set-up (the server keeps only the copy's Argon2id output, sealed), entry UUIDs survive a
rebuild, a change shows, a revoked share leaves the next file, and the policy's format
choice is enforced and audited."""

from __future__ import annotations

import base64

import pytest
from django.db import connection as db
from django.utils import timezone

from kdbx.readers import keepassxc_export
from kdbx.test_writer import expected_strings
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import PermissionDenied, ValidationFailed
from strongroom.crypto import kdbx
from strongroom.exports import selectors as export_selectors
from strongroom.sync import copies as sync_copies
from strongroom.sync.keys import copy_keys_load
from strongroom.sync.models import JobState, SyncCopy, SyncJob
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .helpers import (
    PASSPHRASE,
    Clock,
    account_make,
    auto_jobs,
    local_connect,
    policy_set,
    resource_make,
    sync_start,
    user_make,
)

pytestmark = pytest.mark.django_db

CHEAP_ARGON2 = {"kdbx_memory_mib": 8, "kdbx_iterations": 1, "kdbx_parallelism": 1}


@pytest.fixture
def kdbx_policy(cheap_policy):
    policy_set(**CHEAP_ARGON2)


def _read(copy: SyncCopy, sync_dir, moto, tmp_path):
    copy.refresh_from_db()
    if copy.connection.provider == "s3":
        bucket = copy.connection.config["bucket"]
        data = moto.client().get_object(Bucket=bucket, Key=copy.object_name)["Body"].read()
    else:
        data = (
            sync_dir / str(copy.user_id) / copy.connection.config["folder"] / copy.object_name
        ).read_bytes()
    path = tmp_path / f"{copy.pk}-{copy.built_seq}.kdbx"
    path.write_bytes(data)
    return path, keepassxc_export(path, PASSPHRASE)


def _kept_kdbx_copy(user, conn, run) -> SyncCopy:
    job = run(sync_start, user, conn, keep_in_sync=True, fmt="kdbx")
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert job.format == "kdbx" and job.object_name == "strongroom-offline.kdbx"
    return SyncCopy.objects.get(user=user, connection=conn)


def _scope_matches(db_read, user) -> None:
    """Every entry of the user's scope, every field, as the KeePass app shows it."""
    scope = export_selectors.export_entries(
        user=user, scope=export_selectors.ExportScope(), with_secrets=True
    )
    shown = sorted((tuple(sorted(r.strings.items())), r.group) for r in db_read.entries)
    wanted = sorted((tuple(sorted(expected_strings(e).items())), e.folder) for e in scope)
    assert shown == wanted


def test_kdbx_copy_sync_rebuild_and_revoke_on_local_folder_and_s3(
    sync_dir, kdbx_policy, s3_connect, moto, run, settings, tmp_path
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = 60
    owner = user_make("password_admin")
    alice, bob = user_make("password_user"), user_make("password_user")
    router = resource_make(owner, name="core-router", host="10.0.0.1")
    account = account_make(owner, router, username="admin", password="old-Secret-1")
    switch = resource_make(owner, name="switch <b>")
    account_make(owner, switch, username="ops", password="sw\r\nitch")
    group = vault.resource_group_create(actor=owner, name="Network")
    shares = {}
    for resource in (router, switch):
        run(
            vault.resource_group_add_resource,
            actor=owner,
            resource_group_id=group.pk,
            resource_id=resource.pk,
        )
    for user in (alice, bob):
        shares[user.pk] = run(
            vault.share_grant,
            actor=owner,
            resource_group_id=group.pk,
            user_id=user.pk,
            level=AccessLevel.VIEW,
        )
    copies = [
        _kept_kdbx_copy(alice, local_connect(alice), run),
        _kept_kdbx_copy(bob, s3_connect(bob)[0], run),
    ]
    first = {}
    for copy, user in zip(copies, (alice, bob), strict=True):
        assert copy.format == "kdbx" and copy.object_name == "strongroom-offline.kdbx"
        path, read = _read(copy, sync_dir, moto, tmp_path)
        _scope_matches(read, user)
        assert {r.group for r in read.entries} == {"Network"}
        first[copy.pk] = (
            kdbx.kdbx_header_kdf(path.read_bytes()),
            {r.strings["Title"]: r.uuid for r in read.entries},
        )

    clock = Clock(start=timezone.now())
    run(vault.account_update, actor=owner, account_id=account.pk, password="new-Secret-2")
    clock.advance(61)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 2
    for copy, user in zip(copies, (alice, bob), strict=True):
        [job] = auto_jobs(copy)
        assert job.state == JobState.SUCCEEDED, job.last_error
        path, read = _read(copy, sync_dir, moto, tmp_path)
        _scope_matches(read, user)
        passwords = {r.strings["Title"]: r.strings["Password"] for r in read.entries}
        assert passwords["core-router"] == "new-Secret-2"
        header, uuids = first[copy.pk]
        again = kdbx.kdbx_header_kdf(path.read_bytes())
        # Same passphrase, same salt and cost; a fresh master seed and IV per version.
        assert again["S"] == header["S"] and again["M"] == header["M"]
        assert again["master_seed"] != header["master_seed"] and again["iv"] != header["iv"]
        assert {r.strings["Title"]: r.uuid for r in read.entries} == uuids
    uploads = AuditEvent.objects.filter(action="sync.upload", details__trigger="auto")
    assert uploads.count() == 2
    assert all(e.details["format"] == "kdbx" for e in uploads)

    # Bob loses the group: his next file no longer holds its entries.
    run(vault.share_revoke, actor=owner, share_id=shares[bob.pk].pk)
    clock.advance(61)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 1
    assert _read(copies[1], sync_dir, moto, tmp_path)[1].entries == []
    assert len(_read(copies[0], sync_dir, moto, tmp_path)[1].entries) == 2


def test_server_keeps_the_transformed_key_sealed_and_never_the_passphrase(
    sync_dir, kdbx_policy, run
):
    user = user_make("password_admin")
    account_make(user, resource_make(user, name="r"), username="u", password="p")
    conn = local_connect(user)
    copy = _kept_kdbx_copy(user, conn, run)
    keys = copy_keys_load(copy)
    assert isinstance(keys, kdbx.KdbxKeys)
    # The key kept is exactly what a KeePass app derives from the passphrase and the salt.
    assert keys.transformed_key == kdbx.transform_key(
        PASSPHRASE, salt=keys.salt, memory_kib=8 * 1024, iterations=1, parallelism=1
    )
    assert set(copy.copy_keys) == {
        "format",
        "version",
        "kdf",
        "salt",
        "memory_kib",
        "iterations",
        "parallelism",
        "cipher",
    }
    secret = keys.transformed_key
    assert secret is not None
    encodings = [secret, secret.hex().encode(), base64.b64encode(secret), PASSPHRASE.encode()]
    for table in ("strongroom_sync_copy", "strongroom_sync_job", "strongroom_audit_event"):
        with db.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            for row in cursor.fetchall():
                blob = repr(row).encode() + b"".join(
                    bytes(v) for v in row if isinstance(v, bytes | memoryview)
                )
                for encoded in encodings:
                    assert encoded not in blob, table


def test_policy_decides_which_formats_may_be_synced(sync_dir, kdbx_policy, run):
    user = user_make("password_user")
    conn = local_connect(user)
    policy_set(offline_formats=["html"])
    with pytest.raises(PermissionDenied) as refused:
        run(sync_start, user, conn, fmt="kdbx")
    assert refused.value.details["refusal"] == "format_not_allowed"
    event = AuditEvent.objects.filter(action="sync.request", outcome="failure").latest("id")
    assert event.details["refusal"] == "format_not_allowed"
    with pytest.raises(ValidationFailed):
        run(sync_start, user, conn, fmt="pdf")
    assert not SyncJob.objects.exists()
    with pytest.raises(ValidationFailed):
        policy_set(offline_formats=[])
    policy_set(offline_formats=["kdbx"])
    with pytest.raises(PermissionDenied):
        run(sync_start, user, conn)  # html, the default, is now refused
    job = run(sync_start, user, conn, fmt="kdbx")
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    event = AuditEvent.objects.filter(action="sync.request", outcome="success").latest("id")
    assert event.details["format"] == "kdbx"


def test_new_passphrase_keeps_the_kdbx_format_with_a_new_salt(sync_dir, kdbx_policy, run, tmp_path):
    user = user_make("password_admin")
    account_make(user, resource_make(user, name="r"), username="u", password="p")
    conn = local_connect(user)
    copy = _kept_kdbx_copy(user, conn, run)
    old_salt = copy.copy_keys["salt"]
    new_passphrase = "a different long passphrase 42!"
    run(sync_copies.sync_copy_rekey, actor=user, copy_id=copy.pk, passphrase=new_passphrase)
    copy.refresh_from_db()
    assert copy.format == "kdbx" and copy.copy_keys["salt"] != old_salt
    path = tmp_path / "rekeyed.kdbx"
    path.write_bytes(
        (sync_dir / str(conn.user_id) / conn.config["folder"] / copy.object_name).read_bytes()
    )
    assert keepassxc_export(path, new_passphrase).name.startswith("Strongroom offline copy")


def test_switching_format_replaces_the_file_and_disconnect_deletes_either(
    sync_dir, kdbx_policy, run
):
    from strongroom.storage import services as storage

    user = user_make("password_admin")
    account_make(user, resource_make(user, name="r"), username="u", password="p")
    conn = local_connect(user)
    folder = sync_dir / str(conn.user_id) / conn.config["folder"]

    def names() -> list[str]:
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    job = run(sync_start, user, conn)  # the web page first
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert names() == ["strongroom-offline.html"]
    # Switching to KeePass: once the .kdbx is in place the outdated .html goes.
    _kept_kdbx_copy(user, conn, run)
    assert names() == ["strongroom-offline.kdbx"]
    job = run(sync_start, user, conn)  # and back
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert names() == ["strongroom-offline.html"]
    # "Delete the synced copy" removes whichever format is there (both, if both are).
    (folder / "strongroom-offline.kdbx").write_bytes(b"left over")
    storage.storage_connection_disconnect(
        actor=user, connection_id=conn.pk, delete_remote_copy=True
    )
    assert names() == []
