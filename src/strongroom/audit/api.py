"""Audit trail API: query records, verify the hash chain (auditors and administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from strongroom.audit import selectors
from strongroom.core.paging import MAX_OFFSET

router = Router(tags=["audit"])


class AuditFilter(Schema):
    actor: str | None = Field(default=None, description="Username of the actor")
    action: str | None = Field(
        default=None, description="Exact action, or a family such as 'user.*'"
    )
    object_type: str | None = None
    object_id: str | None = None
    outcome: str | None = Field(default=None, description="'success' or 'failure'")
    since: datetime | None = Field(default=None, description="Inclusive")
    until: datetime | None = Field(default=None, description="Exclusive")
    limit: int = Field(default=50, ge=1, le=selectors.MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class AuditEventOut(Schema):
    seq: int
    at: datetime
    actor_id: str | None
    actor_name: str
    action: str
    outcome: str
    object_type: str
    object_id: str
    object_name: str
    reason: str
    client_ip: str
    details: dict[str, Any]
    hash: str


class AuditPageOut(Schema):
    items: list[AuditEventOut]
    total: int
    limit: int
    offset: int


class ChainReportOut(Schema):
    ok: bool
    checked: int
    problems: list[str]


@router.get("/audit", response=AuditPageOut)
def audit_list(request: HttpRequest, filters: Query[AuditFilter]) -> Any:
    page = selectors.audit_event_list(
        actor=request.auth,  # type: ignore[attr-defined]
        actor_name=filters.actor,
        action=filters.action,
        object_type=filters.object_type,
        object_id=filters.object_id,
        outcome=filters.outcome,
        since=filters.since,
        until=filters.until,
        limit=filters.limit,
        offset=filters.offset,
    )
    return {
        "items": [
            {
                "seq": e.seq,
                "at": e.at,
                "actor_id": str(e.actor_id) if e.actor_id else None,
                "actor_name": e.actor_name,
                "action": e.action,
                "outcome": e.outcome,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "object_name": e.object_name,
                "reason": e.reason,
                "client_ip": e.client_ip,
                "details": e.details,
                "hash": e.hash,
            }
            for e in page.items
        ],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/audit/verify", response=ChainReportOut)
def audit_chain_verify(request: HttpRequest) -> Any:
    report = selectors.audit_chain_report(actor=request.auth)  # type: ignore[attr-defined]
    return {"ok": report.ok, "checked": report.checked, "problems": report.problems}
