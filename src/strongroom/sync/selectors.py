"""Reads of sync jobs: a user's history, all of it for administrators."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm
from strongroom.core.errors import NotFound
from strongroom.sync.common import full_check_seconds, provider_label, sync_advice
from strongroom.sync.models import AutoState, JobState, SyncCopy, SyncJob


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


# --------------------------------------------------------------------------- auto-sync


def sync_copies_visible(*, actor: User, user_id: Any = None) -> QuerySet[SyncCopy]:
    """The synced copies the actor may see: their own; administrators everyone's (or one
    user's with ``user_id``)."""
    copies = SyncCopy.objects.select_related("user", "connection", "last_job").order_by(
        "user__username", "connection__provider"
    )
    if _sees_all(actor):
        if user_id not in (None, ""):
            try:
                copies = copies.filter(user_id=uuid.UUID(str(user_id)))
            except ValueError as exc:
                raise NotFound("user not found", field="user_id") from exc
        return copies
    if user_id not in (None, "") and str(user_id) != str(actor.pk):
        return copies.none()
    return copies.filter(user_id=actor.pk)


def sync_copy_get(*, actor: User, copy_id: Any) -> SyncCopy:
    """One copy the actor may see (their own, any for administrators); NotFound otherwise,
    exactly as for a copy that does not exist."""
    try:
        pk = uuid.UUID(str(copy_id))
    except ValueError as exc:
        raise NotFound("synced copy not found", field="copy_id") from exc
    found = SyncCopy.objects.select_related("user", "connection", "last_job").filter(pk=pk).first()
    if found is None or (found.user_id != actor.pk and not _sees_all(actor)):
        raise NotFound("synced copy not found", field="copy_id")
    return found


def _uuids(values: Iterable[Any]) -> set[uuid.UUID]:
    out: set[uuid.UUID] = set()
    for value in values:
        if value is None:
            continue
        out.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    return out


def sync_users_affected(
    *,
    user_ids: Iterable[Any] = (),
    user_group_ids: Iterable[Any] = (),
    resource_ids: Iterable[Any] = (),
    resource_group_ids: Iterable[Any] = (),
) -> set[uuid.UUID]:
    """Who keeps a copy in sync *and* may see something the change touched: the users
    named, the members of the user groups named, everyone who reaches the resources named
    (owner, direct shares, resource groups holding them and their shares and owners), and
    everyone who reaches the resource groups named. Read it before a deletion (afterwards
    the paths are gone). One cheap query when nobody keeps a copy in sync."""
    from strongroom.accounts.models import UserGroup
    from strongroom.vault.models import Resource, ResourceGroup, Share

    keepers = set(
        SyncCopy.objects.filter(keep_in_sync=True).values_list("user_id", flat=True).distinct()
    )
    if not keepers:
        return set()
    users = _uuids(user_ids)
    user_groups = _uuids(user_group_ids)
    resources = _uuids(resource_ids)
    groups = _uuids(resource_group_ids)
    if resources:
        through = ResourceGroup.resources.through
        users |= set(Resource.objects.filter(pk__in=resources).values_list("owner_id", flat=True))
        groups |= set(
            through.objects.filter(resource_id__in=resources).values_list(
                "resourcegroup_id", flat=True
            )
        )
        for user_id, group_id in Share.objects.filter(resource_id__in=resources).values_list(
            "user_id", "user_group_id"
        ):
            users.add(user_id) if user_id else user_groups.add(group_id)
    if groups:
        users |= set(ResourceGroup.objects.filter(pk__in=groups).values_list("owner_id", flat=True))
        for user_id, group_id in Share.objects.filter(resource_group_id__in=groups).values_list(
            "user_id", "user_group_id"
        ):
            users.add(user_id) if user_id else user_groups.add(group_id)
    if user_groups:
        users |= set(
            UserGroup.members.through.objects.filter(usergroup_id__in=user_groups).values_list(
                "user_id", flat=True
            )
        )
    return {u for u in users if u in keepers}


def sync_copy_next_at(copy: SyncCopy) -> Any:
    """When the copy is next rebuilt: the pending debounced rebuild, else the periodic full
    check; None when it is not kept in sync (or paused)."""
    if not copy.keep_in_sync or copy.auto_state != AutoState.ACTIVE:
        return None
    if copy.due_at is not None:
        return copy.due_at
    since = copy.last_started_at or copy.last_synced_at or copy.created_at
    return since + timedelta(seconds=full_check_seconds())


@dataclass(frozen=True)
class LastAttempt:
    """The newest upload to a copy's place (its own rebuilds and any one-off sync to the
    same connection): how it ended, when, why it failed and what to do."""

    job_id: uuid.UUID
    state: str  # a JobState value
    outcome: str  # what people read: "Succeeded", "Failed", "Waiting to retry", …
    at: datetime
    problem: str
    advice: str
    next_attempt_at: datetime | None

    @property
    def failed(self) -> bool:
        return self.state in (JobState.FAILED, JobState.RETRY_WAIT)


def _last_attempt(job: SyncJob) -> LastAttempt:
    failed = job.state in (JobState.FAILED, JobState.RETRY_WAIT)
    advice = ""
    if job.state == JobState.FAILED:
        advice = sync_advice(job.error_code, provider_label(job.provider))
    elif job.state == JobState.RETRY_WAIT:
        advice = "Strongroom tries again by itself; nothing to do yet."
    return LastAttempt(
        job_id=job.pk,
        state=job.state,
        outcome=JobState(job.state).label,
        at=job.finished_at or job.started_at or job.created_at,
        problem=job.last_error if failed else "",
        advice=advice,
        next_attempt_at=job.next_attempt_at if job.state == JobState.RETRY_WAIT else None,
    )


def sync_copies_last_attempts(copies: Iterable[SyncCopy]) -> dict[uuid.UUID, LastAttempt]:
    """For each copy (already scoped to the actor), its last attempt; copies never
    attempted are absent. One query for the jobs, whatever the number of copies."""
    rows = list(copies)
    if not rows:
        return {}
    pairs: dict[tuple[Any, Any], uuid.UUID] = {(c.user_id, c.connection_id): c.pk for c in rows}
    newest = (
        SyncJob.objects.filter(user_id=OuterRef("user_id"), connection_id=OuterRef("connection_id"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    job_ids = (
        SyncCopy.objects.filter(pk__in=[c.pk for c in rows])
        .annotate(last_attempt_id=Subquery(newest))
        .values_list("last_attempt_id", flat=True)
    )
    jobs = SyncJob.objects.filter(pk__in=[j for j in job_ids if j is not None])
    return {pairs[(job.user_id, job.connection_id)]: _last_attempt(job) for job in jobs}
