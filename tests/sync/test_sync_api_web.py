"""The sync API and web pages: the same service and policy as the CLI; errors in the API's
one shape and in the dialog; history per user, all for administrators."""

from __future__ import annotations

import pytest
from django.test import Client

from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncJob

from .helpers import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    admin,
    api_for,
    local_connect,
    scope_make,
    sync_start,
    user_make,
)

pytestmark = pytest.mark.django_db


def test_api_sync_history_job_and_cancel(
    sync_dir, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope_make(alice, 2)
    conn = local_connect(alice)
    api = api_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            "/sync", {"connection_id": str(conn.pk), "passphrase": PASSPHRASE, "reason": "trip"}
        )
    assert started.status_code == 202, started.content
    assert PASSPHRASE.encode() not in started.content
    job_id = started.json()["id"]
    got = api.get(f"/sync/jobs/{job_id}").json()
    assert got["state"] == "succeeded" and got["entry_count"] == 2 and got["location"]
    assert [j["id"] for j in api.get("/sync/jobs").json()] == [job_id]
    cancel = api.post(f"/sync/jobs/{job_id}/cancel")
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "conflict"

    bob = user_make()
    bob_api = api_for(bob)
    assert bob_api.get(f"/sync/jobs/{job_id}").status_code == 404
    assert bob_api.get("/sync/jobs").json() == []
    assert bob_api.get(f"/sync/jobs?user_id={alice.pk}").json() == []
    boss = api_for(admin())
    assert [j["id"] for j in boss.get(f"/sync/jobs?user_id={alice.pk}").json()] == [job_id]


def test_api_refusals_use_the_error_shape(sync_dir, cheap_policy):
    alice = user_make()
    conn = local_connect(alice)
    api = api_for(alice)
    weak = api.post("/sync", {"connection_id": str(conn.pk), "passphrase": "abc"})
    assert weak.status_code == 400
    assert weak.json()["error"]["code"] == "passphrase_refused"
    assert api.post("/sync", {"connection_id": "nope", "passphrase": PASSPHRASE}).status_code == 404
    assert not SyncJob.objects.exists()


def test_export_menu_offers_sync_per_connected_enabled_provider_and_dialog_errors(
    sync_dir, cheap_policy
):
    alice = user_make("password_admin")
    client = Client()
    assert client.login(username=alice.username, password=LOGIN_PASSWORD)
    assert b"for Mobile Access" not in client.get("/export/").content  # not connected yet
    conn = local_connect(alice)
    page = client.get("/export/").content.decode()
    assert "Sync with Local folder for Mobile Access" in page
    assert f'action="/export/sync/{conn.pk}/"' in page
    refused = client.post(
        f"/export/sync/{conn.pk}/",
        {"passphrase": "short", "passphrase_confirm": "short"},
        headers={"X-Requested-With": "fetch"},
    )
    assert refused.status_code == 400
    fields = refused.json()["error"]["details"]["fields"]
    assert "passphrase" in {f["field"] for f in fields}
    started = client.post(
        f"/export/sync/{conn.pk}/",
        {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE},
        headers={"X-Requested-With": "fetch"},
    )
    assert started.status_code == 202
    job = SyncJob.objects.get(pk=started.json()["job_id"])
    assert job.state == JobState.QUEUED  # the worker runs it after commit
    history = client.get("/sync/history/").content.decode()
    assert f'data-sync-job="{job.pk}"' in history


def test_history_names_the_provider_and_counts_entries_in_words(sync_dir, cheap_policy):
    alice = user_make("password_admin")
    conn = local_connect(alice)
    scope_make(alice, 1)
    one = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    scope_make(alice, 1, prefix="more")
    two = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert one.state == two.state == JobState.SUCCEEDED
    client = Client()
    assert client.login(username=alice.username, password=LOGIN_PASSWORD)
    history = client.get("/sync/history/").content.decode()
    assert '<td data-provider="local">Local folder</td>' in history
    assert f"{one.result_location} (1 entry)" in history
    assert f"{two.result_location} (2 entries)" in history
