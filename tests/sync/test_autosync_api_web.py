"""Auto-sync controls through the REST API and the web pages: keep-in-sync at sync time,
the copies list (provider, location, last synced, last error, next scheduled), stop, keep,
re-sync, new passphrase; authorisation, CSRF, strict CSP, hostile values shown as text."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from strongroom.sync.models import AutoState, JobState, JobTrigger, SyncCopy, SyncJob

from .helpers import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    admin,
    api_for,
    local_connect,
    local_folder,
    opened,
    scope_make,
    user_make,
)

pytestmark = pytest.mark.django_db

NEW_PASSPHRASE = "marigold tundra patiently eleven lantern"


def test_api_keep_in_sync_list_resync_rekey_stop(sync_dir, cheap_policy, run):
    alice = user_make("password_admin")
    scope_make(alice, 2)
    conn = local_connect(alice)
    api = api_for(alice)
    started = run(
        api.post,
        "/sync",
        {"connection_id": str(conn.pk), "passphrase": PASSPHRASE, "keep_in_sync": True},
    )
    assert started.status_code == 202, started.content
    [listed] = api.get("/sync/copies").json()
    assert listed["keep_in_sync"] is True and listed["auto_state"] == "active"
    assert listed["provider"] == "local" and listed["provider_label"] == "Local folder"
    assert listed["location"] and listed["last_synced_at"] and listed["next_scheduled_at"]
    assert listed["last_error"] == "" and listed["current"] is True
    body = str(listed)
    assert PASSPHRASE not in body and "wrapped" not in body and "private" not in body
    copy_id = listed["id"]
    path = local_folder(sync_dir, conn) / SyncCopy.objects.get(pk=copy_id).object_name

    resync = run(api.post, f"/sync/copies/{copy_id}/resync")
    assert resync.status_code == 202 and resync.json()["job"]["trigger"] == "resync"
    assert SyncJob.objects.get(pk=resync.json()["job"]["id"]).state == JobState.SUCCEEDED

    weak = api.post(f"/sync/copies/{copy_id}/passphrase", {"passphrase": "abc"})
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "passphrase_refused"
    rekey = run(api.post, f"/sync/copies/{copy_id}/passphrase", {"passphrase": NEW_PASSPHRASE})
    assert rekey.status_code == 202, rekey.content
    assert NEW_PASSPHRASE.encode() not in rekey.content
    assert len(opened(path.read_bytes(), NEW_PASSPHRASE)) == 2

    stopped = api.post(f"/sync/copies/{copy_id}/stop")
    assert stopped.status_code == 200 and stopped.json()["keep_in_sync"] is False
    assert stopped.json()["next_scheduled_at"] is None
    kept = run(api.post, f"/sync/copies/{copy_id}/keep")
    assert kept.json()["auto_state"] == "active"

    # Other users: 404 on every copy endpoint; the admin sees it and can stop it, not re-key it.
    bob = api_for(user_make())
    for method, url in [
        ("get", f"/sync/copies/{copy_id}"),
        ("post", f"/sync/copies/{copy_id}/stop"),
        ("post", f"/sync/copies/{copy_id}/keep"),
        ("post", f"/sync/copies/{copy_id}/resync"),
        ("post", f"/sync/copies/{copy_id}/passphrase"),
        ("get", "/sync/copies/not-a-uuid"),
    ]:
        got = getattr(bob, method)(url) if method == "get" else bob.post(url, {"passphrase": "x"})
        assert got.status_code == 404, (url, got.content)
    assert bob.get("/sync/copies").json() == []
    boss = api_for(admin())
    assert [c["id"] for c in boss.get(f"/sync/copies?user_id={alice.pk}").json()] == [copy_id]
    assert boss.post(f"/sync/copies/{copy_id}/resync").status_code == 404
    assert boss.post(f"/sync/copies/{copy_id}/stop").json()["keep_in_sync"] is False
    triggers = set(SyncJob.objects.filter(user=alice).values_list("trigger", flat=True))
    assert {JobTrigger.MANUAL, JobTrigger.RESYNC, JobTrigger.REKEY} <= triggers


def _csp_strict(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html and " style=" not in html


def test_web_dialog_keep_checkbox_and_copies_page_controls(sync_dir, cheap_policy, run):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn = local_connect(alice)
    client = Client()
    assert client.login(username=alice.username, password=LOGIN_PASSWORD)
    menu = client.get("/export/").content.decode()
    assert 'name="keep_in_sync"' in menu and "Keep this copy up to date" in menu
    response = run(
        client.post,
        f"/export/sync/{conn.pk}/",
        {
            "passphrase": PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
            "keep_in_sync": "on",
        },
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 202, response.content
    copy = SyncCopy.objects.get(user=alice)
    assert copy.keep_in_sync and copy.auto_state == AutoState.ACTIVE

    page = client.get("/sync/copies/")
    assert page.status_code == 200
    _csp_strict(page)
    html = page.content.decode()
    for shown in ("Local folder", copy.location, "Kept in sync", "Last attempt", "Next scheduled"):
        assert shown in html
    assert 'data-copy-attempt="succeeded"' in html
    for action in ("stop", "resync", "passphrase"):
        assert f'action="/sync/copies/{copy.pk}/{action}/"' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 3

    # CSRF: a form post without the token is refused and changes nothing.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(f"/sync/copies/{copy.pk}/stop/").status_code == 403
    assert SyncCopy.objects.get(pk=copy.pk).keep_in_sync

    # The controls.
    done = run(client.post, f"/sync/copies/{copy.pk}/resync/")
    assert done.status_code == 302
    assert SyncJob.objects.filter(sync_copy=copy, trigger=JobTrigger.RESYNC).get().state == (
        JobState.SUCCEEDED
    )
    differ = client.post(
        f"/sync/copies/{copy.pk}/passphrase/",
        {"passphrase": NEW_PASSPHRASE, "passphrase_confirm": NEW_PASSPHRASE + "x"},
        follow=True,
    )
    assert "The two passphrases differ." in differ.content.decode()
    assert not SyncJob.objects.filter(trigger=JobTrigger.REKEY).exists()
    run(
        client.post,
        f"/sync/copies/{copy.pk}/passphrase/",
        {"passphrase": NEW_PASSPHRASE, "passphrase_confirm": NEW_PASSPHRASE},
    )
    path = local_folder(sync_dir, conn) / copy.object_name
    assert len(opened(path.read_bytes(), NEW_PASSPHRASE)) == 1
    stopped = client.post(f"/sync/copies/{copy.pk}/stop/", follow=True)
    assert "no longer kept up to date" in stopped.content.decode()
    assert not SyncCopy.objects.get(pk=copy.pk).keep_in_sync
    assert client.post(f"/sync/copies/{copy.pk}/bogus/").status_code == 404

    # Another user cannot act on it; the admin sees it and can stop it.
    mallory = Client()
    mallory.force_login(user_make("password_admin"))
    refused = mallory.post(f"/sync/copies/{copy.pk}/keep/", follow=True)
    assert "synced copy not found" in refused.content.decode().lower()
    assert str(copy.pk) not in mallory.get("/sync/copies/").content.decode()
    boss = Client()
    boss.force_login(admin())
    assert alice.username in boss.get("/sync/copies/").content.decode()
    # The owner keeps it again; the administrator stops it from the web page.
    client.post(f"/sync/copies/{copy.pk}/keep/", follow=True)
    assert SyncCopy.objects.get(pk=copy.pk).keep_in_sync
    by_admin = boss.post(f"/sync/copies/{copy.pk}/stop/", follow=True)
    assert by_admin.status_code == 200
    assert "no longer kept up to date" in by_admin.content.decode()
    assert not SyncCopy.objects.get(pk=copy.pk).keep_in_sync


def test_hostile_values_on_the_copies_page_are_text(sync_dir, cheap_policy, run):
    hostile = '<img src=x onerror=alert(1)>=HYPERLINK("x")'
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn = local_connect(alice)
    run(
        api_for(alice).post,
        "/sync",
        {"connection_id": str(conn.pk), "passphrase": PASSPHRASE, "keep_in_sync": True},
    )
    SyncCopy.objects.filter(user=alice).update(last_error=hostile, state_message=hostile)
    client = Client()
    client.force_login(alice)
    html = client.get("/sync/copies/").content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
