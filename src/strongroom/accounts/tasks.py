"""Accounts housekeeping tasks run by the Huey worker (``strongroom worker``, ``serve``).

Tasks take IDs or nothing, never secrets, and call plain functions that tests (and the CLI)
can run directly.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from strongroom.accounts.models import LoginAttempt

logger = logging.getLogger(__name__)

# Login attempts only feed the throttle (a window of minutes) and recent-failure reports;
# the audit trail keeps the lasting record of every login.
LOGIN_ATTEMPT_RETENTION_DAYS = 30


def login_attempts_purge(*, older_than_days: int = LOGIN_ATTEMPT_RETENTION_DAYS) -> int:
    """Delete login attempts older than ``older_than_days``; returns how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = LoginAttempt.objects.filter(at__lt=cutoff).delete()
    if deleted:
        logger.info("purged %d login attempts older than %d days", deleted, older_than_days)
    return deleted


@db_task(retries=2, retry_delay=60)
def purge_login_attempts(older_than_days: int = LOGIN_ATTEMPT_RETENTION_DAYS) -> int:
    """On demand; the result (how many were deleted) is kept for the caller."""
    return login_attempts_purge(older_than_days=older_than_days)


@db_periodic_task(crontab(hour="3", minute="17"), retries=2, retry_delay=300)
def purge_login_attempts_daily() -> None:
    """Daily at 03:17 UTC (an odd minute, away from the top-of-hour rush). Huey keeps no
    results for periodic tasks, hence the separate on-demand task above."""
    login_attempts_purge()
