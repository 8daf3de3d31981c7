"""The local folder provider in the sync suites."""

from __future__ import annotations

from typing import Any

import pytest

from standins.faults import DiskFaults
from strongroom.storage.providers import local

from . import KillTarget, SyncTarget


def sync_target(request: pytest.FixtureRequest) -> SyncTarget:
    from sync.helpers import local_connect, local_folder

    base = request.getfixturevalue("sync_dir")
    return SyncTarget(
        provider="local",
        connect=local_connect,
        read=lambda conn, name: (local_folder(base, conn) / name).read_bytes(),
        faults=DiskFaults(local.os),
        retry_after=False,
    )


def kill_target(request: pytest.FixtureRequest) -> KillTarget:
    base = request.getfixturevalue("tmp_path") / "sync-root"
    base.mkdir()

    def copies(u: int, name: str) -> list[bytes]:
        return [p.read_bytes() for p in base.glob(f"*/tech{u}/{name}")]

    def slow_uploads(n: int) -> None:
        """Writes to a local disk are quick; the kill waits for a running job instead."""

    return KillTarget(
        provider="local",
        env={},
        admin={"config": {"base_dir": str(base)}},
        connection=lambda u: ({"folder": f"tech{u}"}, {}),
        copies=copies,
        slow_uploads=slow_uploads,
        users=16,
        entries=40,
        temps=lambda: sorted(p.name for p in base.rglob(".strongroom-tmp-*")),
    )


__all__: list[Any] = ["kill_target", "sync_target"]
