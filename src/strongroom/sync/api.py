"""Sync endpoints of the REST API (mounted at /api/v1/ by strongroom.api.main).

``POST /sync`` starts a sync of the caller's offline copy to one of their storage
connections (202 with the job: it runs in the background; the job is accepted once it is in
the database, even while the queue is down, and an ``Idempotency-Key`` header makes a
client's retry return the same job); ``GET /sync/jobs`` is the
history (administrators may pass ``user_id``, or see everyone's); ``GET /sync/jobs/{id}``
one job; ``POST /sync/jobs/{id}/cancel`` cancels a job that has not started uploading.
The passphrase is checked against the export policy and never stored or returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Header, Router, Schema, Status

from strongroom.core.request import client_ip
from strongroom.sync import copies, selectors, services
from strongroom.sync.common import provider_label
from strongroom.sync.models import SyncCopy, SyncJob

router = Router(tags=["sync"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class SyncIn(Schema):
    connection_id: Any = None
    passphrase: Any = None
    reason: Any = ""
    keep_in_sync: bool = False
    # "html" (encrypted web page) or "kdbx" (KeePass database), as the policy allows.
    format: Any = "html"


class RekeyIn(Schema):
    passphrase: Any = None
    reason: Any = ""


class SyncJobOut(Schema):
    id: UUID
    user_id: UUID
    username: str
    provider: str
    format: str
    state: str
    trigger: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    reason: str
    object_name: str
    location: str
    size: int | None
    sha256: str
    entry_count: int | None
    error_code: str
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def job_out(job: SyncJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "user_id": job.user_id,
        "username": job.user.username,
        "provider": job.provider,
        "state": job.state,
        "trigger": job.trigger,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "next_attempt_at": job.next_attempt_at,
        "reason": job.reason,
        "object_name": job.object_name,
        "format": job.format,
        "location": job.result_location,
        "size": job.result_size,
        "sha256": job.result_sha256,
        "entry_count": job.entry_count,
        "error_code": job.error_code,
        "error": job.last_error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


@router.post("/sync", response={202: SyncJobOut})
def sync_start(
    request: HttpRequest,
    payload: SyncIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Any:
    """Queue a sync of the caller's whole scope to ``connection_id``, locked with
    ``passphrase``. 202 with the job (state ``queued``) once it is stored, whether or not
    the task queue is reachable at that moment. With an ``Idempotency-Key`` header (up to
    200 printable ASCII characters) a repeated request returns the job the first one
    created (409 if the key was used for another connection). 400 when the passphrase or
    reason fails the policy or the connection needs reconnecting, 403 when the policy
    refuses exports, 404 unknown connection."""
    job = services.sync_request(
        actor=_actor(request),
        connection_id=payload.connection_id,
        passphrase=payload.passphrase,
        reason=payload.reason,
        client_ip=client_ip(request),
        keep_in_sync=bool(payload.keep_in_sync),
        fmt=payload.format,
        idempotency_key=idempotency_key or "",
    )
    job.refresh_from_db()
    return Status(202, job_out(job))


@router.get("/sync/jobs", response=list[SyncJobOut])
def sync_jobs(request: HttpRequest, user_id: str | None = None, limit: int = 100) -> Any:
    return [
        job_out(j)
        for j in selectors.sync_jobs_list(actor=_actor(request), user_id=user_id, limit=limit)
    ]


@router.get("/sync/jobs/{job_id}", response=SyncJobOut)
def sync_job(request: HttpRequest, job_id: str) -> Any:
    return job_out(selectors.sync_job_get(actor=_actor(request), job_id=job_id))


@router.post("/sync/jobs/{job_id}/cancel", response=SyncJobOut)
def sync_job_cancel(request: HttpRequest, job_id: str) -> Any:
    services.sync_job_cancel(actor=_actor(request), job_id=job_id)
    return job_out(selectors.sync_job_get(actor=_actor(request), job_id=job_id))


# --------------------------------------------------------------------------- synced copies


class LastAttemptOut(Schema):
    job_id: UUID
    state: str
    at: datetime
    problem: str
    advice: str
    next_attempt_at: datetime | None


class SyncCopyOut(Schema):
    id: UUID
    user_id: UUID
    username: str
    provider: str
    provider_label: str
    format: str
    location: str
    keep_in_sync: bool
    auto_state: str
    state_message: str
    current: bool
    last_synced_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    last_attempt: LastAttemptOut | None
    next_scheduled_at: datetime | None
    key_fingerprint: str
    size: int | None


class CopyActionOut(Schema):
    synced_copy: SyncCopyOut
    job: SyncJobOut | None


def copy_out(copy: SyncCopy, attempt: selectors.LastAttempt | None = None) -> dict[str, Any]:
    from strongroom.sync.keys import copy_keys_fingerprint

    if attempt is None:
        attempt = selectors.sync_copies_last_attempts([copy]).get(copy.pk)

    try:
        fingerprint = copy_keys_fingerprint(copy)
    except (ValueError, KeyError, TypeError):
        fingerprint = ""
    return {
        "id": copy.pk,
        "user_id": copy.user_id,
        "username": copy.user.username,
        "provider": copy.connection.provider,
        "provider_label": provider_label(copy.connection.provider),
        "format": copy.format,
        "location": copy.location,
        "keep_in_sync": copy.keep_in_sync,
        "auto_state": copy.auto_state,
        "state_message": copy.state_message,
        "current": copy.is_current,
        "last_synced_at": copy.last_synced_at,
        "last_error": copy.last_error,
        "last_error_at": copy.last_error_at,
        "last_attempt": None
        if attempt is None
        else {
            "job_id": attempt.job_id,
            "state": attempt.state,
            "at": attempt.at,
            "problem": attempt.problem,
            "advice": attempt.advice,
            "next_attempt_at": attempt.next_attempt_at,
        },
        "next_scheduled_at": selectors.sync_copy_next_at(copy),
        "key_fingerprint": fingerprint,
        "size": copy.size,
    }


def _action_out(request: HttpRequest, copy_id: str, job: SyncJob | None) -> dict[str, Any]:
    copy = selectors.sync_copy_get(actor=_actor(request), copy_id=copy_id)
    if job is not None:
        job.refresh_from_db()
    return {"synced_copy": copy_out(copy), "job": job_out(job) if job is not None else None}


@router.get("/sync/copies", response=list[SyncCopyOut])
def sync_copies(request: HttpRequest, user_id: str | None = None) -> Any:
    """The caller's synced copies (administrators: everyone's, or one user's), each with
    its last attempt (``last_attempt``: how the newest upload to its place ended)."""
    found = list(selectors.sync_copies_visible(actor=_actor(request), user_id=user_id))
    attempts = selectors.sync_copies_last_attempts(found)
    return [copy_out(c, attempts.get(c.pk)) for c in found]


@router.get("/sync/copies/{copy_id}", response=SyncCopyOut)
def sync_copy(request: HttpRequest, copy_id: str) -> Any:
    return copy_out(selectors.sync_copy_get(actor=_actor(request), copy_id=copy_id))


@router.post("/sync/copies/{copy_id}/stop", response=SyncCopyOut)
def sync_copy_stop(request: HttpRequest, copy_id: str) -> Any:
    """Stop keeping the copy up to date (its owner or an administrator). The file stays."""
    copies.sync_copy_keep_set(
        actor=_actor(request), copy_id=copy_id, keep=False, client_ip=client_ip(request)
    )
    return copy_out(selectors.sync_copy_get(actor=_actor(request), copy_id=copy_id))


@router.post("/sync/copies/{copy_id}/keep", response=SyncCopyOut)
def sync_copy_keep(request: HttpRequest, copy_id: str) -> Any:
    """Keep the copy up to date again (its owner; policy-checked; rebuilt at once)."""
    copies.sync_copy_keep_set(
        actor=_actor(request), copy_id=copy_id, keep=True, client_ip=client_ip(request)
    )
    return copy_out(selectors.sync_copy_get(actor=_actor(request), copy_id=copy_id))


@router.post("/sync/copies/{copy_id}/resync", response={202: CopyActionOut})
def sync_copy_resync(request: HttpRequest, copy_id: str) -> Any:
    """Rebuild and upload now (its owner). ``job`` is null when it waits for a running job
    of the same connection."""
    job = copies.sync_copy_resync(
        actor=_actor(request), copy_id=copy_id, client_ip=client_ip(request)
    )
    return Status(202, _action_out(request, copy_id, job))


@router.post("/sync/copies/{copy_id}/passphrase", response={202: CopyActionOut})
def sync_copy_passphrase(request: HttpRequest, copy_id: str, payload: RekeyIn) -> Any:
    """A new passphrase for the copy (its owner): checked like ``POST /sync``, the copy is
    re-keyed and rebuilt. The passphrase is never stored or returned."""
    job = copies.sync_copy_rekey(
        actor=_actor(request),
        copy_id=copy_id,
        passphrase=payload.passphrase,
        reason=payload.reason,
        client_ip=client_ip(request),
    )
    return Status(202, _action_out(request, copy_id, job))
