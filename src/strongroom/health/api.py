"""Password health API (docs/health.md): the caller's report, asking for a new run, and the
administrators' breached-password list. Never a password or a hash of one; account names
only of accounts the caller can retrieve."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import File, Form, Router, Schema, Status, UploadedFile

from strongroom.core.request import client_ip
from strongroom.health import selectors, services
from strongroom.health.models import BreachedList, HealthRun

router = Router(tags=["password health"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class HealthRunOut(Schema):
    id: UUID
    state: str
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # How many accounts the vault held: administrators and auditors only (null otherwise).
    account_count: int | None
    breached_checked: bool
    problem: str


def run_out(run: HealthRun | None, *, counts: bool = True) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "state": run.state,
        "requested_by": run.requested_by_name,
        "requested_at": run.requested_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "account_count": run.account_count if counts else None,
        "breached_checked": run.breached_checked,
        "problem": run.problem,
    }


class HealthCountsOut(Schema):
    weak: int
    reused: int
    old: int
    breached: int


def counts_out(counter: Counter[str]) -> dict[str, int]:
    return {name: counter[name] for name in selectors.FINDINGS}


class HealthAccountOut(Schema):
    account_id: UUID
    resource_id: UUID
    resource_name: str
    username: str
    findings: list[str]
    score: int | None
    weak: bool
    reused_with: int
    old: bool
    age_days: int | None
    breached: bool
    breached_count: int | None
    stale: bool
    unchecked: bool


class HealthOwnerOut(Schema):
    owner: str
    accounts: int
    counts: HealthCountsOut


class HealthOrganisationOut(Schema):
    accounts: int
    counts: HealthCountsOut
    owners: list[HealthOwnerOut] | None


class HealthPolicyOut(Schema):
    max_age_days: int
    min_score: int


class HealthBreachedListOut(Schema):
    name: str
    hash_count: int
    loaded_at: datetime
    loaded_by: str


def breached_list_out(found: BreachedList | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "name": found.name,
        "hash_count": found.hash_count,
        "loaded_at": found.loaded_at,
        "loaded_by": found.loaded_by_name,
    }


class HealthReportOut(Schema):
    scope: str
    run: HealthRunOut | None
    pending: HealthRunOut | None
    policy: HealthPolicyOut
    breached_list: HealthBreachedListOut | None
    counts: HealthCountsOut
    accounts: list[HealthAccountOut]
    organisation: HealthOrganisationOut | None


def report_out(report: selectors.HealthReport) -> dict[str, Any]:
    organisation = None
    if report.org_counts is not None:
        organisation = {
            "accounts": report.org_accounts or 0,
            "counts": counts_out(report.org_counts),
            "owners": None
            if report.owners is None
            else [
                {"owner": o.owner, "accounts": o.accounts, "counts": counts_out(o.counts)}
                for o in report.owners
            ],
        }
    return {
        "scope": report.scope,
        "run": run_out(report.run, counts=report.org_counts is not None),
        "pending": run_out(report.pending, counts=report.org_counts is not None),
        "policy": {
            "max_age_days": report.policy.max_age_days,
            "min_score": report.policy.min_score,
        },
        "breached_list": breached_list_out(report.breached_list),
        "counts": counts_out(report.counts),
        "accounts": [
            {
                "account_id": a.account_id,
                "resource_id": a.resource_id,
                "resource_name": a.resource_name,
                "username": a.username,
                "findings": a.findings,
                "score": a.score,
                "weak": a.weak,
                "reused_with": a.reused_with,
                "old": a.old,
                "age_days": a.age_days,
                "breached": a.breached,
                "breached_count": a.breached_count,
                "stale": a.stale,
                "unchecked": a.unchecked,
            }
            for a in report.accounts
        ],
        "organisation": organisation,
    }


@router.get(
    "/password-health",
    response=HealthReportOut,
    summary="The caller's password health report (and the organisation's counts for "
    "administrators and auditors)",
)
def password_health(request: HttpRequest) -> Any:
    return report_out(selectors.health_report(actor=_actor(request)))


@router.post(
    "/password-health/refresh",
    response={202: HealthRunOut},
    summary="Queue a new run over the vault (or get the one already queued or running)",
)
def password_health_refresh(request: HttpRequest) -> Any:
    actor = _actor(request)
    run = services.health_run_request(actor=actor, client_ip=client_ip(request))
    return Status(202, run_out(run, counts=selectors.sees_organisation(actor)))


@router.get("/password-health/breached-list", response=HealthBreachedListOut | None)
def breached_list_get(request: HttpRequest) -> Any:
    return breached_list_out(selectors.breached_list_get(actor=_actor(request)))


@router.post(
    "/password-health/breached-list",
    response=HealthBreachedListOut,
    summary="Replace the breached-password list (a Pwned Passwords SHA-1 file: SHA1:COUNT "
    "lines); all or nothing",
)
def breached_list_put(request: HttpRequest, file: File[UploadedFile], name: Form[str] = "") -> Any:
    loaded = services.breached_list_load(
        actor=_actor(request),
        source=file,
        name=name or file.name or "",
        client_ip=client_ip(request),
    )
    return breached_list_out(loaded)


@router.delete("/password-health/breached-list", response={204: None})
def breached_list_delete(request: HttpRequest) -> Any:
    services.breached_list_clear(actor=_actor(request), client_ip=client_ip(request))
    return Status(204, None)
