"""The Google Drive provider (Drive v3 over real HTTPS, google-auth refreshes) passes the
shared conformance suite against the local Google stand-in, plus Drive's own rules: one file
ID updated in place (revisions), resumable uploads in 256 KiB chunks, a deleted file created
again, rate-limit reasons with Retry-After, refresh and revoke."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from standins.gdrive_api import GDriveFaults
from strongroom.storage.base import (
    StorageAuthError,
    StoragePermanentError,
    StorageTransientError,
)
from strongroom.storage.providers.gdrive import GoogleDriveProvider

from .conformance import ProviderConformance, Target

THRESHOLD = 16 * 1024


def make_gdrive(g: Any, user_id: str, **kwargs: Any) -> GoogleDriveProvider:
    creds = kwargs.pop("credentials", None) or g.credentials_for(user_id)
    return GoogleDriveProvider(
        config={},
        credentials=creds,
        admin_secret={"client_id": g.client_id, "client_secret": g.client_secret},
        chunk_threshold=kwargs.pop("chunk_threshold", THRESHOLD),
        timeout=kwargs.pop("timeout", 10),
        **kwargs,
    )


@pytest.fixture
def g_user(gdrive_api: Any) -> Any:
    tag = secrets.token_hex(4)
    return gdrive_api.add_user(f"Tester {tag}", f"tester-{tag}@example.com")


class TestGoogleDriveConformance(ProviderConformance):
    hash_algorithms = ("sha256",)
    large_size = 600 * 1024  # three 256 KiB chunks (Drive's unit)

    @pytest.fixture
    def target(self, gdrive_api: Any, g_user: Any) -> Target:
        made: list[GoogleDriveProvider] = []

        def make(**kw: Any) -> GoogleDriveProvider:
            made.append(make_gdrive(gdrive_api, g_user.id, **kw))
            return made[-1]

        wrong = {"access_token": "ya29.wrong-" + "x" * 20, "refresh_token": "1//wrong-xyz"}
        return Target(
            make=make,
            read_back=lambda name: gdrive_api.read(g_user.id, name),
            list_names=lambda: [f.name for f in gdrive_api.files_of(g_user.id)],
            faults=GDriveFaults(gdrive_api, lambda: made[-1].last_parts),
            break_auth=lambda: make_gdrive(
                gdrive_api, g_user.id, credentials={**wrong, "expires_at": 9e12}
            ),
            remove_folder=None,
            no_folder_reason="the Strongroom folder is created when missing",
            read_type=lambda name: {"bare_type": gdrive_api.file(g_user.id, name).mime},
        )


def test_check_names_the_connected_account(gdrive_api, g_user):
    assert make_gdrive(gdrive_api, g_user.id).check() == f"{g_user.name} <{g_user.email}>"


def test_file_id_kept_across_syncs_one_file_with_revisions(gdrive_api, g_user):
    make_gdrive(gdrive_api, g_user.id).put("vault.html", b"one")
    first = gdrive_api.file(g_user.id, "vault.html").id
    # A later sync is a fresh provider instance (as every job is): it finds the same file.
    make_gdrive(gdrive_api, g_user.id).put("vault.html", b"two")
    make_gdrive(gdrive_api, g_user.id).put("vault.html", b"3" * (300 * 1024))  # resumable
    files = gdrive_api.files_of(g_user.id)
    assert [f.id for f in files] == [first]
    assert files[0].revisions[:2] == [b"one", b"two"] and len(files[0].revisions) == 3
    assert any(line.startswith(f"PATCH /upload/drive/v3/files/{first}?") for line in gdrive_api.log)


def test_resumable_upload_in_256_kib_chunks(gdrive_api, g_user):
    provider = make_gdrive(gdrive_api, g_user.id)
    data = bytes(range(256)) * 2100  # 537,600 bytes
    info = provider.put("big.html", data)
    assert provider.last_parts == [262144, 262144, 537600 - 524288]
    assert info.size == len(data) and info.hash_algorithm == "sha256"
    assert gdrive_api.read(g_user.id, "big.html") == data
    # The session was finished: nothing left open for this user.
    assert not [u for u in gdrive_api.uploads.values() if u.owner == g_user.id]


def test_failed_resumable_upload_cancels_its_session_and_keeps_the_file(gdrive_api, g_user):
    provider = make_gdrive(gdrive_api, g_user.id)
    provider.put("keep.html", b"good")
    gdrive_api.fail("status", "upload_id=", status=503)
    with pytest.raises(StorageTransientError):
        provider.put("keep.html", b"n" * (300 * 1024))
    assert gdrive_api.read(g_user.id, "keep.html") == b"good"
    assert not [u for u in gdrive_api.uploads.values() if u.owner == g_user.id]


def test_deleted_file_is_created_again(gdrive_api, g_user):
    provider = make_gdrive(gdrive_api, g_user.id)
    provider.put("gone.html", b"first")
    old = gdrive_api.file(g_user.id, "gone.html").id
    with gdrive_api.lock:
        gdrive_api.files.pop(old)  # the user deleted it on the phone
    info = provider.put("gone.html", b"again")  # the instance still holds the old ID: 404
    assert info.size == 5
    new = gdrive_api.file(g_user.id, "gone.html")
    assert new.id != old and new.revisions == [b"again"]


def test_deleted_folder_is_created_again_with_the_file(gdrive_api, g_user):
    provider = make_gdrive(gdrive_api, g_user.id)
    provider.put("f.html", b"first")
    with gdrive_api.lock:  # the user deleted the whole Strongroom folder
        for item in list(gdrive_api.files.values()):
            if item.owner == g_user.id:
                gdrive_api.files.pop(item.id)
    provider.put("f.html", b"again")
    assert gdrive_api.read(g_user.id, "f.html") == b"again"
    assert [f.name for f in gdrive_api.files_of(g_user.id)] == ["f.html"]


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_403_rate_limit_is_transient_with_retry_after(gdrive_api, g_user, reason):
    provider = make_gdrive(gdrive_api, g_user.id)
    gdrive_api.fail("status", "/upload/", status=403, reason=reason, retry_after=11)
    with pytest.raises(StorageTransientError) as exc:
        provider.put("limited.html", b"x")
    assert exc.value.retry_after == 11 and reason in str(exc.value)


def test_403_quota_exceeded_is_permanent(gdrive_api, g_user):
    provider = make_gdrive(gdrive_api, g_user.id)
    gdrive_api.fail("status", "/upload/", status=403, reason="storageQuotaExceeded")
    with pytest.raises(StoragePermanentError, match="quota"):
        provider.put("full.html", b"x")


def test_expired_access_token_refreshed_by_google_auth_and_stored_first(gdrive_api, g_user):
    stored: list[dict[str, Any]] = []
    creds = gdrive_api.credentials_for(g_user.id, ttl=0)  # already expired
    provider = make_gdrive(
        gdrive_api, g_user.id, credentials=creds, on_credentials_changed=stored.append
    )
    before = gdrive_api.refresh_count
    provider.put("fresh.html", b"x")
    assert gdrive_api.refresh_count == before + 1
    assert stored and stored[0]["access_token"] != creds["access_token"]
    assert stored[0]["refresh_token"] == creds["refresh_token"]


def test_revoked_grant_is_an_auth_error_and_revoke_ends_the_grant(gdrive_api, g_user):
    provider = make_gdrive(gdrive_api, g_user.id)
    provider.put("r.html", b"x")
    assert gdrive_api.grant_active(g_user.id)
    provider.revoke()
    assert not gdrive_api.grant_active(g_user.id) and provider.credentials == {}
    again = make_gdrive(
        gdrive_api, g_user.id, credentials={"access_token": "", "refresh_token": ""}
    )
    with pytest.raises(StorageAuthError):
        again.put("r.html", b"y")


def test_refresh_with_a_wrong_client_secret_is_an_administrator_problem(gdrive_api, g_user):
    provider = GoogleDriveProvider(
        config={},
        credentials=gdrive_api.credentials_for(g_user.id, ttl=0),
        admin_secret={"client_id": gdrive_api.client_id, "client_secret": "GOCSPX-wrong-secret"},
        chunk_threshold=THRESHOLD,
        timeout=10,
    )
    with pytest.raises(StoragePermanentError, match="ask the administrator"):
        provider.put("x.html", b"x")
    assert "GOCSPX-wrong-secret" not in repr(provider)
