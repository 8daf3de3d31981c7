"""Audit anchors in the worker: every few minutes when the chain moved, and after every
``STRONGROOM_AUDIT_ANCHOR_EVERY`` records (queued by ``audit_record`` on commit)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from strongroom.audit.anchors import audit_anchor


@db_task(retries=3, retry_delay=60)
def audit_anchor_task() -> None:
    audit_anchor(why="records")


@db_periodic_task(crontab(minute="*/10"), retries=2, retry_delay=60)
def audit_anchor_periodic() -> None:
    """Every 10 minutes; nothing is written when no record was added since the last one."""
    audit_anchor(why="periodic")
