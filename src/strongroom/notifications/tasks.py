"""Huey tasks of email notifications: the queue carries an outbox row's ID, nothing else."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from strongroom.notifications import email, services


@db_task()
def email_outbox_send(outbox_id: str) -> None:
    """Send one queued email; on an SMTP outage, try again when its retry is due (the row
    records when; the minute sweep sends it even if this scheduled retry is lost)."""
    delivery = email.outbox_deliver(outbox_id=outbox_id)
    if delivery.state == "retry":
        email_outbox_send.schedule((outbox_id,), delay=delivery.retry_in)


@db_periodic_task(crontab(minute="*"))
def email_outbox_sweep() -> None:
    """Every minute: emails that are due and were not sent (lost queue message, restarted
    worker, expired lease) are sent."""
    email.outbox_sweep()


@db_periodic_task(crontab(minute="17", hour="3"))
def audit_chain_check_daily() -> None:
    """Every night: verify the audit chain and tell the administrators if it fails."""
    services.audit_chain_check()
