"""Huey tasks of sync jobs. The queue carries a job's ID and nothing else; the row holds
the rest (docs/sync.md)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

logger = logging.getLogger(__name__)


@db_task()
def sync_job_execute(job_id: str) -> None:
    """One attempt of a sync job (a no-op unless the job is due)."""
    from strongroom.sync.services import sync_job_run, worker_identity

    sync_job_run(job_id=job_id, worker_id=worker_identity())


@db_periodic_task(crontab(minute="*"))
def sync_jobs_sweep() -> None:
    """Every minute, and every ``STRONGROOM_SYNC_SWEEP_SECONDS`` (15) in between through the
    ticks scheduled here (Huey's periodic tasks have minute granularity): jobs the queue did
    not take or lost, jobs whose worker died, and retries that are due are sent again. With
    the 30-second lease a killed worker's job runs again within a minute."""
    from strongroom.sync import services

    services.sync_jobs_sweep()
    tick = services.sweep_seconds()
    later = tick
    while later < 60:
        sync_jobs_sweep_tick.schedule(delay=later)
        later += tick


@db_task()
def sync_jobs_sweep_tick() -> None:
    """One sweep between two minutes (scheduled by ``sync_jobs_sweep``)."""
    from strongroom.sync import services

    services.sync_jobs_sweep()


@db_task()
def sync_copies_rebuild(copy_ids: list[str]) -> None:
    """Start the debounced rebuilds of these kept copies that are due (a no-op for the
    others: each claim is conditional)."""
    from strongroom.sync.autosync import sync_copy_claim

    for copy_id in copy_ids:
        sync_copy_claim(copy_id=copy_id)


@db_periodic_task(crontab(minute="*"))
def sync_copies_sweep() -> None:
    """Every minute: kept copies that are due (debounce passed, periodic full check,
    reconnected) are rebuilt, whatever queue messages were lost or workers restarted."""
    from strongroom.sync import autosync

    autosync.sync_copies_sweep()
