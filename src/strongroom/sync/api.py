"""Sync endpoints of the REST API (mounted at /api/v1/ by strongroom.api.main).

``POST /sync`` starts a sync of the caller's offline copy to one of their storage
connections (202 with the job: it runs in the background); ``GET /sync/jobs`` is the
history (administrators may pass ``user_id``, or see everyone's); ``GET /sync/jobs/{id}``
one job; ``POST /sync/jobs/{id}/cancel`` cancels a job that has not started uploading.
The passphrase is checked against the export policy and never stored or returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status

from strongroom.core.request import client_ip
from strongroom.sync import selectors, services
from strongroom.sync.models import SyncJob

router = Router(tags=["sync"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class SyncIn(Schema):
    connection_id: Any = None
    passphrase: Any = None
    reason: Any = ""


class SyncJobOut(Schema):
    id: UUID
    user_id: UUID
    username: str
    provider: str
    state: str
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
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "next_attempt_at": job.next_attempt_at,
        "reason": job.reason,
        "object_name": job.object_name,
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
def sync_start(request: HttpRequest, payload: SyncIn) -> Any:
    """Queue a sync of the caller's whole scope to ``connection_id``, locked with
    ``passphrase``. 400 when the passphrase or reason fails the policy or the connection
    needs reconnecting, 403 when the policy refuses exports, 404 unknown connection."""
    job = services.sync_request(
        actor=_actor(request),
        connection_id=payload.connection_id,
        passphrase=payload.passphrase,
        reason=payload.reason,
        client_ip=client_ip(request),
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
