"""The Box provider (box_sdk_gen over real HTTPS) passes the shared conformance suite
against the local Box stand-in, plus Box's own rules: one folder, new versions, 409
conflicts as object or list, chunked uploads with part digests, error classification and
the no-other-host guard."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from standins.box_api import BoxFaults
from strongroom.storage.base import (
    StorageAuthError,
    StorageNotFound,
    StoragePermanentError,
    StoragePermissionError,
    StorageTransientError,
)
from strongroom.storage.providers.box import BoxProvider

from .conformance import ProviderConformance, Target

THRESHOLD = 16 * 1024


def make_box(box: Any, user_id: str, **kwargs: Any) -> BoxProvider:
    creds = kwargs.pop("credentials", None) or box.credentials_for(user_id)
    return BoxProvider(
        config={},
        credentials=creds,
        admin_secret={"client_id": box.client_id, "client_secret": box.client_secret},
        chunk_threshold=kwargs.pop("chunk_threshold", THRESHOLD),
        timeout=kwargs.pop("timeout", 10),
        **kwargs,
    )


@pytest.fixture
def box_user(box_api: Any) -> Any:
    import secrets

    tag = secrets.token_hex(4)
    return box_api.add_user(f"Tester {tag}", f"tester-{tag}@example.com")


class TestBoxConformance(ProviderConformance):
    hash_algorithms = ("sha1",)

    @pytest.fixture
    def target(self, box_api: Any, box_user: Any) -> Target:
        made: list[BoxProvider] = []

        def make(**kw: Any) -> BoxProvider:
            made.append(make_box(box_api, box_user.id, **kw))
            return made[-1]

        wrong = {"access_token": "box-at-wrong-" + "x" * 20, "refresh_token": "box-rt-wrong-xyz"}

        def no_root() -> BoxProvider:
            user = box_api.add_user("No Root", "noroot@example.com", root_missing=True)
            return make_box(box_api, user.id)

        return Target(
            make=make,
            read_back=lambda name: box_api.read(box_user.id, name),
            list_names=lambda: [item.name for item in box_api.files(box_user.id)],
            faults=BoxFaults(box_api, lambda: made[-1].last_parts),
            break_auth=lambda: make_box(
                box_api, box_user.id, credentials={**wrong, "expires_at": 9e12}
            ),
            remove_folder=no_root,
            no_type_reason="Box keeps no content type: it derives one from the file name",
        )


# -- Box's own rules ------------------------------------------------------------------------


def test_check_names_the_connected_account(box_api, box_user):
    assert make_box(box_api, box_user.id).check() == f"{box_user.name} <{box_user.login}>"


def test_second_put_is_a_new_version_of_one_file_in_the_strongroom_folder(box_api, box_user):
    provider = make_box(box_api, box_user.id)
    provider.put("vault.html", b"one")
    provider.put("vault.html", b"two")
    files = box_api.files(box_user.id)
    assert [f.name for f in files] == ["vault.html"]
    assert files[0].versions == [b"one", b"two"]
    assert box_api.folder(box_user.id).name == "Strongroom"


@pytest.mark.parametrize("as_list", [False, True])
def test_409_item_name_in_use_object_or_list(box_api, box_user, as_list):
    box_api.conflicts_as_list = as_list
    try:
        first = make_box(box_api, box_user.id)
        first.put("c.html", b"from job one")
        # A second job that did not see the folder or file yet (its caches are empty and the
        # listing is stale): create_folder and upload_file both get 409 item_name_in_use.
        second = make_box(box_api, box_user.id)
        second._find = lambda folder_id, name, kind: None  # type: ignore[method-assign]
        info = second.put("c.html", b"from job two")
    finally:
        box_api.conflicts_as_list = False
    assert info.size == len(b"from job two")
    assert [f.versions for f in box_api.files(box_user.id)] == [[b"from job one", b"from job two"]]
    # Both jobs asked to create the folder; the second got 409 and used the first's.
    assert box_api.log.count("POST /2.0/folders") == 2
    assert len([i for i in box_api.items.values() if i.owner == box_user.id]) == 2


def test_chunked_upload_new_version_with_part_digests(box_api, box_user):
    provider = make_box(box_api, box_user.id)
    provider.put("big.html", b"small first")
    data = bytes(range(256)) * 200  # 51,200 bytes: 7 parts of 8 KiB
    info = provider.put("big.html", data)
    assert provider.last_parts == [8192] * 6 + [2048]
    assert info.hash_algorithm == "sha1" and info.size == len(data)
    assert box_api.file(box_user.id, "big.html").versions == [b"small first", data]
    puts = [line for line in box_api.log if line.startswith("PUT /api/2.0/files/upload_sessions")]
    assert len(puts) == 7


def test_failed_chunked_upload_is_aborted_and_keeps_the_good_version(box_api, box_user):
    provider = make_box(box_api, box_user.id)
    provider.put("abort.html", b"good")
    box_api.fail("status", "PUT /api/2.0/files/upload_sessions/", status=503)
    with pytest.raises(StorageTransientError):
        provider.put("abort.html", b"Z" * 40_000)
    assert box_api.file(box_user.id, "abort.html").versions == [b"good"]
    assert any(line.startswith("DELETE /api/2.0/files/upload_sessions/") for line in box_api.log)
    assert box_api.sessions == {} or all(s.owner != box_user.id for s in box_api.sessions.values())


# What landed is verified against the SHA-1 Box reports (docs/providers/box.md, "Verified"):
# a different SHA-1, or none, is a transient "upload verification failed", never a success.
# Small files go through one upload ("/content"), large ones through a session ("/commit").
SHA1_PATHS = [
    pytest.param(b"new small copy", "/content", id="simple"),
    pytest.param(b"N" * 40_000, "/commit", id="chunked"),
]


@pytest.mark.parametrize(("data", "route"), SHA1_PATHS)
def test_wrong_sha1_reported_by_box_is_a_verification_failure(box_api, box_user, data, route):
    provider = make_box(box_api, box_user.id)
    provider.put("sha.html", b"good copy")
    box_api.fail("wrong_sha1", route)
    with pytest.raises(StorageTransientError) as exc:
        provider.put("sha.html", data)
    assert exc.value.message.startswith("upload verification failed for Box: /Strongroom/sha.html")
    assert "sha1 hash differs" in exc.value.message
    assert box_api.faults == []  # the tampered answer was the one put() verified
    # The stand-in did store the bytes: only the reported digest was wrong, and put() refused
    # to call that a success. The next put, answered truthfully, verifies.
    assert box_api.file(box_user.id, "sha.html").versions == [b"good copy", data]
    assert (
        provider.put("sha.html", data).content_hash
        == hashlib.sha1(data, usedforsecurity=False).hexdigest()
    )


@pytest.mark.parametrize(("data", "route"), SHA1_PATHS)
def test_missing_sha1_is_a_verification_failure(box_api, box_user, data, route):
    provider = make_box(box_api, box_user.id)
    provider.put("nosha.html", b"good copy")
    box_api.fail("no_sha1", route)
    with pytest.raises(StorageTransientError) as exc:
        provider.put("nosha.html", data)
    assert exc.value.message == (
        "upload verification failed for Box: /Strongroom/nosha.html: Box reported no SHA-1"
    )
    assert box_api.faults == []


def test_5xx_and_429_are_transient_with_retry_after(box_api, box_user):
    provider = make_box(box_api, box_user.id)
    box_api.fail("status", "GET /2.0/users/me", status=503)
    with pytest.raises(StorageTransientError) as exc:
        provider.check()
    assert exc.value.retry_after is None
    box_api.fail("status", "GET /2.0/users/me", status=429, retry_after=3)
    with pytest.raises(StorageTransientError) as exc:
        provider.check()
    assert exc.value.retry_after == 3
    # The SDK retried nothing: one request per call.
    assert box_api.log.count("GET /2.0/users/me") == 2


def test_403_is_permission_and_404_not_found(box_api, box_user):
    provider = make_box(box_api, box_user.id)
    box_api.fail("status", "GET /2.0/users/me", status=403)
    with pytest.raises(StoragePermissionError):
        provider.check()
    with pytest.raises(StorageNotFound):
        provider.stat("nothing-here.html")


def test_expired_access_token_is_refreshed_once_and_stored_before_use(box_api, box_user):
    stored: list[dict] = []
    uses_when_stored: list[int] = []

    def store(new: dict) -> None:
        # Called before the new access token has been sent to Box even once.
        uses_when_stored.append(box_api.access[new["access_token"]].get("uses", 0))
        stored.append(new)

    creds = box_api.credentials_for(box_user.id, ttl=0)
    provider = make_box(box_api, box_user.id, credentials=creds, on_credentials_changed=store)
    before = box_api.refresh_count
    provider.check()
    provider.put("t.html", b"x")
    assert box_api.refresh_count == before + 1
    assert len(stored) == 1 and stored[0]["refresh_token"] != creds["refresh_token"]
    assert uses_when_stored == [0]
    assert box_api.access[stored[0]["access_token"]]["uses"] >= 2
    assert provider.credentials == stored[0]


def test_401_invalid_token_refreshes_once_then_repeats(box_api, box_user):
    stored: list[dict] = []
    creds = box_api.credentials_for(box_user.id)
    box_api.expire_access(creds["access_token"])  # Box says 401 before the stated expiry
    provider = make_box(
        box_api, box_user.id, credentials=creds, on_credentials_changed=stored.append
    )
    before = box_api.refresh_count
    assert provider.check()
    assert box_api.refresh_count == before + 1 and len(stored) == 1


def test_reused_refresh_token_is_auth_error(box_api, box_user):
    creds = box_api.credentials_for(box_user.id, ttl=0)
    make_box(box_api, box_user.id, credentials=dict(creds)).check()  # spends the refresh token
    with pytest.raises(StorageAuthError) as exc:
        make_box(box_api, box_user.id, credentials=dict(creds)).check()
    assert "authorise Box again" in exc.value.message
    assert creds["refresh_token"] not in exc.value.message


def test_revoke_ends_the_grant(box_api, box_user):
    provider = make_box(box_api, box_user.id)
    provider.check()
    revoked = dict(provider.credentials)
    provider.revoke()
    assert provider.credentials == {}  # forgotten here too
    assert not box_api.grant_active(box_user.id)
    with pytest.raises(StorageAuthError):
        make_box(box_api, box_user.id, credentials=revoked).check()


def test_requests_to_other_hosts_are_refused(box_api, box_user, settings):
    provider = make_box(box_api, box_user.id)
    session = provider._network().network_client.requests_session
    assert session.trust_env is False
    with pytest.raises(StoragePermanentError):
        session.get("https://127.0.0.2:9/elsewhere")


def test_unknown_ca_is_a_tls_error(box_api, box_user, settings):
    settings.PROVIDER_CA_BUNDLE = ""
    with pytest.raises(StoragePermanentError) as exc:
        make_box(box_api, box_user.id).check()
    assert "TLS" in exc.value.message


def test_errors_never_hold_tokens_or_the_client_secret(box_api, box_user):
    creds = box_api.credentials_for(box_user.id)
    provider = make_box(box_api, box_user.id, credentials=creds)
    box_api.fail("status", "GET /2.0/users/me", status=500)
    with pytest.raises(StorageTransientError) as exc:
        provider.check()
    text = str(exc.value) + repr(provider)
    for secret in (creds["access_token"], creds["refresh_token"], box_api.client_secret):
        assert secret not in text


def test_put_and_test_connection_go_through_the_admin_proxy(box_api, box_user, fault_proxy):
    from strongroom.storage.base import ProxyConfig

    proxy = ProxyConfig(host="127.0.0.1", port=fault_proxy.port)
    provider = make_box(box_api, box_user.id, proxy=proxy)
    provider.put("proxied.html", b"through the proxy")
    assert box_api.read(box_user.id, "proxied.html") == b"through the proxy"
    target = f"127.0.0.1:{box_api.port}"
    assert any(r.method == "CONNECT" and r.target == target for r in fault_proxy.requests)
    result = BoxProvider.test_connection(admin_config={}, proxy=proxy)
    assert result.ok and result.via_proxy == fault_proxy.url, result


def test_test_connection_says_what_failed(box_api, settings):
    from strongroom.storage.base import ProxyConfig

    dead = ProxyConfig(host="127.0.0.1", port=9)
    result = BoxProvider.test_connection(admin_config={}, proxy=dead)
    assert not result.ok and result.stage == "proxy", result
    settings.PROVIDER_CA_BUNDLE = ""
    result = BoxProvider.test_connection(admin_config={}, proxy=None)
    assert not result.ok and result.stage == "tls", result


def test_admin_chunk_threshold_below_20_mb_is_refused():
    from strongroom.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        BoxProvider.validate_admin_config({"chunk_threshold": "1024"})
    assert exc.value.details["field"] == "chunk_threshold"
    assert BoxProvider.validate_admin_config({"chunk_threshold": 30_000_000}) == {
        "chunk_threshold": 30_000_000
    }
    assert BoxProvider(config={}).chunk_threshold == 20 * 1024 * 1024
