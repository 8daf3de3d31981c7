"""Writing and verifying the audit trail.

Each record's ``hash`` is HMAC-SHA256 over its canonical content and the previous record's
hash, keyed by a random chain key kept sealed in :class:`AuditChainHead`. Editing, deleting
or reordering records breaks the chain; :func:`audit_verify` says where. Because the MAC is
keyed, someone with write access to the database but not the master key cannot forge a
consistent chain.

Audited actions call :func:`audit_record` *first*, inside their own transaction: if the
record cannot be written the exception propagates and the action is refused (fail closed).

The tail: deleting the last records and moving the head back would leave a consistent
shorter chain, so the head's ``seq`` and ``hash`` carry a MAC (``head_mac``) under a key
derived from the chain key; writers refuse to extend a head whose MAC fails. An attacker
who saved an older head row could still put it back with the records after it deleted;
anchors (:mod:`strongroom.audit.anchors`), written where the database writer cannot
rewrite them, catch that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from strongroom.audit.models import AuditChainHead, AuditEvent
from strongroom.core import secrets
from strongroom.core.errors import AuditUnavailable

if TYPE_CHECKING:
    from strongroom.audit.anchors import Anchor

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


def derived_key(chain_key: bytes, purpose: str) -> bytes:
    """A key for one purpose (``head``, ``anchor``) derived from the chain key. The chain
    key is sealed under the master key, so these need the master key too; deriving from it
    (not from the master key itself) keeps them valid across master key rotations."""
    return hmac.new(chain_key, f"strongroom-audit-{purpose}-v1".encode(), hashlib.sha256).digest()


def head_mac(chain_key: bytes, *, seq: int, hash_: str) -> str:
    message = f"{seq}:{hash_}".encode()
    return hmac.new(derived_key(chain_key, "head"), message, hashlib.sha256).hexdigest()


def head_mac_ok(head: AuditChainHead, chain_key: bytes) -> bool:
    expected = head_mac(chain_key, seq=head.seq, hash_=head.hash)
    return hmac.compare_digest(expected, head.head_mac or "")


def head_key_legacy() -> int | None:
    """Give a head written before heads were keyed its MAC (run after migrations, with the
    master key). Returns the sequence number keyed, or None when there was nothing to do."""
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None or head.head_mac:
            return None
        key = _chain_key(head)
        head.head_mac = head_mac(key, seq=head.seq, hash_=head.hash)
        head.save(update_fields=["head_mac"])
        logger.warning("audit chain head keyed at record %d (upgrade)", head.seq)
        return head.seq


def _head_for_update() -> tuple[AuditChainHead, bytes]:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # The very first record: several writers may race to create the head. The loser's
        # insert fails on the primary key once the winner commits; it then locks the
        # winner's row like everyone else.
        candidate = AuditChainHead(pk=1)
        new_key = os.urandom(32)
        secrets.seal_into(candidate, "mac_key", base64.b64encode(new_key).decode())
        candidate.head_mac = head_mac(new_key, seq=candidate.seq, hash_=candidate.hash)
        try:
            with transaction.atomic():
                candidate.save(force_insert=True)
        except IntegrityError:
            pass
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    key = _chain_key(head)
    if not head_mac_ok(head, key):
        logger.error(
            "audit chain head fails its MAC (record %d): it was rewritten without the key; "
            "refusing to extend it, run `strongroom audit verify`",
            head.seq,
        )
        raise AuditUnavailable(
            "the audit trail's chain head failed its integrity check, so this action was "
            "refused; an administrator must run `strongroom audit verify`"
        )
    return head, key


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
            head.head_mac = head_mac(key, seq=head.seq, hash_=head.hash)
            head.save(update_fields=["seq", "hash", "head_mac"])
            if head.seq - head.anchored_seq >= anchor_every():
                transaction.on_commit(_enqueue_anchor)
            return event
    except DatabaseError as exc:
        logger.error(
            "audit record for action %s could not be written: %s", action, type(exc).__name__
        )
        raise AuditUnavailable(
            "the audit trail could not be written, so this action was refused; "
            "check the database and try again"
        ) from exc


def anchor_every() -> int:
    return int(getattr(settings, "AUDIT_ANCHOR_EVERY", 1000))


def _enqueue_anchor() -> None:
    """After the commit of every N-th record. A queue outage must not fail the audited
    action that is already committed: the periodic anchor catches up."""
    from strongroom.audit.tasks import audit_anchor_task

    try:
        audit_anchor_task()
    except Exception as exc:  # any queue failure: the periodic anchor catches up
        logger.warning("audit anchor could not be queued: %s", type(exc).__name__)


@dataclass
class ChainReport:
    checked: int = 0
    anchors: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_verify(*, batch_size: int = 2000, anchors: Sequence[Anchor] | None = None) -> ChainReport:
    """Walk the chain in order and report every edited, deleted or reordered record, a head
    that fails its MAC, and (given ``anchors``) every anchor the chain does not reach with
    the anchored hash."""
    report = ChainReport()
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if AuditEvent.objects.exists():
            report.problems.append("the chain head is missing but records exist")
        for anchor in anchors or ():
            report.problems.append(
                f"anchor at record {anchor.seq} ({anchor.source}) but the chain is empty"
            )
        return report
    key = _chain_key(head)
    if not head_mac_ok(head, key):
        report.problems.append(
            f"the chain head (record {head.seq}) fails its MAC: it was rewritten by someone "
            "without the master key (records at the end may have been deleted)"
        )
    wanted: dict[int, list[Anchor]] = {}
    for anchor in anchors or ():
        if not anchor.mac_ok(derived_key(key, "anchor")):
            report.problems.append(
                f"anchor {anchor.source} fails its MAC (it was edited or made without the key)"
            )
            continue
        wanted.setdefault(anchor.seq, []).append(anchor)
        report.anchors += 1
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
            for anchor in wanted.pop(event.seq, ()):
                if not hmac.compare_digest(anchor.hash, event.hash):
                    report.problems.append(
                        f"record {event.seq} is not the record anchored at {anchor.source} "
                        "(the chain was rewritten from there)"
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
    for seq in sorted(wanted):
        for anchor in wanted[seq]:
            report.problems.append(
                f"anchor {anchor.source} names record {seq}, beyond the end of the chain "
                f"(last record {last_seq}): records at the end were deleted"
                if seq > last_seq
                else f"anchor {anchor.source} names record {seq}, which is missing"
            )
    return report
