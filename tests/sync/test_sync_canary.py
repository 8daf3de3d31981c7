"""Canary: a known passphrase and known S3 credentials go through a sync that fails, retries
and succeeds; none of them appears in the logs (DEBUG), the task queue, the job rows, the
copy records, the notifications or the audit trail."""

from __future__ import annotations

import json
import logging
import random

import pytest
from django.core import serializers

from strongroom.audit.models import AuditEvent
from strongroom.notifications.models import Notification
from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncCopy, SyncJob

from .helpers import scope_make, user_make

pytestmark = pytest.mark.django_db

CANARY_PASSPHRASE = "canary-passphrase-zebra-quartz-719"


def test_no_passphrase_or_credential_anywhere(
    s3_connect, s3_enabled, s3_credentials, cheap_policy, enqueued, caplog,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    caplog.set_level(logging.DEBUG)
    alice = user_make("password_admin")
    scope_make(alice, 2)
    conn, bucket = s3_connect(alice)
    s3_enabled.add_fault("reset", method="PUT", match=bucket, reset_after=256)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync.sync_request(
            actor=alice, connection_id=conn.pk, passphrase=CANARY_PASSPHRASE, reason="canary"
        )
    job.refresh_from_db()
    assert job.state == JobState.RETRY_WAIT
    job.next_attempt_at = None
    job.save()
    with django_capture_on_commit_callbacks(execute=True):
        done = sync.sync_job_run(job_id=job.pk, worker_id="w", rand=random.Random(1))
    assert done.state == JobState.SUCCEEDED
    # a refused one too (weak passphrase that contains the canary's start)
    with pytest.raises(Exception) as refused:
        sync.sync_request(actor=alice, connection_id=conn.pk, passphrase="canary-")
    secrets = [
        CANARY_PASSPHRASE,
        s3_credentials.secret_access_key,
        s3_credentials.access_key_id,
        "canary-",
    ]
    # botocore's own DEBUG lines carry the Authorization header, which names the access key
    # ID (not a secret; the secret key and signatures are what matter); ours never do.
    ours = [r for r in caplog.records if r.name.startswith("strongroom")]
    assert any(r.name.startswith("strongroom.sync") for r in ours)
    haystacks = {
        "all logs": "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records),
        "our logs": "\n".join(r.getMessage() + str(r.exc_text or "") for r in ours),
        "queue": "\n".join(repr(e) for e in enqueued),
        "jobs": serializers.serialize("json", SyncJob.objects.all()),
        "copies": serializers.serialize("json", SyncCopy.objects.all()),
        "notifications": serializers.serialize("json", Notification.objects.all()),
        "audit": json.dumps(list(AuditEvent.objects.values_list("details", "reason")), default=str),
        "error": str(refused.value),
    }
    assert len(enqueued) >= 2
    for where, text in haystacks.items():
        for secret in secrets:
            if where == "all logs" and secret == s3_credentials.access_key_id:
                continue
            assert secret not in text, (where, secret[:4])
