"""Google Drive's redirect flow through the web views and API, google-auth-oauthlib against
the Google stand-in's consent page and token endpoint (by configuration: the client
config's auth_uri/token_uri): PKCE S256, state, offline access and the drive.file scope;
the admin page; disconnect revokes the grant and can delete the synced copy; no secret in
pages, logs or the database in the clear."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from strongroom.storage import services
from strongroom.storage.models import OAuthPending, ProviderSettings, StorageConnection
from strongroom.storage.oauth import oauth_redirect_uri

from .helpers import admin, api_for, user_make

pytestmark = pytest.mark.django_db

SCOPE = "https://www.googleapis.com/auth/drive.file"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def gdrive(gdrive_api: Any) -> Any:
    gdrive_api.redirect_uris.add(oauth_redirect_uri("gdrive"))
    services.provider_settings_update(
        actor=admin(),
        provider="gdrive",
        enabled=True,
        secret={"client_id": gdrive_api.client_id, "client_secret": gdrive_api.client_secret},
    )
    return gdrive_api


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _consent(g: Any, authorize_url: str) -> tuple[str, str]:
    """What the browser does at Google: the consent page redirects back with a code."""
    resp = requests.get(authorize_url, verify=g.ca_path, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    parts = urlsplit(resp.headers["Location"])
    return parts.path + "?" + parts.query, parse_qs(parts.query)["code"][0]


def _start(client: Client) -> tuple[str, str]:
    resp = client.get("/storage/gdrive/authorize/")
    assert resp.status_code == 302
    url = resp["Location"]
    return url, parse_qs(urlsplit(url).query)["state"][0]


def _connection(user: Any) -> StorageConnection | None:
    return StorageConnection.objects.filter(user=user, provider="gdrive").first()


def test_admin_page_shows_the_redirect_uri_and_scope_and_never_the_secret(gdrive_api, settings):
    settings.PUBLIC_URL = "https://vault.example.com"
    client = _client(admin())
    resp = client.post(
        "/admin/storage/gdrive/",
        {
            "enabled": "on",
            "client_id": gdrive_api.client_id,
            "client_secret": gdrive_api.client_secret,
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    row = ProviderSettings.objects.get(provider="gdrive")
    assert row.enabled and gdrive_api.client_secret.encode() not in bytes(row.secret)
    page = client.get("/admin/storage/").content.decode()
    assert "https://vault.example.com/storage/gdrive/oauth/callback/" in page
    assert "drive.file" in page and "Web application" in page
    assert gdrive_api.client_secret not in page and gdrive_api.client_id not in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_id": "", "client_secret": "s" * 24}, "client ID is required"),
        ({"client_id": "<script>x</script>", "client_secret": "s" * 24}, "looks like"),
        ({"client_id": "1-a.apps.googleusercontent.com", "client_secret": ""}, "is required"),
    ],
)
def test_admin_bad_client_credentials_are_refused_and_change_nothing(fields, message):
    resp = _client(admin()).post("/admin/storage/gdrive/", {"enabled": "on", **fields})
    assert resp.status_code == 400
    assert message in resp.content.decode() and "<script>x</script>" not in resp.content.decode()
    row = ProviderSettings.objects.filter(provider="gdrive").first()
    assert row is None or (row.secret is None and not row.enabled)


def test_user_authorises_with_pkce_state_and_offline_access(gdrive, caplog):
    caplog.set_level(logging.DEBUG)
    user = user_make()
    client = _client(user)
    url, state = _start(client)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(gdrive.base + "/o/oauth2/auth?")
    assert query["redirect_uri"] == [oauth_redirect_uri("gdrive")]
    assert query["scope"] == [SCOPE] and query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"] and query["code_challenge_method"] == ["S256"]
    callback, code = _consent(gdrive, url)
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    body = client.get(callback, follow=True).content.decode()
    conn = _connection(user)
    assert conn is not None and conn.status == "connected"
    assert conn.account_label == "Drive Tester <tester@example.com>"
    creds = services.unsealed_credentials(conn)
    assert creds["refresh_token"].startswith("1//")
    for secret in (creds["access_token"], creds["refresh_token"], gdrive.client_secret, code):
        assert secret not in body and secret not in caplog.text
        assert secret.encode() not in bytes(conn.credentials)
    assert OAuthPending.objects.filter(user=user).count() == 0


def test_replayed_code_is_refused_and_links_nothing(gdrive):
    user = user_make()
    api = api_for(user)
    start = api.post("/storage/oauth/gdrive/start").json()
    _callback, code = _consent(gdrive, start["authorize_url"])
    ok = api.post("/storage/oauth/gdrive/complete", {"state": start["state"], "code": code})
    assert ok.status_code == 201, ok.content
    assert ok.json()["provider"] == "gdrive" and ok.json()["status"] == "connected"
    again = api.call(
        "post", "/storage/oauth/gdrive/complete", {"state": start["state"], "code": code}
    )
    assert again.status_code == 400


def test_wrong_pkce_verifier_is_refused_by_google(gdrive):
    from strongroom.storage.base import StorageAuthError
    from strongroom.storage.providers.gdrive import GoogleDriveProvider

    user = user_make()
    api = api_for(user)
    start = api.post("/storage/oauth/gdrive/start").json()
    _callback, code = _consent(gdrive, start["authorize_url"])
    with pytest.raises(StorageAuthError, match="authorise Google Drive again"):
        GoogleDriveProvider.oauth_exchange_code(
            admin_secret={"client_id": gdrive.client_id, "client_secret": gdrive.client_secret},
            proxy=None,
            code=code,
            code_verifier="x" * 86,
            redirect_uri=oauth_redirect_uri("gdrive"),
        )


def test_disconnect_revokes_the_grant_and_can_delete_the_synced_copy(gdrive):
    from strongroom.storage.registry import provider_for_connection

    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    callback, _code = _consent(gdrive, url)
    client.get(callback)
    conn = _connection(user)
    g_user = gdrive.authorize_as
    name = services.synced_object_name(conn)
    provider_for_connection(conn).put(name, b"synced copy")
    assert gdrive.file(g_user, name) is not None and gdrive.grant_active(g_user)
    creds = services.unsealed_credentials(conn)
    client.post(f"/storage/connections/{conn.pk}/disconnect/", {"delete_remote_copy": "on"})
    conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.credentials is None
    assert conn.status_message == "synced copy deleted"
    assert gdrive.file(g_user, name) is None
    assert gdrive.refresh[creds["refresh_token"]]["revoked"]
    r = requests.get(
        f"{gdrive.base}/drive/v3/about",
        headers={"Authorization": "Bearer " + creds["access_token"]},
        verify=gdrive.ca_path,
        timeout=10,
    )
    assert r.status_code == 401


def test_admin_test_connection_reaches_google(gdrive, settings):
    body = _client(admin()).post("/admin/storage/gdrive/test/").content.decode()
    assert "Connection works" in body and f"127.0.0.1:{gdrive.port}" in body


def test_deactivating_a_user_revokes_the_grant_and_deletes_the_copy(
    gdrive, django_capture_on_commit_callbacks
):
    from strongroom.accounts.services import user_deactivate
    from strongroom.storage.registry import provider_for_connection

    user = user_make()
    g_user = gdrive.add_user("Leaver", "leaver@example.com")
    creds = gdrive.credentials_for(g_user.id)
    conn = services.storage_connection_save(
        actor=user, provider="gdrive", config={}, credentials=creds
    )
    name = services.synced_object_name(conn)
    provider_for_connection(conn).put(name, b"copy")
    assert gdrive.file(g_user.id, name) is not None
    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate(actor=admin(), user=user)
    conn.refresh_from_db()
    assert conn.credentials is None and conn.status == "disconnected"
    assert gdrive.file(g_user.id, name) is None
    assert not gdrive.grant_active(g_user.id)


def test_test_connection_and_uploads_go_through_the_admins_proxy(gdrive, caplog):
    from strongroom.storage.registry import provider_for_connection

    from .faultproxy import FaultProxy
    from .helpers import allow_internal_proxy

    caplog.set_level(logging.DEBUG)
    proxy = FaultProxy()  # a forward proxy that records what it relays
    proxy.proxy_auth = ("proxyuser", "proxy-Pass-9")
    try:
        allow_internal_proxy(proxy.port)
        services.proxy_settings_update(
            actor=admin(),
            enabled=True,
            host="127.0.0.1",
            port=proxy.port,
            username="proxyuser",
            password="proxy-Pass-9",
        )
        result = services.provider_test_connection(actor=admin(), provider="gdrive")
        assert result.ok, result
        assert result.via_proxy == f"http://127.0.0.1:{proxy.port}"
        assert f"127.0.0.1:{gdrive.port}" in [r.target for r in proxy.requests]
        g_user = gdrive.add_user("Proxied", "proxied@example.com")
        conn = services.storage_connection_save(
            actor=user_make(),
            provider="gdrive",
            config={},
            credentials=gdrive.credentials_for(g_user.id),
        )
        proxy.requests.clear()
        provider_for_connection(conn).put("proxied.html", b"via the proxy")
        assert gdrive.read(g_user.id, "proxied.html") == b"via the proxy"
        tunnels = [r for r in proxy.requests if r.target == f"127.0.0.1:{gdrive.port}"]
        assert tunnels and all(r.headers.get("Proxy-Authorization") for r in proxy.requests)
        assert "proxy-Pass-9" not in caplog.text
    finally:
        proxy.close()
