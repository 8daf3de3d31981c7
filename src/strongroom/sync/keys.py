"""The copy keys a sync job or a kept copy holds: the public part as JSON
(``copy_keys``), the version 2 build key sealed at rest (``build_key``, bound to its
table, row and field like every secret). Nothing here opens a file."""

from __future__ import annotations

import base64
from typing import Any

from strongroom.core import secrets
from strongroom.crypto import offline
from strongroom.sync.models import SyncCopy, SyncJob

#: Why a copy made with version 1 keys cannot be rebuilt (web, API, notifications).
NEEDS_PASSPHRASE = "needs_passphrase"
NEEDS_PASSPHRASE_MESSAGE = (
    "this copy was set up before offline files were authenticated (format version 2); "
    "set its passphrase again to keep it in sync"
)


def copy_keys_store(instance: SyncJob | SyncCopy, keys: offline.CopyKeys) -> None:
    """Set the row's keys (not saved): public part in clear, build key sealed."""
    instance.copy_keys = keys.to_dict()
    build_key = keys.build_key
    secrets.seal_into(
        instance,
        "build_key",
        None if build_key is None else base64.b64encode(build_key).decode("ascii"),
    )


def copy_keys_load(instance: SyncJob | SyncCopy) -> offline.CopyKeys:
    """The row's keys with the build key unsealed (None for version 1 keys)."""
    sealed = secrets.unseal(instance, "build_key")
    build_key = None if sealed is None else base64.b64decode(sealed)
    return offline.CopyKeys.from_dict(instance.copy_keys, build_key=build_key)


def copy_keys_copy(*, source: SyncJob | SyncCopy, target: SyncJob | SyncCopy) -> None:
    """Give ``target`` the keys of ``source`` (the build key sealed again for its row)."""
    copy_keys_store(target, copy_keys_load(source))


def copy_keys_can_build(instance: SyncJob | SyncCopy) -> bool:
    """Whether files can be built for this row without asking for the passphrase."""
    return instance.copy_keys.get("version") == offline.VERSION and instance.build_key is not None


def passphrase_reused_from_version_1(*, user_id: Any, passphrase: str) -> bool:
    """Whether ``passphrase`` opens version 1 keys this user's copies or sync jobs had.

    Anyone holding one version 1 file can make another that opens with its passphrase, so
    a copy made with version 2 keys must not share it: a forged version 1 file would then
    open with the passphrase the user types every day. One PBKDF2 per distinct old key."""
    seen: set[str] = set()
    for model in (SyncCopy, SyncJob):
        rows = model.objects.filter(user_id=user_id, copy_keys__version=1).values_list(
            "copy_keys", flat=True
        )
        for stored in rows.iterator():
            public = str(stored.get("public_key", ""))
            if public in seen:
                continue
            seen.add(public)
            try:
                offline.copy_keys_verify(
                    copy_keys=offline.CopyKeys.from_dict(stored), passphrase=passphrase
                )
            except offline.OfflineWrongPassphrase:
                continue
            except (ValueError, KeyError, offline.OfflineError):
                continue  # unreadable old keys open nothing
            return True
    return False


REUSED_PASSPHRASE_MESSAGE = (
    "choose a passphrase you have not used for an offline copy set up before format 2: "
    "anyone holding one of its old files could make a file that opens with it"
)
