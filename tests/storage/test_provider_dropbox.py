"""The Dropbox provider (official SDK) against the local HTTPS stand-in
(tests/standins/dropbox_api.py): the shared conformance suite, token life, error
classification, no SDK retries, the request guard."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from standins.dropbox_api import DropboxFaults
from strongroom.storage.base import (
    StorageAuthError,
    StoragePermanentError,
    StorageTransientError,
)
from strongroom.storage.providers.dropbox import DropboxProvider, dropbox_content_hash

from .conformance import ProviderConformance, Target

THRESHOLD = 16 * 1024


def make_dropbox(standin: Any, credentials: dict[str, Any], **kw: Any) -> DropboxProvider:
    kw.setdefault("chunk_threshold", THRESHOLD)
    kw.setdefault("timeout", 5)
    return DropboxProvider(
        config={},
        credentials=credentials,
        admin_config={"app_key": standin.app_key},
        **kw,
    )


class Store:
    """on_credentials_changed target: every token set, in order."""

    def __init__(self) -> None:
        self.sets: list[dict[str, Any]] = []

    def __call__(self, creds: dict[str, Any]) -> None:
        self.sets.append(dict(creds))


@pytest.fixture
def account(dropbox_api: Any) -> str:
    return dropbox_api.add_account("Alice Example", "alice@example.com")


class TestDropboxConformance(ProviderConformance):
    hash_algorithms = ("dropbox",)

    @pytest.fixture
    def target(self, dropbox_api: Any, account: str) -> Target:
        def files() -> dict[str, bytes]:
            return {path[1:]: data for path, data in dropbox_api.files(account).items()}

        bad = "sl.not-a-token-" + "x" * 30
        return Target(
            make=lambda **kw: make_dropbox(dropbox_api, dropbox_api.issue_tokens(account), **kw),
            read_back=lambda name: files()[name],
            list_names=lambda: sorted(files()),
            faults=DropboxFaults(dropbox_api),
            break_auth=lambda: make_dropbox(
                dropbox_api, {**dropbox_api.issue_tokens(account), "access_token": bad}
            ),
            no_folder_reason="Dropbox has no container to be missing: the app folder is "
            "created when the app is authorised, and uploads create it again if deleted",
            no_type_reason="Dropbox's upload takes application/octet-stream only and keeps no "
            "content type",
        )


# -- Dropbox-specific ---------------------------------------------------------------------


def test_check_names_the_account_and_probes_the_app_folder(dropbox_api: Any, account: str) -> None:
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    assert provider.check() == "Alice Example <alice@example.com>"
    for route in ("/2/files/create_folder_v2", "/2/files/get_metadata", "/2/files/delete_v2"):
        assert dropbox_api.count(route, status=200) == 1
    assert dropbox_api.files(account) == {}  # the probe folder is gone
    provider.check()  # and again: a leftover probe folder is no error


def test_content_hash_is_dropboxs_algorithm() -> None:
    # The reference value from https://www.dropbox.com/developers/reference/content-hash
    # is for a 4 MiB+ file; check the block structure on our own data instead.
    import hashlib

    data = b"a" * (4 * 1024 * 1024) + b"b"
    blocks = hashlib.sha256(data[: 4 * 1024 * 1024]).digest() + hashlib.sha256(b"b").digest()
    assert dropbox_content_hash(data) == hashlib.sha256(blocks).hexdigest()
    assert dropbox_content_hash(b"") == hashlib.sha256(b"").hexdigest()


def test_put_verifies_the_reported_content_hash(
    dropbox_api: Any, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    real = provider._info

    def info(name: str, meta: Any) -> Any:
        meta.content_hash = "0" * 64
        return real(name, meta)

    monkeypatch.setattr(provider, "_info", info)
    with pytest.raises(StorageTransientError) as excinfo:
        provider.put("hash.html", b"bytes")
    assert "dropbox hash differs" in excinfo.value.message


def test_large_upload_uses_a_session_with_exact_offsets(dropbox_api: Any, account: str) -> None:
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    data = bytes(range(256)) * 300  # 76,800 bytes: start + 3 appends + finish at 16 KiB
    provider.put("big.html", data)
    routes = [r.path for r in dropbox_api.requests if r.path.startswith("/2/files/upload")]
    assert routes == [
        "/2/files/upload_session/start",
        *["/2/files/upload_session/append_v2"] * 3,
        "/2/files/upload_session/finish",
    ]
    assert dropbox_api.files(account)["/big.html"] == data


def test_standin_refuses_a_wrong_offset(dropbox_api: Any, account: str) -> None:
    """What the stand-in enforces, through the SDK: an append at the wrong offset."""
    import dropbox
    from dropbox import files

    creds = dropbox_api.issue_tokens(account)
    provider = make_dropbox(dropbox_api, creds)
    start = provider._call("files_upload_session_start", b"12345")
    with pytest.raises(StorageTransientError) as excinfo:
        provider._call(
            "files_upload_session_append_v2",
            b"678",
            files.UploadSessionCursor(session_id=start.session_id, offset=4),
        )
    assert "interrupted" in excinfo.value.message
    client = provider._client(creds["access_token"])
    with pytest.raises(dropbox.exceptions.ApiError) as api_exc:
        client.files_upload_session_append_v2(
            b"678", files.UploadSessionCursor(session_id=start.session_id, offset=7)
        )
    assert api_exc.value.error.is_incorrect_offset()
    assert api_exc.value.error.get_incorrect_offset().correct_offset == 5


def test_standin_enforces_content_type_and_arg_header(dropbox_api: Any, account: str) -> None:
    import requests

    token = dropbox_api.issue_tokens(account)["access_token"]
    s = requests.Session()
    s.trust_env = False
    s.verify = dropbox_api.ca_path
    auth = {"Authorization": f"Bearer {token}"}
    content = dropbox_api.url("content")
    api = dropbox_api.url("api")
    arg = '{"path": "/x.html", "mode": "overwrite"}'
    bad_type = s.post(
        f"{content}/2/files/upload",
        data=b"x",
        headers={**auth, "Content-Type": "text/plain", "Dropbox-API-Arg": arg},
    )
    assert bad_type.status_code == 400 and "Content-Type" in bad_type.text
    no_arg = s.post(
        f"{content}/2/files/upload",
        data=b"x",
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    assert no_arg.status_code == 400 and "Dropbox-API-Arg" in no_arg.text
    rpc_type = s.post(
        f"{api}/2/users/get_current_account",
        data="null",
        headers={**auth, "Content-Type": "application/json; charset=utf-8"},
    )
    assert rpc_type.status_code == 400
    wrong_host = s.post(
        f"{api}/2/files/upload",
        data=b"x",
        headers={**auth, "Content-Type": "application/octet-stream", "Dropbox-API-Arg": arg},
    )
    assert wrong_host.status_code == 400
    assert dropbox_api.files(account) == {}


# -- token life ---------------------------------------------------------------------------


def test_refresh_before_expiry_stores_the_new_token_first(dropbox_api: Any, account: str) -> None:
    creds = dropbox_api.issue_tokens(account)
    creds["expires_at"] = time.time() + 30  # inside the refresh margin
    store = Store()
    provider = make_dropbox(dropbox_api, creds, on_credentials_changed=store)
    provider.put("fresh.html", b"x")
    assert dropbox_api.count("/oauth2/token") == 1
    assert dropbox_api.count("/2/files/upload", status=401) == 0
    [new] = store.sets
    assert new["access_token"] != creds["access_token"]
    assert new["refresh_token"] == creds["refresh_token"]
    assert new["expires_at"] > time.time() + 3600
    assert provider.credentials == new


def test_refresh_after_expired_access_token_401_then_one_retry(
    dropbox_api: Any, account: str
) -> None:
    creds = dropbox_api.issue_tokens(account)
    dropbox_api.expire(creds["access_token"])  # Dropbox expired it early; we did not know
    store = Store()
    provider = make_dropbox(dropbox_api, creds, on_credentials_changed=store)
    provider.put("retry.html", b"x")
    assert dropbox_api.count("/2/files/upload", status=401) == 1
    assert dropbox_api.count("/oauth2/token") == 1
    assert dropbox_api.count("/2/files/upload", status=200) == 1
    assert len(store.sets) == 1
    assert dropbox_api.files(account)["/retry.html"] == b"x"


def test_refresh_serialised_with_the_credentials_lock(dropbox_api: Any, account: str) -> None:
    events: list[str] = []

    @contextlib.contextmanager
    def lock() -> Iterator[None]:
        events.append("lock")
        yield
        events.append("unlock")

    creds = dropbox_api.issue_tokens(account)
    creds["expires_at"] = time.time() - 5
    provider = make_dropbox(
        dropbox_api,
        creds,
        credentials_lock=lock,
        on_credentials_changed=lambda c: events.append("stored"),
    )
    provider.put("locked.html", b"x")
    assert events == ["lock", "stored", "unlock"]


def test_lock_yielding_fresh_credentials_skips_the_refresh(dropbox_api: Any, account: str) -> None:
    """Another process refreshed while we waited for the lock: use its token."""
    stale = dropbox_api.issue_tokens(account)
    stale["expires_at"] = time.time() - 5
    fresh = dropbox_api.issue_tokens(account)

    @contextlib.contextmanager
    def lock() -> Iterator[dict[str, Any]]:
        yield fresh

    provider = make_dropbox(dropbox_api, stale, credentials_lock=lock)
    provider.put("shared.html", b"x")
    assert dropbox_api.count("/oauth2/token") == 0
    assert provider.credentials["access_token"] == fresh["access_token"]


def test_revoked_refresh_token_is_an_auth_error_without_retries(
    dropbox_api: Any, account: str
) -> None:
    creds = dropbox_api.issue_tokens(account)
    dropbox_api.revoke_refresh(creds["refresh_token"])
    store = Store()
    provider = make_dropbox(dropbox_api, creds, on_credentials_changed=store)
    with pytest.raises(StorageAuthError) as excinfo:
        provider.put("revoked.html", b"x")
    assert not excinfo.value.retryable
    assert "reconnect Dropbox" in excinfo.value.message
    assert dropbox_api.count("/2/files/upload") == 1  # 401 invalid_access_token, once
    assert dropbox_api.count("/oauth2/token") == 0
    assert store.sets == []
    # an expired access token whose refresh token was revoked: one refresh attempt only
    creds2 = dropbox_api.issue_tokens(account)
    dropbox_api.revoke_refresh(creds2["refresh_token"])
    creds2["expires_at"] = time.time() - 1
    with pytest.raises(StorageAuthError) as excinfo:
        make_dropbox(dropbox_api, creds2).put("revoked.html", b"x")
    assert "refused the refresh token" in excinfo.value.message
    assert dropbox_api.count("/oauth2/token") == 1


# -- rate limits, outages, the SDK's retries off ------------------------------------------


def test_429_is_transient_with_retry_after_and_not_retried_by_the_sdk(
    dropbox_api: Any, account: str
) -> None:
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    dropbox_api.fault("/2/files/upload", "429", retry_after=11, times=5)
    with pytest.raises(StorageTransientError) as excinfo:
        provider.put("limited.html", b"x")
    assert excinfo.value.retry_after == pytest.approx(11)
    assert dropbox_api.count("/2/files/upload") == 1  # the SDK did not retry (it would forever)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient_and_not_retried_by_the_sdk(
    dropbox_api: Any, account: str, status: int
) -> None:
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    dropbox_api.fault("/2/files/upload", "status", status=status, times=5)
    with pytest.raises(StorageTransientError) as excinfo:
        provider.put("outage.html", b"x")
    assert f"HTTP {status}" in excinfo.value.message
    assert dropbox_api.count("/2/files/upload") == 1


def test_reset_and_timeout_are_transient(dropbox_api: Any, account: str) -> None:
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account), timeout=0.5)
    dropbox_api.fault("/2/files/upload", "reset", reset_after=100)
    with pytest.raises(StorageTransientError, match="reset"):
        provider.put("reset.html", b"r" * 4000)
    dropbox_api.fault("/2/files/get_metadata", "delay", delay=2.0)
    with pytest.raises(StorageTransientError, match="timed out"):
        provider.stat("reset.html")
    assert dropbox_api.files(account) == {}


def test_tls_with_an_untrusted_certificate_is_refused(
    dropbox_api: Any, account: str, settings: Any
) -> None:
    settings.PROVIDER_CA_BUNDLE = ""  # the default CA store does not know the stand-in
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    with pytest.raises(StoragePermanentError, match="TLS"):
        provider.check()


def test_requests_to_other_hosts_are_refused() -> None:
    from strongroom.storage.http import RefusedRequest
    from strongroom.storage.providers.dropbox import _session

    s = _session(None)
    with pytest.raises(RefusedRequest):
        s.get("https://169.254.169.254/latest/meta-data/")
    assert s.trust_env is False


def test_revoke_disables_access_and_refresh_tokens(dropbox_api: Any, account: str) -> None:
    creds = dropbox_api.issue_tokens(account)
    provider = make_dropbox(dropbox_api, dict(creds))
    provider.revoke()
    assert provider.credentials == {}
    assert dropbox_api.count("/2/auth/token/revoke", status=200) == 1
    with pytest.raises(StorageAuthError):
        make_dropbox(dropbox_api, creds).check()
    expired = {**creds, "expires_at": time.time() - 1}
    with pytest.raises(StorageAuthError, match="refused the refresh token"):
        make_dropbox(dropbox_api, expired).check()


def test_admin_config_validation() -> None:
    from strongroom.core.errors import ValidationFailed

    assert DropboxProvider.validate_admin_config({"app_key": " abcde12345 "}) == {
        "app_key": "abcde12345"
    }
    for bad in ("", "   ", "<script>", "=cmd|' /C calc'!A0", "ключ12345", "a" * 65):
        with pytest.raises(ValidationFailed) as excinfo:
            DropboxProvider.validate_admin_config({"app_key": bad})
        assert excinfo.value.details["field"] == "app_key"


def test_test_connection_reaches_the_api(dropbox_api: Any, settings: Any) -> None:
    result = DropboxProvider.test_connection(admin_config={"app_key": "x"}, proxy=None)
    assert result.ok, result.message
    assert dropbox_api.count("/2/check/user") == 1
    settings.PROVIDER_CA_BUNDLE = ""
    result = DropboxProvider.test_connection(admin_config={"app_key": "x"}, proxy=None)
    assert not result.ok and result.stage == "tls"


def test_test_connection_through_a_refusing_proxy(dropbox_api: Any) -> None:
    from cli.helpers import free_port
    from strongroom.storage.base import ProxyConfig

    result = DropboxProvider.test_connection(
        admin_config={}, proxy=ProxyConfig(host="127.0.0.1", port=free_port())
    )
    assert not result.ok and result.stage in {"proxy", "connect"}
    assert "proxy" in result.message or "refused" in result.message


def test_a_lost_upload_session_is_transient_not_missing(dropbox_api: Any, account: str) -> None:
    """The session expired at Dropbox between append and finish: retry, not "not found"."""
    from dropbox import files

    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    cursor = files.UploadSessionCursor(session_id="sess:gone", offset=0)
    commit = files.CommitInfo(path="/lost.html", mode=files.WriteMode.overwrite)
    with pytest.raises(StorageTransientError, match="interrupted"):
        provider._call("files_upload_session_finish", b"x", cursor, commit, where="/lost.html")
    with pytest.raises(StorageTransientError, match="interrupted"):
        provider._call("files_upload_session_append_v2", b"x", cursor, where="/lost.html")


def test_a_redirect_is_never_followed(dropbox_api: Any, account: str) -> None:
    provider = make_dropbox(dropbox_api, dropbox_api.issue_tokens(account))
    dropbox_api.fault("/2/files/upload", "redirect")
    with pytest.raises(StoragePermanentError, match="redirect"):
        provider.put("redirected.html", b"x")
    assert dropbox_api.files(account) == {}
