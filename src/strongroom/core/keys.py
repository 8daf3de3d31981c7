"""Master key providers and the data-key ring.

The master key comes from exactly one source, in this order of precedence:

1. ``STRONGROOM_MASTER_KEY`` (environment variable, base64 or hex of 32 bytes);
2. ``STRONGROOM_MASTER_KEY_COMMAND`` (a command whose standard output is the key, e.g. a
   call to an external KMS or vault; run without a shell);
3. ``STRONGROOM_MASTER_KEY_FILE`` (default ``$STRONGROOM_DATA_DIR/master.key``), created
   with mode 0600 on first start when the database holds no data keys yet.

A missing or wrong key raises :class:`MasterKeyProblem` with a message that says what to
do; the server refuses to start rather than serve garbage.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import threading
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


class MasterKeyProblem(KeyError_):
    pass


@dataclass
class KeyRing:
    source: str
    primary: bytes
    extra: dict[str, bytes] = field(default_factory=dict)

    @property
    def primary_id(self) -> str:
        return envelope.key_id(self.primary)

    def by_id(self, master_key_id: str) -> bytes | None:
        if master_key_id == self.primary_id:
            return self.primary
        return self.extra.get(master_key_id)


_lock = threading.Lock()
_ring: KeyRing | None = None
_data_keys: dict[int, bytes] = {}
_active_data_key: int | None = None


def next_key_path() -> Path:
    return Path(str(settings.MASTER_KEY_FILE) + ".next")


def _read_file_key(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        logger.warning(
            "master key file %s is readable by others (mode %o); chmod 600 it", path, mode
        )
    try:
        return envelope.parse_master_key(path.read_bytes())
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


def _load_ring() -> KeyRing:
    from strongroom.core.models import DataKey

    raw_env = os.environ.get(settings.MASTER_KEY_ENV, "")
    if raw_env:
        try:
            return KeyRing("environment", envelope.parse_master_key(raw_env))
        except ValueError as exc:
            raise MasterKeyProblem(f"{settings.MASTER_KEY_ENV} is not a valid key: {exc}") from exc
    if settings.MASTER_KEY_COMMAND:
        argv = shlex.split(settings.MASTER_KEY_COMMAND)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=60, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MasterKeyProblem(f"master key command could not run: {exc}") from exc
        if done.returncode != 0:
            raise MasterKeyProblem(
                f"master key command exited with status {done.returncode}; "
                "check STRONGROOM_MASTER_KEY_COMMAND"
            )
        try:
            return KeyRing("command", envelope.parse_master_key(done.stdout))
        except ValueError as exc:
            raise MasterKeyProblem(f"master key command printed no valid key: {exc}") from exc

    path = Path(settings.MASTER_KEY_FILE)
    if not path.exists():
        if DataKey.objects.exists():
            raise MasterKeyProblem(
                f"master key file {path} is missing, but the database holds data encrypted "
                "under a master key. Restore the key file (or set STRONGROOM_MASTER_KEY / "
                "STRONGROOM_MASTER_KEY_COMMAND); a new key cannot read existing secrets."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_key_file(path, envelope.new_key())
        logger.warning(
            "created a new master key at %s (mode 0600). Back it up and move it off this host "
            "(STRONGROOM_MASTER_KEY_COMMAND or STRONGROOM_MASTER_KEY): whoever holds the key "
            "and the database holds every secret.",
            path,
        )
    ring = KeyRing("file", _read_file_key(path))
    nxt = next_key_path()
    if nxt.exists():
        # A rotation is in progress: rows may already be wrapped by the next key.
        next_key = _read_file_key(nxt)
        ring.extra[envelope.key_id(next_key)] = next_key
    return ring


def keyring() -> KeyRing:
    global _ring
    with _lock:
        if _ring is None:
            _ring = _load_ring()
        return _ring


def reset() -> None:
    """Forget cached keys (tests, and after rotation in the same process)."""
    global _ring, _active_data_key
    with _lock:
        _ring = None
        _data_keys.clear()
        _active_data_key = None


def _unwrap(dk_id: int, wrapped: bytes, master_key_id: str) -> bytes:
    ring = keyring()
    master = ring.by_id(master_key_id)
    if master is None:
        raise MasterKeyProblem(
            f"data key {dk_id} is wrapped by master key {master_key_id}, but the configured "
            f"master key is {ring.primary_id} ({ring.source}). This is the wrong master key "
            "for this database: restore the right one."
        )
    try:
        return envelope.unwrap_key(master, bytes(wrapped), data_key_id=dk_id)
    except envelope.DecryptionError as exc:
        raise MasterKeyProblem(
            f"data key {dk_id} does not open with master key {master_key_id}: the key or the "
            "database has been altered"
        ) from exc


def data_key(dk_id: int) -> bytes:
    from strongroom.core.models import DataKey

    cached = _data_keys.get(dk_id)
    if cached is not None:
        return cached
    row = DataKey.objects.filter(pk=dk_id).first()
    if row is None:
        raise MasterKeyProblem(f"data key {dk_id} is missing from the database")
    key = _unwrap(row.pk, row.wrapped, row.master_key_id)
    _data_keys[dk_id] = key
    return key


def active_data_key() -> tuple[int, bytes]:
    """The data key new values are sealed with; created on first use."""
    global _active_data_key
    from strongroom.core.models import DataKey

    if _active_data_key is not None and _active_data_key in _data_keys:
        return _active_data_key, _data_keys[_active_data_key]
    row = DataKey.objects.filter(status=DataKey.Status.ACTIVE).order_by("-pk").first()
    if row is None:
        row = create_data_key()
    key = data_key(row.pk)
    _active_data_key = row.pk
    return row.pk, key


def create_data_key() -> DataKey:
    from strongroom.core.models import DataKey

    ring = keyring()
    with transaction.atomic():
        row = DataKey.objects.create(wrapped=b"", master_key_id=ring.primary_id)
        key = envelope.new_key()
        row.wrapped = envelope.wrap_key(ring.primary, key, data_key_id=row.pk)
        row.save(update_fields=["wrapped"])
    _data_keys[row.pk] = key
    return row


def verify() -> KeyRing:
    """Start-up check: the key loads and opens every data key. Raises MasterKeyProblem."""
    from strongroom.core.models import DataKey

    ring = keyring()
    for row in DataKey.objects.all():
        data_key(row.pk)
    if not DataKey.objects.filter(status=DataKey.Status.ACTIVE).exists():
        create_data_key()
    return ring
