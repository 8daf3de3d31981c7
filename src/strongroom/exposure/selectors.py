"""Reads of the exposure register, always scoped to what the reader may see.

Who sees what (docs/exposure.md):

* the register of builds: administrators and auditors see every build, everyone else their
  own; a build shows who, format, when, where and how many entries, never which accounts;
* an incident: administrators and auditors, and the user it is about; each reader sees
  names (resource, username) only of accounts they can view in the vault themselves, the
  rest only as counts;
* "who had this offline" on an account: those who may manage the account see the users,
  copies and times; an auditor who can view it sees counts only; anyone else is refused.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.exposure.models import (
    BuildState,
    ExposureIncident,
    ExposureSetEntry,
    OfflineBuild,
    version_of,
)
from strongroom.vault.models import AccessLevel, Account
from strongroom.vault.selectors import account_get, resources_visible

ROTATE = "rotate"
ROTATED = "rotated"
DELETED = "deleted"
MAX_ACCOUNT_BUILDS = 500


def _sees_everything(actor: User) -> bool:
    return has_perm(actor, Perm.USERS_MANAGE) or has_perm(actor, Perm.AUDIT_READ)


def _uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} not found") from None


def utc_or_refuse(moment: datetime) -> datetime:
    """An aware moment in UTC; one that falls outside the years 1 to 9999 once in UTC
    (``0001-01-01T00:00:00+14:00``) is refused as bad input, never a server error."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed(
            "since is out of range: give a date between the years 1 and 9999 (UTC)",
            field="since",
            problem="range",
        ) from None


def builds_list(
    *, actor: User, user_id: Any = None, since: datetime | None = None
) -> QuerySet[OfflineBuild]:
    """Builds, newest first: every user's for administrators and auditors, else the
    actor's own (``user_id`` of someone else then yields nothing)."""
    builds = OfflineBuild.objects.all()
    if not _sees_everything(actor):
        builds = builds.filter(user_id=actor.pk)
    if user_id:
        builds = builds.filter(user_id=_uuid(user_id, "user"))
    if since is not None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        builds = builds.filter(built_at__gte=utc_or_refuse(since))
    return builds.order_by("-built_at", "-id")


def _subject_builds(incident: ExposureIncident) -> QuerySet[OfflineBuild]:
    # A deleted user's builds lost their link to the user (and so to the incident).
    if incident.subject_id is None:
        return OfflineBuild.objects.none()
    return OfflineBuild.objects.filter(user_id=incident.subject_id)


def counted_builds(incident: ExposureIncident) -> QuerySet[OfflineBuild]:
    """The builds an incident counts: the user's, from ``since`` to the report, except
    those known never to have left the server."""
    return (
        _subject_builds(incident)
        .filter(
            built_at__gte=incident.since,
            built_at__lte=incident.reported_at,
        )
        .exclude(state=BuildState.NOT_DELIVERED)
        .order_by("-built_at", "-id")
    )


def incidents_list(*, actor: User) -> QuerySet[ExposureIncident]:
    incidents = ExposureIncident.objects.all()
    if not _sees_everything(actor):
        incidents = incidents.filter(subject_id=actor.pk)
    return incidents.order_by("-reported_at", "-id")


def incident_get(*, actor: User, incident_id: Any) -> ExposureIncident:
    """The incident, if the actor may read it (404 otherwise, as for one that does not
    exist)."""
    pk = _uuid(incident_id, "incident")
    incident = incidents_list(actor=actor).filter(pk=pk).first()
    if incident is None:
        raise NotFound("incident not found")
    return incident


@dataclass
class ExposedAccount:
    """One account of an incident that the reader can view."""

    account_id: uuid.UUID
    resource_id: uuid.UUID
    resource_name: str
    username: str
    status: str
    last_copy_at: datetime
    copies: int


@dataclass
class IncidentStatus:
    incident: ExposureIncident
    copies: list[OfflineBuild]
    copies_after_report: int
    not_delivered: int
    counts: Counter[str] = field(default_factory=Counter)
    # Accounts the reader cannot view, by status (counts only).
    hidden: Counter[str] = field(default_factory=Counter)
    accounts: list[ExposedAccount] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> bool:
        return self.counts[ROTATE] == 0


def incident_status(*, actor: User, incident_id: Any) -> IncidentStatus:
    """Every account in a counted copy, with its status now: ``rotate`` while its current
    password is one that was in a counted copy, ``rotated`` once it changed after the last
    copy that held it, ``deleted`` if it is gone from the vault (check the system by
    hand). Names only for accounts the actor can view."""
    incident = incident_get(actor=actor, incident_id=incident_id)
    builds = counted_builds(incident)
    copies = list(builds)
    after = _subject_builds(incident).filter(built_at__gt=incident.reported_at).count()
    not_delivered = (
        _subject_builds(incident)
        .filter(
            built_at__gte=incident.since,
            built_at__lte=incident.reported_at,
            state=BuildState.NOT_DELIVERED,
        )
        .count()
    )
    status = IncidentStatus(
        incident=incident,
        copies=copies,
        copies_after_report=after,
        not_delivered=not_delivered,
    )
    if not copies:
        return status
    build_ids = builds.values("pk")
    exposed: dict[uuid.UUID, tuple[set[int], datetime, int]] = {}
    rows = (
        ExposureSetEntry.objects.filter(exposure_set__builds__in=build_ids)
        .values_list("account_id", "version")
        .annotate(last=Max("exposure_set__builds__built_at"), n=Count("exposure_set__builds"))
        .order_by()
    )
    for account_id, version, last, n in rows.iterator(chunk_size=5000):
        versions, seen_last, seen_n = exposed.get(account_id, (set(), last, 0))
        versions.add(version)
        exposed[account_id] = (versions, max(seen_last, last), seen_n + n)
    ids = list(exposed)
    current: dict[uuid.UUID, int] = {}
    for start in range(0, len(ids), 5000):
        for pk, changed in Account.objects.filter(pk__in=ids[start : start + 5000]).values_list(
            "pk", "password_changed_at"
        ):
            current[pk] = version_of(changed)
    visible = resources_visible(user=actor).values("pk")
    names: dict[uuid.UUID, tuple[uuid.UUID, str, str]] = {}
    for start in range(0, len(ids), 5000):
        for pk, rid, rname, username in (
            Account.objects.filter(pk__in=ids[start : start + 5000], resource_id__in=visible)
            .values_list("pk", "resource_id", "resource__name", "username")
            .order_by()
        ):
            names[pk] = (rid, rname, username)
    for account_id, (versions, last, n) in exposed.items():
        if account_id not in current:
            state = DELETED
        elif current[account_id] in versions:
            state = ROTATE
        else:
            state = ROTATED
        status.counts[state] += 1
        named = names.get(account_id)
        if named is None:
            status.hidden[state] += 1
            continue
        rid, rname, username = named
        status.accounts.append(
            ExposedAccount(
                account_id=account_id,
                resource_id=rid,
                resource_name=rname,
                username=username,
                status=state,
                last_copy_at=last,
                copies=n,
            )
        )
    order = {ROTATE: 0, DELETED: 1, ROTATED: 2}
    status.accounts.sort(
        key=lambda a: (order[a.status], a.resource_name.casefold(), a.username.casefold())
    )
    return status


@dataclass
class AccountCopy:
    build: OfflineBuild
    current_password: bool


@dataclass
class AccountExposure:
    """Who had one account offline. ``copies`` is empty for a counts-only reader."""

    account: Account
    full: bool
    users: int
    copy_count: int
    with_current_password: int
    last_at: datetime | None
    copies: list[AccountCopy]


def account_exposure(*, actor: User, account_id: Any) -> AccountExposure:
    """Every copy that held the account (any password version), newest first, for those who
    may manage it; counts only for an auditor who can view it; 403 for other viewers, 404
    for everyone else."""
    account = account_get(user=actor, account_id=account_id, min_level=AccessLevel.VIEW)
    level = getattr(account, "access_level", 0)
    full = level >= AccessLevel.MANAGE
    if not full and not has_perm(actor, Perm.AUDIT_READ):
        raise PermissionDenied(
            "only those who may manage this account see who had it offline", level="manage"
        )
    current = version_of(account.password_changed_at)
    versions = dict(
        ExposureSetEntry.objects.filter(account_id=account.pk).values_list(
            "exposure_set_id", "version"
        )
    )
    builds = OfflineBuild.objects.filter(exposure_set_id__in=list(versions)).exclude(
        state=BuildState.NOT_DELIVERED
    )
    summary = builds.aggregate(
        users=Count("user", distinct=True),
        copies=Count("pk"),
        last=Max("built_at"),
        current=Count(
            "pk",
            filter=Q(exposure_set_id__in=[s for s, v in versions.items() if v == current] or [-1]),
        ),
    )
    copies: list[AccountCopy] = []
    if full:
        for build in builds.order_by("-built_at", "-id")[:MAX_ACCOUNT_BUILDS]:
            copies.append(
                AccountCopy(
                    build=build, current_password=versions.get(build.exposure_set_id) == current
                )
            )
    return AccountExposure(
        account=account,
        full=full,
        users=summary["users"] or 0,
        copy_count=summary["copies"] or 0,
        with_current_password=summary["current"] or 0,
        last_at=summary["last"],
        copies=copies,
    )
