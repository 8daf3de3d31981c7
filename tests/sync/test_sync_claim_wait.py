"""A job's message can reach a worker while another transaction still holds the job's row
for a moment: the sweep that has just taken the job back and sent it again, or the
dispatcher recording ``dispatched_at`` right after the queue took the message. The claim
waits for the row and then reads it. It used to skip a locked row (``SKIP LOCKED``) and
treat the job as not due: the message was dropped and the job waited for the sweep's
30-second resend (the HA test, tests/integration/test_ha.py, saw a killed worker's job
recovered in 35 s instead of 4 s that way).

PostgreSQL only: SQLite has no row locks (its IMMEDIATE transactions serialise writers)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection as db_connection
from django.db import transaction

from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncJob

from .helpers import local_connect, opened, scope_make, sync_start, user_make

pytestmark = pytest.mark.db_specific


@pytest.fixture(autouse=True)
def _queued_not_run():
    """Messages go to a queue nobody consumes, so only the worker of the test runs jobs."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = False
    try:
        yield
    finally:
        HUEY.flush()
        HUEY.immediate = True


def _waiting_for_a_lock() -> bool:
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_message_delivered_while_the_rows_lock_is_held_still_runs_the_job(sync_dir, cheap_policy):
    if db_connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serialises writers)")
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    job = sync_start(alice, local_connect(alice))
    locked, release = threading.Event(), threading.Event()
    result: list = []

    def hold_the_row() -> None:  # the sweep or the dispatcher, mid-transaction
        try:
            with transaction.atomic():
                SyncJob.objects.select_for_update().get(pk=job.pk)
                locked.set()
                release.wait(timeout=60)
        finally:
            db_connection.close()

    def worker() -> None:
        try:
            result.append(sync.sync_job_run(job_id=job.pk, worker_id="worker-a"))
        finally:
            db_connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(timeout=30)
    running = threading.Thread(target=worker)
    running.start()
    deadline = time.monotonic() + 30
    # The worker either waits for the row (fixed) or has already given up on it (the bug).
    while running.is_alive() and not _waiting_for_a_lock():
        assert time.monotonic() < deadline, "the worker neither waited nor finished"
        time.sleep(0.01)
    release.set()
    holder.join(timeout=30)
    running.join(timeout=60)

    [done] = result
    assert done is not None, "the claim skipped the locked row: the message was dropped"
    assert done.state == JobState.SUCCEEDED and done.attempts == 1
    [path] = sorted(sync_dir.rglob("strongroom-offline.html"))
    assert opened(path.read_bytes()) == scope
