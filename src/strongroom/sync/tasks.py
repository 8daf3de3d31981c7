"""Huey tasks of sync jobs and kept copies. The queue carries IDs and nothing else; the rows
hold the rest (docs/sync.md). Each task loads by ID and calls a service; the services reach
the queue only through ``sync.common.job_enqueue`` and ``copies_enqueue``."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from strongroom.sync import copies, services
from strongroom.sync.common import sweep_seconds

logger = logging.getLogger(__name__)


@db_task()
def sync_job_execute(job_id: str) -> None:
    """One attempt of a sync job (a no-op unless the job is due)."""
    services.sync_job_run(job_id=job_id, worker_id=services.worker_identity())


@db_periodic_task(crontab(minute="*"))
def sync_jobs_sweep() -> None:
    """Every minute, and every ``STRONGROOM_SYNC_SWEEP_SECONDS`` (15) in between through the
    ticks scheduled here (Huey's periodic tasks have minute granularity): jobs the queue did
    not take or lost, jobs whose worker died, and retries that are due are sent again. With
    the 30-second lease a killed worker's job runs again within a minute."""
    services.sync_jobs_sweep()
    tick = sweep_seconds()
    later = tick
    while later < 60:
        sync_jobs_sweep_tick.schedule(delay=later)
        later += tick


@db_task()
def sync_jobs_sweep_tick() -> None:
    """One sweep between two minutes (scheduled by ``sync_jobs_sweep``)."""
    services.sync_jobs_sweep()


@db_task()
def sync_copies_rebuild(copy_ids: list[str]) -> None:
    """Start the debounced rebuilds of these kept copies that are due (a no-op for the
    others: each claim is conditional)."""
    for copy_id in copy_ids:
        copies.sync_copy_claim(copy_id=copy_id)


@db_periodic_task(crontab(minute="*"))
def sync_copies_sweep() -> None:
    """Every minute: kept copies that are due (debounce passed, periodic full check,
    reconnected) are rebuilt, whatever queue messages were lost or workers restarted."""
    copies.sync_copies_sweep()
