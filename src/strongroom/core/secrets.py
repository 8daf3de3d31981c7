"""Seal and unseal secret values of model rows (AES-256-GCM under the active data key).

The associated data names the table, the row's primary key and the field, so a sealed value
moved to another row or field is refused, never decrypted.
"""

from __future__ import annotations

from django.db import models

from strongroom.core import keys
from strongroom.core.errors import AppError, ErrorCode
from strongroom.crypto import envelope


class SealedValueDamaged(AppError):
    code = ErrorCode.SEALED_VALUE_DAMAGED
    status = 500


def _aad(instance: models.Model, field: str) -> bytes:
    if instance.pk is None:
        raise ValueError("seal needs a primary key; use UUID keys set before save")
    return envelope.field_aad(instance._meta.db_table, str(instance.pk), field)


def seal(instance: models.Model, field: str, value: str) -> bytes:
    dk_id, key = keys.active_data_key()
    return envelope.encrypt(key, value.encode("utf-8"), _aad(instance, field), data_key_id=dk_id)


def seal_into(instance: models.Model, field: str, value: str | None) -> None:
    """Set ``instance.<field>`` to the sealed value (or None)."""
    setattr(instance, field, None if value is None else seal(instance, field, value))


def sealed_data_key_id(instance: models.Model, field: str) -> int | None:
    """The data key id a stored value names (None when the field is empty)."""
    blob = getattr(instance, field)
    if blob is None:
        return None
    try:
        return envelope.sealed_key_id(bytes(blob))
    except envelope.DecryptionError as exc:
        raise _damaged(instance, field) from exc


def _damaged(instance: models.Model, field: str) -> SealedValueDamaged:
    return _damaged_row(instance._meta.db_table, instance.pk, field)


def _damaged_row(table: str, row_id: object, field: str) -> SealedValueDamaged:
    return SealedValueDamaged(
        f"the stored secret {table}.{field} of row {row_id} failed "
        "authentication: it was altered or moved from another row",
        table=table,
        field=field,
    )


def reseal(instance: models.Model, field: str, *, data_key_id: int, key: bytes) -> bytes | None:
    """The field's value sealed again under the given data key (key rotation)."""
    blob = getattr(instance, field)
    if blob is None:
        return None
    blob = bytes(blob)
    aad = _aad(instance, field)
    try:
        plaintext = envelope.decrypt(keys.data_key(envelope.sealed_key_id(blob)), blob, aad)
    except (envelope.DecryptionError, keys.UnknownDataKey) as exc:
        raise _damaged(instance, field) from exc
    return envelope.encrypt(key, plaintext, aad, data_key_id=data_key_id)


def unseal(instance: models.Model, field: str) -> str | None:
    blob = getattr(instance, field)
    if blob is None:
        return None
    blob = bytes(blob)
    try:
        dk_id = envelope.sealed_key_id(blob)
        key = keys.data_key(dk_id)
        return envelope.decrypt(key, blob, _aad(instance, field)).decode("utf-8")
    except (envelope.DecryptionError, keys.UnknownDataKey) as exc:
        # An altered key id names a data key that does not exist: that is damage to this
        # value, not a master key problem.
        raise _damaged(instance, field) from exc
    except UnicodeDecodeError as exc:  # authenticated, so only a sealing bug could cause it
        raise _damaged(instance, field) from exc


def seal_bytes_into(instance: models.Model, field: str, value: bytes) -> None:
    """Set ``instance.<field>`` to ``value`` (bytes, e.g. a file) sealed like a text secret:
    the same format, data keys and associated data, so key rotation re-seals it too."""
    dk_id, key = keys.active_data_key()
    setattr(instance, field, envelope.encrypt(key, value, _aad(instance, field), data_key_id=dk_id))


def unseal_bytes(instance: models.Model, field: str) -> bytes | None:
    """The bytes :func:`seal_bytes_into` sealed (None when the field is empty)."""
    blob = getattr(instance, field)
    if blob is None:
        return None
    blob = bytes(blob)
    try:
        key = keys.data_key(envelope.sealed_key_id(blob))
        return envelope.decrypt(key, blob, _aad(instance, field))
    except (envelope.DecryptionError, keys.UnknownDataKey) as exc:
        raise _damaged(instance, field) from exc


class Unsealer:
    """Unseals one table's values row after row, for bulk reads (exports) that fetch the
    sealed columns with ``values_list`` instead of building model instances: the same
    checks and errors as :func:`unseal`, at a fraction of the cost per value."""

    __slots__ = ("_bulk", "_table")

    def __init__(self, model: type[models.Model]) -> None:
        self._table = model._meta.db_table
        self._bulk = envelope.BulkDecrypter(self._table, keys.data_key)

    def unseal(self, blob: bytes | memoryview | None, row_id: str, field: str) -> str | None:
        """``row_id`` is the primary key as ``str(pk)`` spells it (a UUID with hyphens)."""
        if blob is None:
            return None
        try:
            return self._bulk.decrypt(bytes(blob), row_id, field).decode("utf-8")
        except (envelope.DecryptionError, keys.UnknownDataKey, UnicodeDecodeError) as exc:
            raise _damaged_row(self._table, row_id, field) from exc


# --------------------------------------------------------------------------------------
# Values that are not model fields (a half-finished sign-in's password in the session)


class UnsealFailed(Exception):
    """A transient sealed value that cannot be opened (damaged, wrong binding, unknown
    data key). Callers discard the value; nothing of it is shown."""


def transient_aad(table: str, row_id: str, field: str) -> bytes:
    return envelope.field_aad(table, row_id, field)


def seal_transient(value: str, *, table: str, row_id: str, field: str) -> bytes:
    """Seal ``value`` under the active data key, bound to a made-up (table, row, field)
    name: the same format as a model field, for secrets held briefly outside the database
    (e.g. in a session). Open it with :func:`unseal_transient` and the same names."""
    dk_id, key = keys.active_data_key()
    return envelope.encrypt(
        key, value.encode("utf-8"), transient_aad(table, row_id, field), data_key_id=dk_id
    )


def unseal_transient(blob: bytes, *, table: str, row_id: str, field: str) -> str:
    try:
        key = keys.data_key(envelope.sealed_key_id(blob))
        return envelope.decrypt(key, blob, transient_aad(table, row_id, field)).decode("utf-8")
    except (ValueError, envelope.DecryptionError, keys.UnknownDataKey) as exc:
        raise UnsealFailed("the sealed value cannot be opened") from exc
