"""Exports (encrypted offline HTML file, CSV and XLSX spreadsheets) and the export policy.

Every export runs the same steps whichever client asks (web page, API, CLI):

1. the policy: may this user export at all (rule precedence in ``policy.py``), plain text
   allowed (spreadsheets with passwords), the reason when mandatory, the passphrase rules;
2. the scope: everything the user can view, or chosen resource groups they can see;
3. the file is built in memory;
4. one audit record (who, scope, entry count, format, reason, the file's SHA-256) is
   written; only then are the bytes handed out. If the record cannot be written nothing is
   handed out (fail closed).

A refused export is audited too (outcome ``failure``, with the refusal), so administrators
see attempts. The passphrase is never logged, stored or put in an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone

from strongroom.accounts.models import Role, User, UserGroup
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record, audit_records
from strongroom.core.errors import AppError, AuditUnavailable, ErrorCode, NotFound, ValidationFailed
from strongroom.core.progress import ProgressFactory, no_progress
from strongroom.crypto import kdbx
from strongroom.exports import policy as export_policy
from strongroom.exports import selectors, spreadsheet
from strongroom.exports.models import (
    HTML_ATTACHMENT_CEILING_BYTES,
    HTML_ATTACHMENTS_TOTAL_CEILING_BYTES,
    OFFLINE_FORMATS,
    ExportPolicy,
    ExportRule,
)
from strongroom.exports.offline_copy import copy_keys_make, offline_copy_build
from strongroom.exports.policy import Policy
from strongroom.exposure.models import Destination
from strongroom.exposure.services import BuildDestination, build_delivered, build_not_delivered
from strongroom.notifications.services import notification_post_team_export

logger = logging.getLogger(__name__)

SPREADSHEET_FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "kdbx": "application/x-keepass2",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
T = TypeVar("T")


@dataclass(frozen=True)
class ExportResult:
    filename: str
    content: bytes
    sha256: str
    entry_count: int
    format: str
    content_type: str


def _file_stem(user: User, kind: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", user.username).strip("-.") or "user"
    return f"strongroom-{kind}-{name[:60]}-{timezone.now().strftime('%Y%m%d-%H%M')}"


def _refusal_record(
    *,
    actor: User,
    fmt: str,
    exc: AppError,
    reason: str,
    client_ip: str | None,
    resource_group_ids: Any,
    with_passwords: bool | None = None,
    resource_ids: Any = None,
) -> None:
    """Audit a refused export (outcome failure). A failure to audit it is logged; the export
    stays refused either way."""
    details: dict[str, Any] = {
        "format": fmt,
        "refusal": exc.details.get("refusal") or exc.code,
        "problem": exc.message,
    }
    if resource_ids and isinstance(resource_ids, list | tuple):
        details["requested_resource_ids"] = [str(r)[:64] for r in list(resource_ids)[:50]]
        details["requested_resources"] = len(resource_ids)
    elif resource_group_ids:
        details["requested_resource_group_ids"] = [
            str(g)[:64] for g in list(resource_group_ids)[:50]
        ]
    else:
        details["scope"] = "all"
    if with_passwords is not None:
        details["with_passwords"] = with_passwords
    try:
        audit_record(
            actor=actor,
            action=_audit_action(fmt),
            object_type="export",
            object_name=fmt,
            reason=reason[:2000] if isinstance(reason, str) and "\x00" not in reason else "",
            client_ip=client_ip,
            details=details,
            outcome="failure",
        )
    except AuditUnavailable:
        logger.error("could not audit a refused %s export by user %s", fmt, actor.pk)


def _checked(
    step: Callable[[], T],
    *,
    actor: User,
    fmt: str,
    reason: Any,
    client_ip: str | None,
    resource_group_ids: Any,
    with_passwords: bool | None = None,
    resource_ids: Any = None,
) -> T:
    try:
        return step()
    except AppError as exc:
        _refusal_record(
            actor=actor,
            fmt=fmt,
            exc=exc,
            reason=reason if isinstance(reason, str) else "",
            client_ip=client_ip,
            resource_group_ids=resource_group_ids,
            with_passwords=with_passwords,
            resource_ids=resource_ids,
        )
        logger.info("%s export by user %s refused: %s", fmt, actor.pk, exc.code)
        raise


class ExportWriteFailed(AppError):
    code = ErrorCode.EXPORT_WRITE_FAILED
    status = 500


class ExportFile:
    """Where the CLI writes an export: staged to a temporary file (0600) beside ``path``
    inside the audit transaction, so a file that cannot be written (missing directory,
    full disk) rolls the success record back and is audited as a failure; renamed into
    place only after the record committed."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")

    def stage(self, content: bytes) -> None:
        try:
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            self.discard()
            raise

    def publish(self) -> None:
        self._temp.replace(self.path)

    def discard(self) -> None:
        try:
            self._temp.unlink(missing_ok=True)
        except OSError:
            logger.warning("could not remove the temporary export file %s", self._temp.name)


def _audit_action(fmt: str) -> str:
    # Offline copies are audited per format (export.html, export.kdbx; export.offline for
    # a refused request that named no known format).
    return "export.spreadsheet" if fmt in (*SPREADSHEET_FORMATS, "spreadsheet") else f"export.{fmt}"


def _write_failure_record(
    *, actor: User, fmt: str, filename: str, exc: OSError, reason: str, client_ip: str | None
) -> ExportWriteFailed:
    problem = exc.strerror or type(exc).__name__
    try:
        audit_record(
            actor=actor,
            action=_audit_action(fmt),
            object_type="export",
            object_name=filename,
            reason=reason,
            client_ip=client_ip,
            details={"format": fmt, "refusal": "export_write_failed", "problem": problem},
            outcome="failure",
        )
    except AuditUnavailable:
        logger.error("could not audit a failed %s export by user %s", fmt, actor.pk)
    logger.warning("%s export by user %s could not be written: %s", fmt, actor.pk, problem)
    return ExportWriteFailed(f"the file could not be written: {problem}; nothing was exported")


def _deliver(
    *,
    actor: User,
    fmt: str,
    content: bytes,
    filename: str,
    entry_count: int,
    scope: selectors.ExportScope,
    reason: str,
    client_ip: str | None,
    extra: dict[str, Any],
    sink: ExportFile | None = None,
) -> ExportResult:
    """Write the audit record for a built file; return the file only if that succeeded.
    With a ``sink``, the file is written inside the same transaction and published after
    it commits: success is audited only for a file that exists."""
    digest = hashlib.sha256(content).hexdigest()
    name = filename if sink is None else sink.path.name
    try:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action=_audit_action(fmt),
                object_type="export",
                object_name=name,
                reason=reason,
                client_ip=client_ip,
                details={
                    "format": fmt,
                    "entry_count": entry_count,
                    "sha256": digest,
                    "size": len(content),
                    **scope.as_audit(),
                    **extra,
                },
            )
            _selection_records(
                actor=actor, scope=scope, fmt=fmt, digest=digest, reason=reason, client_ip=client_ip
            )
            notification_post_team_export(
                exporter=actor, what=f"a {fmt} file", entry_count=entry_count
            )
            if sink is not None:
                sink.stage(content)
    except OSError as exc:
        raise _write_failure_record(
            actor=actor, fmt=fmt, filename=name, exc=exc, reason=reason, client_ip=client_ip
        ) from exc
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    if sink is not None:
        try:
            sink.publish()
        except OSError as exc:
            sink.discard()
            raise _write_failure_record(
                actor=actor, fmt=fmt, filename=name, exc=exc, reason=reason, client_ip=client_ip
            ) from exc
    logger.info(
        "%s export by user %s: %d entries, %d bytes", fmt, actor.pk, entry_count, len(content)
    )
    return ExportResult(
        filename=filename,
        content=content,
        sha256=digest,
        entry_count=entry_count,
        format=fmt,
        content_type=CONTENT_TYPES[fmt],
    )


def _selection_records(
    *,
    actor: User,
    scope: selectors.ExportScope,
    fmt: str,
    digest: str,
    reason: str,
    client_ip: str | None,
) -> None:
    """An export of a selection also writes one ``resource.export`` record per selected
    resource (in the export's transaction), so "who exported this resource" is answered by
    the resource's own records, as for every other bulk action."""
    if scope.resource_ids is None:
        return
    audit_records(
        records=[
            {
                "actor": actor,
                "action": AuditAction.RESOURCE_EXPORT,
                "object_type": "resource",
                "object_id": str(pk),
                "object_name": name,
                "reason": reason,
                "client_ip": client_ip,
                "details": {"format": fmt, "sha256": digest, "bulk": len(scope.resource_ids)},
            }
            for pk, name in zip(scope.resource_ids, scope.resource_names, strict=True)
        ]
    )


def export_offline_html(**kwargs: Any) -> ExportResult:
    """The encrypted offline ``.html`` file (``export_offline`` with format "html")."""
    return export_offline(**kwargs, fmt="html")


def export_offline(
    *,
    actor: User,
    passphrase: str,
    fmt: Any = "html",
    reason: str = "",
    resource_group_ids: Iterable[Any] | None = None,
    client_ip: str | None = None,
    sink: ExportFile | None = None,
    resource_ids: Any = None,
    progress: ProgressFactory = no_progress,
) -> ExportResult:
    """The offline copy of the actor's scope (or chosen groups) locked with ``passphrase``
    (checked against the policy, never kept): the encrypted web page (``fmt`` "html") or
    the KeePass database ("kdbx"), if the policy allows that format."""
    wanted = fmt.lower() if isinstance(fmt, str) and fmt else "html"
    checked: dict[str, Any] = {
        "actor": actor,
        "fmt": wanted if wanted in CONTENT_TYPES else "offline",
        "reason": reason,
        "client_ip": client_ip,
        "resource_group_ids": resource_group_ids,
        "resource_ids": resource_ids,
    }

    def check(passphrase: str = passphrase) -> tuple[Policy, str, str, selectors.ExportScope]:
        current = export_policy.policy_get()
        export_policy.export_require(user=actor, policy=current)
        fmt_clean = export_policy.offline_format_clean(fmt, policy=current)
        clean_reason = export_policy.reason_clean(reason, policy=current)
        export_policy.passphrase_require(user=actor, passphrase=passphrase, policy=current)
        scope = selectors.export_scope_resolve(
            user=actor, resource_group_ids=resource_group_ids, resource_ids=resource_ids
        )
        return current, fmt_clean, clean_reason, scope

    current, fmt_clean, clean_reason, scope = _checked(check, **checked)
    keys = copy_keys_make(passphrase=passphrase, fmt=fmt_clean, policy=current)
    del passphrase, check  # from here on only the keys exist
    filename = _file_stem(actor, "offline") + "." + fmt_clean
    built = offline_copy_build(
        user=actor,
        keys=keys,
        scope=scope,
        policy=current,
        generated_at=timezone.now(),
        progress=progress,
        destination=BuildDestination(
            kind=Destination.DOWNLOAD, object_name=filename if sink is None else sink.path.name
        ),
    )
    expires_at = built.expires_at
    extra: dict[str, Any] = {
        "expires_at": None if expires_at is None else expires_at.isoformat(),
        "build_id": str(built.build_id),
    }
    if isinstance(keys, kdbx.KdbxKeys):
        extra.update(kdbx_audit(keys))
        extra["attachment_count"] = built.attachment_count
    else:
        extra.update({"kdf_iterations": keys.iterations, "key_fingerprint": keys.fingerprint})
        # Format 4: the files it carries, and those over the policy's cap it only lists.
        extra["attachment_count"] = built.attachment_count
        extra["attachments_listed_only"] = built.attachments_listed_only
    try:
        result = _deliver(
            actor=actor,
            fmt=fmt_clean,
            content=built.content,
            filename=filename,
            entry_count=built.entry_count,
            scope=scope,
            reason=clean_reason,
            client_ip=client_ip,
            extra=extra,
            sink=sink,
        )
    except AppError as exc:
        # Nothing was handed out (the audit record or the file could not be written).
        build_not_delivered(build_id=built.build_id, problem=exc.code)
        raise
    build_delivered(build_id=built.build_id)
    return result


def kdbx_audit(keys: kdbx.KdbxKeys) -> dict[str, Any]:
    """What an audit record says about a KeePass copy's keys (never the key itself)."""
    return {
        "kdf": "argon2id",
        "kdf_memory_kib": keys.memory_kib,
        "kdf_iterations": keys.iterations,
        "kdf_parallelism": keys.parallelism,
        "cipher": keys.cipher,
        "key_fingerprint": keys.fingerprint,
    }


def export_spreadsheet(
    *,
    actor: User,
    fmt: str,
    with_passwords: bool = False,
    reason: str = "",
    resource_group_ids: Iterable[Any] | None = None,
    client_ip: str | None = None,
    sink: ExportFile | None = None,
    resource_ids: Any = None,
    progress: ProgressFactory = no_progress,
) -> ExportResult:
    """A CSV or XLSX file of the actor's scope (or chosen groups). Without passwords it holds
    no sealed value at all (no passwords, TOTP seeds or notes); with passwords it needs the
    policy's plain-text permission."""
    fmt_clean = fmt.lower() if isinstance(fmt, str) else ""
    with_passwords = bool(with_passwords)

    def check() -> tuple[Policy, str, selectors.ExportScope]:
        if fmt_clean not in SPREADSHEET_FORMATS:
            raise ValidationFailed(
                "format must be csv or xlsx", field="format", allowed=list(SPREADSHEET_FORMATS)
            )
        current = export_policy.policy_get()
        export_policy.export_require(user=actor, policy=current)
        if with_passwords:
            export_policy.plain_text_require(policy=current)
        clean_reason = export_policy.reason_clean(reason, policy=current)
        scope = selectors.export_scope_resolve(
            user=actor, resource_group_ids=resource_group_ids, resource_ids=resource_ids
        )
        return current, clean_reason, scope

    _, clean_reason, scope = _checked(
        check,
        actor=actor,
        fmt=fmt_clean or "spreadsheet",
        reason=reason,
        client_ip=client_ip,
        resource_group_ids=resource_group_ids,
        with_passwords=with_passwords,
        resource_ids=resource_ids,
    )
    entries = selectors.export_entries(
        user=actor, scope=scope, with_secrets=with_passwords, progress=progress
    )
    if fmt_clean == "csv":
        content = spreadsheet.csv_build(entries, with_secrets=with_passwords)
    else:
        content = spreadsheet.xlsx_build(entries, with_secrets=with_passwords, title=scope.title())
    kind = "passwords" if with_passwords else "inventory"
    return _deliver(
        actor=actor,
        fmt=fmt_clean,
        content=content,
        filename=f"{_file_stem(actor, kind)}.{fmt_clean}",
        entry_count=len(entries),
        scope=scope,
        reason=clean_reason,
        client_ip=client_ip,
        extra={"with_passwords": with_passwords},
        sink=sink,
    )


# --------------------------------------------------------------------------- the policy


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _int_between(low: int, high: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low:,} and {high:,}")
        return value

    return check


def _policy_validators() -> dict[str, Callable[[str, Any], Any]]:
    return {
        "export_enabled": _bool,
        "plain_text_allowed": _bool,
        "reason_required": _bool,
        "passphrase_min_length": _int_between(
            export_policy.MIN_LENGTH_FLOOR, export_policy.MIN_LENGTH_CEILING
        ),
        "passphrase_min_score": _int_between(0, 4),
        "kdf_iterations": _int_between(
            export_policy.iterations_minimum(), export_policy.MAX_ITERATIONS
        ),
        "max_age_days": _int_between(0, export_policy.MAX_AGE_CEILING_DAYS),
        "offline_formats": _formats,
        "kdbx_memory_mib": _int_between(kdbx.MIN_MEMORY_KIB // 1024, kdbx.MAX_MEMORY_KIB // 1024),
        "kdbx_iterations": _int_between(kdbx.MIN_ITERATIONS, kdbx.MAX_ITERATIONS),
        "kdbx_parallelism": _int_between(kdbx.MIN_PARALLELISM, kdbx.MAX_PARALLELISM),
        "html_attachment_max_bytes": _int_between(0, HTML_ATTACHMENT_CEILING_BYTES),
        "html_attachments_total_bytes": _int_between(0, HTML_ATTACHMENTS_TOTAL_CEILING_BYTES),
    }


def _formats(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of formats (html, kdbx)")
    unknown = sorted(set(value) - set(OFFLINE_FORMATS))
    if unknown:
        raise ValueError("unknown format(s): " + ", ".join(unknown) + "; use html, kdbx")
    if not value:
        raise ValueError("allow at least one format (turn exports off to allow none)")
    return [fmt for fmt in OFFLINE_FORMATS if fmt in value]


POLICY_FIELDS = tuple(Policy.__dataclass_fields__)


def export_policy_update(
    *, actor: User, values: dict[str, Any], client_ip: str | None = None
) -> Policy:
    """Change some of the global policy's fields (administrators only). All or nothing; one
    audit record with the old and new values of what changed."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    if not isinstance(values, dict):
        raise ValidationFailed("the policy must be an object", field="policy")
    validators = _policy_validators()
    unknown = sorted(str(k) for k in values if k not in validators)
    if unknown:
        raise ValidationFailed(
            "unknown policy field(s): " + ", ".join(unknown),
            unknown=unknown,
            known=list(validators),
        )
    cleaned: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for key, value in values.items():
        try:
            cleaned[key] = validators[key](key, value)
        except ValueError as exc:
            problems.append({"field": key, "problem": str(exc)})
    if problems:
        raise ValidationFailed(
            "invalid value for " + ", ".join(p["field"] for p in problems),
            field=problems[0]["field"],
            fields=problems,
        )
    with transaction.atomic():
        row = ExportPolicy.objects.select_for_update().filter(pk=1).first()
        if row is None:
            ExportPolicy.objects.get_or_create(pk=1)
            row = ExportPolicy.objects.select_for_update().get(pk=1)
        changes = {
            key: {"old": getattr(row, key), "new": new}
            for key, new in cleaned.items()
            if getattr(row, key) != new
        }
        if changes:
            audit_record(
                actor=actor,
                action=AuditAction.EXPORT_POLICY_UPDATE,
                object_type="export_policy",
                client_ip=client_ip,
                details={"changes": changes},
            )
            for key, change in changes.items():
                setattr(row, key, change["new"])
            row.updated_at = timezone.now()
            row.updated_by = actor
            row.save()
    return export_policy.policy_get()


def _subject(
    *, user_id: Any = None, user_group_id: Any = None, role: Any = None
) -> tuple[dict[str, Any], str, str]:
    given = [x for x in (user_id, user_group_id, role) if x not in (None, "")]
    if len(given) != 1:
        raise ValidationFailed(
            "give exactly one of user_id, user_group_id and role", field="subject"
        )
    if role not in (None, ""):
        if role not in Role.values:
            raise ValidationFailed("unknown role", field="role", allowed=list(Role.values))
        return {"role": role}, "role", Role(role).label
    try:
        pk = uuid.UUID(str(user_id if user_id not in (None, "") else user_group_id))
    except ValueError as exc:
        what = "user" if user_id not in (None, "") else "user group"
        raise NotFound(
            f"{what} not found", field="user_id" if user_id else "user_group_id"
        ) from exc
    if user_id not in (None, ""):
        user = User.objects.filter(pk=pk).first()
        if user is None:
            raise NotFound("user not found", field="user_id")
        return {"user": user}, "user", user.username
    group = UserGroup.objects.filter(pk=pk).first()
    if group is None:
        raise NotFound("user group not found", field="user_group_id")
    return {"user_group": group}, "user_group", group.name


def export_rule_set(
    *,
    actor: User,
    allowed: bool,
    user_id: Any = None,
    user_group_id: Any = None,
    role: Any = None,
    client_ip: str | None = None,
) -> ExportRule:
    """Allow or refuse export for one user, user group or role (replacing its rule)."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    if not isinstance(allowed, bool):
        raise ValidationFailed("allowed must be true or false", field="allowed")
    subject, subject_type, subject_name = _subject(
        user_id=user_id, user_group_id=user_group_id, role=role
    )
    with transaction.atomic():
        rule = ExportRule.objects.select_for_update().filter(**subject).first()
        if rule is not None and rule.allowed == allowed:
            return rule
        audit_record(
            actor=actor,
            action=AuditAction.EXPORT_RULE_SET,
            object_type=f"export_rule.{subject_type}",
            object_id=str(getattr(subject.get(subject_type), "pk", subject.get("role", ""))),
            object_name=subject_name,
            client_ip=client_ip,
            details={
                "subject_type": subject_type,
                "allowed": allowed,
                "previous": None if rule is None else rule.allowed,
            },
        )
        if rule is None:
            rule = ExportRule.objects.create(**subject, allowed=allowed, created_by=actor)
        else:
            rule.allowed = allowed
            rule.save(update_fields=["allowed"])
    return rule


def export_rule_delete(*, actor: User, rule_id: Any, client_ip: str | None = None) -> None:
    require_perm(actor, Perm.SETTINGS_MANAGE)
    try:
        pk = uuid.UUID(str(rule_id))
    except ValueError as exc:
        raise NotFound("export rule not found") from exc
    with transaction.atomic():
        rule = (
            ExportRule.objects.select_for_update(of=("self",))
            .select_related("user", "user_group")
            .filter(pk=pk)
            .first()
        )
        if rule is None:
            raise NotFound("export rule not found")
        audit_record(
            actor=actor,
            action=AuditAction.EXPORT_RULE_DELETE,
            object_type=f"export_rule.{rule.subject_type}",
            object_id=str(rule.user_id or rule.user_group_id or rule.role),
            object_name=rule.subject_name,
            client_ip=client_ip,
            details={"subject_type": rule.subject_type, "allowed": rule.allowed},
        )
        rule.delete()
