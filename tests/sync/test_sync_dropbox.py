"""Sync to Dropbox (official SDK against the HTTPS stand-in), what is Dropbox's own: the
API, the framework's retries with the SDK's own retries off (requests counted at the
stand-in), upload sessions, damaged or misreported hashes, token refresh stored in the
database before use, no refresh storm, no token in logs, job rows, notifications or the
audit trail (canary), and the command line. The flow, Retry-After backoff and refused
credentials are the provider-parametrised suite's (test_sync_providers.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import serializers

from cli.helpers import LOGIN_PASSWORD, make_installation
from standins.dropbox_api import content_hash
from strongroom.audit.models import AuditEvent
from strongroom.exports import offline_file
from strongroom.notifications.models import Notification
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncCopy, SyncJob

from .helpers import PASSPHRASE, Clock, admin, api_for, opened, scope_make, sync_start, user_make
from .targets import dropbox as targets_dropbox

pytestmark = pytest.mark.django_db

NAME = "/strongroom-offline.html"


@pytest.fixture
def dbx(dropbox_api: Any) -> Any:
    targets_dropbox.enable(dropbox_api)
    return dropbox_api


@pytest.fixture
def dbx_connect(dbx: Any):
    return lambda user, **kw: targets_dropbox.connect(dbx, user, **kw)


def _uploads(dbx: Any) -> int:
    return dbx.count("/2/files/upload") + dbx.count("/2/files/upload_session/start")


def test_api_sync_to_dropbox(dbx_connect, dbx, cheap_policy, django_capture_on_commit_callbacks):
    """POST /api/v1/sync with a Dropbox connection: the same job, policy and result as the
    web UI; an outage shows in the job through the API; a connection that needs
    re-authorisation is refused in the API's error shape and nothing reaches Dropbox."""
    alice = user_make("password_admin")
    scope = scope_make(alice, 3)
    conn, account, _ = dbx_connect(alice)
    api = api_for(alice)
    body = {"connection_id": str(conn.pk), "passphrase": PASSPHRASE, "reason": "site visit"}
    dbx.fault("/2/files/upload", "status", status=503)
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post("/sync", body)
    assert started.status_code == 202, started.content
    assert PASSPHRASE not in started.content.decode()
    job_id = started.json()["id"]
    assert started.json()["provider"] == "dropbox"
    waiting = api.get(f"/sync/jobs/{job_id}").json()
    assert waiting["state"] == "retry_wait" and waiting["error_code"] == "storage_transient"
    assert waiting["error"] == "Dropbox is unavailable (HTTP 503)"
    assert NAME not in dbx.files(account)
    SyncJob.objects.filter(pk=job_id).update(next_attempt_at=None)  # due now (test setup)
    sync.sync_job_run(job_id=job_id, worker_id="w1")
    done = api.get(f"/sync/jobs/{job_id}").json()
    assert done["state"] == "succeeded" and done["attempts"] == 2, done
    assert done["location"] == "Dropbox app folder" + NAME and done["entry_count"] == 3
    stored = dbx.files(account)[NAME]
    assert done["sha256"] == hashlib.sha256(stored).hexdigest()
    assert opened(stored) == scope
    assert dbx.count("/2/files/upload", status=200) == 1

    storage.storage_connection_mark_needs_reauth(
        connection_id=conn.pk, message="Dropbox refused the refresh token"
    )
    dbx.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refused = api.post("/sync", body)
    assert refused.status_code == 400, refused.content
    error = refused.json()["error"]
    assert error["code"] == "connection_needs_reauth"
    assert error["message"] == "your Dropbox connection needs to be reconnected before you can sync"
    assert [j["id"] for j in api.get("/sync/jobs").json()] == [job_id]
    assert dbx.requests == []


def test_429_5xx_and_reset_are_retried_by_the_framework_not_the_sdk(
    dbx_connect, dbx, cheap_policy, settings, enqueued, django_capture_on_commit_callbacks
):
    settings.STRONGROOM_SYNC_BACKOFF_BASE_SECONDS = 2
    settings.STRONGROOM_SYNC_MAX_ATTEMPTS = 5
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn, account, _ = dbx_connect(alice)
    dbx.fault("/2/files/upload", "429", retry_after=7)
    dbx.fault("/2/files/upload", "status", status=503)
    dbx.fault("/2/files/upload", "reset", reset_after=512)
    dbx.requests.clear()
    job = sync_start(alice, conn)
    clock, rand, mirror = Clock(), random.Random(99), random.Random(99)
    expected_waits = [
        max(1 + mirror.uniform(0, 1), 7.0),  # 429, Retry-After 7 s beats the 1-2 s backoff
        2 + mirror.uniform(0, 2),  # 503, no Retry-After: 2-4 s
        4 + mirror.uniform(0, 4),  # reset mid-upload: 4-8 s
    ]
    for attempt, wait in enumerate(expected_waits, start=1):
        enqueued.clear()
        with django_capture_on_commit_callbacks(execute=True):
            done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand)
        assert done.state == JobState.RETRY_WAIT, (attempt, done.error_code, done.last_error)
        assert done.attempts == attempt and done.error_code == "storage_transient"
        assert done.next_attempt_at == clock.now + timedelta(seconds=wait)
        [(name, args, _kwargs, _)] = enqueued
        assert name.endswith("sync_job_execute") and args == (str(job.pk),)
        assert dbx.count("/2/files/upload") == attempt  # one request per attempt: no SDK retry
        assert NAME not in dbx.files(account)  # nothing partial ever visible
        clock.now = done.next_attempt_at
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock, rand=rand)
    assert done.state == JobState.SUCCEEDED and done.attempts == 4
    assert dbx.count("/2/files/upload") == 4
    assert opened(dbx.files(account)[NAME]) == scope
    assert Notification.objects.filter(user=alice).count() == 1


def test_reset_mid_upload_session_keeps_the_previous_good_copy(
    dbx_connect, dbx, cheap_policy, settings
):
    settings.STRONGROOM_SYNC_MAX_ATTEMPTS = 2
    storage.provider_settings_update(
        actor=admin(),
        provider="dropbox",
        config={"app_key": dbx.app_key, "chunk_threshold": 4096},
    )
    alice = user_make("password_admin")
    first = scope_make(alice, 3)
    conn, account, _ = dbx_connect(alice)
    good = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert good.state == JobState.SUCCEEDED
    assert dbx.count("/2/files/upload_session/finish", status=200) == 1  # the session path
    good_bytes = dbx.files(account)[NAME]
    scope_make(alice, 1, prefix="later")
    dbx.fault("/2/files/upload_session/append_v2", "reset", reset_after=1000)
    dbx.fault("/2/files/upload_session/finish", "status", status=500)
    job = sync_start(alice, conn, passphrase="another quiet meadow of lanterns")
    clock = Clock()
    first_try = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert first_try.state == JobState.RETRY_WAIT
    assert dbx.files(account)[NAME] == good_bytes
    clock.now = first_try.next_attempt_at
    last = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert last.state == JobState.FAILED and last.attempts == 2
    assert opened(dbx.files(account)[NAME]) == first  # the old copy, intact


# -- content hashes: the one the SDK sends, the one Dropbox reports ------------------------


def _good_copy_then_tampered_attempt(dbx_connect: Any, dbx: Any, kind: str) -> SimpleNamespace:
    """A good sync, then a change and a sync whose upload meets the stand-in's ``kind``
    fault: the attempt goes to retry, and nothing presents it as a success (the copy still
    names the good job and its digest, the job has no result, one success notification)."""
    alice = user_make("password_admin")
    scope = scope_make(alice, 2)
    conn, account, _ = dbx_connect(alice)
    good = sync.sync_job_run(job_id=sync_start(alice, conn).pk, worker_id="w1")
    assert good.state == JobState.SUCCEEDED
    good_bytes = dbx.files(account)[NAME]
    later = scope_make(alice, 1, prefix="later")
    dbx.requests.clear()
    dbx.fault("/2/files/upload", kind)
    job = sync_start(alice, conn)
    clock = Clock()
    done = sync.sync_job_run(job_id=job.pk, worker_id="w1", clock=clock)
    assert done.state == JobState.RETRY_WAIT, (done.error_code, done.last_error)
    assert done.error_code == "storage_transient"
    assert (done.result_size, done.result_sha256) == (None, "")
    copy = SyncCopy.objects.get(user=alice, connection=conn)
    assert copy.last_job_id == good.pk and copy.sha256 == good.result_sha256
    assert Notification.objects.filter(user=alice, level="success").count() == 1
    return SimpleNamespace(
        account=account,
        copy=copy,
        good_bytes=good_bytes,
        all_entries={**scope, **later},
        job=job,
        clock=clock,
        done=done,
    )


def _retry_succeeds(dbx: Any, t: SimpleNamespace) -> None:
    t.clock.now = t.done.next_attempt_at
    done = sync.sync_job_run(job_id=t.job.pk, worker_id="w1", clock=t.clock)
    assert done.state == JobState.SUCCEEDED and done.attempts == 2
    assert opened(dbx.files(t.account)[NAME]) == t.all_entries
    t.copy.refresh_from_db()
    assert t.copy.last_job_id == t.job.pk and t.copy.sha256 == done.result_sha256


def test_bytes_damaged_in_transit_are_refused_by_dropbox_and_the_good_copy_stays(
    dbx_connect, dbx, cheap_policy
):
    """The SDK sends each upload's content_hash in Dropbox-API-Arg, and Dropbox refuses a
    body that does not match it: damaged bytes never replace the good copy."""
    t = _good_copy_then_tampered_attempt(dbx_connect, dbx, "corrupt")
    [refused] = [r for r in dbx.requests if r.path == "/2/files/upload"]
    assert refused.status == 409 and re.fullmatch(r"[0-9a-f]{64}", refused.arg["content_hash"])
    assert t.done.last_error == (
        f"upload verification failed for {NAME}: the bytes Dropbox received differ from what "
        "was sent (content_hash mismatch)"
    )
    assert dbx.files(t.account)[NAME] == t.good_bytes  # refused on receipt: nothing replaced
    _retry_succeeds(dbx, t)
    accepted = [r for r in dbx.requests if r.path == "/2/files/upload"][-1]
    assert accepted.status == 200
    assert accepted.arg["content_hash"] == content_hash(dbx.files(t.account)[NAME])


def test_a_content_hash_dropbox_reports_wrongly_fails_the_attempt(dbx_connect, dbx, cheap_policy):
    """What Dropbox reports after the upload is checked too (the provider's verification):
    a different content_hash is never presented as a success."""
    t = _good_copy_then_tampered_attempt(dbx_connect, dbx, "wrong_hash")
    assert t.done.last_error == (
        f"upload verification failed for Dropbox app folder{NAME}: "
        "dropbox hash differs from what was sent"
    )
    assert dbx.files(t.account)[NAME] != t.good_bytes  # it landed; only the answer was wrong
    _retry_succeeds(dbx, t)


def test_refresh_before_expiry_is_stored_before_use(
    dbx_connect, dbx, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope = scope_make(alice, 1)
    dbx.access_ttl = 60  # inside the provider's refresh margin
    conn, account, tokens = dbx_connect(alice)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert dbx.count("/2/files/upload", status=401) == 0
    stored = storage.unsealed_credentials(StorageConnection.objects.get(pk=conn.pk))
    assert stored["access_token"] != tokens["access_token"]
    assert stored["refresh_token"] == tokens["refresh_token"]
    assert stored["access_token"] in dbx.access  # the stored token is the one Dropbox issued
    assert opened(dbx.files(account)[NAME]) == scope


def test_expired_access_token_401_refreshes_once_and_retries(
    dbx_connect, dbx, cheap_policy, django_capture_on_commit_callbacks
):
    alice = user_make("password_admin")
    scope_make(alice, 1)
    conn, _account, tokens = dbx_connect(alice)
    dbx.expire(tokens["access_token"])
    dbx.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.attempts == 1
    assert dbx.count("/2/files/upload", status=401) == 1
    assert dbx.count("/oauth2/token") == 1
    assert dbx.count("/2/files/upload", status=200) == 1
    stored = storage.unsealed_credentials(StorageConnection.objects.get(pk=conn.pk))
    assert stored["access_token"] != tokens["access_token"]


def test_refused_refresh_needs_reauth_without_a_storm(
    dbx_connect, dbx, cheap_policy, django_capture_on_commit_callbacks
):
    """The access token is about to expire and the refresh token was revoked."""
    alice = user_make("password_admin")
    scope_make(alice, 1)
    dbx.access_ttl = 30
    conn, _account, tokens = dbx_connect(alice)  # check() already refreshed once
    dbx.revoke_refresh(tokens["refresh_token"])
    dbx.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "storage_auth"
    assert [r.path for r in dbx.requests] in (["/oauth2/token"], ["/2/files/upload"])
    assert "refresh token" in job.last_error or "access token" in job.last_error
    assert Notification.objects.filter(user=alice).count() == 1


def test_no_token_anywhere(
    dbx_connect, dbx, cheap_policy, enqueued, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    alice = user_make("password_admin")
    scope_make(alice, 2)
    conn, _account, tokens = dbx_connect(alice)
    dbx.expire(tokens["access_token"])
    dbx.fault("/2/files/upload", "reset", reset_after=256)
    with django_capture_on_commit_callbacks(execute=True):
        job = sync_start(alice, conn)
    job.refresh_from_db()
    assert job.state == JobState.RETRY_WAIT
    SyncJob.objects.filter(pk=job.pk).update(next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        done = sync.sync_job_run(job_id=job.pk, worker_id="w", rand=random.Random(1))
    assert done.state == JobState.SUCCEEDED
    stored = storage.unsealed_credentials(StorageConnection.objects.get(pk=conn.pk))
    secrets = {tokens["access_token"], tokens["refresh_token"], stored["access_token"]}
    haystacks = {
        "logs": "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records),
        "queue": "\n".join(repr(e) for e in enqueued),
        "jobs": serializers.serialize("json", SyncJob.objects.all()),
        "notifications": serializers.serialize("json", Notification.objects.all()),
        "audit": json.dumps(list(AuditEvent.objects.values_list("details", "reason")), default=str),
        "connection row": serializers.serialize("json", StorageConnection.objects.all()),
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, where
    assert any("refreshed" in r.getMessage() for r in caplog.records)
    assert time.time() < stored["expires_at"]


# -- the command line, on a private installation ---------------------------------------

SEED_CLI = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.vault import services as vault
from strongroom.accounts.models import User
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(
    actor=boss, provider="dropbox", enabled=True, config={{"app_key": APP_KEY}}
)
for name in ("tech", "nodropbox"):
    user = people.user_create(
        actor=None, username=name, password={LOGIN_PASSWORD!r}, role="password_admin"
    )
    for i in range(3):
        r = vault.resource_create(actor=user, name=f"{{name}}-host-{{i}}", host="10.0.0.1")
        vault.account_create(actor=user, resource_id=r.pk, username="root", password=f"pw-{{i}}")
storage.storage_connection_save(
    actor=User.objects.get(username="tech"), provider="dropbox", config={{}},
    credentials=TOKENS,
)
"""

JOBS = """
from strongroom.sync.models import SyncJob
result = [[j.user.username, j.provider, j.state, j.reason, j.result_sha256]
          for j in SyncJob.objects.all()]
"""


@pytest.mark.slow
def test_cli_syncs_to_dropbox(tmp_path: Any, dropbox_api: Any) -> None:
    account = dropbox_api.add_account("Cli Tech", "cli@x.example")
    tokens = dropbox_api.issue_tokens(account)
    inst, cleanup = make_installation(tmp_path / "inst")
    inst.env["STRONGROOM_PROVIDER_CA_BUNDLE"] = dropbox_api.ca_path
    secret = tmp_path / "passphrase.txt"
    secret.write_text("another quiet meadow of lanterns\n", encoding="utf-8")
    try:
        inst.ok("migrate")
        prelude = f"APP_KEY = {dropbox_api.app_key!r}\nTOKENS = {json.dumps(tokens)}\n"
        inst.script(prelude + SEED_CLI, timeout=600)
        dropbox_api.requests.clear()
        done = inst.ok(
            "sync", "--user", "tech", "--to", "dropbox", "--passphrase-file", str(secret),
            "--reason", "CLI check", "--wait", "--timeout", "120",
        )  # fmt: skip
        assert f"synced 3 entries for tech to Dropbox app folder{NAME} (" in done.stdout
        output = done.stdout + done.stderr
        for value in ("lantern", tokens["access_token"], tokens["refresh_token"]):
            assert value not in output
        assert dropbox_api.count("/2/files/upload", status=200) == 1
        stored = dropbox_api.files(account)[NAME]
        payload = offline_file.offline_file_open(
            html=stored, passphrase="another quiet meadow of lanterns"
        )
        assert sorted(e.name for e in payload.entries) == [f"tech-host-{i}" for i in range(3)]
        [job] = inst.script(JOBS)
        assert job == [
            "tech",
            "dropbox",
            "succeeded",
            "CLI check",
            hashlib.sha256(stored).hexdigest(),
        ]
        # A user without a Dropbox connection: a clear error, no job, nothing sent.
        dropbox_api.requests.clear()
        refused = inst.run(
            "sync", "--user", "nodropbox", "--to", "dropbox", "--passphrase-file", str(secret),
            "--reason", "CLI check", "--wait",
        )  # fmt: skip
        assert refused.returncode != 0
        assert "nodropbox has no dropbox connection; connect it first" in refused.stderr
        assert len(inst.script(JOBS)) == 1
        assert dropbox_api.requests == []
    finally:
        cleanup()
