"""Writing and verifying the audit trail.

Each record's ``hash`` is HMAC-SHA256 over its canonical content and the previous record's
hash, keyed by a random chain key kept sealed in :class:`AuditChainHead`. Editing, deleting
or reordering records breaks the chain; :func:`audit_verify` says where. Because the MAC is
keyed, someone with write access to the database but not the master key cannot forge a
consistent chain.

Audited actions call :func:`audit_record` *first*, inside their own transaction: if the
record cannot be written the exception propagates and the action is refused (fail closed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from strongroom.audit.models import AuditChainHead, AuditEvent
from strongroom.core import secrets
from strongroom.core.errors import AuditUnavailable

logger = logging.getLogger(__name__)

GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    at: datetime = event.at
    body = [
        event.seq,
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        str(event.actor_id) if event.actor_id else "",
        event.actor_name,
        event.action,
        event.outcome,
        event.object_type,
        event.object_id,
        event.object_name,
        event.reason,
        event.client_ip,
        event.details,
        event.prev_hash,
    ]
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _mac(key: bytes, event: AuditEvent) -> str:
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


def _chain_key(head: AuditChainHead) -> bytes:
    key_text = secrets.unseal(head, "mac_key")
    if key_text is None:
        raise AuditUnavailable("the audit chain key is missing from the chain head")
    return base64.b64decode(key_text)


def _head_for_update() -> tuple[AuditChainHead, bytes]:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # The very first record: several writers may race to create the head. The loser's
        # insert fails on the primary key once the winner commits; it then locks the
        # winner's row like everyone else.
        candidate = AuditChainHead(pk=1)
        secrets.seal_into(candidate, "mac_key", base64.b64encode(os.urandom(32)).decode())
        try:
            with transaction.atomic():
                candidate.save(force_insert=True)
        except IntegrityError:
            pass
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head, _chain_key(head)


def audit_record(
    *,
    actor: Any | None,
    action: str,
    object_type: str = "",
    object_id: str = "",
    object_name: str = "",
    reason: str = "",
    client_ip: str | None = None,
    details: dict[str, Any] | None = None,
    outcome: str = "success",
) -> AuditEvent:
    """Append one record. Raises AuditUnavailable if it cannot be written."""
    try:
        with transaction.atomic():
            head, key = _head_for_update()
            event = AuditEvent(
                seq=head.seq + 1,
                at=timezone.now(),
                actor_id=getattr(actor, "pk", None),
                actor_name=getattr(actor, "username", "") or ("system" if actor is None else ""),
                action=action,
                outcome=outcome,
                object_type=object_type,
                object_id=str(object_id or ""),
                object_name=object_name or "",
                reason=reason or "",
                client_ip=client_ip or "",
                details=details or {},
                prev_hash=head.hash,
            )
            # Round-trip details through JSON so the hashed form is what the database returns.
            event.details = json.loads(json.dumps(event.details, sort_keys=True))
            event.hash = _mac(key, event)
            event.save(force_insert=True)
            head.seq = event.seq
            head.hash = event.hash
            head.save(update_fields=["seq", "hash"])
            return event
    except DatabaseError as exc:
        logger.error(
            "audit record for action %s could not be written: %s", action, type(exc).__name__
        )
        raise AuditUnavailable(
            "the audit trail could not be written, so this action was refused; "
            "check the database and try again"
        ) from exc


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_verify(*, batch_size: int = 2000) -> ChainReport:
    """Walk the chain in order and report every edited, deleted or reordered record."""
    report = ChainReport()
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if AuditEvent.objects.exists():
            report.problems.append("the chain head is missing but records exist")
        return report
    key = _chain_key(head)
    expected_seq = 1
    prev_hash = GENESIS
    last_seq = 0
    last_hash = GENESIS
    qs = AuditEvent.objects.order_by("seq")
    after = 0
    while True:
        chunk = list(qs.filter(seq__gt=after)[:batch_size])
        if not chunk:
            break
        for event in chunk:
            report.checked += 1
            if event.seq != expected_seq:
                report.problems.append(
                    f"records {expected_seq}..{event.seq - 1} are missing (deleted)"
                    if event.seq > expected_seq
                    else f"record {event.seq} is out of order"
                )
            if event.prev_hash != prev_hash:
                report.problems.append(
                    f"record {event.seq} does not follow the record before it "
                    "(a record was deleted, inserted or reordered)"
                )
            if not hmac.compare_digest(_mac(key, event), event.hash):
                report.problems.append(
                    f"record {event.seq} was edited (its content does not match its hash)"
                )
            expected_seq = event.seq + 1
            prev_hash = event.hash
            last_seq, last_hash = event.seq, event.hash
        after = chunk[-1].seq
    if head.seq != last_seq or head.hash != last_hash:
        report.problems.append(
            f"the chain head says the last record is {head.seq}, but the last record found is "
            f"{last_seq} (records at the end were deleted or the head was edited)"
        )
    return report
