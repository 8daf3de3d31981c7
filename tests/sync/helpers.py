"""Sync test helpers: people, vault objects, storage connections and sync requests, all made
through the real services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exports.helpers import admin, policy_set, rule_set  # noqa: F401  (re-exported)
from factories import (  # noqa: F401  (re-exported for the sync tests)
    LOGIN_PASSWORD,
    PASSPHRASE,
    TEST_ITERATIONS,
    Api,
    account_make,
    api_for,
    resource_make,
    user_make,
)
from factories import Clock as _RealTimeClock
from strongroom.accounts.models import User
from strongroom.exports import offline_file
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import AutoState, JobState, JobTrigger, SyncCopy, SyncJob


class Clock(_RealTimeClock):
    """A hand-moved clock for the job state machine and the auto-sync scheduler. By default
    it starts a day ahead of real time: Huey compares a scheduled task's ETA with the real
    clock, so a retry scheduled from a fixed date that has since passed would run at once
    instead of being queued. ``start`` sets another starting moment."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(
            start
            or datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        )


def local_enable(base_dir: Path) -> None:
    storage.provider_settings_update(
        actor=admin(), provider="local", enabled=True, config={"base_dir": str(base_dir)}
    )


def local_connect(user: User, folder: str | None = None) -> StorageConnection:
    return storage.storage_connection_save(
        actor=user,
        provider="local",
        config={"folder": folder or f"f-{user.username}"},
        credentials={},
    )


def local_folder(base_dir: Path, conn: StorageConnection) -> Path:
    """Where the local folder provider keeps ``conn``'s files: the owner's namespace."""
    return base_dir / str(conn.user_id) / conn.config["folder"]


def scope_make(owner: User, count: int = 3, prefix: str = "srv") -> dict[tuple[str, str], str]:
    """``count`` resources owned by ``owner``, one account each; returns
    {(resource name, username): password}."""
    made: dict[tuple[str, str], str] = {}
    for i in range(count):
        resource = resource_make(owner, name=f"{prefix}-{i:03d}-{uuid.uuid4().hex[:4]}")
        password = f"pw-{i}-{uuid.uuid4().hex[:8]}"
        account_make(owner, resource, username=f"user{i}", password=password)
        made[(resource.name, f"user{i}")] = password
    return made


def sync_start(user: User, conn: StorageConnection, **kw: Any) -> SyncJob:
    kw.setdefault("passphrase", PASSPHRASE)
    kw.setdefault("reason", "site visit")
    return sync.sync_request(actor=user, connection_id=conn.pk, **kw)


def opened(html: bytes, passphrase: str = PASSPHRASE) -> dict[tuple[str, str], str]:
    payload = offline_file.offline_file_open(html=html, passphrase=passphrase)
    return {(e.name, e.username): e.password for e in payload.entries}


def kept_copy(user: User, conn: StorageConnection, run: Any) -> SyncCopy:
    """A first sync with "keep this copy up to date" ticked; returns its kept copy."""
    job = run(sync_start, user, conn, keep_in_sync=True)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    copy = SyncCopy.objects.get(user=user, connection=conn)
    assert copy.keep_in_sync and copy.auto_state == AutoState.ACTIVE
    return copy


def auto_jobs(copy: SyncCopy) -> list[SyncJob]:
    """The copy's automatic rebuild jobs, oldest first."""
    return list(
        SyncJob.objects.filter(sync_copy=copy, trigger=JobTrigger.AUTO).order_by("created_at")
    )
