"""The scheduled directory sync in the worker (hourly); admins can also run it now."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from strongroom.directory.services import directory_sync


@db_periodic_task(crontab(minute="17"), retries=2, retry_delay=300)
def directory_sync_periodic() -> None:
    """Every hour: leavers lose access within the hour (a disabled directory does nothing)."""
    directory_sync(actor=None)
