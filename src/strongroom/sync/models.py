"""Sync jobs: one row per "put my offline copy in my cloud storage" request.

The queue only ever carries a job's ID; everything a worker needs is in the row (the copy's
public key material, the connection, the object name), so a lost queue message or a killed
worker loses nothing: the periodic sweep finds the row again (docs/sync.md).

``copy_keys`` holds ``crypto.offline.CopyKeys.to_dict()``: the public key, the private key
wrapped under the user's passphrase, the salt and the iteration count. None of it opens the
file without the passphrase, which the server never keeps. ``build_key`` is the copy's
version 2 build key, sealed at rest like every secret (``sync.keys``): producing a file
that opens needs it (docs/offline-file-format.md, threat model); it does not open files.

``format`` is the copy's format: "html" (the encrypted web page) or "kdbx" (a KeePass
database, docs/offline-kdbx.md). A KeePass copy's ``copy_keys`` holds
``crypto.kdbx.KdbxKeys.to_dict()`` (Argon2id salt and parameters, cipher) and ``kdbx_key``
its transformed key, sealed at rest: it opens that copy's files (it is what a KeePass app
derives from the passphrase), so it is kept like any other secret; it is not the passphrase.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from strongroom.core.models import SealedField


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRY_WAIT = "retry_wait", "Waiting to retry"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.RETRY_WAIT)
FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class CopyFormat(models.TextChoices):
    HTML = "html", "Encrypted web page (.html)"
    KDBX = "kdbx", "KeePass database (.kdbx)"


class JobTrigger(models.TextChoices):
    MANUAL = "manual", "Requested"
    AUTO = "auto", "Automatic update"
    RESYNC = "resync", "Re-sync now"
    REKEY = "rekey", "New passphrase"


class SyncJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_jobs"
    )
    # The history outlives a connection the user removed; ``provider`` keeps its name.
    connection = models.ForeignKey(
        "storage.StorageConnection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sync_jobs",
    )
    provider = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set when a worker claims the job; a running job whose lease expired belongs to a
    # worker that died and is taken back by the sweep.
    # A running worker renews it (heartbeat) every third of the lease; every write of a
    # running job's outcome is conditional on (id, worker_id, attempts), its lease token.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=200, blank=True)
    # The outbox: when the queue accepted the message of this job's pending attempt. Empty
    # while the queue has not taken it (queue down, process died after the commit): the
    # sweep sends it then. The job itself is durable in the database either way.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # The client's ``Idempotency-Key`` (POST /api/v1/sync): a retry of the same request
    # returns this job instead of creating another.
    idempotency_key = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=1000, blank=True)
    copy_keys = models.JSONField()
    build_key = SealedField()
    format = models.CharField(max_length=8, choices=CopyFormat.choices, default=CopyFormat.HTML)
    kdbx_key = SealedField()
    object_name = models.CharField(max_length=500)
    # What started the job; automatic ones (auto-sync) point at the copy they rebuild.
    trigger = models.CharField(max_length=16, choices=JobTrigger.choices, default=JobTrigger.MANUAL)
    sync_copy = models.ForeignKey(
        "SyncCopy", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    # The user's "keep this copy up to date" choice made with a manual sync.
    keep_in_sync = models.BooleanField(default=False)
    result_location = models.CharField(max_length=1000, blank=True)
    result_size = models.BigIntegerField(null=True, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    entry_count = models.PositiveIntegerField(null=True, blank=True)
    # Safe, user-facing text (never a credential): what went wrong and what to do.
    last_error = models.CharField(max_length=1000, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strongroom_sync_job"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="sync_job_user_recent"),
            models.Index(fields=["state", "next_attempt_at"], name="sync_job_state_due"),
            models.Index(fields=["state", "dispatched_at"], name="sync_job_outbox"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="sync_job_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"sync job {self.pk} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class AutoState(models.TextChoices):
    OFF = "off", "Not kept in sync"
    ACTIVE = "active", "Kept in sync"
    PAUSED = "paused", "Paused: reconnect the storage"
    STOPPED = "stopped", "Stopped"


class SyncCopy(models.Model):
    """The current synced copy of one user on one connection: where it is and the key
    material (public only) that later rebuilds (auto-sync) need, so that the same passphrase
    opens every version without the server ever holding it.

    Auto-sync (docs/sync.md, "Auto-synchronisation"): every change to what the user may see
    adds one to ``change_seq`` and, if no rebuild is pending, sets ``due_at`` to now plus the
    debounce. A claim (one transaction, row locked) copies ``change_seq`` into ``built_seq``,
    clears ``due_at`` and creates the upload's SyncJob, so the copy is current when
    ``built_seq == change_seq`` and its last job succeeded."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_copies"
    )
    connection = models.ForeignKey(
        "storage.StorageConnection", on_delete=models.CASCADE, related_name="sync_copies"
    )
    object_name = models.CharField(max_length=500)
    copy_keys = models.JSONField()
    build_key = SealedField()
    format = models.CharField(max_length=8, choices=CopyFormat.choices, default=CopyFormat.HTML)
    kdbx_key = SealedField()
    location = models.CharField(max_length=1000, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    last_job = models.ForeignKey(
        SyncJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    keep_in_sync = models.BooleanField(default=False)
    auto_state = models.CharField(max_length=16, choices=AutoState.choices, default=AutoState.OFF)
    # Why the copy is paused or stopped (safe, user-facing text) and a short code.
    state_code = models.CharField(max_length=40, blank=True)
    state_message = models.CharField(max_length=1000, blank=True)
    change_seq = models.BigIntegerField(default=0)
    built_seq = models.BigIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    # Skip the debounce window once (re-sync now, new passphrase, reconnected).
    urgent = models.BooleanField(default=False)
    # When the last automatic rebuild was claimed: at most one per debounce window, and the
    # periodic full check counts from it.
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    last_error_code = models.CharField(max_length=40, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strongroom_sync_copy"
        constraints = [
            models.UniqueConstraint(fields=["user", "connection"], name="sync_copy_unique")
        ]
        indexes = [
            models.Index(fields=["auto_state", "due_at"], name="sync_copy_state_due"),
        ]

    def __str__(self) -> str:
        return f"synced copy {self.pk} ({self.auto_state})"

    @property
    def is_current(self) -> bool:
        return self.built_seq >= self.change_seq and self.due_at is None
