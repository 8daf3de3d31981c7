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
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from strongroom.audit.models import AuditChainHead, AuditEvent
from strongroom.core import keys, secrets
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


# The last sealed chain key this process opened, the data key that opened it, and the chain
# key: every audited action reads the head, and the sealed value only changes when the
# master key rotates. The data key is looked up on every use (keys' own cache: a master key
# that no longer opens it fails here as it would in unseal); a sealed value that differs in
# any byte is unsealed and authenticated again.
_chain_key_cache: tuple[bytes, bytes, bytes] | None = None


def _chain_key(head: AuditChainHead) -> bytes:
    global _chain_key_cache
    sealed = None if head.mac_key is None else bytes(head.mac_key)
    cached = _chain_key_cache
    if sealed is not None and cached is not None and hmac.compare_digest(cached[0], sealed):
        data_key_id = secrets.sealed_data_key_id(head, "mac_key")
        if data_key_id is not None and hmac.compare_digest(keys.data_key(data_key_id), cached[1]):
            return cached[2]
    key_text = secrets.unseal(head, "mac_key")
    if key_text is None or sealed is None:
        raise AuditUnavailable("the audit chain key is missing from the chain head")
    key = base64.b64decode(key_text)
    data_key_id = secrets.sealed_data_key_id(head, "mac_key")
    if data_key_id is not None:
        _chain_key_cache = (sealed, keys.data_key(data_key_id), key)
    return key


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


_HEAD_SELECT = (
    "SELECT seq, hash, mac_key, head_mac, anchored_seq FROM strongroom_audit_head WHERE id = 1"
)
_HEAD_UPDATE = "UPDATE strongroom_audit_head SET seq = %s, hash = %s, head_mac = %s WHERE id = 1"


def _head_from_row(row: Sequence[Any] | None) -> AuditChainHead | None:
    if row is None:
        return None
    seq, hash_, mac_key, mac, anchored = row
    return AuditChainHead(
        id=1, seq=seq, hash=hash_, mac_key=mac_key, head_mac=mac, anchored_seq=anchored
    )


def _head_locked() -> AuditChainHead | None:
    """The head row, locked until the transaction ends (SQLite: the transaction's
    ``BEGIN IMMEDIATE`` already holds the database's write lock). Plain SQL: this runs
    under the lock every writer waits for, so it should cost as little as it can."""
    sql = _HEAD_SELECT
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return _head_from_row(cursor.fetchone())


def _head_for_update() -> tuple[AuditChainHead, bytes]:
    head = _head_locked()
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
        head = _head_locked()
        if head is None:
            raise AuditUnavailable("the audit chain head could not be created")
    return head, _head_checked(head)


def _head_checked(head: AuditChainHead) -> bytes:
    """The chain key, once the head's MAC proves the head was written with it."""
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
    return key


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
    """Append one record. Raises AuditUnavailable if it cannot be written.

    Inside a transaction the record is part of it (it commits or rolls back with the
    change it describes). Outside one it is committed before this returns, through the
    process's group commit: records from concurrent threads share one head lock and one
    commit, in one order, without any gap in the chain (see :class:`_GroupCommit`)."""
    event = _event(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_name=object_name,
        reason=reason,
        client_ip=client_ip,
        details=details,
        outcome=outcome,
    )
    if connection.in_atomic_block:
        try:
            with transaction.atomic():
                _append([event])
        except DatabaseError as exc:
            raise _unavailable(action, exc) from exc
        return event
    _group_commit.submit(event)
    return event


def _event(
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
    return AuditEvent(
        actor_id=getattr(actor, "pk", None),
        actor_name=getattr(actor, "username", "") or ("system" if actor is None else ""),
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_id=str(object_id or ""),
        object_name=object_name or "",
        reason=reason or "",
        client_ip=client_ip or "",
        # Round-trip details through JSON so the hashed form is what the database returns.
        details=json.loads(json.dumps(details or {}, sort_keys=True)),
    )


AUDIT_BATCH = 200
"""Records per INSERT in :func:`audit_records` (SQLite's and PostgreSQL's bound-parameter
limits stay far away)."""


def audit_records(*, records: Sequence[dict[str, Any]]) -> list[AuditEvent]:
    """Append several records (each a dict of :func:`audit_record`'s arguments), in order,
    inside the caller's transaction: one head lock and one head update for all of them, so a
    bulk action of 500 objects costs about what one record does. Only inside a transaction
    (the records belong to the change they describe); AuditUnavailable if they cannot be
    written, and then the caller's change is refused with them."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_records is for use inside the change's transaction")
    events = [_event(**record) for record in records]
    if not events:
        return events
    try:
        with transaction.atomic():
            head, key = _head_for_update()
            from_seq = head.seq
            for start in range(0, len(events), AUDIT_BATCH):
                _chain(head, key, events[start : start + AUDIT_BATCH])
            _head_write(head, key, from_seq=from_seq)
    except DatabaseError as exc:
        raise _unavailable(events[0].action, exc) from exc
    return events


def _unavailable(action: str, exc: DatabaseError) -> AuditUnavailable:
    logger.error("audit record for action %s could not be written: %s", action, type(exc).__name__)
    return AuditUnavailable(
        "the audit trail could not be written, so this action was refused; "
        "check the database and try again"
    )


def _append(events: list[AuditEvent]) -> None:
    """Chain ``events`` onto the head, in order, inside the caller's transaction: one head
    lock, one insert, one head update however many records."""
    head, key = _head_for_update()
    from_seq = head.seq
    _chain(head, key, events)
    _head_write(head, key, from_seq=from_seq)


def _chain(head: AuditChainHead, key: bytes, events: list[AuditEvent]) -> None:
    """Link ``events`` after ``head`` (moving it along) and insert them."""
    _link(head, key, events)
    _insert(events)


def _link(head: AuditChainHead, key: bytes, events: list[AuditEvent]) -> None:
    """Give ``events`` the sequence numbers and hashes that follow ``head``, moving it
    along (and keying it)."""
    for event in events:
        event.pk = None
        event.seq = head.seq + 1
        event.at = timezone.now()
        event.prev_hash = head.hash
        event.hash = _mac(key, event)
        head.seq, head.hash = event.seq, event.hash
    head.head_mac = head_mac(key, seq=head.seq, hash_=head.hash)


def _head_write(head: AuditChainHead, key: bytes, *, from_seq: int) -> None:
    head.head_mac = head_mac(key, seq=head.seq, hash_=head.hash)
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_UPDATE, [head.seq, head.hash, head.head_mac])
    if _anchor_due(from_seq=from_seq, to_seq=head.seq, anchored_seq=head.anchored_seq):
        transaction.on_commit(_enqueue_anchor)


def _anchor_due(*, from_seq: int, to_seq: int, anchored_seq: int) -> bool:
    """Whether the records ``from_seq + 1 .. to_seq`` should queue an anchor: when they take
    the chain ``AUDIT_ANCHOR_EVERY`` records past the last anchor, and again every that many
    records while no anchor has been written (the worker is slow or down). Not on every
    record after that: a queue that is not drained must not cost each audited action a
    task (the periodic anchor catches up)."""
    every = anchor_every()
    if to_seq - anchored_seq < every:
        return False
    return from_seq - anchored_seq < every or to_seq // every > from_seq // every


_EVENT_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
_EVENT_COLUMNS = ", ".join(f'"{f.get_attname_column()[1]}"' for f in _EVENT_FIELDS)


def _insert_statement(events: list[AuditEvent]) -> tuple[str, list[Any]]:
    """One INSERT for the records, each value prepared by its model field (as the ORM
    would), without building the ORM query: this too runs under the head lock."""
    row = "(" + ", ".join(["%s"] * len(_EVENT_FIELDS)) + ")"
    params: list[Any] = []
    for event in events:
        params += [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _EVENT_FIELDS]
    sql = (
        f"INSERT INTO strongroom_audit_event ({_EVENT_COLUMNS}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(events))} RETURNING id, seq"
    )
    return sql, params


def _inserted(events: list[AuditEvent], rows: Sequence[Sequence[Any]]) -> None:
    ids = dict((seq, pk) for pk, seq in rows)
    for event in events:
        event.pk = ids[event.seq]
        event._state.adding = False
        event._state.db = connection.alias


def _insert(events: list[AuditEvent]) -> None:
    sql, params = _insert_statement(events)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        _inserted(events, cursor.fetchall())


def _two_round_trips() -> bool:
    """Whether a batch outside any transaction can be written in two round trips to the
    server: PostgreSQL with client-side parameter binding (Django's default for psycopg 3),
    which sends several statements in one message."""
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
        and connection.get_autocommit()
    )


def _append_committed_pg(events: list[AuditEvent]) -> bool:
    """Chain ``events`` onto the head and commit them, in two round trips to PostgreSQL
    instead of five: ``BEGIN; SELECT … FOR UPDATE`` (the head, locked), then ``UPDATE
    head; INSERT records; COMMIT``. The same transaction, lock, statements and chain as
    :func:`_append` inside ``atomic()``; only the messages are fewer, so the head lock that
    every writer of every node waits for is held for one round trip less than three.

    Returns False (having changed nothing) when the chain has no head yet: the first
    record goes the ordinary way. Raises what :func:`_append` raises; the transaction is
    rolled back on any failure, and the connection closed if even that fails."""
    connection.ensure_connection()
    done = False
    with connection.cursor() as cursor:
        try:
            cursor.execute(f"BEGIN; {_HEAD_SELECT} FOR UPDATE")
            cursor.nextset()
            head = _head_from_row(cursor.fetchone())
            if head is None:
                return False
            key = _head_checked(head)
            from_seq = head.seq
            _link(head, key, events)
            insert_sql, insert_params = _insert_statement(events)
            cursor.execute(
                f"{_HEAD_UPDATE}; {insert_sql}; COMMIT",
                [head.seq, head.hash, head.head_mac, *insert_params],
            )
            done = True
            cursor.nextset()
            _inserted(events, cursor.fetchall())
        finally:
            if not done:
                try:
                    cursor.execute("ROLLBACK")
                except DatabaseError:
                    connection.close()
    if _anchor_due(from_seq=from_seq, to_seq=head.seq, anchored_seq=head.anchored_seq):
        _enqueue_anchor()
    return True


@dataclass(eq=False)
class _Pending:
    event: AuditEvent
    # Set when the record is committed or failed, or when this thread is to lead next.
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    done: bool = False
    error: AuditUnavailable | None = None


class _GroupCommit:
    """Group commit of audit records written outside a transaction (secret reads, logins).

    A thread that finds no batch being written leads: it takes every record queued so far
    (its own first), chains them in one transaction, wakes their threads once committed,
    and hands the lead to the oldest record queued meanwhile. The others wait for their
    record's commit. Each caller still returns only after its own record is durable (fail
    closed), and the chain is exactly what one-at-a-time writing makes: consecutive
    sequence numbers, each record linked to the one before, the head keyed. Across
    processes and nodes the head row lock still orders the batches.

    If a batch fails, its records are retried one at a time, so a record the database
    refuses (too long a value) fails alone and the others are written.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False

    def submit(self, event: AuditEvent) -> None:
        mine = _Pending(event)
        with self._lock:
            self._queue.append(mine)
            if not self._leading:
                self._leading = mine.lead = True
        if not mine.lead:
            mine.wake.wait()
        if not mine.done:
            self._lead()
        if mine.error is not None:
            raise mine.error

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            _write_batch(batch)
        finally:
            for pending in batch:
                if not pending.done:  # only an exception we did not expect gets here
                    pending.done = True
                    pending.error = AuditUnavailable(
                        "the audit trail could not be written, so this action was refused"
                    )
            with self._lock:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._leading = False
                else:
                    following.lead = True
            for pending in batch:
                pending.wake.set()
            if following is not None:
                following.wake.set()


def _write_batch(batch: list[_Pending]) -> None:
    events = [p.event for p in batch]
    try:
        if not (_two_round_trips() and _append_committed_pg(events)):
            with transaction.atomic():
                _append(events)
    except (DatabaseError, AuditUnavailable) as exc:
        if len(batch) == 1:
            batch[0].error = (
                exc
                if isinstance(exc, AuditUnavailable)
                else _unavailable(batch[0].event.action, exc)
            )
            batch[0].done = True
            return
        logger.warning(
            "a batch of %d audit records failed (%s); writing them one at a time",
            len(batch),
            type(exc).__name__,
        )
        for pending in batch:
            _write_batch([pending])
        return
    for pending in batch:
        pending.done = True


_group_commit = _GroupCommit()


def anchor_every() -> int:
    return int(getattr(settings, "AUDIT_ANCHOR_EVERY", 1000))


def _enqueue_anchor() -> None:
    """After the commit of every N-th record. A queue outage must not fail the audited
    action that is already committed: the periodic anchor catches up."""
    from strongroom.audit.tasks import audit_anchor_task

    try:
        audit_anchor_task()
    except Exception as exc:  # noqa: BLE001 - any queue failure: the periodic anchor catches up
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
