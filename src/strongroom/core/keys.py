"""Master key providers and the data-key ring.

The master key comes from exactly one source, in this order of precedence:

1. ``STRONGROOM_MASTER_KEY`` (environment variable, base64 or hex of 32 bytes);
2. ``STRONGROOM_MASTER_KEY_COMMAND`` (a command whose standard output is the key, e.g. a
   call to an external KMS or vault; run without a shell);
3. ``STRONGROOM_MASTER_KEY_FILE`` (default ``$STRONGROOM_DATA_DIR/master.key``), created
   with mode 0600 on first start when the database holds no data keys yet.

A missing or wrong key raises :class:`MasterKeyProblem` with a message that says what to
do; the server refuses to start rather than serve garbage.

While a file-source rotation is in progress, ``<keyfile>.next`` holds the new master key;
it is loaded next to the current one, and new data keys are wrapped under it, so every
node keeps working during and after the rotation (see :mod:`strongroom.core.rotation`).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from strongroom.core.errors import KeyError_
from strongroom.crypto import envelope

if TYPE_CHECKING:
    from strongroom.core.models import DataKey

logger = logging.getLogger(__name__)


def active_key_recheck_seconds() -> float:
    """How long a process trusts its cached "active data key" before asking the database
    again. Re-encryption waits at least twice this long after retiring a data key before
    deleting it, so no process is still sealing values under a key about to disappear."""
    return float(getattr(settings, "KEY_RECHECK_SECONDS", 5.0))


class MasterKeyProblem(KeyError_):
    pass


class UnknownDataKey(MasterKeyProblem):
    """A sealed value names a data key the database does not hold."""


@dataclass
class KeyRing:
    source: str
    primary: bytes
    extra: dict[str, bytes] = field(default_factory=dict)
    # Set while a file-source rotation is in progress: the master key being rotated to.
    next_key: bytes | None = None

    @property
    def primary_id(self) -> str:
        return envelope.key_id(self.primary)

    @property
    def wrapping_key(self) -> bytes:
        """The key new data keys are wrapped under: the newest one this ring knows."""
        return self.next_key if self.next_key is not None else self.primary

    def by_id(self, master_key_id: str) -> bytes | None:
        if master_key_id == self.primary_id:
            return self.primary
        if self.next_key is not None and master_key_id == envelope.key_id(self.next_key):
            return self.next_key
        return self.extra.get(master_key_id)

    def describe(self) -> str:
        return f"{self.primary_id} (from {self.source})"


_lock = threading.RLock()
_ring: KeyRing | None = None
_data_keys: dict[int, bytes] = {}
_active_data_key: int | None = None
_active_checked_at = 0.0


def key_file_path() -> Path:
    return Path(settings.MASTER_KEY_FILE)


def next_key_path() -> Path:
    return Path(str(settings.MASTER_KEY_FILE) + ".next")


def retired_key_path(master_key_id: str) -> Path:
    return Path(f"{settings.MASTER_KEY_FILE}.retired-{master_key_id}")


def configured_source() -> str:
    if os.environ.get(settings.MASTER_KEY_ENV, ""):
        return "environment"
    if settings.MASTER_KEY_COMMAND:
        return "command"
    return "file"


def read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            logger.warning(
                "master key file %s is readable by others (mode %o); chmod 600 it", path, mode
            )
        return envelope.parse_master_key(path.read_bytes())
    except OSError as exc:
        raise MasterKeyProblem(f"cannot read the master key file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise MasterKeyProblem(f"master key file {path} is not a valid key: {exc}") from exc


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file atomically with mode 0600 (never briefly world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(envelope.format_master_key(key) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or file creation in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _key_from_command(command: str) -> bytes:
    argv = shlex.split(command)
    if not argv:
        raise MasterKeyProblem("STRONGROOM_MASTER_KEY_COMMAND is set but empty")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MasterKeyProblem(
            f"the master key command ({argv[0]}) could not run: {exc}. "
            "Check STRONGROOM_MASTER_KEY_COMMAND."
        ) from exc
    if done.returncode != 0:
        # Its stderr may explain (e.g. "permission denied"); its stdout may hold key material.
        hint = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise MasterKeyProblem(
            f"the master key command ({argv[0]}) exited with status {done.returncode}"
            + (f" ({hint[0][:200]})" if hint[0] else "")
            + "; check STRONGROOM_MASTER_KEY_COMMAND"
        )
    try:
        return envelope.parse_master_key(done.stdout)
    except ValueError as exc:
        raise MasterKeyProblem(
            f"the master key command ({argv[0]}) printed no valid key: {exc}"
        ) from exc


def _load_ring() -> KeyRing:
    from strongroom.core.models import DataKey

    raw_env = os.environ.get(settings.MASTER_KEY_ENV, "")
    if raw_env:
        try:
            return KeyRing("environment", envelope.parse_master_key(raw_env))
        except ValueError as exc:
            raise MasterKeyProblem(f"{settings.MASTER_KEY_ENV} is not a valid key: {exc}") from exc
    if settings.MASTER_KEY_COMMAND:
        return KeyRing("command", _key_from_command(settings.MASTER_KEY_COMMAND))

    path = key_file_path()
    if not path.exists():
        if DataKey.objects.exists():
            raise MasterKeyProblem(
                f"the master key file {path} is missing, but the database holds data "
                "encrypted under a master key. Restore the key file from your key backup (or "
                "set STRONGROOM_MASTER_KEY / STRONGROOM_MASTER_KEY_COMMAND). A new key cannot "
                "read existing secrets, so none was created."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_key_file(path, envelope.new_key())
        logger.warning(
            "created a new master key at %s (mode 0600). Back it up apart from the database "
            "and move it off this host (STRONGROOM_MASTER_KEY_COMMAND or "
            "STRONGROOM_MASTER_KEY): whoever holds the key and the database holds every secret.",
            path,
        )
    ring = KeyRing("file", read_key_file(path))
    nxt = next_key_path()
    if nxt.exists():
        # A rotation is in progress: some data keys may already be wrapped by the next key.
        ring.next_key = read_key_file(nxt)
    return ring


def keyring() -> KeyRing:
    global _ring
    with _lock:
        if _ring is None:
            _ring = _load_ring()
        return _ring


def reload_ring() -> KeyRing:
    """Read the key source again (a rotation elsewhere may have changed it)."""
    global _ring
    with _lock:
        _ring = _load_ring()
        return _ring


def reset() -> None:
    """Forget cached keys (tests, and after rotation in the same process)."""
    global _ring, _active_data_key, _active_checked_at
    with _lock:
        _ring = None
        _data_keys.clear()
        _active_data_key = None
        _active_checked_at = 0.0


def unwrap_data_key(row: DataKey) -> bytes:
    """Open one data key row with whichever known master key wrapped it."""
    ring = keyring()
    master = ring.by_id(row.master_key_id)
    if master is None and ring.source in {"file", "command"}:
        # Another process may have finished a rotation since this one read its key.
        ring = reload_ring()
        master = ring.by_id(row.master_key_id)
    if master is None:
        raise MasterKeyProblem(
            f"data key {row.pk} is wrapped by master key {row.master_key_id}, but the "
            f"configured master key is {ring.describe()}. This is the wrong master key for "
            "this database: configure the key whose id is "
            f"{row.master_key_id} (see docs/operations.md, 'Master key')."
        )
    try:
        return envelope.unwrap_key(master, bytes(row.wrapped), data_key_id=row.pk)
    except envelope.DecryptionError as exc:
        raise MasterKeyProblem(
            f"data key {row.pk} does not open with master key {row.master_key_id}: the key "
            "file or the database row has been altered"
        ) from exc


def data_key(dk_id: int) -> bytes:
    from strongroom.core.models import DataKey

    cached = _data_keys.get(dk_id)
    if cached is not None:
        return cached
    row = DataKey.objects.filter(pk=dk_id).first()
    if row is None:
        raise UnknownDataKey(f"data key {dk_id} is missing from the database")
    key = unwrap_data_key(row)
    _data_keys[dk_id] = key
    return key


def active_data_key() -> tuple[int, bytes]:
    """The data key new values are sealed with; created on first use.

    The choice is cached for :func:`active_key_recheck_seconds` so that a re-encryption started by
    another process (which retires this key) is noticed quickly without a query per seal.
    """
    global _active_data_key, _active_checked_at
    from strongroom.core.models import DataKey

    now = time.monotonic()
    current = _active_data_key
    if (
        current is not None
        and current in _data_keys
        and now - _active_checked_at < active_key_recheck_seconds()
    ):
        return current, _data_keys[current]
    row = DataKey.objects.filter(status=DataKey.Status.ACTIVE).order_by("-pk").first()
    if row is None:
        row = create_data_key()
    key = data_key(row.pk)
    _active_data_key = row.pk
    _active_checked_at = now
    return row.pk, key


def create_data_key() -> DataKey:
    """A fresh active data key, wrapped under the newest master key this node knows."""
    from strongroom.core.models import DataKey

    # Re-read the key source so a node started before a rotation does not wrap a new data
    # key under a master key that has just been retired.
    ring = reload_ring() if configured_source() != "environment" else keyring()
    wrapping = ring.wrapping_key
    with transaction.atomic():
        row = DataKey.objects.create(wrapped=b"", master_key_id=envelope.key_id(wrapping))
        key = envelope.new_key()
        row.wrapped = envelope.wrap_key(wrapping, key, data_key_id=row.pk)
        row.save(update_fields=["wrapped"])
    _data_keys[row.pk] = key
    logger.info("created data key %s under master key %s", row.pk, row.master_key_id)
    return row


def verify(*, create_missing: bool = True) -> KeyRing:
    """Start-up check: the key loads and opens every data key. Raises MasterKeyProblem.

    With ``create_missing`` (the default, used at start-up) an empty database gets its
    first data key, so web nodes started together do not race to create one.
    """
    from strongroom.core.models import DataKey

    ring = keyring()
    for row in DataKey.objects.all().order_by("pk"):
        key = unwrap_data_key(row)
        _data_keys[row.pk] = key
    if create_missing and not DataKey.objects.filter(status=DataKey.Status.ACTIVE).exists():
        create_data_key()
    return ring
