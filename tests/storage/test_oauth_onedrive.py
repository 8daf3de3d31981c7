"""OneDrive's admin card and the user's redirect authorisation through the web UI, against
the identity-platform stand-in (MSAL, PKCE S256, state), and disconnect."""

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

from .helpers import admin, allow_internal_proxy, api_for, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def onedrive(graph_api: Any) -> Any:
    """OneDrive configured through the admin card (real form post)."""
    graph_api.redirect_uris.add(oauth_redirect_uri("onedrive"))
    resp = _client(admin()).post(
        "/admin/storage/onedrive/",
        {
            "enabled": "on",
            "client_id": graph_api.client_id,
            "tenant": "organizations",
            "client_secret": graph_api.client_secret,
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    return graph_api


def _consent(graph: Any, authorize_url: str, as_user: str) -> tuple[str, str]:
    graph.authorize_as = as_user
    resp = requests.get(authorize_url, verify=graph.ca_path, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    parts = urlsplit(resp.headers["Location"])
    return parts.path + "?" + parts.query, parse_qs(parts.query)["code"][0]


def test_admin_card_shows_redirect_uri_permissions_and_never_the_secret(graph_api, settings):
    settings.PUBLIC_URL = "https://vault.example.com"
    client = _client(admin())
    resp = client.post(
        "/admin/storage/onedrive/",
        {
            "enabled": "on",
            "client_id": graph_api.client_id,
            "tenant": "contoso.onmicrosoft.com",
            "client_secret": graph_api.client_secret,
        },
    )
    assert resp.status_code == 302
    row = ProviderSettings.objects.get(provider="onedrive")
    assert row.config["tenant"] == "contoso.onmicrosoft.com"
    assert graph_api.client_secret.encode() not in bytes(row.secret)
    page = client.get("/admin/storage/").content.decode()
    assert "https://vault.example.com/storage/onedrive/oauth/callback/" in page
    assert "Files.ReadWrite.AppFolder" in page and "offline_access" in page
    assert "A client secret is stored" in page
    assert graph_api.client_secret not in page
    # Bad input: a specific error, nothing changed.
    resp = client.post(
        "/admin/storage/onedrive/",
        {"enabled": "on", "client_id": "<script>", "tenant": "organizations"},
    )
    assert resp.status_code == 400
    assert "GUID" in resp.content.decode() and "<script>" not in resp.content.decode()
    row.refresh_from_db()
    assert row.config["tenant"] == "contoso.onmicrosoft.com"


def test_user_authorises_through_the_redirect_with_pkce(onedrive, caplog):
    caplog.set_level(logging.DEBUG)
    ms_user = onedrive.add_user("Olivia Drive")
    user = user_make()
    client = _client(user)
    resp = client.get("/storage/onedrive/authorize/")
    assert resp.status_code == 302
    url = resp["Location"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(onedrive.login_url + "/organizations/oauth2/v2.0/authorize?")
    assert query["redirect_uri"] == [oauth_redirect_uri("onedrive")]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    callback, code = _consent(onedrive, url, ms_user.id)
    assert parse_qs(urlsplit(callback).query)["state"] == query["state"]
    body = client.get(callback, follow=True).content.decode()
    conn = StorageConnection.objects.get(user=user, provider="onedrive")
    assert conn.status == "connected"
    assert conn.account_label == "Olivia Drive <olivia.drive@contoso.example> (OneDrive)"
    assert "Olivia Drive" in body
    creds = services.unsealed_credentials(conn)
    for secret in (creds["access_token"], creds["refresh_token"], onedrive.client_secret, code):
        assert secret not in body and secret not in caplog.text
        assert secret.encode() not in bytes(conn.credentials)
    assert OAuthPending.objects.filter(user=user).count() == 0


def test_forged_state_links_nothing(onedrive):
    user = user_make()
    client = _client(user)
    url = client.get("/storage/onedrive/authorize/")["Location"]
    _callback, code = _consent(onedrive, url, onedrive.authorize_as)
    body = client.get(
        f"/storage/onedrive/oauth/callback/?code={code}&state=forged", follow=True
    ).content.decode()
    assert "was not started by you" in body
    assert not StorageConnection.objects.filter(user=user, provider="onedrive").exists()


def test_deactivating_the_user_deletes_the_copy_and_erases_the_tokens(
    onedrive, django_capture_on_commit_callbacks
):
    from strongroom.accounts.services import user_deactivate
    from strongroom.storage import registry

    ms_user = onedrive.add_user("Leaver")
    user = user_make()
    conn = services.storage_connection_save(
        actor=user,
        provider="onedrive",
        config={},
        credentials=onedrive.credentials_for(ms_user.id),
    )
    registry.provider_for_connection(conn).put(services.SYNCED_OBJECT_NAME, b"copy")
    assert onedrive.names(ms_user.id) == [services.SYNCED_OBJECT_NAME]
    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate(actor=admin(), user=user)
    conn.refresh_from_db()
    assert conn.credentials is None and conn.status == "disconnected"
    assert onedrive.names(ms_user.id) == []


def test_admin_test_connection_reaches_microsoft(onedrive, settings):
    body = _client(admin()).post("/admin/storage/onedrive/test/").content.decode()
    assert "Connection works" in body and f"127.0.0.1:{onedrive.port}" in body
    settings.MS_LOGIN_URL = "https://127.0.0.1:9/login"  # nothing listens there
    body = _client(admin()).post("/admin/storage/onedrive/test/").content.decode()
    assert "Connection failed (connect)" in body


def test_api_start_and_complete(onedrive):
    ms_user = onedrive.add_user("Api Person")
    user = user_make()
    api = api_for(user)
    start = api.post("/storage/oauth/onedrive/start").json()
    assert start["flow"] == "redirect"
    assert "code_challenge=" in start["authorize_url"]
    _callback, code = _consent(onedrive, start["authorize_url"], ms_user.id)
    conn = api.post("/storage/oauth/onedrive/complete", {"state": start["state"], "code": code})
    assert conn.status_code == 201, conn.content
    assert conn.json()["provider"] == "onedrive" and conn.json()["status"] == "connected"
    again = api.call(
        "post", "/storage/oauth/onedrive/complete", {"state": start["state"], "code": code}
    )
    assert again.status_code == 400


def test_authorisation_start_and_exchange_go_through_the_admin_proxy(onedrive, fault_proxy):
    allow_internal_proxy(fault_proxy.port)
    services.proxy_settings_update(
        actor=admin(), enabled=True, host="127.0.0.1", port=fault_proxy.port
    )
    ms_user = onedrive.add_user("Proxied Person")
    user = user_make()
    client = _client(user)
    url = client.get("/storage/onedrive/authorize/")["Location"]
    target = f"127.0.0.1:{onedrive.port}"
    connects = sum(r.method == "CONNECT" and r.target == target for r in fault_proxy.requests)
    assert connects >= 1  # MSAL's OpenID discovery at the start
    callback, _code = _consent(onedrive, url, ms_user.id)
    client.get(callback)
    conn = StorageConnection.objects.get(user=user, provider="onedrive")
    assert conn.status == "connected"
    after = sum(r.method == "CONNECT" and r.target == target for r in fault_proxy.requests)
    assert after >= connects + 2  # the token exchange and Graph's check


def test_unreachable_sign_in_is_a_clear_error_and_starts_nothing(onedrive, settings):
    settings.MS_LOGIN_URL = "https://127.0.0.1:9/login"  # nothing listens there
    user = user_make()
    body = _client(user).get("/storage/onedrive/authorize/", follow=True).content.decode()
    assert "Microsoft sign-in cannot be reached" in body
    assert OAuthPending.objects.filter(user=user).count() == 0
