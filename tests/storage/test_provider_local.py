"""The local folder provider passes the conformance suite."""

from __future__ import annotations

import os
from typing import Any

import pytest

from standins.faults import DiskFaults
from strongroom.storage.providers import local
from strongroom.storage.providers.local import LocalFolderProvider

from .conformance import ProviderConformance, Target

OWNER = "0b6f2a6e-4c1d-4c8e-9b1e-5d7f3a2c1b00"


def _provider(
    base: Any, folder: str = "alice", owner: str = OWNER, **kw: Any
) -> LocalFolderProvider:
    kw.setdefault("chunk_threshold", 16 * 1024)
    return LocalFolderProvider(
        config={"folder": folder}, admin_config={"base_dir": str(base)}, owner=owner, **kw
    )


class TestLocalConformance(ProviderConformance):
    supports_retry_after = False
    large_size = 3 * local.WRITE_CHUNK // 2

    @pytest.fixture
    def target(self, local_base_dir: Any, tmp_path: Any) -> Target:
        folder = local.namespace_path(local_base_dir, OWNER, "alice")
        return Target(
            make=lambda **kw: _provider(local_base_dir, **kw),
            read_back=lambda name: (folder / name).read_bytes(),
            list_names=lambda: sorted(p.name for p in folder.iterdir()),
            faults=DiskFaults(local.os),
            remove_folder=lambda: _provider(tmp_path / "no-such-base"),
            no_type_reason="a file on disk has no content type (the name tells it)",
        )


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
