"""The local folder provider passes the conformance suite."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from strongroom.storage.providers import local
from strongroom.storage.providers.local import LocalFolderProvider

from .conformance import ProviderConformance

OWNER = "0b6f2a6e-4c1d-4c8e-9b1e-5d7f3a2c1b00"


def _provider(base: Any, folder: str = "alice", owner: str = OWNER) -> LocalFolderProvider:
    return LocalFolderProvider(
        config={"folder": folder},
        admin_config={"base_dir": str(base)},
        chunk_threshold=16 * 1024,
        owner=owner,
    )


class TestLocalConformance(ProviderConformance):
    supports_auth = False
    supports_retry_after = False
    large_size = 3 * local.WRITE_CHUNK // 2

    @pytest.fixture
    def provider(self, local_base_dir: Any) -> LocalFolderProvider:
        return _provider(local_base_dir)

    @pytest.fixture
    def missing_container_provider(self, tmp_path: Any) -> LocalFolderProvider:
        return _provider(tmp_path / "no-such-base")

    def read_back(self, provider: Any, name: str) -> bytes:
        return (provider.folder / name).read_bytes()

    def list_names(self, provider: Any) -> list[str]:
        return sorted(p.name for p in provider.folder.iterdir())

    @contextlib.contextmanager
    def upload_failure(self, provider: Any) -> Iterator[None]:
        real_write = os.write
        calls = {"n": 0}

        def failing_write(fd: int, data: Any) -> int:
            calls["n"] += 1
            if calls["n"] > 1 or len(data) > 1024:
                real_write(fd, bytes(data)[:512])  # a partial write reaches the temp file
                raise OSError(errno.EIO, "Input/output error")
            return real_write(fd, data)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(local.os, "write", failing_write)
            yield

    @contextlib.contextmanager
    def transient_failure(self, provider: Any, retry_after: float) -> Iterator[None]:
        def full(fd: int, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(local.os, "write", full)
            yield

    def tamper(self, provider: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        real_stat = provider.stat
        monkeypatch.setattr(provider, "stat", lambda name: replace(real_stat(name), size=1))

    @contextlib.contextmanager
    def chunked_parts(self, provider: Any) -> Iterator[list[int]]:
        parts: list[int] = []
        real_write = os.write

        def spy(fd: int, data: Any) -> int:
            parts.append(len(data))
            return real_write(fd, data)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(local.os, "write", spy)
            yield parts


def test_folder_names_are_single_components(local_base_dir: Any) -> None:
    from strongroom.core.errors import ValidationFailed

    for bad in ["", "..", "a/b", ".hidden", "x\\y"]:
        with pytest.raises(ValidationFailed):
            LocalFolderProvider.validate_config(
                {"folder": bad}, {}, {"base_dir": str(local_base_dir)}
            )


def test_permission_denied_is_typed(local_base_dir: Any) -> None:
    from strongroom.storage.base import StoragePermissionError

    provider = _provider(local_base_dir)
    provider.check()
    provider.folder.chmod(0o500)
    try:
        if os.geteuid() == 0:
            pytest.skip("root ignores directory permissions")
        with pytest.raises(StoragePermissionError):
            provider.put("x.html", b"x")
    finally:
        provider.folder.chmod(0o700)


def test_put_removes_what_a_killed_writer_left_but_not_a_live_writers_file(
    local_base_dir: Any,
) -> None:
    import time

    provider = _provider(local_base_dir)
    provider.check()
    # What a worker SIGKILLed mid-write leaves: a partial temporary file, never renamed.
    stale = provider.folder / f"{local.TMP_PREFIX}deadbeefdeadbeef"
    stale.write_bytes(b"partial")
    old = time.time() - local.STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))
    live = provider.folder / f"{local.TMP_PREFIX}0123456789abcdef"  # another writer, now
    live.write_bytes(b"in progress")
    info = provider.put("copy.html", b"<html>good</html>")
    assert info.size == len(b"<html>good</html>")
    assert not stale.exists()
    assert live.read_bytes() == b"in progress"
    assert (provider.folder / "copy.html").read_bytes() == b"<html>good</html>"
