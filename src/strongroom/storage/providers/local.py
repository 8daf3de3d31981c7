"""Local folder provider: a directory on the server (for example one a desktop sync client
mirrors). The admin sets the base directory; each user picks a subfolder name, which lives
in that user's own namespace: ``<base>/<user id>/<folder>``.

Namespace: two users who pick the same folder name get two different directories; no user
can name a place outside their own ``<base>/<user id>``. Every path below the base is
walked one component at a time with ``O_NOFOLLOW`` directory descriptors and every file is
opened, replaced, read and removed relative to the folder's descriptor (``dir_fd``), so a
symbolic link planted inside a namespace (by a desktop sync client that mirrors a user's
device, or anyone with a shell) is refused instead of followed. The base directory itself is
the administrator's choice and may be a link.

Atomic replace: the data is written to a temporary file in the same directory, flushed and
fsynced, then ``os.replace``d over the target (atomic on POSIX), and the directory is
fsynced. A failure at any point removes the temporary file and leaves the previous copy
untouched. Verification re-reads the stored file: size and SHA-256.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import stat as stat_module
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from strongroom.core.errors import ValidationFailed
from strongroom.storage import base
from strongroom.storage.base import ConfigField, ObjectInfo, Provider
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register

logger = logging.getLogger(__name__)

TMP_PREFIX = ".strongroom-tmp-"
WRITE_CHUNK = 1024 * 1024
# A temporary file this old belongs to a writer that died (a worker killed mid-write never
# reaches its clean-up); a live writer finishes in seconds, so the next put removes it.
STALE_TMP_SECONDS = 3600
# A namespace is named by the owner's id (a UUID): never by anything a user types.
OWNER_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_FILE_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC
_FILE_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC


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


def _oserror(exc: OSError, where: str) -> base.StorageError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return base.StoragePermissionError(f"access denied: cannot write to {where}")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return base.StorageNotFound(f"folder {where} does not exist")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR):
        return base.StorageTransientError(f"could not write to {where}: {os.strerror(exc.errno)}")
    return base.StoragePermanentError(
        f"could not write to {where}: {os.strerror(exc.errno) if exc.errno else 'I/O error'}"
    )


def _refused_link(where: str) -> base.StoragePermissionError:
    return base.StoragePermissionError(
        f"refused: {where} is a symbolic link or not a plain file or folder "
        "(links are never followed inside a user's folder)"
    )


def namespace_path(base_dir: str | Path, owner: str, folder: str) -> Path:
    """Where ``owner``'s folder ``folder`` lives: ``<base>/<owner>/<folder>``."""
    if not OWNER_RE.match(owner or ""):
        raise base.StoragePermanentError("the local folder has no valid owner namespace")
    return Path(base_dir) / owner / _check_folder(folder)


class LocalFolderProvider(Provider):
    name: ClassVar[str] = "local"
    label: ClassVar[str] = "Local folder"
    order: ClassVar[int] = 10
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "folder",
            "Folder name",
            max_length=100,
            help="A folder inside the server's sync directory; created when missing.",
        ),
        ConfigField(
            "base_dir",
            "Base directory on the server",
            level="admin",
            required=False,
            max_length=500,
            help="An absolute path; each user's folder is created inside it.",
        ),
    )
    default_chunk_threshold: ClassVar[int] = 4 * 1024 * 1024

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        base_dir = str(config.get("base_dir") or "").strip()
        if base_dir and not Path(base_dir).is_absolute():
            raise ValidationFailed("the base directory must be an absolute path", field="base_dir")
        out = dict(config)
        out["base_dir"] = base_dir
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
        cls, *, admin_config: dict[str, Any], proxy: base.ProxyConfig | None
    ) -> base.TestResult:
        where = admin_config.get("base_dir") or ""
        if not where:
            return base.TestResult(False, cls.name, "config", "no base directory is set")
        if not Path(where).is_dir():
            return base.TestResult(
                False, cls.name, "config", f"{where} does not exist", target=where
            )
        if not os.access(where, os.W_OK | os.X_OK):
            return base.TestResult(
                False, cls.name, "config", f"{where} is not writable", target=where
            )
        return base.TestResult(
            True, cls.name, "ok", f"{where} exists and is writable", target=where
        )

    @property
    def base_dir(self) -> Path:
        base_dir = self.admin_config.get("base_dir") or ""
        if not base_dir:
            raise base.StoragePermanentError("the local folder's base directory is not set")
        return Path(base_dir)

    @property
    def folder(self) -> Path:
        """``<base>/<owner>/<folder>`` (for display and tests; the operations below never
        follow this path: they walk it with ``O_NOFOLLOW`` descriptors)."""
        return namespace_path(
            self.base_dir, str(self.owner or ""), str(self.config.get("folder", ""))
        )

    def describe(self) -> str:
        try:
            return str(self.folder)
        except (base.StorageError, ValidationFailed):
            return self.label

    # -- the namespace, walked without following links -----------------------------------

    @contextlib.contextmanager
    def _folder_fd(self, *, create: bool) -> Iterator[int]:
        """A descriptor of ``<base>/<owner>/<folder>``: the base is opened as the admin
        wrote it (it may be a link); the owner's directory and the folder are opened with
        ``O_NOFOLLOW`` (created 0700 when ``create``), so a link there is refused."""
        folder = self.folder
        base_dir = self.base_dir
        try:
            base_fd = os.open(base_dir, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise base.StorageNotFound(f"the server folder {base_dir} does not exist") from None
            raise _oserror(exc, str(base_dir)) from None
        fds = [base_fd]
        try:
            for component in (folder.parent.name, folder.name):
                fds.append(self._open_dir(fds[-1], component, create=create, where=folder))
            yield fds[-1]
        finally:
            for fd in reversed(fds):
                os.close(fd)

    @staticmethod
    def _open_dir(parent_fd: int, name: str, *, create: bool, where: Path) -> int:
        if create:
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise _oserror(exc, str(where)) from None
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _refused_link(str(where)) from None
            raise _oserror(exc, str(where)) from None

    # -- operations ----------------------------------------------------------------------

    def check(self) -> str:
        folder = self.folder
        with self._folder_fd(create=True) as dir_fd:
            probe = f"{TMP_PREFIX}check-{secrets.token_hex(4)}"
            try:
                os.close(os.open(probe, _FILE_CREATE_FLAGS, 0o600, dir_fd=dir_fd))
                os.unlink(probe, dir_fd=dir_fd)
            except OSError as exc:
                raise _oserror(exc, str(folder)) from None
        return f"folder {folder}"

    def put(self, name: str, data: bytes) -> ObjectInfo:
        name = check_object_name(name)
        folder = self.folder
        with self._folder_fd(create=True) as dir_fd:
            _remove_stale_temporaries(dir_fd)
            self._refuse_link_at(dir_fd, name, folder / name)
            tmp = f"{TMP_PREFIX}{secrets.token_hex(8)}"
            try:
                fd = os.open(tmp, _FILE_CREATE_FLAGS, 0o600, dir_fd=dir_fd)
                try:
                    self._write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                # rename(2) replaces the name itself: it never writes through a link.
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:
                _unlink_quietly(dir_fd, tmp)
                raise _oserror(exc, str(folder)) from None
            except BaseException:
                _unlink_quietly(dir_fd, tmp)
                raise
            _fsync_dir(dir_fd)
        info = self.stat(name)
        self.verify_landed(info, data, base.sha256_hex(data))
        logger.info("local storage: stored %d bytes at %s", len(data), info.location)
        return info

    @staticmethod
    def _refuse_link_at(dir_fd: int, name: str, where: Path) -> None:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _oserror(exc, str(where)) from None
        if not stat_module.S_ISREG(st.st_mode):
            raise _refused_link(str(where))

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
        name = check_object_name(name)
        path = self.folder / name
        try:
            with self._folder_fd(create=False) as dir_fd:
                return self._stat_at(dir_fd, name, path)
        except base.StorageNotFound:
            raise base.StorageNotFound(f"{path} does not exist") from None

    @staticmethod
    def _stat_at(dir_fd: int, name: str, path: Path) -> ObjectInfo:
        try:
            fd = os.open(name, _FILE_READ_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise base.StorageNotFound(f"{path} does not exist") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refused_link(str(path)) from None
            raise _oserror(exc, str(path)) from None
        try:
            st = os.fstat(fd)
            if not stat_module.S_ISREG(st.st_mode):
                raise _refused_link(str(path))
            digest = hashlib.sha256()
            for block in iter(lambda: os.read(fd, WRITE_CHUNK), b""):
                digest.update(block)
        except OSError as exc:
            raise _oserror(exc, str(path)) from None
        finally:
            os.close(fd)
        return ObjectInfo(
            name=name,
            size=st.st_size,
            content_hash=digest.hexdigest(),
            hash_algorithm="sha256",
            modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
            location=str(path),
        )

    def delete(self, name: str) -> None:
        """Remove the name in the user's own folder. unlink(2) removes a link itself, never
        what it points to, so a planted link cannot make this delete another user's file."""
        name = check_object_name(name)
        path = self.folder / name
        try:
            with self._folder_fd(create=False) as dir_fd:
                try:
                    os.unlink(name, dir_fd=dir_fd)
                except FileNotFoundError:
                    return
                except OSError as exc:
                    raise _oserror(exc, str(path)) from None
        except base.StorageNotFound:
            return  # no folder: nothing to delete


def _remove_stale_temporaries(dir_fd: int) -> None:
    cutoff = datetime.now(UTC).timestamp() - STALE_TMP_SECONDS
    try:
        with os.scandir(dir_fd) as entries:
            leftovers = [
                e.name
                for e in entries
                if e.name.startswith(TMP_PREFIX) and e.stat(follow_symlinks=False).st_mtime < cutoff
            ]
    except OSError:
        return  # the put itself reports what is wrong with the folder
    for name in leftovers:
        _unlink_quietly(dir_fd, name)
    if leftovers:
        logger.info("local storage: removed %d stale temporary files", len(leftovers))


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:
        logger.warning("local storage: could not remove a temporary file")


def _fsync_dir(dir_fd: int) -> None:
    try:
        os.fsync(dir_fd)
    except OSError:
        logger.debug("local storage: directory fsync not supported")


register(LocalFolderProvider)
