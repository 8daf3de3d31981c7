"""The copy keys a sync job or a kept copy holds, by the copy's ``format``.

* "html": the public part as JSON (``copy_keys``), the version 2 build key sealed at rest
  (``build_key``, bound to its table, row and field like every secret). Nothing here opens
  a file.
* "kdbx": the Argon2id salt, parameters and cipher as JSON (``copy_keys``), the transformed
  key sealed at rest (``kdbx_key``). That key opens this copy's files (docs/offline-kdbx.md);
  it is not the passphrase and opens no other copy.
"""

from __future__ import annotations

import base64
from typing import Any

from strongroom.core import secrets
from strongroom.core.errors import ErrorCode, ValidationFailed
from strongroom.crypto import kdbx, offline
from strongroom.sync.models import CopyFormat, SyncCopy, SyncJob

#: Why a copy made with version 1 keys cannot be rebuilt (web, API, notifications).
NEEDS_PASSPHRASE = "needs_passphrase"
NEEDS_PASSPHRASE_MESSAGE = (
    "this copy was set up before offline files were authenticated (format version 2); "
    "set its passphrase again to keep it in sync"
)
#: The fields ``copy_keys_store`` sets (for ``save(update_fields=...)``).
KEY_FIELDS = ["copy_keys", "build_key", "format", "kdbx_key"]

AnyKeys = offline.CopyKeys | kdbx.KdbxKeys


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def copy_keys_store(instance: SyncJob | SyncCopy, keys: AnyKeys) -> None:
    """Set the row's keys and format (not saved): public part in clear, secret sealed."""
    instance.copy_keys = keys.to_dict()
    if isinstance(keys, kdbx.KdbxKeys):
        instance.format = CopyFormat.KDBX
        secrets.seal_into(instance, "build_key", None)
        secrets.seal_into(instance, "kdbx_key", _b64(keys.transformed_key))
        return
    instance.format = CopyFormat.HTML
    secrets.seal_into(instance, "build_key", _b64(keys.build_key))
    secrets.seal_into(instance, "kdbx_key", None)


def copy_keys_load(instance: SyncJob | SyncCopy) -> AnyKeys:
    """The row's keys with the secret unsealed (None for version 1 HTML keys)."""
    if instance.format == CopyFormat.KDBX:
        sealed = secrets.unseal(instance, "kdbx_key")
        return kdbx.KdbxKeys.from_dict(
            instance.copy_keys,
            transformed_key=None if sealed is None else base64.b64decode(sealed),
        )
    sealed = secrets.unseal(instance, "build_key")
    build_key = None if sealed is None else base64.b64decode(sealed)
    return offline.CopyKeys.from_dict(instance.copy_keys, build_key=build_key)


def copy_keys_copy(*, source: SyncJob | SyncCopy, target: SyncJob | SyncCopy) -> None:
    """Give ``target`` the keys and format of ``source`` (the secret sealed again for its
    row)."""
    copy_keys_store(target, copy_keys_load(source))


def copy_keys_can_build(instance: SyncJob | SyncCopy) -> bool:
    """Whether files can be built for this row without asking for the passphrase."""
    if instance.format == CopyFormat.KDBX:
        return instance.kdbx_key is not None
    return (
        instance.copy_keys.get("version") == offline.KEY_VERSION and instance.build_key is not None
    )


def passphrase_reused_from_version_1(*, user_id: Any, passphrase: str) -> bool:
    """Whether ``passphrase`` opens version 1 keys this user's copies or sync jobs had.

    Anyone holding one version 1 file can make another that opens with its passphrase, so
    a copy made with version 2 keys must not share it: a forged version 1 file would then
    open with the passphrase the user types every day. One PBKDF2 per distinct old key."""
    seen: set[str] = set()
    for model in (SyncCopy, SyncJob):
        rows = model.objects.filter(
            user_id=user_id, format=CopyFormat.HTML, copy_keys__version=1
        ).values_list("copy_keys", flat=True)
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


def passphrase_reuse_refuse(*, user_id: Any, passphrase: str) -> None:
    """Refuse (``ValidationFailed``, on the passphrase field) a passphrase that opens version
    1 keys this user had: a sync request and a copy's new passphrase check it alike."""
    if passphrase_reused_from_version_1(user_id=user_id, passphrase=passphrase):
        raise ValidationFailed(
            REUSED_PASSPHRASE_MESSAGE,
            code=ErrorCode.PASSPHRASE_REFUSED,
            field="passphrase",
            problems=[REUSED_PASSPHRASE_MESSAGE],
            problem_codes=["reused_from_version_1"],
            refusal="passphrase_refused",
        )


def copy_keys_fingerprint(instance: SyncJob | SyncCopy) -> str:
    """The short non-secret name of the row's keys (audit, API)."""
    if instance.format == CopyFormat.KDBX:
        return kdbx.KdbxKeys.from_dict(instance.copy_keys).fingerprint
    return offline.CopyKeys.from_dict(instance.copy_keys).fingerprint
