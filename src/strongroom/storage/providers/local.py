"""Local folder provider: a directory on the server (for example one a desktop sync client
mirrors). The admin sets the base directory; each user picks a subfolder name inside it.

Atomic replace: the data is written to a temporary file in the same directory, flushed and
fsynced, then ``os.replace``d over the target (atomic on POSIX), and the directory is
fsynced. A failure at any point removes the temporary file and leaves the previous copy
untouched. Verification re-reads the stored file: size and SHA-256.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from strongroom.core.errors import ValidationFailed
from strongroom.storage.base import (
    ConfigField,
    ObjectInfo,
    Provider,
    ProxyConfig,
    StorageError,
    StorageNotFound,
    StoragePermanentError,
    StoragePermissionError,
    StorageTransientError,
    TestResult,
    sha256_hex,
)
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register

logger = logging.getLogger(__name__)

TMP_PREFIX = ".strongroom-tmp-"
WRITE_CHUNK = 1024 * 1024
# A temporary file this old belongs to a writer that died (a worker killed mid-write never
# reaches its clean-up); a live writer finishes in seconds, so the next put removes it.
STALE_TMP_SECONDS = 3600


def _check_folder(folder: str) -> str:
    folder = unicodedata.normalize("NFC", (folder or "").strip())
    if not folder:
        raise ValidationFailed("choose a folder name", field="folder")
    if folder in {".", ".."} or folder.startswith(".") or any(c in folder for c in "/\\\x00"):
        raise ValidationFailed(
            "the folder name must be a single name (no '/', '\\', or leading '.')",
            field="folder",
        )
    if any(unicodedata.category(c) == "Cc" for c in folder) or len(folder) > 100:
        raise ValidationFailed("the folder name is not valid", field="folder")
    return folder


def _oserror(exc: OSError, where: str) -> StorageError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoragePermissionError(f"access denied: cannot write to {where}")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return StorageNotFound(f"folder {where} does not exist")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR):
        return StorageTransientError(f"could not write to {where}: {os.strerror(exc.errno)}")
    return StoragePermanentError(
        f"could not write to {where}: {os.strerror(exc.errno) if exc.errno else 'I/O error'}"
    )


class LocalFolderProvider(Provider):
    name: ClassVar[str] = "local"
    label: ClassVar[str] = "Local folder"
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "folder",
            "Folder name",
            help="A folder inside the server's sync directory; created when missing.",
        ),
    )
    default_chunk_threshold: ClassVar[int] = 4 * 1024 * 1024

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        base = str(config.get("base_dir") or "").strip()
        if base and not Path(base).is_absolute():
            raise ValidationFailed("the base directory must be an absolute path", field="base_dir")
        out = dict(config)
        out["base_dir"] = base
        return out

    @classmethod
    def validate_config(
        cls, config: dict[str, Any], credentials: dict[str, Any], admin_config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if not admin_config.get("base_dir"):
            raise ValidationFailed(
                "the administrator has not set the local folder's base directory",
                field="folder",
            )
        return {"folder": _check_folder(str(config.get("folder", "")))}, {}

    @classmethod
    def test_connection(
        cls, *, admin_config: dict[str, Any], proxy: ProxyConfig | None
    ) -> TestResult:
        base = admin_config.get("base_dir") or ""
        if not base:
            return TestResult(False, cls.name, "config", "no base directory is set")
        if not Path(base).is_dir():
            return TestResult(False, cls.name, "config", f"{base} does not exist", target=base)
        if not os.access(base, os.W_OK | os.X_OK):
            return TestResult(False, cls.name, "config", f"{base} is not writable", target=base)
        return TestResult(True, cls.name, "ok", f"{base} exists and is writable", target=base)

    @property
    def base_dir(self) -> Path:
        base = self.admin_config.get("base_dir") or ""
        if not base:
            raise StoragePermanentError("the local folder's base directory is not set")
        return Path(base)

    @property
    def folder(self) -> Path:
        return self.base_dir / _check_folder(str(self.config.get("folder", "")))

    def describe(self) -> str:
        try:
            return str(self.folder)
        except (StorageError, ValidationFailed):
            return self.label

    def _path(self, name: str) -> Path:
        return self.folder / check_object_name(name)

    # -- operations ----------------------------------------------------------------------

    def check(self) -> str:
        base = self.base_dir
        if not base.is_dir():
            raise StorageNotFound(f"the server folder {base} does not exist")
        folder = self.folder
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            probe = folder / f"{TMP_PREFIX}check-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise _oserror(exc, str(folder)) from None
        return f"folder {folder}"

    def put(self, name: str, data: bytes) -> ObjectInfo:
        target = self._path(name)
        folder = target.parent
        if not self.base_dir.is_dir():
            raise StorageNotFound(f"the server folder {self.base_dir} does not exist")
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise _oserror(exc, str(folder)) from None
        _remove_stale_temporaries(folder)
        tmp = folder / f"{TMP_PREFIX}{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                self._write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            tmp.replace(target)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise _oserror(exc, str(folder)) from None
        except BaseException:
            _unlink_quietly(tmp)
            raise
        _fsync_dir(folder)
        info = self.stat(name)
        self.verify_landed(info, data, sha256_hex(data))
        logger.info("local storage: stored %d bytes at %s", len(data), info.location)
        return info

    def _write(self, fd: int, data: bytes) -> None:
        """Write ``data``; in chunks above the threshold (the "chunked path")."""
        view = memoryview(data)
        step = WRITE_CHUNK if len(data) > self.chunk_threshold else max(len(data), 1)
        for start in range(0, len(data), step):
            chunk = view[start : start + step]
            while chunk:
                written = os.write(fd, chunk)
                chunk = chunk[written:]

    def stat(self, name: str) -> ObjectInfo:
        path = self._path(name)
        try:
            st = path.stat()
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(WRITE_CHUNK), b""):
                    digest.update(block)
        except FileNotFoundError:
            raise StorageNotFound(f"{path} does not exist") from None
        except OSError as exc:
            raise _oserror(exc, str(path)) from None
        return ObjectInfo(
            name=path.name,
            size=st.st_size,
            content_hash=digest.hexdigest(),
            hash_algorithm="sha256",
            modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
            location=str(path),
        )

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _oserror(exc, str(path)) from None


def _remove_stale_temporaries(folder: Path) -> None:
    cutoff = datetime.now(UTC).timestamp() - STALE_TMP_SECONDS
    try:
        leftovers = [p for p in folder.glob(f"{TMP_PREFIX}*") if p.lstat().st_mtime < cutoff]
    except OSError:
        return  # the put itself reports what is wrong with the folder
    for path in leftovers:
        _unlink_quietly(path)
    if leftovers:
        logger.info("local storage: removed %d stale temporary files", len(leftovers))


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        logger.warning("local storage: could not remove temporary file %s", path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        logger.debug("local storage: directory fsync not supported for %s", folder)
    finally:
        os.close(fd)


register(LocalFolderProvider)
