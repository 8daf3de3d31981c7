"""The hash chain: every kind of tampering is found and named, and concurrent writers
(threads, separate connections) still build one unbroken chain."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from strongroom.audit.models import AuditChainHead, AuditEvent
from strongroom.audit.services import audit_record, audit_verify

pytestmark = pytest.mark.db_specific


def _chain(n: int) -> list[AuditEvent]:
    return [audit_record(actor=None, action="test.event", details={"i": i}) for i in range(n)]


@pytest.mark.django_db
def test_an_untouched_chain_verifies():
    _chain(5)
    report = audit_verify()
    assert report.ok, report.problems
    assert report.checked == 5


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["reason", "object_name", "action", "client_ip"])
def test_an_edited_record_is_named(field):
    events = _chain(5)
    AuditEvent.objects.filter(pk=events[2].pk).update(**{field: "tampered"})
    report = audit_verify()
    assert not report.ok
    assert any(f"record {events[2].seq} was edited" in p for p in report.problems)


@pytest.mark.django_db
def test_edited_details_or_time_are_found():
    events = _chain(3)
    AuditEvent.objects.filter(pk=events[0].pk).update(details={"i": 99})
    AuditEvent.objects.filter(pk=events[1].pk).update(at=events[1].at.replace(year=2001))
    problems = " ".join(audit_verify().problems)
    assert f"record {events[0].seq} was edited" in problems
    assert f"record {events[1].seq} was edited" in problems


@pytest.mark.django_db
def test_a_deleted_record_in_the_middle_is_found():
    events = _chain(5)
    AuditEvent.objects.filter(pk=events[2].pk).delete()
    problems = " ".join(audit_verify().problems)
    assert f"records {events[2].seq}..{events[2].seq} are missing" in problems


@pytest.mark.django_db
def test_deleted_records_at_the_end_are_found_through_the_head():
    events = _chain(5)
    AuditEvent.objects.filter(seq__gte=events[3].seq).delete()
    problems = " ".join(audit_verify().problems)
    assert "records at the end were deleted" in problems


@pytest.mark.django_db
def test_reordered_records_are_found():
    events = _chain(4)
    a, b = events[1], events[2]
    # Swap the positions of two records (their seq numbers), keeping each record's content.
    AuditEvent.objects.filter(pk=a.pk).update(seq=-1)
    AuditEvent.objects.filter(pk=b.pk).update(seq=a.seq)
    AuditEvent.objects.filter(pk=a.pk).update(seq=b.seq)
    report = audit_verify()
    assert not report.ok
    assert any("does not follow the record before it" in p for p in report.problems)


@pytest.mark.django_db
def test_a_forged_record_without_the_chain_key_is_found():
    events = _chain(2)
    last = events[-1]
    import hashlib

    forged_hash = hashlib.sha256(b"attacker").hexdigest()
    AuditEvent.objects.create(
        seq=last.seq + 1,
        at=last.at,
        actor_name="attacker",
        action="password.retrieve",
        prev_hash=last.hash,
        hash=forged_hash,
    )
    AuditChainHead.objects.filter(pk=1).update(seq=last.seq + 1, hash=forged_hash)
    problems = " ".join(audit_verify().problems)
    assert f"record {last.seq + 1} was edited" in problems


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_build_one_unbroken_chain():
    threads, per_thread = 4, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                audit_record(actor=None, action="test.concurrent", details={"t": n, "i": i})
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
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, threads * per_thread + 1))
    report = audit_verify()
    assert report.ok, report.problems
    assert connection.vendor in {"sqlite", "postgresql"}
