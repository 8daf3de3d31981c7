"""Sync to S3 (moto's server mode through the fault proxy), what is S3's own: which error
codes ask the user to reconnect (auth) or are a permission error, neither retried; an
unreachable endpoint is transient. The flow, Retry-After backoff and keeping the good copy
are the provider-parametrised suite's (test_sync_providers.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom.notifications.models import Notification
from strongroom.storage.models import StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState

from .helpers import scope_make, sync_start, user_make

pytestmark = pytest.mark.django_db

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def _object(moto, bucket: str, key: str) -> bytes:
    return moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _puts(proxy, bucket: str) -> int:
    return sum(1 for r in proxy.requests if r.method == "PUT" and bucket in r.target)


@pytest.mark.parametrize(
    ("status", "code", "error_code"),
    [
        (403, "SignatureDoesNotMatch", "storage_auth"),
        (403, "AccessDenied", "storage_permission"),
    ],
)
def test_auth_and_permission_errors_are_not_retried_and_ask_to_reconnect_once(
    s3_connect, s3_enabled, moto, cheap_policy, enqueued, django_capture_on_commit_callbacks,
    status, code, error_code,
):  # fmt: skip
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, bucket = s3_connect(alice)
    body = f"<Error><Code>{code}</Code><Message>no</Message></Error>".encode()
    s3_enabled.add_fault("status", method="PUT", match=bucket, status=status, times=10, body=body)
    puts_before = _puts(s3_enabled, bucket)  # the connection check writes a probe
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == 1
    assert job.error_code == error_code
    assert _puts(s3_enabled, bucket) - puts_before == 1
    assert len(enqueued) == 1  # the first run only: nothing scheduled
    conn.refresh_from_db()
    assert conn.status == StorageConnection.Status.NEEDS_REAUTH
    [note] = Notification.objects.filter(user=alice)
    assert note.level == "error" and "Reconnect" in note.title
    # the sweep does not bring it back, and nothing more is said
    sync.sync_jobs_sweep(now=datetime.now(UTC) + timedelta(days=1))
    assert Notification.objects.filter(user=alice).count() == 1
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_unreachable_endpoint_is_transient(s3_connect, moto, cheap_policy, settings):
    """Connection refused (the endpoint is down): retried later, not failed."""
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, _ = s3_connect(alice)
    job = sync_start(alice, conn)
    # the endpoint goes away after connecting: a closed port on 127.0.0.1
    from cli.helpers import free_port
    from strongroom.storage import services as storage

    from .helpers import admin

    dead = f"http://127.0.0.1:{free_port()}"
    storage.provider_settings_update(
        actor=admin(), provider="s3", config={"endpoints": [dead, conn.config["endpoint"]]}
    )
    StorageConnection.objects.filter(pk=conn.pk).update(config={**conn.config, "endpoint": dead})
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1")
    assert done.state == JobState.RETRY_WAIT and done.error_code == "storage_transient"
