"""Reads of sync jobs: a user's history, all of it for administrators."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm
from strongroom.core.errors import NotFound
from strongroom.sync.models import SyncCopy, SyncJob


def _sees_all(actor: User) -> bool:
    return has_perm(actor, Perm.USERS_MANAGE)


def sync_jobs_list(*, actor: User, user_id: Any = None, limit: int = 100) -> QuerySet[SyncJob]:
    """The actor's sync jobs, newest first. Administrators see everyone's (or one user's
    with ``user_id``); anyone else asking for another user's gets nothing."""
    jobs = SyncJob.objects.select_related("user").order_by("-created_at", "-id")
    if _sees_all(actor):
        if user_id not in (None, ""):
            try:
                jobs = jobs.filter(user_id=uuid.UUID(str(user_id)))
            except ValueError as exc:
                raise NotFound("user not found", field="user_id") from exc
    else:
        if user_id not in (None, "") and str(user_id) != str(actor.pk):
            return jobs.none()
        jobs = jobs.filter(user_id=actor.pk)
    return jobs[: max(1, min(limit, 1000))]


def sync_job_get(*, actor: User, job_id: Any) -> SyncJob:
    """One job the actor may see (their own, or any for administrators); NotFound
    otherwise, exactly as for a job that does not exist."""
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError as exc:
        raise NotFound("sync job not found", field="job_id") from exc
    job = SyncJob.objects.select_related("user").filter(pk=pk).first()
    if job is None or (job.user_id != actor.pk and not _sees_all(actor)):
        raise NotFound("sync job not found", field="job_id")
    return job


def sync_copies_list(*, user: User) -> QuerySet[SyncCopy]:
    return SyncCopy.objects.filter(user=user).select_related("connection")


def sync_targets(*, user: User) -> list[Any]:
    """The user's connections they can sync to now: provider enabled by the administrator
    and connection connected (the Export menu offers one entry per target)."""
    from strongroom.storage.models import StorageConnection
    from strongroom.storage.registry import providers_available

    enabled = providers_available()
    connections = StorageConnection.objects.filter(
        user=user, status=StorageConnection.Status.CONNECTED, provider__in=enabled
    )
    return sorted(connections, key=lambda c: enabled.index(c.provider))
