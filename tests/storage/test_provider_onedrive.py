"""OneDrive / SharePoint (Microsoft Graph) against the HTTPS stand-in (tests/standins/
graph_api.py): the conformance suite, QuickXorHash against published vectors, upload
sessions, Graph's statuses, OAuth through MSAL (PKCE, state, rotating refresh tokens)."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from standins.graph_api import CHUNK_UNIT, GraphFaults, quickxor
from strongroom.core.errors import ValidationFailed
from strongroom.storage.base import (
    StorageAuthError,
    StoragePermanentError,
    StorageTransientError,
)
from strongroom.storage.providers.onedrive import OneDriveProvider, QuickXorHash

from .conformance import ProviderConformance, Target

THRESHOLD = 16 * 1024


def admin_config(graph: Any) -> dict[str, Any]:
    return {"client_id": graph.client_id, "tenant": "organizations"}


def make_onedrive(graph: Any, user_id: str, **kwargs: Any) -> OneDriveProvider:
    creds = kwargs.pop("credentials", None) or graph.credentials_for(user_id)
    return OneDriveProvider(
        config={},
        credentials=creds,
        admin_config=admin_config(graph),
        admin_secret={"client_secret": graph.client_secret},
        chunk_threshold=kwargs.pop("chunk_threshold", THRESHOLD),
        timeout=kwargs.pop("timeout", 10),
        **kwargs,
    )


@pytest.fixture
def ms_user(graph_api: Any) -> Any:
    return graph_api.add_user(f"Tester {os.urandom(3).hex()}")


class TestOneDriveConformance(ProviderConformance):
    hash_algorithms = ("quickxor",)
    large_size = 2 * CHUNK_UNIT + 1000  # three session chunks of 320 KiB multiples

    @pytest.fixture
    def target(self, graph_api: Any, ms_user: Any) -> Target:
        made: list[OneDriveProvider] = []

        def make(**kw: Any) -> OneDriveProvider:
            made.append(make_onedrive(graph_api, ms_user.id, **kw))
            made[-1].chunk_size = CHUNK_UNIT
            return made[-1]

        wrong = {"access_token": "ms-at-wrong", "refresh_token": "ms-rt-wrong", "expires_at": 9e12}
        return Target(
            make=make,
            read_back=lambda name: graph_api.read(ms_user.id, name),
            list_names=lambda: graph_api.names(ms_user.id),
            faults=GraphFaults(graph_api, lambda: made[-1].last_parts),
            break_auth=lambda: make_onedrive(graph_api, ms_user.id, credentials=wrong),
            no_folder_reason="Graph creates the app folder on first use: it cannot be missing",
            read_type=lambda name: {"type": graph_api.sent_type(ms_user.id, name)},
        )


# -- QuickXorHash ---------------------------------------------------------------------------

#: Published vectors (rclone's onedrive/quickxorhash tests: base64 input → base64 hash).
VECTORS = [
    ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
    ("tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
    ("0pZP", "0rDEEwAAAAAAAAAAAwAAAAAAAAA="),
    ("jRRDVA==", "jaDAEKgAAAAAAAAABAAAAAAAAAA="),
    ("eAV52qE=", "eChAHrQRCgAAAAAABQAAAAAAAAA="),
    ("luBZlaT6", "lgBHFipBCn0AAAAABgAAAAAAAAA="),
    ("qaApEj66lw==", "qQBFCiTgA11cAgAABwAAAAAAAAA="),
    ("/aNzzCFPS/A=", "/RjFHJgRgicsAR4ACAAAAAAAAAA="),
]


@pytest.mark.parametrize(("given", "expected"), VECTORS)
def test_quickxorhash_published_vectors(given: str, expected: str) -> None:
    assert QuickXorHash(base64.b64decode(given)).digest_b64() == expected


def test_quickxorhash_streaming_matches_the_byte_by_byte_reference() -> None:
    data = os.urandom(300_001)
    streamed = QuickXorHash()
    for offset in range(0, len(data), 777):  # pieces not aligned to the 160-byte ring
        streamed.update(data[offset : offset + 777])
    assert streamed.digest_b64() == quickxor(data) == QuickXorHash(data).digest_b64()


# -- upload sessions and Graph's statuses ---------------------------------------------------


def test_session_chunks_are_320k_multiples_and_replace(graph_api: Any, ms_user: Any) -> None:
    provider = make_onedrive(graph_api, ms_user.id)
    provider.chunk_size = 3 * CHUNK_UNIT + 5  # rounded down to a 320 KiB multiple
    data = os.urandom(7 * CHUNK_UNIT + 123)
    provider.put("big.html", data)
    assert provider.last_parts == [3 * CHUNK_UNIT, 3 * CHUNK_UNIT, CHUNK_UNIT + 123]
    provider.put("big.html", data[::-1])
    assert graph_api.versions(ms_user.id, "big.html") == [data, data[::-1]]
    assert "POST /v1.0/me/drive/special/approot:/big.html:/createUploadSession" in graph_api.log


def test_expired_upload_session_starts_again(graph_api: Any, ms_user: Any) -> None:
    provider = make_onedrive(graph_api, ms_user.id)
    provider.chunk_size = CHUNK_UNIT
    data = os.urandom(3 * CHUNK_UNIT)
    # The second chunk finds the session gone (expired): a new session from the start.
    graph_api.fail("delay", "PUT /v1.0/upload/", times=1, delay=0)
    original = graph_api.take_fault

    calls = {"n": 0}

    def expire_after_first(line: str) -> Any:
        if line.startswith("PUT /v1.0/upload/"):
            calls["n"] += 1
            if calls["n"] == 2:
                graph_api.expire_sessions()
        return original(line)

    graph_api.take_fault = expire_after_first
    try:
        info = provider.put("expiring.html", data)
    finally:
        del graph_api.take_fault
    assert graph_api.read(ms_user.id, "expiring.html") == data
    assert info.size == len(data)
    assert (
        graph_api.log.count(
            "POST /v1.0/me/drive/special/approot:/expiring.html:/createUploadSession"
        )
        == 2
    )


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (423, StorageTransientError, "locked"),
        (507, StoragePermanentError, "full"),
        (503, StorageTransientError, "Retry"),
    ],
)
def test_graph_statuses(graph_api: Any, ms_user: Any, status: int, kind: type, words: str) -> None:
    provider = make_onedrive(graph_api, ms_user.id)
    graph_api.fail("status", "PUT /v1.0/me/", status=status, retry_after=5)
    with pytest.raises(kind) as exc:
        provider.put("status.html", b"x")
    if status == 503:
        assert exc.value.retry_after == 5
    else:
        assert words in str(exc.value)
    assert graph_api.names(ms_user.id) == []


def test_expired_access_token_refreshes_once_and_rotates(graph_api: Any, ms_user: Any) -> None:
    creds = graph_api.credentials_for(ms_user.id, ttl=0)
    stored: list[dict[str, Any]] = []
    provider = make_onedrive(
        graph_api, ms_user.id, credentials=creds, on_credentials_changed=stored.append
    )
    before = graph_api.refresh_count
    provider.put("fresh.html", b"fresh")
    assert graph_api.refresh_count == before + 1
    assert len(stored) == 1
    assert stored[0]["refresh_token"] != creds["refresh_token"]  # rotated, stored first
    # The old refresh token is spent: using it again is refused as a revoked grant.
    stale = make_onedrive(graph_api, ms_user.id, credentials={**creds, "expires_at": 0})
    with pytest.raises(StorageAuthError):
        stale.check()


def test_revoked_grant_is_auth_error(graph_api: Any, ms_user: Any) -> None:
    provider = make_onedrive(graph_api, ms_user.id)
    graph_api.revoke_grants(ms_user.id)
    with pytest.raises(StorageAuthError):
        provider.put("x.html", b"x")


def test_disconnect_forgets_tokens(graph_api: Any, ms_user: Any) -> None:
    provider = make_onedrive(graph_api, ms_user.id)
    provider.revoke()
    assert provider.credentials == {}


def test_upload_url_on_untrusted_host_refused(graph_api: Any, ms_user: Any) -> None:
    provider = make_onedrive(graph_api, ms_user.id)
    with pytest.raises(StoragePermanentError, match="does not trust"):
        provider._upload_session_for("https://evil.example/upload/x")


# -- admin settings -------------------------------------------------------------------------


def test_admin_config_validation() -> None:
    ok = OneDriveProvider.validate_admin_config(
        {"client_id": "3F2504E0-4F89-41D3-9A0C-0305E82C3301", "tenant": "Contoso.onmicrosoft.com"}
    )
    assert ok == {
        "client_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "tenant": "Contoso.onmicrosoft.com",
    }
    assert OneDriveProvider.validate_admin_config({"tenant": "COMMON"})["tenant"] == "common"
    for bad, field in [
        ({"client_id": "not-a-guid"}, "client_id"),
        ({"tenant": "consumers"}, "tenant"),
        ({"tenant": "http://x/"}, "tenant"),
        ({"chunk_threshold": "100"}, "chunk_threshold"),
        ({"chunk_size": "1000"}, "chunk_size"),
    ]:
        with pytest.raises(ValidationFailed) as exc:
            OneDriveProvider.validate_admin_config(bad)
        assert exc.value.details["field"] == field
    with pytest.raises(ValidationFailed):
        OneDriveProvider.validate_admin_secret({"client_secret": ""})


# -- OAuth through MSAL (PKCE, state) --------------------------------------------------------


@pytest.mark.django_db
def test_msal_code_flow_with_pkce(graph_api: Any, ms_user: Any) -> None:
    import hashlib
    import secrets
    from urllib.parse import parse_qs, urlsplit

    import requests

    redirect = "https://strongroom.test/storage/oauth/onedrive/callback/"
    graph_api.redirect_uris.add(redirect)
    graph_api.authorize_as = ms_user.id
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    url = OneDriveProvider.oauth_authorize_url(
        admin_config=admin_config(graph_api),
        admin_secret={"client_secret": graph_api.client_secret},
        state="st-123",
        code_challenge=challenge.decode(),
        redirect_uri=redirect,
    )
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(graph_api.login_url + "/organizations/oauth2/v2.0/authorize?")
    assert {"Files.ReadWrite.AppFolder", "offline_access"} <= set(query["scope"][0].split())
    answer = requests.get(url, allow_redirects=False, verify=graph_api.ca_path, timeout=10)
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert back["state"] == ["st-123"]
    common = {
        "admin_config": admin_config(graph_api),
        "admin_secret": {"client_secret": graph_api.client_secret},
        "proxy": None,
        "redirect_uri": redirect,
    }
    with pytest.raises(StorageAuthError):  # wrong verifier: refused (and the code is spent)
        OneDriveProvider.oauth_exchange_code(code=back["code"][0], code_verifier="x" * 43, **common)
    answer = requests.get(url, allow_redirects=False, verify=graph_api.ca_path, timeout=10)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    creds = OneDriveProvider.oauth_exchange_code(code=code, code_verifier=verifier, **common)
    provider = make_onedrive(graph_api, ms_user.id, credentials=creds)
    assert ms_user.name in provider.check()
    with pytest.raises(StoragePermanentError, match="client ID or secret"):
        OneDriveProvider.oauth_exchange_code(
            code=code,
            code_verifier=verifier,
            **{**common, "admin_secret": {"client_secret": "wrong-secret"}},
        )


# -- the admin's proxy ----------------------------------------------------------------------


def test_oauth_put_and_test_connection_go_through_the_admin_proxy(
    graph_api: Any, ms_user: Any, fault_proxy: Any
) -> None:
    from strongroom.storage.base import ProxyConfig

    proxy = ProxyConfig(host="127.0.0.1", port=fault_proxy.port)
    # An expired token: the refresh (MSAL) and the upload session (Graph) both go through.
    creds = graph_api.credentials_for(ms_user.id, ttl=0)
    provider = make_onedrive(graph_api, ms_user.id, credentials=creds, proxy=proxy)
    provider.chunk_size = CHUNK_UNIT
    data = os.urandom(CHUNK_UNIT + 10)
    provider.put("proxied.html", data)
    assert graph_api.read(ms_user.id, "proxied.html") == data
    target = f"127.0.0.1:{graph_api.port}"
    assert sum(r.method == "CONNECT" and r.target == target for r in fault_proxy.requests) >= 3
    result = OneDriveProvider.test_connection(admin_config=admin_config(graph_api), proxy=proxy)
    assert result.ok and result.via_proxy == fault_proxy.url, result


def test_test_connection_says_what_failed(graph_api: Any, settings: Any) -> None:
    from strongroom.storage.base import ProxyConfig

    dead = ProxyConfig(host="127.0.0.1", port=9)
    result = OneDriveProvider.test_connection(admin_config=admin_config(graph_api), proxy=dead)
    assert not result.ok and result.stage == "proxy", result
    settings.PROVIDER_CA_BUNDLE = ""
    result = OneDriveProvider.test_connection(admin_config=admin_config(graph_api), proxy=None)
    assert not result.ok and result.stage == "tls", result
