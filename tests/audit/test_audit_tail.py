"""The chain's tail: a keyed head and anchors written outside the database.

The attacker here has full write access to the database but not the master key: they can
delete records, rewrite the head row, and replay a head row they saved earlier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from datetime import UTC, datetime

import pytest

from storage.moto_server import MotoServer, start_moto_server
from strongroom.audit.anchors import FILE_NAME, LOG_MARKER, anchors_read, audit_anchor
from strongroom.audit.models import AuditChainHead, AuditEvent
from strongroom.audit.services import audit_record, audit_verify, head_key_legacy
from strongroom.core.errors import AuditUnavailable

pytestmark = pytest.mark.db_specific


def _chain(n: int) -> list[AuditEvent]:
    return [audit_record(actor=None, action="test.event", details={"i": i}) for i in range(n)]


def _truncate(keep: int) -> None:
    """The attack from the review: delete the records after ``keep`` and point the head at
    the new last record (everything a database writer can compute without a key)."""
    AuditEvent.objects.filter(seq__gt=keep).delete()
    last = AuditEvent.objects.get(seq=keep)
    AuditChainHead.objects.filter(pk=1).update(seq=last.seq, hash=last.hash)


def _saved_head() -> dict[str, object]:
    return AuditChainHead.objects.filter(pk=1).values("seq", "hash", "head_mac").get()


@pytest.fixture
def anchor_dir(tmp_path, settings):
    settings.AUDIT_ANCHOR_DIR = str(tmp_path / "anchors")
    return tmp_path / "anchors"


@pytest.mark.django_db
def test_truncating_and_rewriting_the_head_fails_verify_without_anchors():
    _chain(6)
    _truncate(keep=4)
    report = audit_verify()
    assert not report.ok
    assert any("the chain head (record 4) fails its MAC" in p for p in report.problems)


@pytest.mark.django_db
def test_a_writer_refuses_to_extend_a_forged_head():
    """Fail closed: the next audited action does not bless the truncation by chaining on."""
    _chain(6)
    _truncate(keep=4)
    with pytest.raises(AuditUnavailable):
        audit_record(actor=None, action="password.retrieve")
    assert AuditEvent.objects.count() == 4


@pytest.mark.django_db
def test_the_head_mac_cannot_be_recomputed_from_what_the_database_holds():
    """Everything the attacker can read (the sealed chain key, the records, the hashes)
    gives no head MAC that verifies; only the chain key behind the master key does."""
    _chain(6)
    head = AuditChainHead.objects.get(pk=1)
    sealed = bytes(head.mac_key)
    target = AuditEvent.objects.get(seq=4)
    message = f"{target.seq}:{target.hash}".encode()
    guesses = [
        hashlib.sha256(message).hexdigest(),
        hmac.new(sealed, message, hashlib.sha256).hexdigest(),
        hmac.new(head.head_mac.encode(), message, hashlib.sha256).hexdigest(),
        hmac.new(bytes.fromhex(target.hash), message, hashlib.sha256).hexdigest(),
        hmac.new(base64.b64encode(sealed), message, hashlib.sha256).hexdigest(),
    ]
    _truncate(keep=4)
    for guess in guesses:
        AuditChainHead.objects.filter(pk=1).update(head_mac=guess)
        assert any("fails its MAC" in p for p in audit_verify().problems)


@pytest.mark.django_db
def test_without_the_master_key_the_head_key_cannot_be_derived(monkeypatch):
    """Holding the database but another master key: the chain key (and so the head and
    anchor keys derived from it) does not open."""
    from strongroom.audit.services import _chain_key
    from strongroom.core import keys

    _chain(2)
    head = AuditChainHead.objects.get(pk=1)
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    keys.reset()
    try:
        with pytest.raises(keys.MasterKeyProblem):
            _chain_key(head)
    finally:
        monkeypatch.delenv("STRONGROOM_MASTER_KEY")
        keys.reset()
    assert len(_chain_key(head)) == 32


@pytest.mark.django_db
def test_a_blanked_head_mac_is_a_problem():
    _chain(3)
    AuditChainHead.objects.filter(pk=1).update(head_mac="")
    assert any("fails its MAC" in p for p in audit_verify().problems)


@pytest.mark.django_db
def test_a_replayed_old_head_passes_the_keyed_head_but_not_the_anchors(anchor_dir):
    """The limit of a keyed head: a head row saved earlier is genuine. The anchor written
    when the chain was longer shows that records after it were deleted."""
    _chain(4)
    old_head = _saved_head()
    _chain(3)
    anchor = audit_anchor(why="command")
    assert anchor is not None and anchor.seq == 7

    AuditEvent.objects.filter(seq__gt=4).delete()
    AuditChainHead.objects.filter(pk=1).update(**old_head)
    assert audit_verify().ok  # the keyed head alone cannot see this

    anchors, problems = anchors_read(str(anchor_dir))
    assert problems == []
    report = audit_verify(anchors=anchors)
    assert not report.ok
    assert any(
        "names record 7, beyond the end of the chain (last record 4)" in p for p in report.problems
    )


@pytest.mark.django_db
def test_the_anchor_file_is_append_only_jsonl_0600_and_verifies(anchor_dir):
    _chain(2)
    first = audit_anchor(why="command")
    _chain(2)
    second = audit_anchor(why="command")
    path = anchor_dir / FILE_NAME
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    lines = path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [first.seq, second.seq]
    anchors, problems = anchors_read(str(path))
    assert problems == []
    report = audit_verify(anchors=anchors)
    assert report.ok, report.problems
    assert report.anchors == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "edit",
    [
        {"seq": 3},  # move the anchor back, so a truncation to 3 would pass
        {"hash": "0" * 64},
        {"at": "2001-01-01T00:00:00+00:00"},
        {"mac": "f" * 64},
    ],
)
def test_an_edited_anchor_fails_its_mac(anchor_dir, edit):
    _chain(5)
    audit_anchor(why="command")
    path = anchor_dir / FILE_NAME
    body = json.loads(path.read_text())
    body.update(edit)
    path.write_text(json.dumps(body) + "\n")
    anchors, _ = anchors_read(str(path))
    report = audit_verify(anchors=anchors)
    assert any("fails its MAC" in p for p in report.problems), report.problems


@pytest.mark.django_db
def test_a_damaged_anchor_line_is_reported_not_skipped(anchor_dir):
    _chain(2)
    audit_anchor(why="command")
    path = anchor_dir / FILE_NAME
    path.write_text(path.read_text()[:-20] + "\n")
    anchors, problems = anchors_read(str(path))
    assert anchors == []
    assert problems == [f"{FILE_NAME} line 1 is a damaged anchor (edited or truncated)"]


@pytest.mark.django_db
def test_a_rewritten_chain_does_not_match_the_anchored_hash(anchor_dir):
    _chain(3)
    audit_anchor(why="command")
    AuditEvent.objects.filter(seq=3).update(hash="ab" * 32)
    AuditChainHead.objects.filter(pk=1).update(hash="ab" * 32)
    anchors, _ = anchors_read(str(anchor_dir))
    problems = " ".join(audit_verify(anchors=anchors).problems)
    assert "record 3 is not the record anchored at" in problems


@pytest.mark.django_db
def test_the_anchor_goes_to_the_log_stream_and_the_log_verifies(caplog, tmp_path):
    _chain(3)
    with caplog.at_level(logging.INFO, logger="strongroom.audit.anchor"):
        audit_anchor(why="command")
    lines = [r.getMessage() for r in caplog.records if r.name == "strongroom.audit.anchor"]
    assert len(lines) == 1 and lines[0].startswith(LOG_MARKER)
    log = tmp_path / "strongroom.log"
    log.write_text(f"2026-01-01 INFO other.logger hello\n2026-01-01 INFO x {lines[0]}\n")
    anchors, problems = anchors_read(str(log))
    assert problems == [] and [a.seq for a in anchors] == [3]
    _truncate(keep=2)
    problems_after = " ".join(audit_verify(anchors=anchors).problems)
    assert "beyond the end of the chain" in problems_after


@pytest.mark.django_db
def test_periodic_anchor_skips_an_idle_chain_and_refuses_a_forged_head(anchor_dir):
    _chain(2)
    assert audit_anchor(why="periodic").seq == 2
    assert audit_anchor(why="periodic") is None  # nothing new
    _chain(1)
    _truncate(keep=2)
    AuditChainHead.objects.filter(pk=1).update(anchored_seq=0)
    with pytest.raises(AuditUnavailable):
        audit_anchor(why="periodic")
    assert len((anchor_dir / FILE_NAME).read_text().splitlines()) == 1


@pytest.mark.django_db
def test_every_n_records_queue_an_anchor(settings, anchor_dir, django_capture_on_commit_callbacks):
    settings.AUDIT_ANCHOR_EVERY = 3
    settings.HUEY["immediate"] = True
    with django_capture_on_commit_callbacks(execute=True):
        _chain(2)
    assert not (anchor_dir / FILE_NAME).exists()
    with django_capture_on_commit_callbacks(execute=True):
        _chain(1)
    anchors, _ = anchors_read(str(anchor_dir))
    assert [a.seq for a in anchors] == [3]
    assert AuditChainHead.objects.get(pk=1).anchored_seq == 3


@pytest.mark.django_db
def test_a_legacy_head_is_keyed_once_after_the_upgrade():
    _chain(3)
    AuditChainHead.objects.filter(pk=1).update(head_mac="")
    with pytest.raises(AuditUnavailable):
        audit_record(actor=None, action="test.event")
    assert head_key_legacy() == 3
    assert head_key_legacy() is None
    audit_record(actor=None, action="test.event")
    assert audit_verify().ok


# --------------------------------------------------------------------------------------
# A write-once S3 bucket (Object Lock) on moto's server


@pytest.fixture(scope="module")
def moto() -> MotoServer:
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def locked_bucket(moto, settings):
    name = f"anchors-{datetime.now(UTC).strftime('%H%M%S%f')}"
    moto.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    settings.AUDIT_ANCHOR_S3_BUCKET = name
    settings.AUDIT_ANCHOR_S3_PREFIX = "vault-a/"
    settings.AUDIT_ANCHOR_S3_ENDPOINT = moto.url
    settings.AUDIT_ANCHOR_S3_REGION = "us-east-1"
    settings.AUDIT_ANCHOR_S3_ACCESS_KEY_ID = moto.admin.access_key_id
    settings.AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY = moto.admin.secret_access_key
    settings.AUDIT_ANCHOR_S3_MODE = "COMPLIANCE"
    return name


@pytest.mark.django_db
def test_anchors_in_an_object_lock_bucket_cannot_be_deleted_and_catch_truncation(
    moto, locked_bucket
):
    from botocore.exceptions import ClientError

    _chain(5)
    anchor = audit_anchor(why="command")
    client = moto.client()
    listed = client.list_object_versions(Bucket=locked_bucket, Prefix="vault-a/")["Versions"]
    assert len(listed) == 1
    key, version = listed[0]["Key"], listed[0]["VersionId"]
    head = client.head_object(Bucket=locked_bucket, Key=key, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=locked_bucket, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    source = f"s3://{locked_bucket}/vault-a/"
    anchors, problems = anchors_read(source)
    assert problems == [] and [a.seq for a in anchors] == [anchor.seq]
    assert audit_verify(anchors=anchors).ok

    _truncate(keep=3)
    report = audit_verify(anchors=anchors_read(source)[0])
    assert any("beyond the end of the chain (last record 3)" in p for p in report.problems)


def test_the_worker_anchors_every_ten_minutes():
    from huey.contrib.djhuey import HUEY

    from strongroom.audit.tasks import audit_anchor_periodic

    assert "audit_anchor_periodic" in {t.name for t in HUEY._registry.periodic_tasks}
    check = audit_anchor_periodic.s().validate_datetime
    assert check(datetime(2026, 1, 1, 3, 20)) and check(datetime(2026, 1, 1, 3, 50))
    assert not check(datetime(2026, 1, 1, 3, 21))


@pytest.mark.django_db
def test_a_chain_past_n_records_queues_one_anchor_per_n_records_not_one_per_record(
    settings, django_capture_on_commit_callbacks
):
    """The worker is down (no anchor gets written): every N records queue one anchor task,
    not every record after the N-th (a queue nobody drains must not cost each audited
    action a task)."""
    from strongroom.audit.services import _enqueue_anchor

    settings.AUDIT_ANCHOR_EVERY = 3
    queued: list[int] = []
    for _ in range(10):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            event = audit_record(actor=None, action="test.event")
        if _enqueue_anchor in callbacks:
            queued.append(event.seq)
    assert queued == [3, 6, 9]
    assert AuditChainHead.objects.get(pk=1).anchored_seq == 0
    # A bulk action that crosses a multiple of N queues one too.
    from django.db import transaction

    from strongroom.audit.services import audit_records

    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        audit_records(records=[{"actor": None, "action": "test.bulk"}] * 2)  # 11, 12
    assert callbacks.count(_enqueue_anchor) == 1


@pytest.mark.django_db
def test_a_chain_key_opened_once_is_opened_again_when_the_sealed_value_changes():
    """The chain key is kept after the first unseal, but only for that exact sealed value:
    a head whose sealed key was swapped or damaged is refused as before."""
    from strongroom.core.secrets import SealedValueDamaged, seal_into

    _chain(2)
    head = AuditChainHead.objects.get(pk=1)
    genuine = bytes(head.mac_key)
    # Another valid chain key sealed in its place: the head's MAC no longer checks.
    seal_into(head, "mac_key", base64.b64encode(os.urandom(32)).decode())
    AuditChainHead.objects.filter(pk=1).update(mac_key=head.mac_key)
    with pytest.raises(AuditUnavailable):
        audit_record(actor=None, action="test.event")
    # Damaged bytes: they do not open at all.
    AuditChainHead.objects.filter(pk=1).update(mac_key=b"\x00" * 60)
    with pytest.raises(SealedValueDamaged):
        audit_record(actor=None, action="test.event")
    assert AuditEvent.objects.count() == 2
    AuditChainHead.objects.filter(pk=1).update(mac_key=genuine)
    audit_record(actor=None, action="test.event")
    assert audit_verify().ok
