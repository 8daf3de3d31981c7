"""Sync jobs in the exposure register: an upload is recorded with its provider, connection
and object name once the provider took the file; a build whose upload fails is recorded as
built, not uploaded, and does not count in a lost-device incident (docs/exposure.md)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from standins.faults import DiskFaults
from strongroom.exposure import selectors
from strongroom.exposure import services as exposure
from strongroom.exposure.models import BuildState, OfflineBuild
from strongroom.storage.providers import local
from strongroom.sync import services as sync
from strongroom.sync.models import JobState

from .helpers import Clock, local_connect, scope_make, sync_start, user_make

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def test_an_upload_is_recorded_with_its_destination(sync_dir, cheap_policy, run):
    alice = user_make("password_admin")
    scope_make(alice, 3)
    conn = local_connect(alice)
    job = run(sync_start, alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    build = OfflineBuild.objects.get()
    assert (build.destination, build.provider, build.state) == ("storage", "local", "delivered")
    assert build.connection_id == conn.pk and build.sync_job_id == job.pk
    assert build.object_name == job.result_location and build.entry_count == 3
    assert build.format == "html" and build.user == alice


def test_a_failed_upload_is_built_not_uploaded_and_not_counted(sync_dir, cheap_policy):
    alice = user_make("password_admin")
    scope_make(alice, 2)
    conn = local_connect(alice)
    job = sync_start(alice, conn)
    clock = Clock(timezone.now())
    day = clock.now.date()
    DiskFaults(local.os).unavailable(0)  # the next write fails: disk full
    failed = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert failed.state == JobState.RETRY_WAIT, failed.last_error
    build = OfflineBuild.objects.get()
    assert build.state == BuildState.NOT_DELIVERED
    assert build.problem == "storage_transient" and build.delivered_at is None
    incident = exposure.incident_report(actor=alice, user_id=alice.pk, since=day)
    status = selectors.incident_status(actor=alice, incident_id=incident.pk)
    assert status.total == 0 and status.copies == [] and status.not_delivered == 1
    # The retry lands: a second build, delivered.
    clock.now = failed.next_attempt_at
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert done.state == JobState.SUCCEEDED, done.last_error
    states = sorted(OfflineBuild.objects.values_list("state", flat=True))
    assert states == ["delivered", "not_delivered"]
