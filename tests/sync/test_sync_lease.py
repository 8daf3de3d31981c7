"""Leases, heartbeat and the compare-and-set finish (issue 14, item 8).

Two workers and the sweep interleaved deterministically in one thread: the hand-moved
clock is read by the job machinery at each step, and the clocks below make the other
worker and the sweep act at a chosen step of the first worker (after its upload landed, or
while it builds). Then a real heartbeat thread keeping a slow upload's short lease alive.
The real-process kill test is test_sync_worker_kill.py (parametrised over providers)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from strongroom.audit.models import AuditEvent
from strongroom.notifications.models import Notification
from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncCopy, SyncJob

from .helpers import Clock, local_connect, opened, scope_make, sync_start, user_make

pytestmark = pytest.mark.db_specific

LEASE = 3.0


@pytest.fixture(autouse=True)
def _short_lease(settings):
    settings.STRONGROOM_SYNC_LEASE_SECONDS = LEASE


@pytest.fixture(autouse=True)
def _queued_not_run():
    """Messages go to a queue nobody consumes (the test's data directory), so only the
    workers named in each test run jobs."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = False
    try:
        yield
    finally:
        HUEY.flush()
        HUEY.immediate = True


class InterleavingClock(Clock):
    """A hand-moved clock that runs ``then`` (once) at the first reading for which
    ``when()`` is true: the worker reading it "stalls" there while ``then`` happens."""

    def __init__(self, when: Callable[[], bool], then: Callable[[], None]) -> None:
        super().__init__()
        self.when, self.then, self.fired = when, then, False

    def __call__(self):
        if not self.fired and self.when():
            self.fired = True
            self.then()
        return self.now


def _landed(sync_dir) -> list:
    return sorted(sync_dir.rglob("strongroom-offline.html"))


def _uploads(job: SyncJob) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action="sync.upload", object_id=str(job.pk)).order_by("seq")
    )


def _stored_sha(sync_dir) -> str:
    [path] = _landed(sync_dir)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.django_db
def test_a_reclaimed_job_whose_upload_had_landed_is_finished_once_and_not_uploaded_again(
    sync_dir, cheap_policy
):
    """Worker A stalls after its upload landed, past its lease; the sweep takes the job
    back (A looks dead). A's finish still counts (nobody claimed the job since), and the
    retry the sweep queued finds nothing to do: one upload, one audit record."""
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn = local_connect(alice)
    job = sync_start(alice, conn)
    reclaims = []

    def lease_runs_out() -> None:
        clock.advance(LEASE + 1)
        reclaims.append(sync.sync_jobs_sweep(now=clock.now).reclaimed)

    clock = InterleavingClock(lambda: bool(_landed(sync_dir)), lease_runs_out)
    done = sync.sync_job_run(job_id=job.pk, worker_id="worker-a", clock=clock)

    assert reclaims == [1]
    assert done is not None and done.state == JobState.SUCCEEDED and done.attempts == 1
    assert sync.sync_job_run(job_id=job.pk, worker_id="worker-b", clock=clock) is None
    job.refresh_from_db()
    assert (job.state, job.attempts, job.worker_id) == (JobState.SUCCEEDED, 1, "worker-a")
    [audited] = _uploads(job)
    assert audited.details["sha256"] == job.result_sha256 == _stored_sha(sync_dir)
    assert SyncCopy.objects.get(user=alice, connection=conn).sha256 == job.result_sha256
    assert opened(_landed(sync_dir)[0].read_bytes()) == scope


@pytest.mark.django_db
def test_a_stale_workers_finish_is_refused_while_another_attempt_holds_the_job(
    sync_dir, cheap_policy
):
    """Worker A stalls after its upload, past its lease; the sweep takes the job back and
    worker B claims it. A's finish is refused (compare-and-set on id, worker and attempt):
    the job stays B's, running, with no result. B then dies too and C finishes the job:
    C's result is the job's, the copy's and the stored file's; one success notification.

    A and B carry the same worker ID on purpose: two containers given the same host name,
    each running the consumer as PID 1, can produce equal IDs, so the worker ID alone is
    not a lease token; the attempt number is what tells A's finish from B's claim."""
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn = local_connect(alice)
    job = sync_start(alice, conn)

    def b_takes_over() -> None:
        clock.advance(LEASE + 1)
        assert sync.sync_jobs_sweep(now=clock.now).reclaimed == 1
        # B has claimed the job and is still working on it.
        assert sync._claim(job_id=job.pk, worker_id="worker", now=clock.now) is not None

    clock = InterleavingClock(lambda: bool(_landed(sync_dir)), b_takes_over)
    stale = sync.sync_job_run(job_id=job.pk, worker_id="worker", clock=clock)

    assert stale is None
    job.refresh_from_db()
    assert (job.state, job.attempts, job.result_sha256) == (JobState.RUNNING, 2, "")
    assert not SyncCopy.objects.filter(user=alice).exists()
    assert not Notification.objects.filter(user=alice, level="success").exists()

    clock.advance(LEASE + 1)  # B never heartbeats: it died
    assert sync.sync_jobs_sweep(now=clock.now).reclaimed == 1
    done = sync.sync_job_run(job_id=job.pk, worker_id="worker-c", clock=clock)
    assert done is not None and done.state == JobState.SUCCEEDED and done.attempts == 3
    audits = _uploads(done)
    assert [a.details["attempt"] for a in audits] == [1, 3]
    assert audits[-1].details["sha256"] == done.result_sha256 == _stored_sha(sync_dir)
    assert SyncCopy.objects.get(user=alice, connection=conn).sha256 == done.result_sha256
    assert Notification.objects.filter(user=alice, level="success").count() == 1
    assert opened(_landed(sync_dir)[0].read_bytes()) == scope


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_while_building_neither_audits_nor_uploads(
    sync_dir, cheap_policy
):
    """A's lease runs out while it builds and B claims the job: A's renewal before the audit
    record finds the job no longer its own, and A stops there."""
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn = local_connect(alice)
    job = sync_start(alice, conn)
    reads = []

    def building() -> bool:
        reads.append(1)
        return len(reads) == 2  # 1: the claim, 2: the build's "generated at"

    def b_takes_over() -> None:
        clock.advance(LEASE + 1)
        assert sync.sync_jobs_sweep(now=clock.now).reclaimed == 1
        assert sync.sync_job_run(job_id=job.pk, worker_id="worker-b", clock=clock) is not None

    clock = InterleavingClock(building, b_takes_over)
    assert sync.sync_job_run(job_id=job.pk, worker_id="worker-a", clock=clock) is None
    job.refresh_from_db()
    assert (job.state, job.attempts, job.worker_id) == (JobState.SUCCEEDED, 2, "worker-b")
    assert [a.details["attempt"] for a in _uploads(job)] == [2]


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_slow_uploads_short_lease_so_the_sweep_never_takes_it(
    s3_connect, s3_enabled, moto, cheap_policy, settings
):
    """A 1.5-second lease and an upload held 4 seconds by the proxy: the worker's heartbeat
    thread renews the lease (every 0.5 s) and sweeps run all along take nothing back.
    Without the heartbeat the lease would run out 2.5 s before the upload ends."""
    settings.STRONGROOM_SYNC_LEASE_SECONDS = 1.5
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn, bucket = s3_connect(alice)
    job = sync_start(alice, conn)
    s3_enabled.add_fault("delay", method="PUT", delay=4.0)
    result: list = []

    def work() -> None:
        try:
            result.append(sync.sync_job_run(job_id=job.pk, worker_id="slow-worker"))
        finally:
            db_connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    reclaimed, leases = 0, set()
    deadline = time.monotonic() + 60
    while worker.is_alive():
        assert time.monotonic() < deadline, "the upload never ended"
        reclaimed += sync.sync_jobs_sweep(now=timezone.now()).reclaimed
        leases.add(SyncJob.objects.get(pk=job.pk).lease_expires_at)
        worker.join(timeout=0.2)

    assert reclaimed == 0
    [done] = result
    assert done is not None and done.state == JobState.SUCCEEDED and done.attempts == 1
    assert len({lease for lease in leases if lease is not None}) >= 4  # renewed, not fixed
    assert any(r.fault == "delay" for r in s3_enabled.requests)
    assert len(_uploads(done)) == 1
    body = moto.client().get_object(Bucket=bucket, Key=done.object_name)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == done.result_sha256
    assert opened(body) == scope


class _Waiting:
    """The injected time of ``sync_job_run_and_wait``: each pause is recorded and moves a
    monotonic clock on (no real sleeping); ``on_pause`` is what other processes do meanwhile."""

    def __init__(self, on_pause: Callable[[int], None] = lambda n: None) -> None:
        self.now, self.pauses, self.on_pause = 0.0, [], on_pause

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        self.on_pause(len(self.pauses))


@pytest.mark.django_db
def test_waiting_for_a_job_drives_it_to_the_end_after_its_worker_died(sync_dir, cheap_policy):
    """`strongroom sync --wait` (``sync_job_run_and_wait``): a worker claimed the job and
    died. The waiting process polls while the lease runs; once the sweep took the job back
    it runs the retry itself and returns the finished job."""
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn = local_connect(alice)
    job = sync_start(alice, conn)
    assert sync._claim(job_id=job.pk, worker_id="dead-worker", now=timezone.now()) is not None

    def sweep_after_the_lease(pause: int) -> None:
        if pause == 1:
            later = timezone.now() + timedelta(seconds=LEASE + 1)
            assert sync.sync_jobs_sweep(now=later).reclaimed == 1

    waiting = _Waiting(sweep_after_the_lease)
    done = sync.sync_job_run_and_wait(
        job_id=job.pk, timeout=60, monotonic=waiting.monotonic, sleep=waiting.sleep
    )
    assert done.state == JobState.SUCCEEDED and done.attempts == 2
    assert done.worker_id == sync.worker_identity()[:200]
    # Polled the running job once, then ran the due retry after the shortest pause.
    assert waiting.pauses == [0.5, 0.2]
    assert opened(_landed(sync_dir)[0].read_bytes()) == scope


@pytest.mark.django_db
def test_waiting_for_a_job_another_worker_holds_stops_at_the_timeout(sync_dir, cheap_policy):
    """The job stays with a live worker: the wait polls until its timeout and returns the
    job unfinished (the command then says the worker will finish it)."""
    alice = user_make("password_admin")
    scope_make(alice, 1)
    job = sync_start(alice, local_connect(alice))
    assert sync._claim(job_id=job.pk, worker_id="busy-worker", now=timezone.now()) is not None
    waiting = _Waiting()
    left = sync.sync_job_run_and_wait(
        job_id=job.pk, timeout=3, monotonic=waiting.monotonic, sleep=waiting.sleep
    )
    assert (left.state, left.worker_id, left.is_final) == (JobState.RUNNING, "busy-worker", False)
    assert waiting.pauses == [0.5] * 6
    assert _landed(sync_dir) == []
