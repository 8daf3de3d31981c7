"""Canary for auto-sync: a known passphrase set up a kept copy (through the web dialog and
the API), the copy is rebuilt after changes, re-synced, re-keyed with a second known
passphrase, and refused once with a weak one. Neither passphrase, the copy's private key,
its key-encryption key nor its build key in the clear appears — raw, hex, base64 or
base64url — in any row of any table, the logs (DEBUG), the task queue, any file the server
wrote (data directory, sync folder) or the uploaded object."""

from __future__ import annotations

import base64
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from strongroom.crypto import offline
from strongroom.exports import offline_file
from strongroom.sync import copies as sync_copies
from strongroom.sync.models import SyncCopy
from strongroom.vault import services as vault

from .helpers import (
    account_make,
    api_for,
    local_connect,
    local_folder,
    resource_make,
    user_make,
)

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

CANARY_ONE = "canary-one-zebra-quartz-719-lantern"
CANARY_TWO = "canary-two-walrus-ochre-588-harbour"


def _forms(secret: bytes) -> list[bytes]:
    """Ways a secret could have been written down."""
    b64 = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b64,
        b64.rstrip(b"="),
        url,
        url.rstrip(b"="),
    ]


def _key_material(copy_keys: dict, passphrase: str) -> list[bytes]:
    """The private key scalar, the KEK and the build key of a copy (derived here, from the
    passphrase). The build key is stored, but only sealed: never in the clear."""
    keys = offline.CopyKeys.from_dict(copy_keys)
    private, build_key = offline._unwrap_private_key(
        version=keys.version,
        passphrase=passphrase,
        iterations=keys.iterations,
        salt=keys.salt,
        public=keys.public_key,
        wrapped=keys.wrapped_private_key,
    )
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    kek = offline._kek(passphrase, keys.salt, keys.iterations)
    assert len(build_key) == 32
    return [scalar, kek, str(private.private_numbers().private_value).encode(), build_key]


def _all_rows() -> bytes:
    """Every row of every table, with binary columns in hex and base64 as well."""
    out: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, bytes):
                        out += [value, value.hex().encode(), base64.b64encode(value)]
                    else:
                        out.append(str(value).encode())
    return b"\n".join(out)


def _files(*roots: Path) -> dict[str, bytes]:
    found = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                found[str(path)] = path.read_bytes()
    return found


def test_no_passphrase_private_key_or_kek_anywhere(
    sync_dir, cheap_policy, enqueued, caplog, django_capture_on_commit_callbacks, settings
):
    caplog.set_level(logging.DEBUG)
    alice = user_make("password_admin")
    resource = resource_make(alice, name="host-under-test")
    account = account_make(alice, resource, username="root", password="pw-1")
    conn = local_connect(alice)
    client = Client()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/export/sync/{conn.pk}/",
            {"passphrase": CANARY_ONE, "passphrase_confirm": CANARY_ONE, "keep_in_sync": "on"},
            headers={"X-Requested-With": "fetch"},
        )
    assert response.status_code == 202
    copy = SyncCopy.objects.get(user=alice)
    material = _key_material(copy.copy_keys, CANARY_ONE)
    # Changes: two automatic rebuilds.
    now = timezone.now()
    for i, step in enumerate((61, 122)):
        with django_capture_on_commit_callbacks(execute=True):
            vault.account_update(actor=alice, account_id=account.pk, password=f"pw-{i + 2}")
        with django_capture_on_commit_callbacks(execute=True):
            sync_copies.sync_copies_sweep(clock=lambda s=step: now + timedelta(seconds=s))
    # Re-sync, a refused re-key (weak, containing the canary's start), a re-key by the API.
    api = api_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/sync/copies/{copy.pk}/resync")
    assert api.post(f"/sync/copies/{copy.pk}/passphrase", {"passphrase": "canary-"}).status_code
    with django_capture_on_commit_callbacks(execute=True):
        rekeyed = api.post(f"/sync/copies/{copy.pk}/passphrase", {"passphrase": CANARY_TWO})
    assert rekeyed.status_code == 202
    copy.refresh_from_db()
    material += _key_material(copy.copy_keys, CANARY_TWO)
    html = (local_folder(sync_dir, conn) / copy.object_name).read_bytes()
    assert offline_file.offline_file_open(html=html, passphrase=CANARY_TWO).entries[0].password == (
        "pw-3"
    )

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
    assert any(name.endswith(".html") for name in haystacks)
    # The search does see what *is* stored: the public key and the wrapped private key.
    assert copy.copy_keys["wrapped_private_key"].encode() in haystacks["database"]
    assert copy.copy_keys["public_key"].encode() in haystacks["database"]
    assert any("sync_copies_rebuild" in repr(e) for e in enqueued)
    for where, text in haystacks.items():
        for secret in secrets:
            if secret == b"canary-" and where.endswith(".html"):
                continue  # a short prefix can occur in random ciphertext; not in text
            assert secret not in text, (where, secret[:6])
