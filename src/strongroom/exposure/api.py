"""Exposure register API: the builds of offline copies, lost-device incidents, and who had
an account offline (docs/exposure.md). Never a password; account names only for accounts
the caller can view."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from strongroom.core.paging import MAX_OFFSET
from strongroom.core.request import client_ip
from strongroom.exposure import selectors, services
from strongroom.exposure.models import ExposureIncident, OfflineBuild

router = Router(tags=["exposure"])
MAX_PAGE = 500


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class BuildOut(Schema):
    id: UUID
    user_id: UUID | None
    username: str
    format: str
    built_at: datetime
    destination: str
    provider: str
    connection_id: UUID | None
    connection_label: str
    object_name: str
    sync_job_id: UUID | None
    state: str
    delivered_at: datetime | None
    problem: str
    entry_count: int


def _build_out(build: OfflineBuild) -> dict[str, Any]:
    return {
        "id": build.pk,
        "user_id": build.user_id,
        "username": build.username,
        "format": build.format,
        "built_at": build.built_at,
        "destination": build.destination,
        "provider": build.provider,
        "connection_id": build.connection_id,
        "connection_label": build.connection_label,
        "object_name": build.object_name,
        "sync_job_id": build.sync_job_id,
        "state": build.state,
        "delivered_at": build.delivered_at,
        "problem": build.problem,
        "entry_count": build.entry_count,
    }


class BuildFilter(Schema):
    user_id: UUID | None = None
    since: datetime | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class BuildPageOut(Schema):
    items: list[BuildOut]
    total: int


@router.get("/exposure/builds", response=BuildPageOut)
def exposure_builds(request: HttpRequest, filters: Query[BuildFilter]) -> Any:
    builds = selectors.builds_list(
        actor=_actor(request), user_id=filters.user_id, since=filters.since
    )
    page = builds[filters.offset : filters.offset + filters.limit]
    return {"items": [_build_out(b) for b in page], "total": builds.count()}


class IncidentIn(Schema):
    user_id: Any
    since: Any
    note: Any = ""


class IncidentOut(Schema):
    id: UUID
    user_id: UUID | None
    username: str
    since: datetime
    reported_at: datetime
    reported_by: str
    note: str


def _incident_out(incident: ExposureIncident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "user_id": incident.subject_id,
        "username": incident.subject_name,
        "since": incident.since,
        "reported_at": incident.reported_at,
        "reported_by": incident.reported_by_name,
        "note": incident.note,
    }


class ExposedAccountOut(Schema):
    account_id: UUID
    resource_id: UUID
    resource_name: str
    username: str
    status: str
    last_copy_at: datetime
    copies: int


class StatusCountsOut(Schema):
    rotate: int
    rotated: int
    deleted: int


class IncidentDetailOut(IncidentOut):
    done: bool
    total: int
    counts: StatusCountsOut
    hidden: StatusCountsOut
    copies: list[BuildOut]
    copies_after_report: int
    not_delivered: int
    accounts: list[ExposedAccountOut]


def _counts(counter: Any) -> dict[str, int]:
    return {
        "rotate": counter[selectors.ROTATE],
        "rotated": counter[selectors.ROTATED],
        "deleted": counter[selectors.DELETED],
    }


def incident_detail(status: selectors.IncidentStatus) -> dict[str, Any]:
    return {
        **_incident_out(status.incident),
        "done": status.done,
        "total": status.total,
        "counts": _counts(status.counts),
        "hidden": _counts(status.hidden),
        "copies": [_build_out(b) for b in status.copies],
        "copies_after_report": status.copies_after_report,
        "not_delivered": status.not_delivered,
        "accounts": [
            {
                "account_id": a.account_id,
                "resource_id": a.resource_id,
                "resource_name": a.resource_name,
                "username": a.username,
                "status": a.status,
                "last_copy_at": a.last_copy_at,
                "copies": a.copies,
            }
            for a in status.accounts
        ],
    }


@router.get("/exposure/incidents", response=list[IncidentOut])
def exposure_incidents(request: HttpRequest) -> Any:
    return [_incident_out(i) for i in selectors.incidents_list(actor=_actor(request))[:MAX_PAGE]]


@router.post("/exposure/incidents", response={201: IncidentDetailOut})
def exposure_incident_report(request: HttpRequest, payload: IncidentIn) -> Any:
    actor = _actor(request)
    incident = services.incident_report(
        actor=actor,
        user_id=payload.user_id,
        since=payload.since,
        note=payload.note,
        client_ip=client_ip(request),
    )
    return Status(
        201, incident_detail(selectors.incident_status(actor=actor, incident_id=incident.pk))
    )


@router.get("/exposure/incidents/{incident_id}", response=IncidentDetailOut)
def exposure_incident(request: HttpRequest, incident_id: str) -> Any:
    return incident_detail(
        selectors.incident_status(actor=_actor(request), incident_id=incident_id)
    )


class AccountCopyOut(Schema):
    build: BuildOut
    current_password: bool


class AccountExposureOut(Schema):
    account_id: UUID
    full: bool
    users: int
    copies: int
    with_current_password: int
    last_at: datetime | None
    builds: list[AccountCopyOut]


def account_exposure_out(exposure: selectors.AccountExposure) -> dict[str, Any]:
    return {
        "account_id": exposure.account.pk,
        "full": exposure.full,
        "users": exposure.users,
        "copies": exposure.copy_count,
        "with_current_password": exposure.with_current_password,
        "last_at": exposure.last_at,
        "builds": [
            {"build": _build_out(c.build), "current_password": c.current_password}
            for c in exposure.copies
        ],
    }


@router.get("/accounts/{account_id}/exposure", response=AccountExposureOut)
def account_exposure(request: HttpRequest, account_id: str) -> Any:
    return account_exposure_out(
        selectors.account_exposure(actor=_actor(request), account_id=account_id)
    )
