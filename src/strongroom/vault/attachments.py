"""Attachments: files kept with an account (certificates, SSH keys, licence files).

Rules (docs/attachments.md):

- **Who**: anyone who may edit the account (modify level) uploads and deletes; anyone who
  may retrieve its password (view level) lists and downloads. Objects the actor cannot see
  answer 404, too low a level 403, as everywhere in the vault.
- **Sealed at rest** like a password (AES-256-GCM under a data key, associated data naming
  the table, the attachment's row and the field). The sealed plaintext starts with the
  owning account's 16-byte ID, and its length must match the ``size`` column, so a sealed
  file moved to another row, an attachment moved to another account (its ``account_id``
  edited) or a size edited in the database is refused as damaged, never served.
- **Audited**: upload and delete in the same transaction as the change; a download is
  decrypted, then audited (``attachment.download``, with the reason, as a password
  retrieval), and the bytes leave only once the record is committed (fail closed).
- **Limits**: the administrator setting ``attachment_max_bytes`` (10 MiB by default),
  ``MAX_PER_ACCOUNT`` files per account, names unique per account. A refused upload changes
  nothing.
- **Names** are file names, never paths: no ``/`` or ``\\``, not ``.`` or ``..``, no control
  or bidirectional-override characters, no leading or trailing spaces, at most 255
  characters and 255 bytes of UTF-8. Markup and formula prefixes are ordinary text
  (escaped wherever they are shown; downloads always go as ``application/octet-stream``
  with the name in ``Content-Disposition``).
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.http import content_disposition_header

from strongroom.accounts.models import User
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import (
    AuditUnavailable,
    Conflict,
    ErrorCode,
    NotFound,
    ValidationFailed,
)
from strongroom.core.events import scope_changed
from strongroom.core.secrets import SealedValueDamaged, seal_bytes_into, unseal_bytes
from strongroom.core.settings_store import setting_get
from strongroom.core.validation import text_clean
from strongroom.vault import selectors
from strongroom.vault.models import AccessLevel, Account, Attachment
from strongroom.vault.services import _retrieval_reason

logger = logging.getLogger(__name__)

MAX_PER_ACCOUNT = 20
MAX_NAME = 255
# Bidirectional controls make "id_rsa\u202etxt.exe" read as something else; zero-width
# marks hide characters. Neither belongs in a file name.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def attachment_max_bytes() -> int:
    """The administrator's limit on one attachment's size, in bytes."""
    return int(setting_get("attachment_max_bytes"))


def attachment_name_clean(name: Any) -> str:
    """The file name as given, or a ValidationFailed naming what is wrong with it."""
    if not isinstance(name, str):
        raise ValidationFailed("the file name must be text", field="name")
    name = text_clean("name", name, max_length=MAX_NAME, required=True)
    problem = None
    if len(name.encode("utf-8")) > MAX_NAME:
        problem = f"is longer than {MAX_NAME} bytes of UTF-8"
    elif "/" in name or "\\" in name:
        problem = "must be a file name, not a path (no / or \\)"
    elif name in (".", ".."):
        problem = "cannot be . or .."
    elif name != name.strip():
        problem = "cannot start or end with a space"
    elif any(unicodedata.category(c) == "Cc" or c in _INVISIBLE for c in name):
        problem = "cannot contain control characters or invisible direction marks"
    if problem:
        raise ValidationFailed(f"the file name {problem}", field="name")
    return name


def _bound(account_id: uuid.UUID, data: bytes) -> bytes:
    return account_id.bytes + data


def _label(attachment: Attachment, account: Account) -> str:
    return f"{account.resource.name} / {account.username} / {attachment.name}"


# --------------------------------------------------------------------------- reads


def _audit_change(
    *, actor: User, action: str, attachment: Attachment, account: Account, client_ip: str | None
) -> None:
    """The audit record of an upload or a deletion (size, account and resource named)."""
    audit_record(
        actor=actor,
        action=action,
        object_type="attachment",
        object_id=str(attachment.pk),
        object_name=_label(attachment, account),
        client_ip=client_ip,
        details={
            "account_id": str(account.pk),
            "resource_id": str(account.resource_id),
            "size": attachment.size,
        },
    )


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"this account already has a file named {name!r}: delete it first", field="name"
    )


def attachments_list(*, actor: User, account_id: Any) -> QuerySet[Attachment]:
    """The account's attachments (view level), name order; never their content."""
    account = selectors.account_get(user=actor, account_id=account_id, min_level=AccessLevel.VIEW)
    return Attachment.objects.filter(account_id=account.pk).defer("content").order_by("name", "id")


def _attachment_get(*, actor: User, account_id: Any, attachment_id: Any, min_level: int) -> Any:
    account = selectors.account_get(user=actor, account_id=account_id, min_level=min_level)
    try:
        pk = uuid.UUID(str(attachment_id))
    except ValueError:
        raise ValidationFailed("attachment is not a valid ID", field="attachment") from None
    attachment = Attachment.objects.filter(pk=pk, account_id=account.pk).first()
    if attachment is None:
        raise NotFound("attachment not found")
    return account, attachment


def attachment_content(*, account: Account, attachment: Attachment) -> bytes:
    """The attachment's bytes, checked against its account and size (no audit: callers
    audit; exports use :func:`attachments_for_accounts`)."""
    plain = unseal_bytes(attachment, "content")
    if (
        plain is None
        or plain[:16] != account.pk.bytes
        or len(plain) - 16 != attachment.size
        or attachment.account_id != account.pk
    ):
        raise SealedValueDamaged(
            f"the stored attachment {attachment.pk} does not belong to account {account.pk} "
            "or was altered: it is refused",
            table=Attachment._meta.db_table,
            field="content",
        )
    return plain[16:]


def attachment_download(
    *,
    actor: User,
    account_id: Any,
    attachment_id: Any,
    reason: str = "",
    client_ip: str | None = None,
) -> tuple[Attachment, bytes]:
    """The attachment and its bytes (view level, as a password retrieval): decrypted,
    then audited (``attachment.download`` with the reason); the bytes are returned only once
    the record is committed. A reason is required when ``retrieval_reason_required`` is on."""
    account, attachment = _attachment_get(
        actor=actor, account_id=account_id, attachment_id=attachment_id, min_level=AccessLevel.VIEW
    )
    reason = _retrieval_reason(reason)
    record: dict[str, Any] = {
        "actor": actor,
        "action": AuditAction.ATTACHMENT_DOWNLOAD,
        "object_type": "attachment",
        "object_id": str(attachment.pk),
        "object_name": _label(attachment, account),
        "reason": reason,
        "client_ip": client_ip,
    }
    details = {
        "account_id": str(account.pk),
        "resource_id": str(account.resource_id),
        "size": attachment.size,
    }
    try:
        data = attachment_content(account=account, attachment=attachment)
    except SealedValueDamaged:
        logger.error("attachment %s of account %s failed authentication", attachment.pk, account.pk)
        try:
            audit_record(
                **record,
                details={**details, "problem": "sealed_value_damaged"},
                outcome="failure",
            )
        except AuditUnavailable:
            logger.error("could not audit the failed download of attachment %s", attachment.pk)
        raise
    audit_record(**record, details=details)
    return attachment, data


def attachments_for_accounts(account_ids: Iterable[str]) -> dict[str, list[tuple[str, bytes]]]:
    """Every attachment of the given accounts as (name, bytes), keyed by ``str(account
    id)``, in name order. For exports, whose own selectors already limited the accounts to
    the user's scope (and audit the export); the same integrity checks as a download."""
    found: dict[str, list[tuple[str, bytes]]] = {}
    if not Attachment.objects.exists():
        # Every HTML and KeePass build asks; most vaults hold none (no query per 500 IDs).
        return found
    wanted = [uuid.UUID(str(pk)) for pk in account_ids]
    for start in range(0, len(wanted), 500):
        rows = (
            Attachment.objects.filter(account_id__in=wanted[start : start + 500])
            .select_related("account")
            .order_by("account_id", "name", "id")
            .iterator(chunk_size=Attachment.SEALED_BATCH_SIZE)
        )
        for attachment in rows:
            data = attachment_content(account=attachment.account, attachment=attachment)
            found.setdefault(str(attachment.account_id), []).append((attachment.name, data))
    return found


def download_response(attachment: Attachment, data: bytes) -> HttpResponse:
    """The HTTP response that hands over a downloaded attachment: always a download (never
    rendered: ``application/octet-stream``, ``nosniff``, a sandboxing CSP), the name in
    ``Content-Disposition`` (RFC 6266/5987 encoding of any Unicode), never cached."""
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, attachment.name)
    response["Content-Length"] = str(len(data))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- changes


def attachment_upload(
    *,
    actor: User,
    account_id: Any,
    name: Any,
    data: bytes,
    client_ip: str | None = None,
) -> Attachment:
    """Attach a file to an account (modify level). ``data`` may be one byte longer than
    the limit (callers read ``attachment_max_bytes() + 1`` bytes at most): that is refused
    as too large. Audited (``attachment.upload``) in the same transaction."""
    account = selectors.account_get(user=actor, account_id=account_id, min_level=AccessLevel.MODIFY)
    name = attachment_name_clean(name)
    limit = attachment_max_bytes()
    if len(data) > limit:
        raise ValidationFailed(
            f"the file is larger than the limit of {limit:,} bytes",
            code=ErrorCode.ATTACHMENT_TOO_LARGE,
            field="file",
            limit=limit,
        )
    if not data:
        raise ValidationFailed("the file is empty", field="file")
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=account.pk).first()
        existing = Attachment.objects.filter(account_id=account.pk)
        if existing.count() >= MAX_PER_ACCOUNT:
            raise ValidationFailed(
                f"an account holds at most {MAX_PER_ACCOUNT} attachments", field="file"
            )
        if existing.filter(name=name).exists():
            raise _name_taken(name)
        attachment = Attachment(account=account, name=name, size=len(data), created_by=actor)
        seal_bytes_into(attachment, "content", _bound(account.pk, data))
        _audit_change(
            actor=actor,
            action=AuditAction.ATTACHMENT_UPLOAD,
            attachment=attachment,
            account=account,
            client_ip=client_ip,
        )
        try:
            with transaction.atomic():
                attachment.save(force_insert=True)
        except IntegrityError:
            raise _name_taken(name) from None
        scope_changed(cause="attachment.upload", resource_ids=[account.resource_id])
    logger.info(
        "attachment %s (%d bytes) added to account %s by user %s",
        attachment.pk,
        len(data),
        account.pk,
        actor.pk,
    )
    attachment.content = None  # the caller has no use for the sealed bytes
    return attachment


def attachment_delete(
    *, actor: User, account_id: Any, attachment_id: Any, client_ip: str | None = None
) -> None:
    """Remove an attachment (modify level), audited (``attachment.delete``)."""
    account, attachment = _attachment_get(
        actor=actor,
        account_id=account_id,
        attachment_id=attachment_id,
        min_level=AccessLevel.MODIFY,
    )
    with transaction.atomic():
        _audit_change(
            actor=actor,
            action=AuditAction.ATTACHMENT_DELETE,
            attachment=attachment,
            account=account,
            client_ip=client_ip,
        )
        Attachment.objects.filter(pk=attachment.pk).delete()
        scope_changed(cause="attachment.delete", resource_ids=[account.resource_id])
    logger.info("attachment %s deleted by user %s", attachment.pk, actor.pk)
