"""Canary for a KeePass (.kdbx) kept copy: a known passphrase sets it up through the web
sync dialog, the copy is rebuilt after changes, re-synced, re-keyed through the API with a
second known passphrase, and refused once with a weak one. Neither passphrase, nor its
composite key, nor the copy's transformed key (the Argon2id output, kept only sealed)
appears — raw, hex, base64 or base64url — in any row of any table, the logs (DEBUG), the
task queue, any file the server wrote (data directory, sync folder) or the uploaded
object."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from kdbx.readers import keepassxc_export
from strongroom.crypto import kdbx
from strongroom.sync import copies as sync_copies
from strongroom.sync.models import SyncCopy
from strongroom.vault import services as vault

from .helpers import account_make, api_for, local_connect, policy_set, resource_make, user_make
from .test_autosync_canary import _all_rows, _files, _forms

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

CANARY_ONE = "canary-one-kdbx-zebra-quartz-719"
CANARY_TWO = "canary-two-kdbx-walrus-ochre-588"


def _key_material(copy_keys: dict, passphrase: str) -> list[bytes]:
    """The composite key and the transformed key, derived here from the passphrase."""
    keys = kdbx.KdbxKeys.from_dict(copy_keys)
    transformed = kdbx.transform_key(
        passphrase,
        salt=keys.salt,
        memory_kib=keys.memory_kib,
        iterations=keys.iterations,
        parallelism=keys.parallelism,
    )
    return [kdbx.composite_key(passphrase), transformed]


def test_no_passphrase_or_transformed_key_anywhere(
    sync_dir, cheap_policy, enqueued, caplog, django_capture_on_commit_callbacks, tmp_path
):
    caplog.set_level(logging.DEBUG)
    policy_set(kdbx_memory_mib=8, kdbx_iterations=1, kdbx_parallelism=1)
    alice = user_make("password_admin")
    resource = resource_make(alice, name="host-under-test")
    account = account_make(alice, resource, username="root", password="pw-1")
    conn = local_connect(alice)
    client = Client()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/export/sync/{conn.pk}/",
            {
                "format": "kdbx",
                "passphrase": CANARY_ONE,
                "passphrase_confirm": CANARY_ONE,
                "keep_in_sync": "on",
            },
            headers={"X-Requested-With": "fetch"},
        )
    assert response.status_code == 202
    copy = SyncCopy.objects.get(user=alice)
    assert copy.format == "kdbx" and copy.object_name == "strongroom-offline.kdbx"
    material = _key_material(copy.copy_keys, CANARY_ONE)
    now = timezone.now()
    for i, step in enumerate((61, 122)):
        with django_capture_on_commit_callbacks(execute=True):
            vault.account_update(actor=alice, account_id=account.pk, password=f"pw-{i + 2}")
        with django_capture_on_commit_callbacks(execute=True):
            sync_copies.sync_copies_sweep(clock=lambda s=step: now + timedelta(seconds=s))
    api = api_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/sync/copies/{copy.pk}/resync")
    assert api.post(f"/sync/copies/{copy.pk}/passphrase", {"passphrase": "canary-"}).status_code
    with django_capture_on_commit_callbacks(execute=True):
        rekeyed = api.post(f"/sync/copies/{copy.pk}/passphrase", {"passphrase": CANARY_TWO})
    assert rekeyed.status_code == 202
    copy.refresh_from_db()
    assert copy.format == "kdbx"
    material += _key_material(copy.copy_keys, CANARY_TWO)
    uploaded = sync_dir / str(conn.user_id) / conn.config["folder"] / copy.object_name
    [entry] = keepassxc_export(uploaded, CANARY_TWO).entries
    assert entry.strings["Password"] == "pw-3"

    secrets = [
        form
        for secret in [CANARY_ONE.encode(), CANARY_TWO.encode(), *material]
        for form in _forms(secret)
    ] + [b"canary-"]
    haystacks: dict[str, bytes] = {
        "database": _all_rows(),
        "logs": "\n".join(
            r.getMessage() + str(r.exc_text or "") + repr(r.args) for r in caplog.records
        ).encode(),
        "queue": b"\n".join(repr(e).encode() + e[3] for e in enqueued),
        **_files(Path(os.environ["STRONGROOM_DATA_DIR"]), sync_dir),
    }
    assert any(name.endswith(".kdbx") for name in haystacks)
    # The search does see what *is* stored: the salt of the copy's key.
    assert copy.copy_keys["salt"].encode() in haystacks["database"]
    assert any("sync_copies_rebuild" in repr(e) for e in enqueued)
    for where, text in haystacks.items():
        for secret in secrets:
            if secret == b"canary-" and where.endswith(".kdbx"):
                continue  # a short prefix can occur in random ciphertext; not in text
            assert secret not in text, (where, secret[:6])
