"""Group commit: audit records written outside a transaction (secret reads, logins) share
one head lock and one commit per batch. The chain they build is the one one-at-a-time
writing builds; each caller returns only once its own record is committed; a record the
database refuses fails alone; a forged head refuses the whole batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, connections

from strongroom.audit.models import AuditChainHead, AuditEvent
from strongroom.audit.services import _Pending, _write_batch, audit_record, audit_verify
from strongroom.core.errors import AuditUnavailable

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = "test.refused"


@contextmanager
def records_refused(action: str = REFUSED) -> Iterator[None]:
    """The database refuses audit records of one action (a trigger), as it would refuse a
    value too long for its column: the others still go in."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION sr_gc_refuse() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.action = '{action}' THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER sr_gc_refuse BEFORE INSERT ON strongroom_audit_event "
                "FOR EACH ROW EXECUTE FUNCTION sr_gc_refuse()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER sr_gc_refuse BEFORE INSERT ON strongroom_audit_event "
                f"WHEN NEW.action = '{action}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("DROP TRIGGER sr_gc_refuse ON strongroom_audit_event")
                cursor.execute("DROP FUNCTION sr_gc_refuse()")
            else:
                cursor.execute("DROP TRIGGER sr_gc_refuse")


def _pending(action: str, i: int) -> _Pending:
    return _Pending(AuditEvent(actor_name="system", action=action, details={"i": i}))


def test_outside_a_transaction_the_record_is_committed_when_audit_record_returns():
    assert not connection.in_atomic_block
    event = audit_record(actor=None, action="test.event", details={"i": 1})
    # Another connection (another thread) sees it at once: it is committed, not pending.
    seen: list[int] = []

    def look() -> None:
        try:
            seen.extend(AuditEvent.objects.filter(pk=event.pk).values_list("seq", flat=True))
        finally:
            connections.close_all()

    t = threading.Thread(target=look)
    t.start()
    t.join()
    assert seen == [event.seq] == [1]
    assert audit_verify().ok


def test_concurrent_writers_share_batches_and_build_one_unbroken_chain():
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    mine: dict[int, list[int]] = {}
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            start.wait()
            mine[n] = [
                audit_record(actor=None, action="test.concurrent", details={"t": n, "i": i}).seq
                for i in range(per_thread)
            ]
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    total = threads * per_thread
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, total + 1)
    )
    # Every caller got its own record back, in the order it wrote them.
    for n, seqs in mine.items():
        assert seqs == sorted(seqs) and len(seqs) == per_thread
        stored = AuditEvent.objects.filter(seq__in=seqs).order_by("seq")
        assert [e.details for e in stored] == [{"t": n, "i": i} for i in range(per_thread)]
    head = AuditChainHead.objects.get(pk=1)
    assert head.seq == total
    report = audit_verify()
    assert report.ok, report.problems
    assert report.checked == total


def test_a_batch_is_one_chain_segment_in_order():
    batch = [_pending("test.batch", i) for i in range(5)]
    _write_batch(batch)
    assert all(p.done and p.error is None for p in batch)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.details["i"] for e in events] == [0, 1, 2, 3, 4]
    assert [p.event.pk for p in batch] == [e.pk for e in events]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert audit_verify().ok


def test_a_refused_record_fails_alone_and_the_others_are_written():
    audit_record(actor=None, action="test.before")
    batch = [_pending("test.ok", 0), _pending(REFUSED, 1), _pending("test.ok", 2)]
    with records_refused():
        _write_batch(batch)
    assert [p.done for p in batch] == [True, True, True]
    assert batch[0].error is None and batch[2].error is None
    assert isinstance(batch[1].error, AuditUnavailable)
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["test.before", "test.ok", "test.ok"]
    report = audit_verify()
    assert report.ok, report.problems


def test_a_refused_record_raises_to_its_caller_through_the_group_commit():
    with records_refused():
        with pytest.raises(AuditUnavailable):
            audit_record(actor=None, action=REFUSED)
        kept = audit_record(actor=None, action="test.ok")
    assert list(AuditEvent.objects.values_list("seq", "action")) == [(kept.seq, "test.ok")]
    assert audit_verify().ok


def test_a_forged_head_refuses_every_record_of_the_batch():
    audit_record(actor=None, action="test.event")
    AuditChainHead.objects.filter(pk=1).update(seq=0)  # moved back without the key
    batch = [_pending("test.a", 0), _pending("test.b", 1)]
    _write_batch(batch)
    assert all(isinstance(p.error, AuditUnavailable) for p in batch)
    assert AuditEvent.objects.count() == 1
    with pytest.raises(AuditUnavailable):
        audit_record(actor=None, action="password.retrieve")


def test_a_secret_read_outside_a_transaction_fails_closed(django_user_model):
    from strongroom.accounts.services import user_create
    from strongroom.vault import services

    owner = user_create(
        actor=None, username="gc-owner", password="Group-commit-0123", role="password_admin"
    )
    res = services.resource_create(actor=owner, name="srv", resource_type="server", host="h")
    acc = services.account_create(
        actor=owner, resource_id=res.pk, username="root", password="gc-secret"
    )
    before = AuditEvent.objects.count()
    with records_refused("password.retrieve"), pytest.raises(AuditUnavailable):
        services.password_retrieve(actor=owner, account_id=acc.pk, reason="incident")
    assert AuditEvent.objects.count() == before
    assert services.password_retrieve(actor=owner, account_id=acc.pk, reason="x") == "gc-secret"
    last = AuditEvent.objects.order_by("-seq").first()
    assert last is not None and last.action == "password.retrieve" and last.reason == "x"
    assert audit_verify().ok


# --------------------------------------------------------------------------------------
# PostgreSQL: a batch in two round trips (BEGIN + head lock, then head update + insert +
# COMMIT). The same transaction and chain; these check the messages and every way out.


@pytest.mark.db_specific
def test_on_postgresql_a_batch_is_two_round_trips_holding_the_head_lock():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL sends several statements in one message")
    from django.test.utils import CaptureQueriesContext

    audit_record(actor=None, action="test.first")  # the head exists
    batch = [_pending("test.batch", i) for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        _write_batch(batch)
    sqls = [q["sql"] for q in queries.captured_queries]
    assert len(sqls) == 2, sqls
    assert sqls[0].startswith("BEGIN;") and sqls[0].endswith("FOR UPDATE")
    assert sqls[1].startswith("UPDATE strongroom_audit_head") and sqls[1].endswith("COMMIT")
    assert all(p.done and p.error is None for p in batch)
    assert [p.event.seq for p in batch] == [2, 3, 4]
    stored = list(AuditEvent.objects.order_by("seq").values_list("pk", "seq"))
    assert stored[1:] == [(p.event.pk, p.event.seq) for p in batch]
    # Committed: another connection sees the records and the head.
    seen: list[int] = []

    def look() -> None:
        try:
            seen.append(AuditChainHead.objects.get(pk=1).seq)
        finally:
            connections.close_all()

    t = threading.Thread(target=look)
    t.start()
    t.join()
    assert seen == [4]
    assert connection.get_autocommit() and not connection.in_atomic_block
    assert audit_verify().ok


@pytest.mark.db_specific
def test_on_postgresql_a_refused_or_forged_batch_leaves_no_open_transaction():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL sends several statements in one message")
    audit_record(actor=None, action="test.first")
    with records_refused():
        with pytest.raises(AuditUnavailable):
            audit_record(actor=None, action=REFUSED)
        # The head lock was released (rolled back): another connection can take it at once.
        taken: list[int] = []

        def lock_head() -> None:
            try:
                with connections["default"].cursor() as cursor:
                    cursor.execute("SET lock_timeout = '2s'")
                    cursor.execute("BEGIN")
                    cursor.execute("SELECT seq FROM strongroom_audit_head WHERE id = 1 FOR UPDATE")
                    taken.append(cursor.fetchone()[0])
                    cursor.execute("ROLLBACK")
            finally:
                connections.close_all()

        t = threading.Thread(target=lock_head)
        t.start()
        t.join()
        assert taken == [1]
    AuditChainHead.objects.filter(pk=1).update(seq=0)  # forged: refused after the lock
    with pytest.raises(AuditUnavailable):
        audit_record(actor=None, action="test.after-forgery")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # usable, and not inside a failed transaction
        assert cursor.fetchone() == (1,)
    assert connection.connection.info.transaction_status == 0  # idle, nothing open
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["test.first"]


def test_the_first_record_of_an_empty_chain_creates_the_head_outside_a_transaction():
    assert not AuditChainHead.objects.exists()
    first = audit_record(actor=None, action="test.first")
    second = audit_record(actor=None, action="test.second")
    assert (first.seq, second.seq) == (1, 2)
    assert AuditChainHead.objects.get(pk=1).seq == 2
    assert audit_verify().ok
