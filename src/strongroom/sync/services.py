"""Sync jobs: put a user's encrypted offline copy into their own cloud storage.

``sync_request`` runs in the request (web, API, CLI): it applies the export policy (export
allowed, reason, passphrase rules), turns the passphrase into the copy's keys
(``crypto.offline.copy_keys_create``: public key + wrapped private key) and forgets it,
writes the audit record, creates the job row and, once the transaction commits, hands the
job's ID to the queue. The passphrase never reaches the row, the queue, a log or an error.

The database is the outbox: a committed job is accepted whatever the queue does. The hand-off
(``common.job_enqueue``) records ``dispatched_at`` when the queue took the message; a queue that is
down is logged, not raised, and ``sync_jobs_sweep`` sends what the queue did not take.

``sync_job_run`` runs in the worker: it claims the row with a short lease (renewed by a
heartbeat while the attempt runs), builds the file from the stored public key with the
user's *current* scope and policy, uploads it through the provider (atomic replace +
verify), and records the outcome with a compare-and-set on (id, worker, attempt), so a
worker that lost the job can never record over the one that has it. Transient storage
errors are retried with exponential backoff and jitter (never sooner than the provider's
``Retry-After``); auth and permission errors are not retried: the connection is marked
``needs_reauth`` and the user is told to reconnect. ``sync_jobs_sweep`` (every
``STRONGROOM_SYNC_SWEEP_SECONDS``) sends undelivered and due jobs and takes back jobs whose
worker died (expired lease), so neither a killed worker nor a lost queue message nor a queue
outage loses a job. docs/sync.md has the state machine.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db import connection as db_connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import AppError, AuditUnavailable, Conflict, ErrorCode, ValidationFailed
from strongroom.crypto import kdbx, offline
from strongroom.exports import policy as export_policy
from strongroom.exports import selectors as export_selectors
from strongroom.exports.offline_copy import OfflineCopy, copy_keys_make, offline_copy_build
from strongroom.exposure.models import Destination
from strongroom.exposure.services import BuildDestination, build_delivered, build_not_delivered
from strongroom.notifications.services import notification_post
from strongroom.storage import base as storage_base
from strongroom.storage.models import StorageConnection
from strongroom.sync.common import (
    Clock,
    RetryPolicy,
    connection_for,
    job_enqueue,
    lease_seconds,
    outbox_grace,
    provider_label,
    refusal_audit,
    sync_advice,
)
from strongroom.sync.copies import sync_copy_for_request, sync_copy_job_ended
from strongroom.sync.keys import (
    KEY_FIELDS,
    NEEDS_PASSPHRASE,
    NEEDS_PASSPHRASE_MESSAGE,
    copy_keys_can_build,
    copy_keys_copy,
    copy_keys_fingerprint,
    copy_keys_load,
    copy_keys_store,
    passphrase_reuse_refuse,
)
from strongroom.sync.models import ACTIVE_STATES, JobState, SyncCopy, SyncJob
from strongroom.sync.selectors import sync_job_get

logger = logging.getLogger(__name__)

HISTORY_LINK = "/sync/history/"

_system_random = random.SystemRandom()


# --------------------------------------------------------------------------- settings


def retry_delay(
    *, attempt: int, retry_after: float | None, policy: RetryPolicy, rand: random.Random
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential backoff with "equal
    jitter" (half fixed, half random, so retries of many jobs spread out but never come
    back at once), and never sooner than the provider's ``Retry-After``."""
    backoff = min(policy.cap_seconds, policy.base_seconds * (2 ** max(0, attempt - 1)))
    delay = backoff / 2 + rand.uniform(0, backoff / 2)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(float(retry_after), policy.retry_after_cap_seconds))
    return delay


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


# --------------------------------------------------------------------------- helpers


def object_name_for(conn: StorageConnection, fmt: str = "html") -> str:
    """One stable name per connection and format (the storage app's, which "delete the
    synced copy" also uses), so every sync replaces the previous copy."""
    from strongroom.storage.services import synced_object_name

    return synced_object_name(conn, fmt)


# --------------------------------------------------------------------------- request


IDEMPOTENCY_KEY_MAX = 200


def _idempotency_key_clean(key: Any) -> str:
    if key is None or key == "":
        return ""
    if (
        not isinstance(key, str)
        or len(key) > IDEMPOTENCY_KEY_MAX
        or not key.isascii()
        or not key.isprintable()
    ):
        raise ValidationFailed(
            f"the Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
            code=ErrorCode.IDEMPOTENCY_KEY_INVALID,
            field="Idempotency-Key",
        )
    return key


def _idempotent_replay(*, actor: User, key: str, connection_id: Any) -> SyncJob | None:
    """The job an earlier request with this key created, if any (a client's retry)."""
    if not key:
        return None
    found = SyncJob.objects.filter(user_id=actor.pk, idempotency_key=key).first()
    if found is None:
        return None
    if str(found.connection_id) != str(connection_id):
        raise Conflict(
            "this Idempotency-Key was used for a sync to another connection; use a new key",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
    logger.info("sync request by user %s replayed: job %s", actor.pk, found.pk)
    return found


def sync_request(
    *,
    actor: User,
    connection_id: Any,
    passphrase: str,
    reason: str = "",
    client_ip: str | None = None,
    keep_in_sync: bool = False,
    fmt: Any = "html",
    idempotency_key: str = "",
) -> SyncJob:
    """Check the policy, make the copy's keys from ``passphrase`` (then forgotten), audit,
    create the job and hand its ID to the queue on commit. Raises the export policy's
    errors. The job is accepted once it is committed, whether or not the queue is up.

    With ``keep_in_sync`` the copy is kept up to date from now on (``sync.copies``): the
    server keeps its public key and wrapped private key, never the passphrase.

    With ``idempotency_key`` a repeated request (a client retrying after a lost answer)
    returns the job the first one created instead of starting another."""
    key = _idempotency_key_clean(idempotency_key)
    replay = _idempotent_replay(actor=actor, key=key, connection_id=connection_id)
    if replay is not None:
        return replay
    try:
        conn = connection_for(actor=actor, connection_id=connection_id)
        current = export_policy.policy_get()
        export_policy.export_require(user=actor, policy=current)
        fmt_clean = export_policy.offline_format_clean(fmt, policy=current)
        clean_reason = export_policy.reason_clean(reason, policy=current)
        export_policy.passphrase_require(user=actor, passphrase=passphrase, policy=current)
        passphrase_reuse_refuse(user_id=actor.pk, passphrase=passphrase)
    except AppError as exc:
        refusal_audit(
            actor=actor, exc=exc, reason=reason, client_ip=client_ip, connection_id=connection_id
        )
        logger.info("sync request by user %s refused: %s", actor.pk, exc.code)
        raise
    copy_keys = copy_keys_make(passphrase=passphrase, fmt=fmt_clean, policy=current)
    del passphrase  # from here on only the public key material exists
    retry = RetryPolicy.current()
    job_id = uuid.uuid4()
    try:
        job = _request_commit(
            actor=actor,
            conn=conn,
            job_id=job_id,
            copy_keys=copy_keys,
            clean_reason=clean_reason,
            client_ip=client_ip,
            keep_in_sync=keep_in_sync,
            max_attempts=retry.max_attempts,
            idempotency_key=key,
            fmt_clean=fmt_clean,
        )
    except IntegrityError:
        # The same key raced in from a concurrent request, whose job won.
        replay = _idempotent_replay(actor=actor, key=key, connection_id=connection_id)
        if replay is None:
            raise
        return replay
    logger.info("sync job %s queued for user %s (%s)", job.pk, actor.pk, conn.provider)
    return job


def _request_commit(
    *,
    actor: User,
    conn: StorageConnection,
    job_id: uuid.UUID,
    copy_keys: offline.CopyKeys | kdbx.KdbxKeys,
    clean_reason: str,
    client_ip: str | None,
    keep_in_sync: bool,
    max_attempts: int,
    idempotency_key: str,
    fmt_clean: str,
) -> SyncJob:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SYNC_REQUEST,
            object_type="sync_job",
            object_id=str(job_id),
            object_name=conn.provider,
            reason=clean_reason,
            client_ip=client_ip,
            details={
                "provider": conn.provider,
                "connection_id": str(conn.pk),
                "format": fmt_clean,
                "kdf_iterations": copy_keys.iterations,
                "key_fingerprint": copy_keys.fingerprint,
                "keep_in_sync": bool(keep_in_sync),
            },
        )
        sync_copy = None
        if keep_in_sync:
            sync_copy = sync_copy_for_request(
                user=actor,
                conn=conn,
                copy_keys=copy_keys,
                object_name=object_name_for(conn, fmt_clean),
            )
        job = SyncJob(
            id=job_id,
            user=actor,
            connection=conn,
            provider=conn.provider,
            reason=clean_reason,
            object_name=object_name_for(conn, fmt_clean),
            max_attempts=max_attempts,
            keep_in_sync=bool(keep_in_sync),
            sync_copy=sync_copy,
            idempotency_key=idempotency_key,
        )
        copy_keys_store(job, copy_keys)
        job.save(force_insert=True)
        transaction.on_commit(lambda: job_enqueue(job_id, attempt=0))
    return job


# --------------------------------------------------------------------------- run


def _locked(queryset: QuerySet[SyncJob]) -> QuerySet[SyncJob]:
    """Row locks where the database has them; SQLite's IMMEDIATE transactions already
    serialise every writer (settings: ``transaction_mode``)."""
    if db_connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset


def _claim(*, job_id: Any, worker_id: str, now: datetime) -> SyncJob | None:
    with transaction.atomic():
        # Wait for the row, never skip it: whoever holds it (the sweep that has just sent
        # this message, the dispatcher recording dispatched_at) lets go in moments, and a
        # skipped row would drop the message until the sweep's resend, 30 s later.
        job = SyncJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return None
        due = job.state == JobState.QUEUED or (
            job.state == JobState.RETRY_WAIT
            and (job.next_attempt_at is None or job.next_attempt_at <= now + timedelta(seconds=1))
        )
        if not due:
            logger.debug("sync job %s not claimable (%s)", job.pk, job.state)
            return None
        job.state = JobState.RUNNING
        # (worker_id, attempts) is the lease token: every later write of this attempt's
        # outcome, and every renewal, is conditional on it.
        job.attempts += 1
        job.worker_id = worker_id[:200]
        job.lease_expires_at = now + timedelta(seconds=lease_seconds())
        job.next_attempt_at = None
        job.dispatched_at = job.dispatched_at or now
        job.started_at = job.started_at or now
        job.save()
    logger.info("sync job %s claimed by worker %s (attempt %d)", job.pk, worker_id, job.attempts)
    return job


def _still_mine(
    job_id: Any, worker_id: str, attempt: int, *, succeeded: bool = False
) -> SyncJob | None:
    """Inside a transaction: the job, locked, if this attempt still holds it. This is the
    compare-and-set on (id, worker, attempt) that every outcome goes through, so a worker
    that lost the job (its lease expired, another attempt claimed it) records nothing.

    A success is also taken when the sweep took the job back (the worker looked dead) but
    no other attempt has claimed it since: the upload landed, so the job is done, and the
    retry the sweep queued finds nothing to do instead of uploading and auditing again."""
    job = SyncJob.objects.select_for_update().filter(pk=job_id).first()
    if job is not None and job.worker_id == worker_id[:200] and job.attempts == attempt:
        if job.state == JobState.RUNNING:
            return job
        if succeeded and job.state == JobState.RETRY_WAIT and job.error_code == "worker_lost":
            logger.info("sync job %s: attempt %d finished after it was taken back", job_id, attempt)
            return job
    logger.warning(
        "sync job %s: worker %s no longer holds attempt %d; its result is dropped",
        job_id,
        worker_id,
        attempt,
    )
    return None


class _LeaseLost(Exception):
    """The attempt no longer holds its job (taken back, or claimed by another attempt)."""


class _Lease:
    """The claim's lease, kept alive while the attempt works: a background thread renews it
    every third of ``lease_seconds()`` (an upload may take far longer than the lease), and
    each renewal is conditional on (id, worker, attempt, running). A renewal that finds the
    job no longer this attempt's marks the lease lost, and the attempt stops at its next
    step (before the audit record, before the upload).

    When the attempt runs inside an enclosing transaction (Huey's immediate mode in tests
    and scripts), another connection could not see the claim, so the lease is renewed from
    the attempt's own thread between steps instead."""

    def __init__(self, *, job: SyncJob, worker_id: str, clock: Clock) -> None:
        self.job_id = job.pk
        self.worker_id = worker_id[:200]
        self.attempt = job.attempts
        self.clock = clock
        self.seconds = lease_seconds()
        self.lost = threading.Event()
        self.renewals = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.inline = db_connection.in_atomic_block
        # When the claim set the lease (no extra clock reading).
        self._renewed_at = (job.lease_expires_at or clock()) - timedelta(seconds=self.seconds)

    def renew(self) -> bool:
        if self.lost.is_set():
            return False
        held = SyncJob.objects.filter(
            pk=self.job_id, state=JobState.RUNNING, worker_id=self.worker_id, attempts=self.attempt
        ).update(lease_expires_at=self.clock() + timedelta(seconds=self.seconds))
        if not held:
            self.lost.set()
            logger.warning(
                "sync job %s: worker %s lost its lease (attempt %d)",
                self.job_id,
                self.worker_id,
                self.attempt,
            )
            return False
        self.renewals += 1
        return True

    def check(self) -> None:
        """Between steps: raise ``_LeaseLost`` if the job is no longer this attempt's."""
        if self.inline:
            now = self.clock()
            if now >= self._renewed_at + timedelta(seconds=self.seconds / 3):
                self._renewed_at = now
                self.renew()
        if self.lost.is_set():
            raise _LeaseLost

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.seconds / 3):
                try:
                    if not self.renew():
                        return
                except DatabaseError as exc:
                    # Not renewed this time; the lease still has two thirds left.
                    logger.warning(
                        "sync job %s: lease not renewed (%s)", self.job_id, type(exc).__name__
                    )
        finally:
            connections.close_all()  # this thread's own connection

    def __enter__(self) -> _Lease:
        if not self.inline:
            self._thread = threading.Thread(
                target=self._beat, name=f"sync-lease-{self.job_id}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.seconds)


class _JobFailed(Exception):
    """A failure decided before or around the upload: (code, safe message, retryable)."""

    def __init__(
        self, code: str, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


def _build(*, job: SyncJob, user: User, conn: StorageConnection, now: datetime) -> OfflineCopy:
    """The file of the user's current scope under the current policy, from the job's public
    key. Policy refusals become job failures."""
    if not user.is_active:
        raise _JobFailed("user_inactive", "the account is deactivated; nothing was uploaded")
    current = export_policy.policy_get()
    try:
        export_policy.export_require(user=user, policy=current)
    except AppError as exc:
        raise _JobFailed("export_refused", exc.message) from exc
    if not copy_keys_can_build(job):
        raise _JobFailed(NEEDS_PASSPHRASE, NEEDS_PASSPHRASE_MESSAGE)
    keys = copy_keys_load(job)
    try:
        return offline_copy_build(
            user=user,
            keys=keys,
            scope=export_selectors.ExportScope(),
            policy=current,
            generated_at=now,
            destination=BuildDestination(
                kind=Destination.STORAGE,
                object_name=job.object_name,
                provider=job.provider,
                connection_id=conn.pk,
                connection_label=conn.account_label or provider_label(job.provider),
                sync_job_id=job.pk,
                sync_copy_id=job.sync_copy_id,
            ),
        )
    except ValueError as exc:
        if isinstance(keys, kdbx.KdbxKeys):
            raise
        # e.g. the administrator raised the PBKDF2 minimum after this copy was keyed.
        raise _JobFailed(
            "copy_keys_outdated",
            f"this copy's key no longer meets the export policy ({exc}); sync again with "
            "your passphrase",
        ) from exc


def _upload(
    *, job: SyncJob, conn: StorageConnection, built: OfflineCopy
) -> storage_base.ObjectInfo:
    from strongroom.storage.registry import provider_for_connection

    provider = provider_for_connection(conn)
    info = provider.put(job.object_name, built.content)
    # The provider took the file: from here on it counts as exposed in the register, even
    # if the check below fails (a wrong-sized object may still be readable).
    build_delivered(build_id=built.build_id, object_name=info.location or info.name)
    # The provider verified what landed; this guards against a provider that did not.
    if info.size != len(built.content):
        raise storage_base.StorageTransientError(
            f"the stored copy is {info.size} bytes, {len(built.content)} were sent"
        )
    algorithm = (info.hash_algorithm or "").lower()
    if algorithm == "sha256" and info.content_hash and info.content_hash.lower() != built.sha256:
        raise storage_base.StorageTransientError("the stored copy's SHA-256 differs")
    _previous_format_delete(job=job, provider=provider)
    return info


def _previous_format_delete(*, job: SyncJob, provider: storage_base.Provider) -> None:
    """The copy changed format on this connection (html <-> kdbx): once the new file is in
    place, delete the old one, which would otherwise keep an outdated scope (best effort)."""
    previous = (
        SyncJob.objects.filter(
            user_id=job.user_id, connection_id=job.connection_id, state=JobState.SUCCEEDED
        )
        .exclude(pk=job.pk)
        .order_by("-finished_at")
        .values_list("object_name", flat=True)
        .first()
    )
    if not previous or previous == job.object_name:
        return
    try:
        provider.delete(previous)
    except storage_base.StorageNotFound:
        return
    except storage_base.StorageError as exc:
        logger.warning("sync job %s: previous copy not deleted: %s", job.pk, exc.code)


def sync_job_run(
    *,
    job_id: Any,
    worker_id: str,
    clock: Clock = timezone.now,
    rand: random.Random | None = None,
) -> SyncJob | None:
    """Run one attempt of the job if it is due (a no-op otherwise, so running the same job
    twice is harmless). Returns the job as left, or None when there was nothing to do.

    ``clock`` and ``rand`` exist so tests compute the retry schedule exactly."""
    job = _claim(job_id=job_id, worker_id=worker_id, now=clock())
    if job is None:
        return None
    user = User.objects.get(pk=job.user_id)
    conn = (
        StorageConnection.objects.filter(pk=job.connection_id).first()
        if job.connection_id
        else None
    )
    attempt = job.attempts
    built: OfflineCopy | None = None
    try:
        with _Lease(job=job, worker_id=worker_id, clock=clock) as lease:
            if conn is None:
                raise _JobFailed(
                    "connection_removed", "the storage connection was removed; connect it again"
                )
            built = _build(job=job, user=user, conn=conn, now=clock())
            lease.check()
            info = _audit_and_upload(job=job, user=user, conn=conn, built=built, lease=lease)
    except _LeaseLost:
        logger.warning(
            "sync job %s: attempt %d by worker %s stopped: the job was taken back",
            job.pk,
            attempt,
            worker_id,
        )
        return None
    except (_JobFailed, storage_base.StorageError) as exc:
        if built is not None:
            # The register keeps the build as built, not uploaded (docs/exposure.md).
            build_not_delivered(build_id=built.build_id, problem=exc.code)
        return _attempt_failed(
            job=job, user=user, exc=exc, worker_id=worker_id, clock=clock, rand=rand
        )
    return _after_success(
        job=job, user=user, conn=conn, built=built, info=info, worker_id=worker_id, now=clock()
    )


def _attempt_failed(
    *,
    job: SyncJob,
    user: User,
    exc: _JobFailed | storage_base.StorageError,
    worker_id: str,
    clock: Clock,
    rand: random.Random | None,
) -> SyncJob | None:
    if isinstance(exc, _JobFailed):
        return _after_failure(
            job=job, user=user, failure=exc, worker_id=worker_id, clock=clock, rand=rand
        )
    if isinstance(exc, storage_base.StorageAuthError | storage_base.StoragePermissionError):
        return _after_auth_failure(job=job, user=user, exc=exc, worker_id=worker_id)
    if isinstance(exc, storage_base.StorageTransientError):
        transient = _JobFailed(exc.code, exc.message, retryable=True, retry_after=exc.retry_after)
        return _after_failure(
            job=job, user=user, failure=transient, worker_id=worker_id, clock=clock, rand=rand
        )
    return _after_failure(
        job=job,
        user=user,
        failure=_JobFailed(exc.code, exc.message),
        worker_id=worker_id,
        clock=clock,
        rand=rand,
    )


def _audit_and_upload(
    *, job: SyncJob, user: User, conn: StorageConnection, built: OfflineCopy, lease: _Lease
) -> storage_base.ObjectInfo:
    """Audit first (fail closed: no record, no upload), then upload, checking between the
    two that the attempt still holds the job."""
    try:
        audit_record(
            actor=user,
            action=AuditAction.SYNC_UPLOAD,
            object_type="sync_job",
            object_id=str(job.pk),
            object_name=job.object_name,
            reason=job.reason,
            details={
                "system": True,
                "on_behalf_of": user.username,
                "provider": job.provider,
                "trigger": job.trigger,
                "sync_copy_id": str(job.sync_copy_id) if job.sync_copy_id else None,
                "attempt": job.attempts,
                "entry_count": built.entry_count,
                "attachment_count": built.attachment_count,
                "attachments_listed_only": built.attachments_listed_only,
                "size": len(built.content),
                "sha256": built.sha256,
                "format": job.format,
                "key_fingerprint": copy_keys_fingerprint(job),
                **export_selectors.ExportScope().as_audit(),
            },
        )
    except AuditUnavailable as exc:
        raise _JobFailed(
            "audit_unavailable", "the audit trail is unavailable", retryable=True
        ) from exc
    lease.check()
    return _upload(job=job, conn=conn, built=built)


def _after_success(
    *,
    job: SyncJob,
    user: User,
    conn: StorageConnection,
    built: OfflineCopy,
    info: storage_base.ObjectInfo,
    worker_id: str,
    now: datetime,
) -> SyncJob | None:
    location = info.location or info.name
    with transaction.atomic():
        locked = _still_mine(job.pk, worker_id, job.attempts, succeeded=True)
        if locked is None:
            return None
        locked.state = JobState.SUCCEEDED
        locked.next_attempt_at = None
        locked.result_location = location[:1000]
        locked.result_size = info.size
        locked.result_sha256 = built.sha256
        locked.entry_count = built.entry_count
        locked.last_error = ""
        locked.error_code = ""
        locked.lease_expires_at = None
        locked.finished_at = now
        defaults: dict[str, Any] = {
            "object_name": locked.object_name,
            "location": location[:1000],
            "size": info.size,
            "sha256": built.sha256,
            "last_job": locked,
            "last_synced_at": now,
        }
        if locked.sync_copy_id is None:
            # A one-off sync: the copy takes this job's keys (a kept copy took them at the
            # request, rekey or claim, so a slower older job cannot bring old keys back).
            defaults["copy_keys"] = locked.copy_keys
        sync_copy, _ = SyncCopy.objects.update_or_create(
            user=user, connection=conn, defaults=defaults
        )
        if locked.sync_copy_id is None:
            copy_keys_copy(source=locked, target=sync_copy)
            sync_copy.save(update_fields=KEY_FIELDS)
        if locked.sync_copy_id is None:
            locked.sync_copy = sync_copy
        locked.save()
        if not sync_copy_job_ended(job=locked, succeeded=True, now=now):
            return locked
        label = provider_label(job.provider)
        notification_post(
            user=user,
            level="success",
            title=f"Your offline copy is in {label}"[:200],
            body=(
                f"{built.entry_count} entr{'y' if built.entry_count == 1 else 'ies'} synced to "
                f"{location}. Open it on your phone with your passphrase."
            ),
            link=HISTORY_LINK,
            kind="sync_landed",
        )
    logger.info(
        "sync job %s succeeded: %d entries, %d bytes (attempt %d)",
        job.pk,
        built.entry_count,
        info.size,
        job.attempts,
    )
    return locked


def _fail_final(
    *,
    locked: SyncJob,
    user: User,
    code: str,
    message: str,
    title: str,
    body: str,
    now: datetime,
    auth: bool = False,
) -> None:
    locked.state = JobState.FAILED
    locked.error_code = code[:40]
    locked.last_error = message[:1000]
    locked.lease_expires_at = None
    locked.next_attempt_at = None
    locked.finished_at = now
    locked.save()
    if not sync_copy_job_ended(
        job=locked, succeeded=False, code=code, message=message, auth=auth, now=now
    ):
        return
    notification_post(
        user=user,
        level="error",
        title=title[:200],
        body=body,
        link=HISTORY_LINK,
        kind="reauth_needed" if auth else "sync_failed",
    )


def _after_failure(
    *,
    job: SyncJob,
    user: User,
    failure: _JobFailed,
    worker_id: str,
    clock: Clock,
    rand: random.Random | None,
) -> SyncJob | None:
    now = clock()
    label = provider_label(job.provider)
    with transaction.atomic():
        locked = _still_mine(job.pk, worker_id, job.attempts)
        if locked is None:
            return None
        if failure.retryable and locked.attempts < locked.max_attempts:
            delay = retry_delay(
                attempt=locked.attempts,
                retry_after=failure.retry_after,
                policy=RetryPolicy.current(),
                rand=rand or _system_random,
            )
            locked.state = JobState.RETRY_WAIT
            locked.error_code = failure.code[:40]
            locked.last_error = failure.message[:1000]
            locked.lease_expires_at = None
            locked.next_attempt_at = now + timedelta(seconds=delay)
            locked.dispatched_at = None
            locked.save()
            eta, attempt = locked.next_attempt_at, locked.attempts
            transaction.on_commit(lambda: job_enqueue(job.pk, attempt=attempt, eta=eta))
            logger.info(
                "sync job %s attempt %d failed (%s); retry in %.1f s",
                job.pk,
                locked.attempts,
                failure.code,
                delay,
            )
            return locked
        gave_up = failure.retryable
        _fail_final(
            locked=locked,
            user=user,
            code=failure.code,
            message=failure.message,
            title=f"Sync to {label} failed",
            body=(
                f"{failure.message}"
                + (f" (gave up after {locked.attempts} attempts)" if gave_up else "")
                + ". "
                + sync_advice(failure.code, label)
            ),
            now=now,
        )
    _failure_audit(job=locked, user=user)
    logger.warning("sync job %s failed (%s) after %d attempts", job.pk, failure.code, job.attempts)
    return locked


def _after_auth_failure(
    *, job: SyncJob, user: User, exc: storage_base.StorageError, worker_id: str
) -> SyncJob | None:
    from strongroom.storage.services import storage_connection_mark_needs_reauth

    label = provider_label(job.provider)
    with transaction.atomic():
        locked = _still_mine(job.pk, worker_id, job.attempts)
        if locked is None:
            return None
        _fail_final(
            locked=locked,
            user=user,
            code=exc.code,
            message=exc.message,
            title=f"Reconnect {label} to sync your offline copy"[:200],
            body=(
                f"{label} refused the upload: {exc.message}. Reconnect {label} in Settings → "
                + (
                    "Cloud storage; your kept copy resumes by itself."
                    if locked.sync_copy_id and locked.keep_in_sync
                    else "Cloud storage, then sync again from the Export menu."
                )
            ),
            now=timezone.now(),
            auth=True,
        )
        if locked.connection_id:
            storage_connection_mark_needs_reauth(
                connection_id=locked.connection_id, message=exc.message[:500]
            )
    _failure_audit(job=locked, user=user)
    logger.warning("sync job %s: %s refused the credentials (%s)", job.pk, job.provider, exc.code)
    return locked


def _failure_audit(*, job: SyncJob, user: User) -> None:
    try:
        audit_record(
            actor=user,
            action=AuditAction.SYNC_UPLOAD,
            object_type="sync_job",
            object_id=str(job.pk),
            object_name=job.object_name,
            details={
                "system": True,
                "on_behalf_of": user.username,
                "provider": job.provider,
                "attempts": job.attempts,
                "error_code": job.error_code,
                "problem": job.last_error,
            },
            outcome="failure",
        )
    except AuditUnavailable:
        logger.error("could not audit the failure of sync job %s", job.pk)


def sync_job_run_and_wait(
    *,
    job_id: Any,
    timeout: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    observe: Callable[[SyncJob], None] = lambda job: None,
) -> SyncJob:
    """Drive one job to a final state from this process (``strongroom sync --wait``): run
    its attempt here unless a worker already claimed it (claiming is atomic), run each retry
    here when it falls due, and otherwise poll the row while another process works on it.
    Returns the job as it stands when it is final or ``timeout`` seconds have passed
    (then a worker finishes it). ``observe`` sees the job each time it is read (the CLI
    shows its state)."""
    sync_job_run(job_id=job_id, worker_id=worker_identity())
    deadline = monotonic() + timeout
    job = SyncJob.objects.get(pk=job_id)
    while not job.is_final and monotonic() < deadline:
        observe(job)
        if job.state == JobState.RETRY_WAIT and job.next_attempt_at is not None:
            pause = (job.next_attempt_at - timezone.now()).total_seconds()
            sleep(max(0.2, min(pause, deadline - monotonic(), 5.0)))
            sync_job_run(job_id=job_id, worker_id=worker_identity())
        else:
            sleep(0.5)  # polling another process's progress
        job = SyncJob.objects.get(pk=job_id)
    return job


# --------------------------------------------------------------------------- cancel, sweep


def sync_job_cancel(*, actor: User, job_id: Any) -> SyncJob:
    """Cancel a job that has not started uploading (the owner or an administrator)."""
    sync_job_get(actor=actor, job_id=job_id)  # NotFound unless the actor may see it
    with transaction.atomic():
        job = SyncJob.objects.select_for_update().get(pk=job_id)
        if job.state == JobState.RUNNING:
            raise Conflict("the upload is already running; it cannot be cancelled now")
        if job.is_final:
            raise Conflict(f"the job already ended ({job.get_state_display().lower()})")
        audit_record(
            actor=actor,
            action=AuditAction.SYNC_CANCEL,
            object_type="sync_job",
            object_id=str(job.pk),
            object_name=job.provider,
            details={"user": job.user_id and str(job.user_id)},
        )
        job.state = JobState.CANCELLED
        job.next_attempt_at = None
        job.finished_at = timezone.now()
        job.save()
    logger.info("sync job %s cancelled by user %s", job.pk, actor.pk)
    return job


@dataclass(frozen=True)
class SweepResult:
    enqueued: int
    reclaimed: int
    failed: int
    # Jobs the queue did not take this time (it is down): they stay in the outbox.
    not_sent: int = 0


def sync_jobs_sweep(
    *,
    now: datetime | None = None,
    queued_grace_seconds: float = 30.0,
    outbox_grace_seconds: float | None = None,
    limit: int = 1000,
) -> SweepResult:
    """Take back running jobs whose lease expired (their worker died or stalled past its
    heartbeat: back to retry_wait, due at once, or failed when out of attempts), then send
    the queue what it should have: queued jobs it never took (``dispatched_at`` empty, older
    than the outbox grace), queued jobs whose message went out ``queued_grace_seconds`` ago
    and is still not claimed (lost with a flushed queue or a killed consumer), and retries
    that are due. Sending a job twice is harmless: only one attempt can claim it. If the
    queue refuses one message the rest wait for the next sweep."""
    real_now = timezone.now()
    now = now or real_now
    # Never record a time ahead of the real one: a caller may pass ``now`` ahead.
    stamp = min(now, real_now)
    grace = outbox_grace() if outbox_grace_seconds is None else outbox_grace_seconds
    reclaimed = failed = 0
    expired = list(
        SyncJob.objects.filter(state=JobState.RUNNING, lease_expires_at__lte=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    for pk in expired:
        with transaction.atomic():
            # Conditional again under the lock: a heartbeat or a finish since the query wins.
            job = _locked(
                SyncJob.objects.filter(
                    pk=pk, state=JobState.RUNNING, lease_expires_at__lte=now
                ).select_related("user")
            ).first()
            if job is None:
                continue
            message = "the worker stopped during the upload"
            if job.attempts >= job.max_attempts:
                _fail_final(
                    locked=job,
                    user=job.user,
                    code=ErrorCode.WORKER_LOST,
                    message=message,
                    title=f"Sync to {provider_label(job.provider)} failed",
                    body=f"{message} {job.attempts} times. Sync again later.",
                    now=now,
                )
                failed += 1
                continue
            job.state = JobState.RETRY_WAIT
            job.error_code = "worker_lost"
            job.last_error = message
            job.next_attempt_at = stamp
            job.lease_expires_at = None
            job.dispatched_at = None
            job.save()
            reclaimed += 1
    resend_before = now - timedelta(seconds=queued_grace_seconds)
    due = list(
        SyncJob.objects.filter(
            Q(
                state=JobState.QUEUED,
                dispatched_at__isnull=True,
                created_at__lte=now - timedelta(seconds=grace),
            )
            | Q(state=JobState.QUEUED, dispatched_at__lte=resend_before)
            | (
                Q(state=JobState.RETRY_WAIT, next_attempt_at__lte=now)
                & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=resend_before))
            )
        )
        .order_by("created_at")
        .values_list("pk", "attempts")[:limit]
    )
    sent = 0
    for pk, attempt in due:
        if not job_enqueue(pk, attempt=attempt):
            break
        sent += 1
    not_sent = len(due) - sent
    if due or reclaimed or failed:
        logger.info(
            "sync sweep: %d sent, %d not taken by the queue, %d reclaimed from lost workers, "
            "%d failed",
            sent,
            not_sent,
            reclaimed,
            failed,
        )
    return SweepResult(enqueued=sent, reclaimed=reclaimed, failed=failed, not_sent=not_sent)


def sync_jobs_active_count(*, user: User) -> int:
    return SyncJob.objects.filter(user=user, state__in=ACTIVE_STATES).count()


def sync_history_visible_to_all(actor: User) -> bool:
    return has_perm(actor, Perm.USERS_MANAGE)
