"""Auto-synchronisation: keep each synced copy the user asked for current (docs/sync.md,
"Auto-synchronisation").

The server keeps only the copy's public key and its private key wrapped under the user's
passphrase (``SyncCopy.copy_keys``), so it can rebuild the file (ECDH to the public key)
but never open it; the same passphrase opens every version.

* ``sync_copies_touch`` is called (after commit, by ``sync.hooks``, the subscriber to
  ``core.events.scope_changed``) whenever something the
  user may see changed. It adds one to each of the user's kept copies' ``change_seq`` and, if
  no rebuild is pending, sets ``due_at = now + debounce`` and schedules the copy's ID for
  then. ``due_at`` is never pushed back, so a burst that keeps going still gets one upload
  per window instead of starving.
* ``sync_copy_claim`` turns a due copy into a SyncJob in one transaction (row locked; SKIP
  LOCKED on PostgreSQL, SQLite serialises writers): only if the copy is still due, kept in
  sync, no job of its connection is active, and its last automatic rebuild began at least
  one debounce window ago. It copies ``change_seq`` into ``built_seq`` and clears
  ``due_at``; a change arriving during the rebuild sets ``due_at`` again (one more
  rebuild). The upload is an ordinary SyncJob (leases, retries, audit, notifications).
* ``sync_copies_sweep`` (every minute, every worker) resumes copies whose connection was
  reconnected, marks copies due for the periodic full check, and claims everything due, so
  a lost queue message or a restart misses nothing: the state is in the database.

Policy at every claim: a user no longer allowed to export has their copies stopped (user
and administrators told once); a connection that needs re-authorisation pauses the copy
(user told once) until it is reconnected.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from strongroom.accounts.models import Role, User
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import AppError, AuditUnavailable, Conflict, NotFound
from strongroom.exports import policy as export_policy
from strongroom.exports.offline_copy import copy_keys_make
from strongroom.notifications.services import notification_post
from strongroom.storage.models import StorageConnection
from strongroom.sync.common import (
    Clock,
    RetryPolicy,
    connection_for,
    copies_enqueue,
    debounce_seconds,
    full_check_seconds,
    job_enqueue,
    provider_label,
    refusal_audit,
)
from strongroom.sync.keys import (
    NEEDS_PASSPHRASE,
    NEEDS_PASSPHRASE_MESSAGE,
    AnyKeys,
    copy_keys_can_build,
    copy_keys_copy,
    copy_keys_store,
    passphrase_reuse_refuse,
)
from strongroom.sync.models import ACTIVE_STATES, AutoState, JobTrigger, SyncCopy, SyncJob
from strongroom.sync.selectors import sync_copy_get

logger = logging.getLogger(__name__)

COPIES_LINK = "/sync/copies/"


def _locked(queryset: Any) -> Any:
    """Lock the copy rows only (not the joined user and connection rows), skipping rows
    another worker holds; SQLite's IMMEDIATE transactions already serialise writers."""
    from django.db import connection as db_connection

    features = db_connection.features
    if features.has_select_for_update_skip_locked:
        of = ("self",) if features.has_select_for_update_of else ()
        return queryset.select_for_update(skip_locked=True, of=of)
    return queryset


def _schedule(copy_id: Any, eta: datetime | None) -> None:
    copies_enqueue([copy_id], eta)


# --------------------------------------------------------------------------- triggers


def sync_copies_touch(
    *, user_ids: Iterable[Any], cause: str = "change", clock: Clock = timezone.now
) -> int:
    """Something these users may see changed: mark their kept copies stale and schedule
    one debounced rebuild each. Returns how many copies were marked."""
    ids = {u if isinstance(u, uuid.UUID) else uuid.UUID(str(u)) for u in user_ids if u}
    if not ids:
        return 0
    now = clock()
    due = now + timedelta(seconds=debounce_seconds())
    kept = SyncCopy.objects.filter(user_id__in=ids, keep_in_sync=True)
    with transaction.atomic():
        marked = kept.update(change_seq=F("change_seq") + 1)
        if not marked:
            return 0
        fresh = list(
            kept.filter(auto_state=AutoState.ACTIVE, due_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        if fresh:
            SyncCopy.objects.filter(pk__in=fresh, due_at__isnull=True).update(due_at=due)
            transaction.on_commit(lambda: copies_enqueue(fresh, due))
    logger.debug("auto-sync: %d copies of %d users stale (%s)", marked, len(ids), cause)
    return marked


# --------------------------------------------------------------------------- claim


def _admins() -> list[User]:
    return list(User.objects.filter(role=Role.ADMIN, is_active=True))


def _audit_state(*, copy: SyncCopy, action: str, details: dict[str, Any], actor: Any) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="sync_copy",
        object_id=str(copy.pk),
        object_name=copy.connection.provider if copy.connection_id else "",
        details={"user_id": str(copy.user_id), **details},
    )


def _stop(*, copy: SyncCopy, code: str, message: str, tell_admins: bool, now: datetime) -> None:
    """Inside a transaction, the copy locked: keep-in-sync ends (policy, inactive user)."""
    if copy.auto_state == AutoState.STOPPED and copy.state_code == code:
        return
    copy.keep_in_sync = False
    copy.auto_state = AutoState.STOPPED
    copy.state_code = code[:40]
    copy.state_message = message[:1000]
    copy.due_at = None
    copy.urgent = False
    copy.save()
    label = provider_label(copy.connection.provider)
    try:
        _audit_state(
            copy=copy,
            action=AuditAction.SYNC_AUTO_STOP,
            details={"system": True, "code": code, "problem": message},
            actor=None,
        )
    except AuditUnavailable:
        logger.error("could not audit the stop of synced copy %s", copy.pk)
    notification_post(
        user=copy.user,
        level="warning",
        title=f"Your {label} offline copy is no longer kept up to date"[:200],
        body=f"{message}. The last copy stays where it is but will not change.",
        link=COPIES_LINK,
        kind="sync_failed",
    )
    if tell_admins:
        for admin in _admins():
            if admin.pk == copy.user_id:
                continue
            notification_post(
                user=admin,
                level="info",
                title=f"Auto-sync stopped for {copy.user.username}"[:200],
                body=f"{copy.user.username}'s {label} copy stopped: {message}.",
                link=COPIES_LINK,
                kind="config_problem",
            )
    logger.info("auto-sync: copy %s stopped (%s)", copy.pk, code)


def _pause(*, copy: SyncCopy, code: str, message: str, notify: bool) -> None:
    """Inside a transaction, the copy locked: wait for the user to reconnect."""
    if copy.auto_state == AutoState.PAUSED:
        return
    copy.auto_state = AutoState.PAUSED
    copy.state_code = code[:40]
    copy.state_message = message[:1000]
    copy.save()
    if notify and code == NEEDS_PASSPHRASE:
        label = provider_label(copy.connection.provider)
        notification_post(
            user=copy.user,
            level="warning",
            title=f"Set your {label} offline copy's passphrase again"[:200],
            body=(
                f"Your {label} copy was set up before offline files were authenticated "
                "against forgery (format version 2). Nothing is uploaded until you set its "
                "passphrase again under Synced copies; it then resumes by itself."
            ),
            link=COPIES_LINK,
            kind="copy_passphrase",
        )
    elif notify:
        label = provider_label(copy.connection.provider)
        notification_post(
            user=copy.user,
            level="warning",
            title=f"Reconnect {label} to keep your offline copy up to date"[:200],
            body=(
                f"{message}. Reconnect {label} in Settings → Cloud storage; the copy resumes "
                "by itself."
            ),
            link=COPIES_LINK,
            kind="reauth_needed",
        )
    logger.info("auto-sync: copy %s paused (%s)", copy.pk, code)


def _refusal(copy: SyncCopy) -> tuple[str, str, str] | None:
    """Why the copy may not be rebuilt now: (kind, code, message) with kind ``stop`` or
    ``pause``; None when it may."""
    from strongroom.storage.registry import providers_available

    user = copy.user
    if not user.is_active:
        return ("stop", "user_inactive", "the account is deactivated")
    decision = export_policy.export_decision(user=user)
    if not decision.allowed:
        return ("stop", "export_refused", f"the export policy refuses it: {decision.explanation}")
    if not copy_keys_can_build(copy):
        return ("pause", NEEDS_PASSPHRASE, NEEDS_PASSPHRASE_MESSAGE)
    conn = copy.connection
    label = provider_label(conn.provider)
    if conn.provider not in providers_available():
        return ("pause", "provider_disabled", f"the administrator turned off {label}")
    if conn.status != StorageConnection.Status.CONNECTED:
        return ("pause", "connection_needs_reauth", f"{label} needs to be reconnected")
    return None


def _job_create(*, copy: SyncCopy, trigger: str, now: datetime, reason: str = "") -> SyncJob:
    """Inside a transaction, the copy locked: the upload job of this copy, enqueued on
    commit."""
    job = SyncJob(
        user_id=copy.user_id,
        connection_id=copy.connection_id,
        provider=copy.connection.provider,
        reason=reason,
        object_name=copy.object_name,
        max_attempts=RetryPolicy.current().max_attempts,
        trigger=trigger,
        sync_copy=copy,
        keep_in_sync=copy.keep_in_sync,
        created_at=now,
    )
    copy_keys_copy(source=copy, target=job)
    job.save(force_insert=True)
    copy.built_seq = copy.change_seq
    copy.due_at = None
    copy.urgent = False
    if trigger == JobTrigger.AUTO:
        copy.last_started_at = now
    copy.save()
    job_id = job.pk
    transaction.on_commit(lambda: job_enqueue(job_id, attempt=0))
    return job


def _connection_busy(copy: SyncCopy) -> bool:
    return SyncJob.objects.filter(
        user_id=copy.user_id, connection_id=copy.connection_id, state__in=ACTIVE_STATES
    ).exists()


def sync_copy_claim(*, copy_id: Any, clock: Clock = timezone.now) -> SyncJob | None:
    """Start the rebuild of one copy if it is due (a no-op otherwise: running it twice, or
    from two workers at once, starts at most one job)."""
    now = clock()
    window = timedelta(seconds=debounce_seconds())
    with transaction.atomic():
        copy = _locked(
            SyncCopy.objects.filter(
                pk=copy_id, keep_in_sync=True, auto_state=AutoState.ACTIVE, due_at__lte=now
            ).select_related("user", "connection")
        ).first()
        if copy is None:
            return None
        refused = _refusal(copy)
        if refused is not None:
            kind, code, message = refused
            if kind == "stop":
                _stop(copy=copy, code=code, message=message, tell_admins=True, now=now)
            else:
                _pause(copy=copy, code=code, message=message, notify=True)
            return None
        if _connection_busy(copy):
            # The running job's end kicks this copy again (and the sweep would anyway).
            return None
        if (
            not copy.urgent
            and copy.last_started_at is not None
            and copy.last_started_at + window > now
        ):
            later = copy.last_started_at + window
            copy.due_at = later
            copy.save(update_fields=["due_at", "updated_at"])
            transaction.on_commit(lambda: _schedule(copy_id, later))
            return None
        trigger = JobTrigger.AUTO
        job = _job_create(copy=copy, trigger=trigger, now=now)
    logger.info("auto-sync: copy %s rebuild started as job %s", copy_id, job.pk)
    return job


# --------------------------------------------------------------------------- job end


def sync_copy_job_ended(
    *,
    job: SyncJob,
    succeeded: bool,
    code: str = "",
    message: str = "",
    auth: bool = False,
    now: datetime,
) -> bool:
    """Called by the job machinery inside its final transaction. Records the outcome on the
    copy, pauses or stops it when the problem calls for that, and kicks the copy again if it
    became due meanwhile. Returns whether the user should get the job's notification."""
    copy = (
        SyncCopy.objects.select_for_update()
        .select_related("user", "connection")
        .filter(pk=job.sync_copy_id)
        .first()
        if job.sync_copy_id
        else None
    )
    if copy is None:
        return True
    automatic = job.trigger == JobTrigger.AUTO
    notify = True
    if succeeded:
        recovered = bool(copy.last_error_code)
        copy.last_error = copy.last_error_code = ""
        copy.last_error_at = None
        # An automatic success is only news if the copy had been failing.
        notify = not automatic or recovered
        if copy.copy_keys != job.copy_keys and copy.keep_in_sync:
            # The passphrase changed while this job ran with the old key: rebuild with the new.
            copy.due_at = now
            copy.urgent = True
    else:
        # Each distinct problem of automatic rebuilds is told once, not at every change.
        notify = not (automatic and copy.last_error_code == code[:40])
        copy.last_error = message[:1000]
        copy.last_error_code = code[:40]
        copy.last_error_at = now
        if auth or code == NEEDS_PASSPHRASE:
            copy.save()
            _pause(copy=copy, code=code, message=message, notify=False)
        elif code in ("export_refused", "user_inactive") and copy.keep_in_sync:
            copy.save()
            _stop(copy=copy, code=code, message=message, tell_admins=True, now=now)
            notify = False
    copy.save()
    if copy.keep_in_sync and copy.auto_state == AutoState.ACTIVE and copy.due_at is not None:
        due, pk = copy.due_at, copy.pk
        transaction.on_commit(lambda: _schedule(pk, due))
    return notify


# --------------------------------------------------------------------------- sweep


@dataclass(frozen=True)
class AutoSweepResult:
    resumed: int
    full_check: int
    started: int


def sync_copies_sweep(*, clock: Clock = timezone.now, limit: int = 1000) -> AutoSweepResult:
    """Every minute on every worker: resume reconnected copies, mark copies due for the
    periodic full check, and start every due rebuild (each claim is atomic, so several
    workers sweeping at once start each rebuild once)."""
    from strongroom.storage.registry import providers_available

    now = clock()
    paused = SyncCopy.objects.filter(
        keep_in_sync=True,
        auto_state=AutoState.PAUSED,
        connection__status=StorageConnection.Status.CONNECTED,
        connection__provider__in=providers_available(),
    ).exclude(state_code=NEEDS_PASSPHRASE)
    resumed = paused.update(
        auto_state=AutoState.ACTIVE, state_code="", state_message="", due_at=now, urgent=True
    )
    cut = now - timedelta(seconds=full_check_seconds())
    full = SyncCopy.objects.filter(
        Q(last_started_at__lte=cut) | Q(last_started_at__isnull=True, created_at__lte=cut),
        keep_in_sync=True,
        auto_state=AutoState.ACTIVE,
        due_at__isnull=True,
    ).update(due_at=now)
    due = list(
        SyncCopy.objects.filter(keep_in_sync=True, auto_state=AutoState.ACTIVE, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    started = sum(1 for pk in due if sync_copy_claim(copy_id=pk, clock=lambda: now))
    if resumed or full or started:
        logger.info(
            "auto-sync sweep: %d resumed, %d due for the full check, %d rebuilds started",
            resumed,
            full,
            started,
        )
    return AutoSweepResult(resumed=resumed, full_check=full, started=started)


# --------------------------------------------------------------------------- controls


def _owned_copy(*, actor: User, copy_id: Any, admin_ok: bool) -> SyncCopy:
    found = sync_copy_get(actor=actor, copy_id=copy_id)
    if found.user_id != actor.pk and not admin_ok:
        raise NotFound("synced copy not found", field="copy_id")
    return found


def sync_copy_keep_set(
    *, actor: User, copy_id: Any, keep: bool, client_ip: str | None = None
) -> SyncCopy:
    """Stop keeping a copy in sync (its owner or an administrator), or start again (its
    owner, when the policy allows exports and the connection works; rebuilt at once)."""
    found = _owned_copy(actor=actor, copy_id=copy_id, admin_ok=not keep)
    if keep:
        export_policy.export_require(user=actor, policy=export_policy.policy_get())
    now = timezone.now()
    with transaction.atomic():
        copy = _copy_locked(found.pk)
        audit_record(
            actor=actor,
            action=AuditAction.SYNC_KEEP if keep else AuditAction.SYNC_AUTO_STOP,
            object_type="sync_copy",
            object_id=str(copy.pk),
            object_name=copy.connection.provider,
            client_ip=client_ip,
            details={"user_id": str(copy.user_id), "keep_in_sync": keep},
        )
        if keep:
            copy.keep_in_sync = True
            copy.auto_state = AutoState.ACTIVE
            copy.state_code = copy.state_message = ""
            copy.due_at = now
            copy.urgent = True
        else:
            copy.keep_in_sync = False
            copy.auto_state = AutoState.OFF
            copy.state_code = "stopped_by_admin" if actor.pk != copy.user_id else ""
            copy.state_message = (
                f"stopped by the administrator {actor.username}" if actor.pk != copy.user_id else ""
            )
            copy.due_at = None
            copy.urgent = False
            if actor.pk != copy.user_id:
                notification_post(
                    user=copy.user,
                    level="warning",
                    title="An administrator stopped your offline copy's updates"[:200],
                    body=(
                        f"{actor.username} stopped keeping your "
                        f"{provider_label(copy.connection.provider)} copy up to date. The last "
                        "copy stays where it is."
                    ),
                    link=COPIES_LINK,
                )
        copy.save()
        if keep:
            transaction.on_commit(lambda: _schedule(copy.pk, None))
    logger.info("synced copy %s keep_in_sync=%s by user %s", copy.pk, keep, actor.pk)
    return copy


def _copy_locked(pk: Any) -> SyncCopy:
    return SyncCopy.objects.select_for_update().select_related("user", "connection").get(pk=pk)


def _manual_job(*, copy: SyncCopy, trigger: str, reason: str, now: datetime) -> SyncJob | None:
    """Inside a transaction: start the job now, or, if one of the connection's jobs is
    still running, mark the copy urgent so it runs right after."""
    if _connection_busy(copy):
        copy.due_at = now
        copy.urgent = True
        copy.save()
        return None
    return _job_create(copy=copy, trigger=trigger, now=now, reason=reason)


def _usable(copy: SyncCopy) -> None:
    connection_for(actor=copy.user, connection_id=copy.connection_id)


def sync_copy_resync(*, actor: User, copy_id: Any, client_ip: str | None = None) -> SyncJob | None:
    """Rebuild and upload the copy now (its owner), under the current policy. Returns the
    job, or None when it was queued behind a job of the same connection."""
    copy = _owned_copy(actor=actor, copy_id=copy_id, admin_ok=False)
    export_policy.export_require(user=actor, policy=export_policy.policy_get())
    _usable(copy)
    if not copy_keys_can_build(copy):
        raise Conflict(
            NEEDS_PASSPHRASE_MESSAGE[0].upper() + NEEDS_PASSPHRASE_MESSAGE[1:],
            code=NEEDS_PASSPHRASE,
        )
    now = timezone.now()
    with transaction.atomic():
        locked = _copy_locked(copy.pk)
        audit_record(
            actor=actor,
            action=AuditAction.SYNC_RESYNC,
            object_type="sync_copy",
            object_id=str(locked.pk),
            object_name=locked.connection.provider,
            client_ip=client_ip,
            details={"user_id": str(locked.user_id)},
        )
        job = _manual_job(copy=locked, trigger=JobTrigger.RESYNC, reason="", now=now)
        if job is None and not locked.keep_in_sync:
            raise Conflict("a sync of this copy is running; try again when it has finished")
    return job


def sync_copy_rekey(
    *,
    actor: User,
    copy_id: Any,
    passphrase: str,
    reason: str = "",
    client_ip: str | None = None,
) -> SyncJob | None:
    """A new passphrase for the copy (its owner): policy-checked like ``sync_request``, new
    keys made from it (then forgotten), the copy rebuilt with them at once. The old
    passphrase opens the copy until that upload lands."""
    copy = _owned_copy(actor=actor, copy_id=copy_id, admin_ok=False)
    try:
        current = export_policy.policy_get()
        export_policy.export_require(user=actor, policy=current)
        _usable(copy)
        clean_reason = export_policy.reason_clean(reason, policy=current)
        export_policy.passphrase_require(user=actor, passphrase=passphrase, policy=current)
        passphrase_reuse_refuse(user_id=actor.pk, passphrase=passphrase)
    except AppError as exc:
        refusal_audit(
            actor=actor, exc=exc, reason=reason, client_ip=client_ip, connection_id=copy_id
        )
        raise
    # The copy keeps its format: a KeePass copy gets a new salt and transformed key.
    keys = copy_keys_make(passphrase=passphrase, fmt=copy.format, policy=current)
    del passphrase
    now = timezone.now()
    with transaction.atomic():
        locked = _copy_locked(copy.pk)
        audit_record(
            actor=actor,
            action=AuditAction.SYNC_REKEY,
            object_type="sync_copy",
            object_id=str(locked.pk),
            object_name=locked.connection.provider,
            reason=clean_reason,
            client_ip=client_ip,
            details={
                "user_id": str(locked.user_id),
                "format": locked.format,
                "kdf_iterations": keys.iterations,
                "key_fingerprint": keys.fingerprint,
            },
        )
        copy_keys_store(locked, keys)
        if locked.auto_state == AutoState.PAUSED and locked.state_code == NEEDS_PASSPHRASE:
            # The version 1 keys were the only reason to wait: the new ones build files.
            locked.auto_state = AutoState.ACTIVE
            locked.state_code = locked.state_message = ""
        locked.save()
        job = _manual_job(copy=locked, trigger=JobTrigger.REKEY, reason=clean_reason, now=now)
    logger.info("synced copy %s re-keyed by user %s", copy.pk, actor.pk)
    return job


def sync_copy_for_request(
    *, user: User, conn: StorageConnection, copy_keys: AnyKeys, object_name: str
) -> SyncCopy:
    """Inside ``sync_request``'s transaction when "keep this copy up to date" is ticked: the
    copy takes the new keys now and is kept in sync from here on (changes during the first
    upload are counted and rebuilt after it)."""
    copy, _ = SyncCopy.objects.select_for_update().get_or_create(
        user=user,
        connection=conn,
        defaults={"object_name": object_name, "copy_keys": copy_keys.to_dict()},
    )
    copy.object_name = object_name
    copy_keys_store(copy, copy_keys)
    copy.keep_in_sync = True
    copy.auto_state = AutoState.ACTIVE
    copy.state_code = copy.state_message = ""
    copy.built_seq = copy.change_seq
    copy.due_at = None
    copy.urgent = False
    copy.save()
    return copy
