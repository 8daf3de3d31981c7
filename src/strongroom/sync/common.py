"""What every part of sync shares: its settings, provider labels, the connection check and
refusal audit of a request, and the one seam through which jobs and rebuilds reach the queue.

This is the floor of the sync app: it imports no other sync module except ``models``, so
``services`` (jobs), ``copies`` (kept copies) and ``selectors`` all stand on it without
importing each other in a circle. The queue seam (``job_enqueue``, ``copies_enqueue``) is
the only place below ``tasks`` that names a task; it imports ``sync.tasks`` when it is
called, never at module level (tests/sync/test_sync_layers.py holds that line).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from strongroom.accounts.models import User
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import AppError, AuditUnavailable, ErrorCode, NotFound, ValidationFailed
from strongroom.exports import policy as export_policy
from strongroom.storage.models import StorageConnection
from strongroom.sync.models import JobState, SyncJob

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


# --------------------------------------------------------------------------- settings


def setting(name: str, default: float) -> float:
    """``STRONGROOM_SYNC_*`` from the Django settings, else the environment, else default."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value in (None, ""):
        return default
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    # A provider asking for longer than this is waited for this long at most.
    retry_after_cap_seconds: float = 6 * 3600.0

    @classmethod
    def current(cls) -> RetryPolicy:
        return cls(
            max_attempts=max(1, int(setting("STRONGROOM_SYNC_MAX_ATTEMPTS", 5))),
            base_seconds=setting("STRONGROOM_SYNC_BACKOFF_BASE_SECONDS", 30.0),
            cap_seconds=setting("STRONGROOM_SYNC_BACKOFF_CAP_SECONDS", 3600.0),
        )


def lease_seconds() -> float:
    """How long a claimed job belongs to its worker without a heartbeat before the sweep may
    take it back (``STRONGROOM_SYNC_LEASE_SECONDS``, default 30). A running attempt renews it
    every third of that, however long its upload takes; a worker that dies holds its job
    at most this long."""
    return max(0.5, setting("STRONGROOM_SYNC_LEASE_SECONDS", 30.0))


def sweep_seconds() -> float:
    """How often the sweep runs (``STRONGROOM_SYNC_SWEEP_SECONDS``, default 15): a killed
    worker's job is running again within about lease + this."""
    return max(1.0, setting("STRONGROOM_SYNC_SWEEP_SECONDS", 15.0))


def outbox_grace() -> float:
    """How old a job the queue has not taken must be before the sweep sends it
    (``STRONGROOM_SYNC_OUTBOX_GRACE_SECONDS``, default 5): the request's own hand-off
    normally follows its commit within milliseconds."""
    return max(0.0, setting("STRONGROOM_SYNC_OUTBOX_GRACE_SECONDS", 5.0))


def debounce_seconds() -> float:
    """Seconds between a change and the rebuild it causes, and the least time between two
    automatic uploads of one copy (``STRONGROOM_SYNC_DEBOUNCE_SECONDS``, default 60)."""
    return max(0.0, setting("STRONGROOM_SYNC_DEBOUNCE_SECONDS", 60.0))


def full_check_seconds(policy: export_policy.Policy | None = None) -> float:
    """How often every kept copy is rebuilt even with no known change
    (``STRONGROOM_SYNC_FULL_CHECK_SECONDS``, default one day), and never less often than
    half the policy's maximum age, so a kept copy never reaches its expiry."""
    seconds = max(60.0, setting("STRONGROOM_SYNC_FULL_CHECK_SECONDS", 86400.0))
    policy = policy or export_policy.policy_get()
    if policy.max_age_days > 0:
        seconds = min(seconds, policy.max_age_days * 86400.0 / 2)
    return seconds


# --------------------------------------------------------------------------- connections


def provider_label(name: str) -> str:
    """The provider's name as people read it ("Amazon S3"); the key itself if unknown."""
    from strongroom.storage import registry

    try:
        return str(registry.provider_class(name).label)
    except (KeyError, ImportError):
        return name


def sync_advice(code: str, label: str) -> str:
    """What the user can do about a failed sync with error ``code`` on provider ``label``
    (the failure notification and the Synced copies page say the same)."""
    if code in ("export_refused", "user_inactive"):
        return "Ask an administrator if you need an offline copy."
    if code == "storage_not_found":
        return f"Check that the bucket or folder still exists in {label}, then sync again."
    if code == "needs_passphrase":
        return "Set the copy's passphrase again under Synced copies; it then resumes."
    if code == "connection_removed" or code.startswith("copy_keys"):
        return "Sync again from the Export menu."
    if code in ("storage_auth", "storage_permission", "needs_reauth"):
        return f"Reconnect {label} under Settings → Cloud storage, then sync again."
    return "Sync again later; if it keeps failing, ask an administrator."


def connection_for(*, actor: User, connection_id: Any) -> StorageConnection:
    """The actor's own connection, usable now: NotFound for another user's or a missing
    one, a refusal when the administrator turned its provider off or it needs
    re-authorisation."""
    try:
        pk = uuid.UUID(str(connection_id))
    except ValueError as exc:
        raise NotFound("storage connection not found", field="connection_id") from exc
    found = StorageConnection.objects.filter(pk=pk, user_id=actor.pk).first()
    if found is None:
        raise NotFound("storage connection not found", field="connection_id")
    from strongroom.storage.registry import providers_available

    label = provider_label(found.provider)
    if found.provider not in providers_available():
        raise ValidationFailed(
            f"the administrator has turned off {label}; choose another provider",
            code=ErrorCode.PROVIDER_DISABLED,
            field="connection_id",
            refusal="provider_disabled",
        )
    if found.status != StorageConnection.Status.CONNECTED:
        raise ValidationFailed(
            f"your {label} connection needs to be reconnected before you can sync",
            code=ErrorCode.CONNECTION_NEEDS_REAUTH,
            field="connection_id",
            refusal="connection_needs_reauth",
        )
    return found


def refusal_audit(
    *, actor: User, exc: AppError, reason: Any, client_ip: str | None, connection_id: Any
) -> None:
    """Audit a refused sync request or re-key (outcome failure). A failure to audit it is
    logged; the request stays refused either way."""
    try:
        audit_record(
            actor=actor,
            action=AuditAction.SYNC_REQUEST,
            object_type="sync_job",
            object_name=str(connection_id)[:64],
            reason=reason if isinstance(reason, str) and "\x00" not in reason else "",
            client_ip=client_ip,
            details={"refusal": exc.details.get("refusal") or exc.code, "problem": exc.message},
            outcome="failure",
        )
    except AuditUnavailable:
        logger.error("could not audit a refused sync request by user %s", actor.pk)


# --------------------------------------------------------------------------- the queue seam


def job_enqueue(job_id: Any, *, attempt: int, eta: datetime | None = None) -> bool:
    """Hand the pending attempt of a committed job to the queue (the job's ID only) and,
    once the queue took it, record ``dispatched_at``. A queue that refuses or cannot be
    reached is logged, not raised: the job is durable in the database and the sweep sends
    it when the queue is back, so a request never fails (or gets retried into a second job)
    because of the queue. Returns whether the queue took it."""
    from strongroom.sync.tasks import sync_job_execute

    try:
        if eta is None:
            sync_job_execute(str(job_id))
        else:
            sync_job_execute.schedule((str(job_id),), eta=eta)
    except Exception as exc:  # noqa: BLE001  any broker failure (Redis down, SQLite queue locked)
        logger.warning(
            "sync job %s: the queue did not take it (%s); the sweep will send it",
            job_id,
            type(exc).__name__,
        )
        return False
    # Only for the attempt this message is for: a job already claimed is delivered anyway.
    SyncJob.objects.filter(
        pk=job_id, attempts=attempt, state__in=(JobState.QUEUED, JobState.RETRY_WAIT)
    ).update(dispatched_at=timezone.now())
    return True


def copies_enqueue(copy_ids: list[Any], eta: datetime | None) -> None:
    """Schedule the rebuild of these kept copies for ``eta`` (now when None): one queue
    message per 500 copies (their IDs only), so a change that many people see costs the
    request a few queue writes, not one per copy.

    A queue that is down is logged, not raised (this runs after the change committed, so
    raising would only turn a saved change into an error page): ``due_at`` is in the
    database and ``sync_copies_sweep`` starts every due rebuild when the queue is back."""
    from strongroom.sync.tasks import sync_copies_rebuild

    for start in range(0, len(copy_ids), 500):
        chunk = [str(pk) for pk in copy_ids[start : start + 500]]
        try:
            if eta is None or eta <= timezone.now():
                sync_copies_rebuild(chunk)
            else:
                sync_copies_rebuild.schedule((chunk,), eta=eta)
        except Exception as exc:  # noqa: BLE001  any broker failure (Redis down, SQLite queue locked)
            logger.warning(
                "auto-sync: the queue did not take %d rebuilds (%s); the sweep starts them",
                len(copy_ids) - start,
                type(exc).__name__,
            )
            return
