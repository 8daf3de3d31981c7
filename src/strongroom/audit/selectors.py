"""Reading the audit trail: filtered, newest first, paginated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from strongroom.accounts.permissions import Perm, require_perm
from strongroom.audit.models import AuditEvent
from strongroom.audit.services import ChainReport, audit_verify

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEvent]
    total: int
    limit: int
    offset: int


def _aware(moment: datetime) -> datetime:
    """A time without a zone means UTC, the zone the trail is recorded in."""
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment


def audit_event_list(
    *,
    actor: Any,
    actor_name: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """Records matching every given filter, newest first (by sequence number, so the order
    is stable however many records share a timestamp). ``since`` is inclusive, ``until``
    exclusive. ``action`` ending in ``.`` or ``*`` matches a family (``user.*``)."""
    require_perm(actor, Perm.AUDIT_READ)
    qs: QuerySet[AuditEvent] = AuditEvent.objects.order_by("-seq")
    if actor_name:
        qs = qs.filter(actor_name__iexact=actor_name)
    if action:
        if action.endswith(("*", ".")):
            qs = qs.filter(action__startswith=action.rstrip("*"))
        else:
            qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if outcome:
        qs = qs.filter(outcome=outcome)
    if since is not None:
        qs = qs.filter(at__gte=_aware(since))
    if until is not None:
        qs = qs.filter(at__lt=_aware(until))
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    return AuditPage(
        items=list(qs[offset : offset + limit]), total=qs.count(), limit=limit, offset=offset
    )


def audit_chain_report(*, actor: Any) -> ChainReport:
    require_perm(actor, Perm.AUDIT_READ)
    return audit_verify()
