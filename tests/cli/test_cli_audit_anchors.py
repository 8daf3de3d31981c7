"""`strongroom audit anchor` and `strongroom audit verify --anchors`, run for real."""

from __future__ import annotations

import json

import pytest

from cli.helpers import LOGIN_PASSWORD

pytestmark = pytest.mark.db_specific

EXIT_FAILED = 1

# What a database writer without the master key can do: delete the newest records and put
# back the head row as it was when the chain was shorter (saved earlier by the attacker).
TRUNCATE_AND_REPLAY = """
import os
from strongroom.audit.models import AuditChainHead, AuditEvent
old = json.loads(os.environ["OLD_HEAD"])
AuditEvent.objects.filter(seq__gt=old["seq"]).delete()
AuditChainHead.objects.filter(pk=1).update(**old)
"""

SAVE_HEAD = """
from strongroom.audit.models import AuditChainHead
result = AuditChainHead.objects.filter(pk=1).values("seq", "hash", "head_mac").get()
"""


def test_verify_with_anchors_catches_a_truncation_the_keyed_head_cannot(migrated, tmp_path):
    anchors = tmp_path / "anchors"
    env = {"STRONGROOM_AUDIT_ANCHOR_DIR": str(anchors)}
    migrated.ok("createadmin", "alice", "--password-file", "-", input=LOGIN_PASSWORD + "\n")
    old_head = migrated.script(SAVE_HEAD)
    migrated.ok("createadmin", "bob", "--password-file", "-", input=LOGIN_PASSWORD + "\n")
    anchored = migrated.ok("audit", "anchor", env=env)
    assert "anchored record" in anchored.stdout
    # The same anchor went to the log stream (stderr) as a structured line.
    assert "audit-anchor {" in anchored.stderr

    good = migrated.ok("audit", "verify", "--anchors", str(anchors), env=env)
    assert "chain intact, 1 anchors reached" in good.stdout

    migrated.script(TRUNCATE_AND_REPLAY, env={"OLD_HEAD": json.dumps(old_head)})
    plain = migrated.run("audit", "verify")
    assert plain.returncode == 0  # a replayed genuine head: only anchors can tell
    caught = migrated.run("audit", "verify", "--anchors", str(anchors))
    assert caught.returncode == EXIT_FAILED
    assert "beyond the end of the chain" in caught.stdout


def test_verify_fails_on_a_rewritten_head_and_on_an_empty_anchor_source(migrated, tmp_path):
    migrated.ok("createadmin", "alice", "--password-file", "-", input=LOGIN_PASSWORD + "\n")
    migrated.ok("createadmin", "bob", "--password-file", "-", input=LOGIN_PASSWORD + "\n")
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    nothing = migrated.run("audit", "verify", "--anchors", str(empty))
    assert nothing.returncode == EXIT_FAILED
    assert f"no anchors found in {empty}" in nothing.stdout
    migrated.script(
        """
from strongroom.audit.models import AuditChainHead, AuditEvent
last = AuditEvent.objects.order_by("-seq").first()
AuditEvent.objects.filter(seq=last.seq).delete()
prev = AuditEvent.objects.order_by("-seq").first()
AuditChainHead.objects.filter(pk=1).update(seq=prev.seq, hash=prev.hash)
"""
    )
    forged = migrated.run("audit", "verify")
    assert forged.returncode == EXIT_FAILED
    assert "fails its MAC" in forged.stdout
