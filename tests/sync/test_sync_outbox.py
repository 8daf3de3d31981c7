"""A queue outage is not a failure (issue 14, item 6): with Huey on a Redis that is not
there (a loopback port nobody listens on), a sync request is accepted once its job is in
the database (202 with the queued job, the page says it is queued, a vault edit still saves),
and when the queue is back (the real test Redis, database 15, a queue of our own) the sweep
sends it and it runs once. An ``Idempotency-Key`` makes a client's retry return the same job.

The real-process version (a real consumer on Redis) is in test_sync_outbox_worker.py."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cli.helpers import free_port
from strongroom.audit.models import AuditEvent
from strongroom.sync import copies as sync_copies
from strongroom.sync import services as sync
from strongroom.sync import tasks as sync_tasks
from strongroom.sync.models import JobState, SyncCopy, SyncJob
from strongroom.vault import services as vault

from .helpers import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    api_for,
    local_connect,
    opened,
    scope_make,
    user_make,
)

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

REDIS_URL = os.environ.get("STRONGROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def queue():
    """Huey as a Redis installation has it (not immediate). ``down()`` points it at a
    loopback port with no listener; ``back()`` at a queue of our own on the test Redis."""
    import redis
    from huey.contrib.djhuey import HUEY
    from huey.storage import RedisStorage

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"the test Redis at {REDIS_URL} is not answering ({exc}); scripts/test starts it"
        )
    name = f"strongroom-test-outbox-{uuid.uuid4().hex[:8]}"

    class Queue:
        def down(self) -> None:
            closed = free_port()  # bound, then released: nothing listens there now
            HUEY.storage = RedisStorage(name, url=f"redis://127.0.0.1:{closed}/15")

        def back(self) -> None:
            HUEY.storage = RedisStorage(name, url=REDIS_URL)

        def run_all(self) -> int:
            """Run every message waiting on the queue, in this process (the test's database
            connection stays open: ``call_local`` skips djhuey's connection closing)."""
            ran = 0
            while (task := HUEY.dequeue()) is not None:
                wrapper = getattr(sync_tasks, task.name.rpartition(".")[2])
                wrapper.call_local(*task.args, **(task.kwargs or {}))
                ran += 1
            return ran

        def pending(self) -> list:
            return HUEY.pending()

    HUEY.immediate = False
    try:
        yield Queue()
    finally:
        HUEY.immediate = True  # back to the in-memory immediate queue of the other tests
        for key in client.scan_iter(f"*{name}*"):
            client.delete(key)


def _sync_body(conn) -> dict:
    return {"connection_id": str(conn.pk), "passphrase": PASSPHRASE, "reason": "outage"}


def test_api_answers_202_with_the_queued_job_while_redis_is_down_and_the_sweep_sends_it_once(
    sync_dir, cheap_policy, queue, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn = local_connect(alice)
    api = api_for(alice)
    queue.down()
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.client.post(
            "/api/v1/sync",
            data=_sync_body(conn),
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": "retry-1"},
        )
    assert answer.status_code == 202, answer.content
    assert answer["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["state"] == "queued" and body["attempts"] == 0
    job = SyncJob.objects.get(pk=body["id"])
    assert job.state == JobState.QUEUED and job.dispatched_at is None  # in the outbox

    # The client did not trust the answer and retries with the same key: the same job.
    with django_capture_on_commit_callbacks(execute=True):
        again = api.client.post(
            "/api/v1/sync",
            data=_sync_body(conn),
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": "retry-1"},
        )
    assert again.status_code == 202 and again.json()["id"] == body["id"]
    assert SyncJob.objects.count() == 1
    assert AuditEvent.objects.filter(action="sync.request", outcome="success").count() == 1

    # Still down: the sweep cannot send it either, and says so; the job waits.
    later = timezone.now() + timedelta(seconds=6)
    swept = sync.sync_jobs_sweep(now=later)
    assert (swept.enqueued, swept.not_sent) == (0, 1)

    queue.back()
    assert sync.sync_jobs_sweep(now=timezone.now()).enqueued == 0  # younger than the grace
    swept = sync.sync_jobs_sweep(now=later)
    assert (swept.enqueued, swept.not_sent) == (1, 0)
    job.refresh_from_db()
    assert job.state == JobState.QUEUED and job.dispatched_at is not None
    assert len(queue.pending()) == 1
    # Sent once: the next sweeps leave it to the queue (until it looks lost, 30 s later).
    assert sync.sync_jobs_sweep(now=later + timedelta(seconds=5)).enqueued == 0

    assert queue.run_all() == 1
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.attempts == 1, job.last_error
    assert AuditEvent.objects.filter(action="sync.upload", object_id=str(job.pk)).count() == 1
    copy = SyncCopy.objects.get(user=alice, connection=conn)
    assert copy.sha256 == job.result_sha256
    files = list(sync_dir.rglob("strongroom-offline.html"))
    assert len(files) == 1 and opened(files[0].read_bytes()) == scope


def test_a_reused_idempotency_key_for_another_connection_is_a_conflict(
    sync_dir, cheap_policy, queue, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    first = local_connect(alice)
    bob = user_make("password_admin")
    bob_conn = local_connect(bob, "bobs")
    queue.back()
    headers = {"Idempotency-Key": "k-1"}

    def post(user_api, conn):
        body = _sync_body(conn) if conn is not None else {"connection_id": str(uuid.uuid4())}
        with django_capture_on_commit_callbacks(execute=True):
            return user_api.client.post(
                "/api/v1/sync",
                data={"passphrase": PASSPHRASE, **body},
                content_type="application/json",
                headers={"Authorization": f"Bearer {user_api.token}", **headers},
            )

    api = api_for(alice)
    assert post(api, first).status_code == 202
    clash = post(api, None)  # the same key, another connection
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "idempotency_key_reused"
    # Keys are per user: Bob's "k-1" is his own request.
    assert post(api_for(bob), bob_conn).status_code == 202
    assert (
        SyncJob.objects.filter(user=alice).count() == SyncJob.objects.filter(user=bob).count() == 1
    )
    headers["Idempotency-Key"] = "x" * 201
    assert post(api, first).status_code == 400


def test_web_sync_button_says_queued_while_redis_is_down(sync_dir, cheap_policy, queue, run):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn = local_connect(alice)
    client = Client()
    assert client.login(username=alice.username, password=LOGIN_PASSWORD)
    queue.down()
    form = {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE}
    fetched = run(
        client.post, f"/export/sync/{conn.pk}/", form, headers={"X-Requested-With": "fetch"}
    )
    assert fetched.status_code == 202
    assert fetched.json()["state"] == "queued" and "queued" in fetched.json()["message"]
    page = run(client.post, f"/export/sync/{conn.pk}/", form, follow=True)
    assert page.status_code == 200
    assert "is queued and will be uploaded" in page.content.decode()
    jobs = SyncJob.objects.filter(user=alice)
    assert jobs.count() == 2
    assert all(j.state == JobState.QUEUED and j.dispatched_at is None for j in jobs)


def test_a_vault_edit_while_redis_is_down_saves_and_the_kept_copy_is_rebuilt_later(
    sync_dir, cheap_policy, queue, run
):
    alice = user_make("password_admin")
    conn = local_connect(alice)
    scope_make(alice, 1)
    queue.back()
    first = run(sync.sync_request, actor=alice, connection_id=conn.pk, passphrase=PASSPHRASE,
                reason="kept", keep_in_sync=True)  # fmt: skip
    assert queue.run_all() == 1
    copy = SyncCopy.objects.get(pk=SyncJob.objects.get(pk=first.pk).sync_copy_id)
    assert copy.keep_in_sync and copy.is_current

    queue.down()
    resource = vault.resource_create(actor=alice, name="added-during-outage", host="10.0.0.9")
    run(vault.account_create, actor=alice, resource_id=resource.pk, username="root", password="p")
    copy.refresh_from_db()
    assert copy.due_at is not None and not copy.is_current  # the change is recorded

    queue.back()
    due = copy.due_at + timedelta(seconds=61)
    started = run(sync_copies.sync_copies_sweep, clock=lambda: due)
    assert started.started == 1
    assert queue.run_all() == 1
    [rebuilt] = SyncJob.objects.filter(sync_copy=copy, trigger="auto")
    assert rebuilt.state == JobState.SUCCEEDED, rebuilt.last_error
    copy.refresh_from_db()
    assert copy.sha256 == rebuilt.result_sha256
