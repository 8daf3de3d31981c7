"""Key rotation: re-wrap data keys under a new master key; re-encrypt rows under a new data key.

Both operations are resumable and safe to kill at any point:

* **Master key rotation** (:func:`master_key_rotate`) re-wraps each data key in its own
  transaction. With the key file source the new key is first written to
  ``<keyfile>.next`` (0600), which every node loads next to the current key, so rows already
  re-wrapped stay readable; only when every data key opens under the new key are the files
  swapped (the old key is kept as ``<keyfile>.retired-<keyid>`` for old backups). With the
  environment or command sources the new key goes to a file the operator names, and the
  operator switches the source afterwards.
* **Re-encryption** (:func:`data_keys_rotate`) creates a fresh data key, retires the others
  and re-seals every :class:`~strongroom.core.models.SealedField` of every model (found by
  introspection) in batches, one transaction per batch. Each sealed value names its data
  key, so a half-done run leaves every value readable, and a re-run continues where the
  last stopped. Retired data keys are deleted once no row uses them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction

from strongroom.core import auditing, keys, secrets
from strongroom.core.errors import AppError, ErrorCode
from strongroom.core.models import DataKey, SealedField
from strongroom.core.progress import ProgressFactory, Ticker, no_progress
from strongroom.crypto import envelope

logger = logging.getLogger(__name__)


class RotationError(AppError):
    code = ErrorCode.KEY_ROTATION
    status = 409


# --------------------------------------------------------------------------------------
# One rotation at a time


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """Hold the cluster-wide rotation lock (PostgreSQL advisory lock, or a file lock next to
    the SQLite database, which only one host can use anyway)."""
    if connection.vendor == "postgresql":
        lock_id = int.from_bytes(hashlib.sha256(b"strongroom key rotation").digest()[:4], "big")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
            (got,) = cursor.fetchone()
        if not got:
            raise RotationError("another key rotation is running against this database")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
        return
    path = Path(settings.DATA_DIR) / ".key-rotation.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RotationError("another key rotation is running against this database") from exc
        yield
    finally:
        os.close(fd)


def _audit(action: str, details: dict[str, object]) -> None:
    auditing.record(actor=None, action=action, object_type="key", details=details)


# --------------------------------------------------------------------------------------
# Master key rotation


@dataclass
class MasterRotationResult:
    source: str
    old_key_id: str
    new_key_id: str
    rewrapped: int
    resumed: bool
    # File source: where the old key was kept. Environment/command: where the new key is.
    retired_key_file: Path | None = None
    new_key_file: Path | None = None


def _new_key_from_file(path: Path) -> tuple[bytes, bool]:
    """The key in ``path`` (a resumed rotation) or a new one written there (0600)."""
    if path.exists():
        return keys.read_key_file(path), True
    key = envelope.new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    keys.write_key_file(path, key)
    return key, False


def master_key_rotate(
    *,
    new_key_file: Path | None = None,
    progress: ProgressFactory = no_progress,
    pause: float = 0.0,
) -> MasterRotationResult:
    """Re-wrap every data key under a new master key; see the module docstring."""
    with _exclusive():
        ring = keys.reload_ring()
        source = ring.source
        old_key, old_id = ring.primary, ring.primary_id
        if source == "file":
            if new_key_file is not None:
                raise RotationError(
                    "--new-key-file is for the environment and command key sources; with the "
                    f"key file the new key is written to {keys.next_key_path()}"
                )
            new_key, resumed = _new_key_from_file(keys.next_key_path())
            ring = keys.reload_ring()  # now holds the next key too
        else:
            if new_key_file is None:
                raise RotationError(
                    f"the master key comes from the {source}; name a file for the new key "
                    "with --new-key-file PATH (it is created 0600, or resumed if it exists)"
                )
            new_key, resumed = _new_key_from_file(new_key_file)
            ring.extra[envelope.key_id(new_key)] = new_key
        new_id = envelope.key_id(new_key)
        if new_id == old_id:
            raise RotationError(
                f"the new key is the key already configured ({old_id}); nothing to rotate"
            )
        logger.info(
            "master key rotation %s: %s -> %s (%s)",
            "resumed" if resumed else "started",
            old_id,
            new_id,
            source,
        )

        rewrapped = _rewrap_all(new_key, new_id, progress=progress, pause=pause)
        _check_all_open(new_key, new_id)

        result = MasterRotationResult(
            source=source,
            old_key_id=old_id,
            new_key_id=new_id,
            rewrapped=rewrapped,
            resumed=resumed,
        )
        if source == "file":
            result.retired_key_file = _swap_key_files(old_key, old_id)
        else:
            result.new_key_file = new_key_file
        # Audit while this process still holds both keys (with the environment or command
        # sources, the configured key is the old one until the operator switches it).
        _audit(
            "key.master_rotated",
            {"old_key_id": old_id, "new_key_id": new_id, "rewrapped": rewrapped},
        )
        keys.reset()
        return result


def _rewrap_all(new_key: bytes, new_id: str, *, progress: ProgressFactory, pause: float) -> int:
    pending = DataKey.objects.exclude(master_key_id=new_id).order_by("pk")
    bar = progress("re-wrapping data keys", pending.count())
    done = 0
    try:
        while True:
            ids = list(pending.values_list("pk", flat=True)[:200])
            if not ids:
                break
            for pk in ids:
                # One data key per transaction: a kill loses at most this one, and it is
                # simply re-wrapped again by the next run.
                with transaction.atomic():
                    row = DataKey.objects.select_for_update().filter(pk=pk).first()
                    if row is None or row.master_key_id == new_id:
                        continue
                    plain = keys.unwrap_data_key(row)
                    row.wrapped = envelope.wrap_key(new_key, plain, data_key_id=row.pk)
                    row.master_key_id = new_id
                    row.save(update_fields=["wrapped", "master_key_id"])
                done += 1
                bar.update(1)
                if pause:
                    time.sleep(pause)
    finally:
        bar.close()
    return done


def _check_all_open(new_key: bytes, new_id: str) -> None:
    for row in DataKey.objects.order_by("pk"):
        if row.master_key_id != new_id:
            raise RotationError(
                f"data key {row.pk} is still wrapped by master key {row.master_key_id}; "
                "run the rotation again"
            )
        try:
            envelope.unwrap_key(new_key, bytes(row.wrapped), data_key_id=row.pk)
        except envelope.DecryptionError as exc:
            raise RotationError(
                f"data key {row.pk} does not open with the new master key; the old key is "
                "still in place, nothing was swapped"
            ) from exc


def _swap_key_files(old_key: bytes, old_id: str) -> Path:
    """Keep the old key as ``.retired-<id>``, then atomically make ``.next`` the key file.

    The order matters: at every instant the key file holds a key that opens the database
    (the old one until the rename, the new one after it)."""
    keyfile = keys.key_file_path()
    retired = keys.retired_key_path(old_id)
    if not retired.exists():
        keys.write_key_file(retired, old_key)
    keys.next_key_path().replace(keyfile)
    keys.fsync_dir(keyfile.parent)
    return retired


# --------------------------------------------------------------------------------------
# Re-encryption under a fresh data key


@dataclass
class DamagedValue:
    table: str
    row_id: str
    field: str


@dataclass
class ReencryptResult:
    data_key_id: int
    resumed: bool
    scanned: int = 0
    reencrypted: int = 0
    deleted_data_keys: list[int] = field(default_factory=list)
    kept_data_keys: list[int] = field(default_factory=list)
    damaged: list[DamagedValue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged


def sealed_columns() -> list[tuple[type[models.Model], list[str]]]:
    """Every concrete model with its SealedField columns, found by introspection."""
    found: list[tuple[type[models.Model], list[str]]] = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed or meta.swapped:
            continue
        names = [f.attname for f in meta.local_concrete_fields if isinstance(f, SealedField)]
        if names:
            found.append((model, names))
    found.sort(key=lambda item: item[0]._meta.db_table)
    return found


def _start_or_resume() -> tuple[int, bool]:
    """The data key to re-encrypt under, and whether an earlier run is being resumed."""
    with transaction.atomic():
        if DataKey.objects.filter(status=DataKey.Status.RETIRED).exists():
            active = DataKey.objects.filter(status=DataKey.Status.ACTIVE).order_by("-pk").first()
            if active is not None:
                return active.pk, True
        fresh = keys.create_data_key()
        DataKey.objects.exclude(pk=fresh.pk).update(status=DataKey.Status.RETIRED)
        return fresh.pk, False


def _reseal_pass(
    active_id: int,
    active_key: bytes,
    *,
    batch_size: int,
    pause: float,
    bar: Ticker,
    damaged: dict[tuple[str, str, str], DamagedValue],
) -> tuple[int, int, set[int]]:
    """One pass over every sealed column: (rows scanned, values changed, data keys in use)."""
    scanned = 0
    changed = 0
    in_use: set[int] = set()
    for model, fields in sealed_columns():
        manager = model._base_manager
        table = model._meta.db_table
        last_pk: object | None = None
        while True:
            with transaction.atomic():
                qs = manager.order_by("pk").only("pk", *fields)
                if last_pk is not None:
                    qs = qs.filter(pk__gt=last_pk)
                # A model whose values are large (attachments: up to 100 MB each) names
                # a smaller batch, so a batch never holds hundreds of files in memory.
                size = min(batch_size, getattr(model, "SEALED_BATCH_SIZE", batch_size))
                batch = list(qs.select_for_update()[:size])
                if not batch:
                    break
                for obj in batch:
                    updates: dict[str, bytes | None] = {}
                    for name in fields:
                        where = (table, str(obj.pk), name)
                        try:
                            current = secrets.sealed_data_key_id(obj, name)
                            if current is None:
                                continue
                            if current == active_id:
                                in_use.add(current)
                                continue
                            updates[name] = secrets.reseal(
                                obj, name, data_key_id=active_id, key=active_key
                            )
                            in_use.add(active_id)
                        except secrets.SealedValueDamaged:
                            damaged.setdefault(where, DamagedValue(*where))
                            blob = getattr(obj, name)
                            if blob is not None and len(bytes(blob)) >= envelope.HEADER.size:
                                in_use.add(envelope.HEADER.unpack_from(bytes(blob))[1])
                    if updates:
                        # update() rather than save(): no auto_now timestamps, no signals.
                        manager.filter(pk=obj.pk).update(**updates)
                        changed += len(updates)
                last_pk = batch[-1].pk
            scanned += len(batch)
            bar.update(len(batch))
            if pause:
                time.sleep(pause)
    return scanned, changed, in_use


def data_keys_rotate(
    *,
    batch_size: int = 500,
    pause: float = 0.0,
    progress: ProgressFactory = no_progress,
) -> ReencryptResult:
    """Re-encrypt every sealed value under a fresh data key; see the module docstring."""
    if batch_size < 1:
        raise RotationError("the batch size must be at least 1")
    with _exclusive():
        keys.reset()
        keys.verify(create_missing=False)
        started = time.monotonic()
        active_id, resumed = _start_or_resume()
        active_key = keys.data_key(active_id)
        logger.info(
            "re-encryption %s under data key %s", "resumed" if resumed else "started", active_id
        )
        result = ReencryptResult(data_key_id=active_id, resumed=resumed)
        damaged: dict[tuple[str, str, str], DamagedValue] = {}

        def total_rows() -> int:
            return sum(model._base_manager.count() for model, _ in sealed_columns())

        bar = progress("re-encrypting secrets", total_rows())
        try:
            result.scanned, changed, in_use = _reseal_pass(
                active_id, active_key, batch_size=batch_size, pause=pause, bar=bar, damaged=damaged
            )
        finally:
            bar.close()
        result.reencrypted += changed

        # A process that cached the old active key may seal a value or two under it until it
        # re-checks (keys.active_key_recheck_seconds). Wait that out, then sweep again until a
        # whole pass changes nothing, so no retired key is deleted while a row still uses it.
        grace = 2 * keys.active_key_recheck_seconds() - (time.monotonic() - started)
        if grace > 0:
            time.sleep(grace)
        for _ in range(5):
            bar = progress("verifying", total_rows())
            try:
                _, changed, in_use = _reseal_pass(
                    active_id,
                    active_key,
                    batch_size=batch_size,
                    pause=0.0,
                    bar=bar,
                    damaged=damaged,
                )
            finally:
                bar.close()
            result.reencrypted += changed
            if changed == 0:
                break
        result.damaged = list(damaged.values())

        with transaction.atomic():
            retired = DataKey.objects.filter(status=DataKey.Status.RETIRED)
            result.kept_data_keys = sorted(
                retired.filter(pk__in=in_use).values_list("pk", flat=True)
            )
            doomed = retired.exclude(pk__in=in_use)
            result.deleted_data_keys = sorted(doomed.values_list("pk", flat=True))
            doomed.delete()
        keys.reset()
        _audit(
            "key.data_reencrypted",
            {
                "data_key_id": active_id,
                "reencrypted": result.reencrypted,
                "deleted_data_keys": result.deleted_data_keys,
                "damaged": len(result.damaged),
            },
        )
        return result
