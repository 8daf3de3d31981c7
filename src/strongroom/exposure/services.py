"""Writes of the exposure register: a build and what it held, its delivery, an incident.

Every offline copy is built by ``exports.offline_copy.offline_copy_build``, which calls
``build_record`` before it hands the file back, so no copy leaves the server unrecorded
(fail closed: if the register cannot be written, the build fails and nothing is handed out).
The caller then says whether the file got where it was going (``build_delivered`` /
``build_not_delivered``); a build never marked either way stays ``built`` and counts as
exposed (a worker killed mid-upload may have landed the file).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.core.validation import text_clean
from strongroom.exposure.models import (
    BuildState,
    Destination,
    ExposureIncident,
    ExposureSet,
    ExposureSetEntry,
    OfflineBuild,
)
from strongroom.exposure.selectors import counted_builds, utc_or_refuse

logger = logging.getLogger(__name__)

ENTRY_BATCH = 5000
MAX_NOTE = 1000


@dataclass(frozen=True)
class BuildDestination:
    """Where a build goes: handed out as a file, or uploaded to a storage connection."""

    kind: str = Destination.DOWNLOAD
    object_name: str = ""
    provider: str = ""
    connection_id: Any = None
    connection_label: str = ""
    sync_job_id: Any = None
    sync_copy_id: Any = None


def _digest(pairs: list[tuple[str, int]]) -> str:
    text = "".join(f"{account_id}:{version}\n" for account_id, version in pairs)
    return hashlib.sha256(text.encode()).hexdigest()


def _entries_insert(set_id: int, pairs: list[tuple[str, int]]) -> None:
    """One row per pair, by ``executemany`` of a plain INSERT: building 100,000 model
    instances for ``bulk_create`` cost more than the rest of the register together. The
    account ID is passed as the column stores it (SQLite: 32 hex digits; PostgreSQL: uuid)."""
    table = connection.ops.quote_name(ExposureSetEntry._meta.db_table)
    columns = "(exposure_set_id, account_id, version)"
    if connection.vendor == "sqlite":
        rows: list[tuple[int, Any, int]] = [
            (set_id, account_id.replace("-", ""), version) for account_id, version in pairs
        ]
    else:
        rows = [(set_id, uuid.UUID(account_id), version) for account_id, version in pairs]
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if connection.vendor == "postgresql" and hasattr(raw, "copy"):
            # psycopg 3: COPY is several times faster than row-by-row inserts here.
            with raw.copy(f"COPY {table} {columns} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} {columns} VALUES (%s, %s, %s)"  # noqa: S608 (our own table name)
        for start in range(0, len(rows), ENTRY_BATCH):
            cursor.executemany(sql, rows[start : start + ENTRY_BATCH])


def _set_for(pairs: list[tuple[str, int]], now: datetime) -> ExposureSet:
    """The content-addressed set of these pairs: an existing one, or a new one with its
    entries (the only time entry rows are written)."""
    digest = _digest(pairs)
    found = ExposureSet.objects.filter(digest=digest).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            created = ExposureSet.objects.create(
                digest=digest, entry_count=len(pairs), created_at=now
            )
            _entries_insert(created.pk, pairs)
            return created
    except IntegrityError:
        # Another build recorded the same set meanwhile.
        return ExposureSet.objects.get(digest=digest)


def build_record(
    *,
    user: User,
    fmt: str,
    built_at: datetime,
    destination: BuildDestination,
    versions: list[tuple[str, int]],
) -> OfflineBuild:
    """Record one build: who, format, when, where it goes and the (account ID, password
    version) pairs it holds. Raises whatever the database raises: the caller must not hand
    out a copy the register does not know."""
    # One pair per account (an export lists each account once), in account ID order.
    pairs = sorted(dict(versions).items())
    with transaction.atomic():
        exposure_set = _set_for(pairs, built_at)
        build = OfflineBuild.objects.create(
            user=user,
            username=user.username,
            format=fmt,
            built_at=built_at,
            destination=destination.kind,
            provider=destination.provider[:32],
            connection_id=destination.connection_id,
            connection_label=destination.connection_label[:300],
            object_name=destination.object_name[:1000],
            sync_job_id=destination.sync_job_id,
            sync_copy_id=destination.sync_copy_id,
            entry_count=len(pairs),
            exposure_set=exposure_set,
        )
    logger.info(
        "offline build %s recorded: user %s, %s, %d entries, set %s",
        build.pk,
        user.pk,
        fmt,
        len(pairs),
        exposure_set.pk,
    )
    return build


def build_delivered(*, build_id: Any, object_name: str | None = None) -> None:
    """The file reached its destination (handed out, or accepted by the provider)."""
    changes: dict[str, Any] = {"state": BuildState.DELIVERED, "delivered_at": timezone.now()}
    if object_name:
        changes["object_name"] = object_name[:1000]
    OfflineBuild.objects.filter(pk=build_id).exclude(state=BuildState.DELIVERED).update(**changes)


def build_not_delivered(*, build_id: Any, problem: str) -> None:
    """The file never left the server: the download was refused after the build, or the
    provider refused the upload. Such builds do not count in incidents."""
    OfflineBuild.objects.filter(pk=build_id, state=BuildState.BUILT).update(
        state=BuildState.NOT_DELIVERED, problem=problem[:300]
    )


def _since_clean(value: Any, now: datetime) -> datetime:
    """A date (the start of that day, UTC) or an aware date and time, not in the future."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min, tzinfo=UTC)
    elif isinstance(value, str):
        text = text_clean("since", value, max_length=40, required=True, strip=True)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValidationFailed(
                "since must be a date (YYYY-MM-DD) or a date and time (ISO 8601)",
                field="since",
                problem="format",
            ) from exc
        if len(text) == 10:
            moment = datetime.combine(moment.date(), time.min, tzinfo=UTC)
    else:
        raise ValidationFailed("since is required: the date from which copies count", field="since")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = utc_or_refuse(moment)
    if moment > now:
        raise ValidationFailed("since is in the future", field="since", problem="future")
    return moment


def incident_report(
    *,
    actor: User,
    user_id: Any,
    since: Any,
    note: str = "",
    client_ip: str | None = None,
) -> ExposureIncident:
    """Report a lost device (or any leak of a user's offline copies): the copies built for
    ``user_id`` from ``since`` until now count, and each password in them must be changed.
    Administrators report for anyone, everyone else for themselves only."""
    is_admin = has_perm(actor, Perm.USERS_MANAGE)
    if not (actor.is_authenticated and actor.is_active):
        raise PermissionDenied("sign in to report a lost device")
    try:
        subject_pk: uuid.UUID | None = uuid.UUID(str(user_id))
    except ValueError:
        subject_pk = None
    # Any spelling of one's own ID (upper case, braces) is oneself; anything else,
    # malformed included, is someone else's device: refused before it is looked at.
    if not is_admin and subject_pk != actor.pk:
        raise PermissionDenied(
            "you may report a lost device only for yourself (administrators: for anyone)",
            permission=Perm.USERS_MANAGE.value,
        )
    if subject_pk is None:
        raise ValidationFailed("user_id is not a user ID", field="user_id")
    subject = User.objects.filter(pk=subject_pk).first()
    if subject is None:
        raise NotFound("no such user")
    now = timezone.now()
    moment = _since_clean(since, now)
    clean_note = text_clean("note", note if note is not None else "", max_length=MAX_NOTE)
    with transaction.atomic():
        incident = ExposureIncident(
            subject=subject,
            subject_name=subject.username,
            since=moment,
            reported_at=now,
            reported_by=actor,
            reported_by_name=actor.username,
            note=clean_note,
        )
        builds = counted_builds(incident)
        audit_record(
            actor=actor,
            action=AuditAction.EXPOSURE_INCIDENT_REPORT,
            object_type="exposure_incident",
            object_id=str(incident.pk),
            object_name=subject.username,
            client_ip=client_ip,
            details={
                "user_id": str(subject.pk),
                "since": moment.isoformat(),
                "copies": builds.count(),
                "note": clean_note,
            },
        )
        incident.save(force_insert=True)
    logger.info("exposure incident %s reported for user %s", incident.pk, subject.pk)
    return incident
