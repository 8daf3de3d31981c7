"""The password health report's worker tasks (docs/health.md). They take a run's ID or
nothing, never a secret, and call ``services.health_run_compute``."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from strongroom.health import services


@db_task(retries=0)
def health_run(run_id: str) -> str:
    """Compute a queued run (asked for on the page, the API or the CLI). Not retried: a run
    that failed says why, and the next request starts a fresh one."""
    return str(services.health_run_compute(run_id=run_id).state)


@db_periodic_task(crontab(hour="4", minute="7"), retries=0)
def health_run_daily() -> None:
    """A fresh report every day (04:07 UTC), so "old" and new accounts are current without
    anyone asking. Queued like any run; a run already queued or running is reused."""
    services.health_run_request(actor=None)
