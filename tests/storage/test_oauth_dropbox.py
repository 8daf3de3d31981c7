"""Dropbox's paste flow through the web views, the API and the Dropbox stand-in's consent
page and token endpoint: the admin's app key (validated, "Test Dropbox connection", the
guide), a real PKCE authorisation, bad codes (wrong, expired, reused, another user's,
empty: a clear message and nothing changed), disconnect revokes and erases, and no token in
pages, errors, the audit trail or logs."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from strongroom.audit.models import AuditEvent
from strongroom.storage import services
from strongroom.storage.models import OAuthPending, ProviderSettings, StorageConnection

from .helpers import admin, api_for, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def dbx(dropbox_api: Any) -> Any:
    """Dropbox enabled by the admin with the stand-in's app key."""
    services.provider_settings_update(
        actor=admin(), provider="dropbox", enabled=True, config={"app_key": dropbox_api.app_key}
    )
    return dropbox_api


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _start(client: Client) -> str:
    resp = client.get("/storage/dropbox/authorize/")
    assert resp.status_code == 302, resp.content
    url = resp["Location"]
    assert url.startswith("https://127.0.0.1:")
    return url


def _consent(dbx: Any, authorize_url: str, account_id: str) -> str:
    """What the user does at Dropbox: open the consent page, click Allow, read the code."""
    dbx.signed_in = account_id
    page = requests.get(authorize_url, verify=dbx.ca_path, timeout=10)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text))
    assert fields["code_challenge"] and fields["token_access_type"] == "offline"
    action = urlsplit(authorize_url)._replace(query="").geturl()
    shown = requests.post(action, data=fields, verify=dbx.ca_path, timeout=10)
    assert shown.status_code == 200, shown.text
    return re.search(r'id="code" readonly value="([^"]+)"', shown.text).group(1)


def _paste(client: Client, code: str) -> Any:
    return client.post("/storage/dropbox/oauth/code/", {"code": code})


def _connection(user: Any) -> StorageConnection | None:
    return StorageConnection.objects.filter(user=user, provider="dropbox").first()


def _row(user: Any) -> tuple | None:
    conn = _connection(user)
    if conn is None:
        return None
    return (conn.status, bytes(conn.credentials or b""), conn.account_label, conn.updated_at)


# -- admin -------------------------------------------------------------------------------


def test_admin_enables_dropbox_with_the_app_key_and_sees_the_guide(dropbox_api):
    client = _client(admin())
    resp = client.post("/admin/storage/dropbox/", {"enabled": "on", "app_key": dropbox_api.app_key})
    assert resp.status_code == 302
    row = ProviderSettings.objects.get(provider="dropbox")
    assert row.enabled and row.config == {"app_key": dropbox_api.app_key}
    page = client.get("/admin/storage/").content.decode()
    assert 'name="app_key"' in page and dropbox_api.app_key in page
    for text in ("App folder", "files.content.write", "files.metadata.read", "account_info.read"):
        assert text in page


@pytest.mark.parametrize(
    ("app_key", "message"),
    [
        ("", "app key is required"),
        ("<script>x</script>", "not a Dropbox app key"),
        ("=cmd|' /C calc'!A0", "not a Dropbox app key"),
        ("ключ-приложения", "not a Dropbox app key"),
    ],
)
def test_admin_bad_app_key_is_refused_and_changes_nothing(app_key, message):
    client = _client(admin())
    resp = client.post("/admin/storage/dropbox/", {"enabled": "on", "app_key": app_key})
    assert resp.status_code == 400
    body = resp.content.decode()
    assert message in body
    assert "<script>x</script>" not in body
    row = ProviderSettings.objects.filter(provider="dropbox").first()
    assert row is None or (not row.enabled and not row.config)


def test_admin_test_connection_says_what_failed(dbx, settings):
    client = _client(admin())
    body = client.post("/admin/storage/dropbox/test/").content.decode()
    assert "Connection works" in body, body
    settings.PROVIDER_CA_BUNDLE = ""  # the stand-in's certificate is not trusted
    body = client.post("/admin/storage/dropbox/test/").content.decode()
    assert "Connection failed (tls)" in body


def test_not_enabled_means_no_authorisation(dropbox_api):
    resp = _client(user_make()).get("/storage/dropbox/authorize/", follow=True)
    assert "not enabled" in resp.content.decode()
    assert OAuthPending.objects.count() == 0


# -- the paste flow ------------------------------------------------------------------------


def test_authorise_by_pasting_the_code(dbx, caplog):
    caplog.set_level(logging.DEBUG)
    account = dbx.add_account("Alice Example", "alice@example.com")
    user = user_make()
    client = _client(user)
    url = _start(client)
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [dbx.app_key]
    assert query["code_challenge_method"] == ["S256"]
    assert query["token_access_type"] == ["offline"]
    assert set(query["scope"][0].split()) == {
        "account_info.read",
        "files.content.write",
        "files.metadata.read",
    }
    pending = OAuthPending.objects.get(user=user, provider="dropbox")
    assert query["code_challenge"][0] not in json.dumps(str(pending.__dict__))
    code = _consent(dbx, url, account)
    resp = _paste(client, code)
    assert resp.status_code == 302, resp.content.decode()[-2000:]
    page = client.get("/storage/").content.decode()
    assert "Alice Example &lt;alice@example.com&gt;" in page
    conn = _connection(user)
    assert conn.status == "connected"
    creds = services.unsealed_credentials(conn)
    assert creds["refresh_token"].startswith("rt.") and creds["access_token"].startswith("sl.")
    for secret in (creds["refresh_token"], creds["access_token"], code):
        assert secret.encode() not in bytes(conn.credentials)
        assert secret not in caplog.text
        assert secret not in page
        for event in AuditEvent.objects.all():
            assert secret not in json.dumps(event.details)
    assert OAuthPending.objects.filter(user=user).count() == 0


def test_api_start_and_complete(dbx):
    account = dbx.add_account("Api User", "api@example.com")
    user = user_make()
    api = api_for(user)
    start = api.post("/storage/oauth/dropbox/start").json()
    assert start["flow"] == "paste"
    code = _consent(dbx, start["authorize_url"], account)
    conn = api.post("/storage/oauth/dropbox/complete", {"state": start["state"], "code": code})
    assert conn.status_code == 201, conn.content
    assert conn.json()["status"] == "connected"
    assert "Api User <api@example.com>" in json.dumps(conn.json())
    again = api.call(
        "post", "/storage/oauth/dropbox/complete", {"state": start["state"], "code": code}
    )
    assert again.status_code == 400


# -- bad input: a clear message, nothing changed --------------------------------------------


@pytest.fixture
def connected(dbx):
    """Alice, already connected to Dropbox (so 'nothing changed' covers an existing row)."""
    account = dbx.add_account("Alice Example", "alice@example.com")
    user = user_make()
    client = _client(user)
    code = _consent(dbx, _start(client), account)
    assert _paste(client, code).status_code == 302
    return user, client, account, code


@pytest.fixture
def reconnecting(connected):
    """Alice's connection needs re-authorisation (Dropbox refused its token): she is back on
    the paste form, and her connection row must not change on a bad code."""
    user, client, account, code = connected
    services.storage_connection_mark_needs_reauth(
        connection_id=_connection(user).pk, message="Dropbox refused the refresh token"
    )
    return user, client, account, code


def _refused(client: Client, user: Any, code: str, message: str) -> None:
    before = _row(user)
    events = AuditEvent.objects.count()
    resp = _paste(client, code)
    assert resp.status_code == 400
    body = resp.content.decode()
    assert message.lower() in body.lower(), body[-3000:]
    assert _row(user) == before
    failure = AuditEvent.objects.filter(action="storage.connect").latest("seq")
    assert failure.outcome == "failure"
    assert AuditEvent.objects.count() == events + 1


def test_wrong_code(reconnecting):
    user, client, _account, _code = reconnecting
    _start(client)
    _refused(client, user, "not-the-code-dropbox-showed", "that code was not accepted")


def test_expired_code(reconnecting, dbx):
    user, client, account, _code = reconnecting
    dbx.code_ttl = -1  # codes expire at once
    code = _consent(dbx, _start(client), account)
    _refused(client, user, code, "that code was not accepted")


def test_reused_code(reconnecting):
    user, client, _account, code = reconnecting
    _start(client)
    _refused(client, user, code, "that code was not accepted")


def test_code_from_another_users_flow(reconnecting, dbx):
    user, client, _account, _code = reconnecting
    bob = user_make()
    bob_client = _client(bob)
    bob_account = dbx.add_account("Bob Other", "bob@example.com")
    bobs_code = _consent(dbx, _start(bob_client), bob_account)
    _start(client)  # Alice's own flow, with her own PKCE verifier
    _refused(client, user, bobs_code, "that code was not accepted")
    assert _connection(bob) is None
    # Bob's code still works in Bob's flow (the wrong verifier did not spend it).
    assert _paste(bob_client, bobs_code).status_code == 302
    assert _connection(bob).account_label == "Bob Other <bob@example.com>"


def test_bad_code_from_a_stale_tab_while_connected_is_shown_and_changes_nothing(connected):
    """The connected card has no code form: the refusal must still reach the user."""
    user, client, _account, code = connected
    _start(client)
    _refused(client, user, code, "that code was not accepted")  # spent already
    assert _connection(user).status == "connected"


def test_empty_code(reconnecting):
    user, client, _account, _code = reconnecting
    _start(client)
    _refused(client, user, "", "paste the code Dropbox showed you")
    _refused(client, user, "   ", "paste the code Dropbox showed you")


def test_hostile_code(reconnecting):
    user, client, _account, _code = reconnecting
    _start(client)
    _refused(client, user, "<script>alert(1)</script>", "that code was not accepted")
    assert (
        "<script>alert(1)</script>"
        not in _paste(client, "<script>alert(1)</script>").content.decode()
    )
    _refused(client, user, "line\nbreak", "not a Dropbox authorisation code")
    _refused(client, user, "x" * 5000, "not a Dropbox authorisation code")


def test_code_without_authorize(dbx):
    user = user_make()
    client = _client(user)
    resp = _paste(client, "some-code-here")
    assert resp.status_code == 400
    assert "no dropbox authorisation is in progress" in resp.content.decode().lower()
    assert _connection(user) is None


def test_outage_at_exchange_is_a_clear_message(reconnecting, dbx):
    user, client, account, _code = reconnecting
    code = _consent(dbx, _start(client), account)
    dbx.fault("/oauth2/token", "status", status=503)
    _refused(client, user, code, "Dropbox is unavailable (HTTP 503)")
    # the code was not spent: pasting it again works
    assert _paste(client, code).status_code == 302


# -- an authorisation past its window (STRONGROOM_OAUTH_PENDING_SECONDS) -------------------


def test_expired_authorisation_is_refused_and_its_verifier_dies_with_it(reconnecting, dbx):
    user, client, account, _code = reconnecting
    code = _consent(dbx, _start(client), account)
    # The user pastes the code after the pending window has passed (the row is aged in the
    # database: test setup, not a shortcut through our code).
    aged = OAuthPending.objects.filter(user=user, provider="dropbox", used_at=None).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert aged == 1
    dbx.requests.clear()
    _refused(
        client, user, code, "this Dropbox authorisation expired: click Authorize to start again"
    )
    assert (
        AuditEvent.objects.filter(action="storage.connect").latest("seq").details["error"]
        == "oauth_state_expired"
    )
    assert dbx.count("/oauth2/token") == 0  # the code was never exchanged
    # A new authorisation has a new PKCE verifier: the code issued for the expired one's
    # challenge is refused by Dropbox, and only a fresh consent links.
    _start(client)
    _refused(client, user, code, "that code was not accepted")
    assert dbx.count("/oauth2/token", status=400) == 1
    fresh = _consent(dbx, _start(client), account)
    assert _paste(client, fresh).status_code == 302
    assert _connection(user).status == "connected"


def test_api_complete_after_the_window_is_refused_and_links_nothing(dbx, settings):
    settings.OAUTH_PENDING_SECONDS = 0  # every authorisation is already past its window
    account = dbx.add_account("Late User", "late@example.com")
    user = user_make()
    api = api_for(user)
    start = api.post("/storage/oauth/dropbox/start").json()
    assert parse_datetime(start["expires_at"]) <= timezone.now()
    code = _consent(dbx, start["authorize_url"], account)
    dbx.requests.clear()
    resp = api.call(
        "post", "/storage/oauth/dropbox/complete", {"state": start["state"], "code": code}
    )
    assert resp.status_code == 400, resp.content
    error = resp.json()["error"]
    assert error["code"] == "oauth_state_expired"
    assert error["message"] == (
        "this Dropbox authorisation expired: click Authorize to start again"
    )
    assert _connection(user) is None
    assert dbx.count("/oauth2/token") == 0
    settings.OAUTH_PENDING_SECONDS = 900
    start = api.post("/storage/oauth/dropbox/start").json()
    code = _consent(dbx, start["authorize_url"], account)
    done = api.post("/storage/oauth/dropbox/complete", {"state": start["state"], "code": code})
    assert done.status_code == 201, done.content


# -- disconnect ----------------------------------------------------------------------------


def test_disconnect_revokes_at_dropbox_and_erases(connected, dbx):
    user, client, _account, _code = connected
    conn = _connection(user)
    creds = services.unsealed_credentials(conn)
    resp = client.post(f"/storage/connections/{conn.pk}/disconnect/", {})
    assert resp.status_code == 302
    conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.credentials is None
    assert dbx.count("/2/auth/token/revoke", status=200) == 1
    assert dbx.refresh[creds["refresh_token"]]["revoked"]
    r = requests.post(
        f"{dbx.url('api')}/2/users/get_current_account",
        headers={
            "Authorization": "Bearer " + creds["access_token"],
            "Content-Type": "application/json",
        },
        data="null",
        verify=dbx.ca_path,
        timeout=10,
    )
    assert r.status_code == 401
    assert creds["access_token"] not in str(conn.status_message)


def test_disconnect_with_delete_removes_the_copy_then_revokes(connected, dbx):
    from strongroom.storage import registry

    user, client, account, _code = connected
    conn = _connection(user)
    registry.provider_for_connection(conn).put(services.synced_object_name(conn), b"copy")
    assert "/" + services.synced_object_name(conn) in dbx.files(account)
    client.post(f"/storage/connections/{conn.pk}/disconnect/", {"delete_remote_copy": "on"})
    assert dbx.files(account) == {}
    assert dbx.count("/2/auth/token/revoke", status=200) == 1
    conn.refresh_from_db()
    assert conn.credentials is None and "deleted" in conn.status_message


def test_disconnect_while_dropbox_is_down_still_erases(connected, dbx):
    user, client, _account, _code = connected
    conn = _connection(user)
    dbx.fault("/2/auth/token/revoke", "status", status=503)
    client.post(f"/storage/connections/{conn.pk}/disconnect/", {})
    conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.credentials is None


def test_bad_codes_through_the_api_leave_a_connected_row_unchanged(connected, dbx):
    user, _client, _account, used = connected
    api = api_for(user)
    before = _row(user)
    bob_account = dbx.add_account("Bob Other", "bob@example.com")
    for code, message in [
        ("not-the-code-dropbox-showed", "that code was not accepted"),
        (used, "that code was not accepted"),
        (None, "that code was not accepted"),  # another flow's code
        ("", "paste the code Dropbox showed you"),
    ]:
        if code is None:
            bobs = api_for(user_make()).post("/storage/oauth/dropbox/start").json()
            code = _consent(dbx, bobs["authorize_url"], bob_account)
        start = api.post("/storage/oauth/dropbox/start").json()
        resp = api.call(
            "post", "/storage/oauth/dropbox/complete", {"state": start["state"], "code": code}
        )
        assert resp.status_code == 400, resp.content
        assert message.lower() in resp.content.decode().lower()
        assert _row(user) == before


# -- API: the admin's settings and test ----------------------------------------------------


def test_api_admin_sets_the_app_key_and_tests_the_connection(dropbox_api):
    api = api_for(admin())
    bad = api.call(
        "put",
        "/storage/settings",
        {"providers": [{"name": "dropbox", "enabled": True, "config": {"app_key": "<b>x</b>"}}]},
    )
    assert bad.status_code == 400 and "not a Dropbox app key" in bad.content.decode()
    assert not ProviderSettings.objects.filter(provider="dropbox", enabled=True).exists()
    ok = api.call(
        "put",
        "/storage/settings",
        {
            "providers": [
                {"name": "dropbox", "enabled": True, "config": {"app_key": dropbox_api.app_key}}
            ]
        },
    )
    assert ok.status_code == 200, ok.content
    assert ProviderSettings.objects.get(provider="dropbox").config == {
        "app_key": dropbox_api.app_key
    }
    result = api.post("/storage/providers/dropbox/test").json()
    assert result["ok"] and result["stage"] == "ok", result


# -- the admin's proxy -----------------------------------------------------------------------


@pytest.fixture
def recording_proxy():
    from .faultproxy import FaultProxy

    proxy = FaultProxy()  # forward proxy only (CONNECT tunnels to 127.0.0.1)
    proxy.proxy_auth = ("proxyuser", "proxy-Pass-9")
    yield proxy
    proxy.close()


def _use_proxy(proxy: Any, password: str = "proxy-Pass-9") -> None:  # noqa: S107
    from .helpers import allow_internal_proxy

    allow_internal_proxy(proxy.port)
    services.proxy_settings_update(
        actor=admin(),
        enabled=True,
        host="127.0.0.1",
        port=proxy.port,
        username="proxyuser",
        password=password,
    )


def test_exchange_sync_and_test_connection_go_through_the_proxy(dbx, recording_proxy, caplog):
    from strongroom.storage import registry

    caplog.set_level(logging.DEBUG)
    _use_proxy(recording_proxy)
    account = dbx.add_account("Proxy User", "proxy@example.com")
    user = user_make()
    client = _client(user)
    code = _consent(dbx, _start(client), account)
    assert _paste(client, code).status_code == 302
    conn = _connection(user)
    registry.provider_for_connection(conn).put("via-proxy.html", b"through the proxy")
    targets = {r.target for r in recording_proxy.requests if r.method == "CONNECT"}
    assert dbx.hosts["api"] in targets and dbx.hosts["content"] in targets
    assert all(r.headers.get("Proxy-Authorization") for r in recording_proxy.requests)
    result = services.provider_test_connection(actor=admin(), provider="dropbox")
    assert result.ok and result.via_proxy == f"http://127.0.0.1:{recording_proxy.port}"
    assert recording_proxy.requests[-1].target == dbx.hosts["api"]
    assert "proxy-Pass-9" not in caplog.text


def test_wrong_proxy_password_at_exchange_is_a_clear_message(dbx, recording_proxy):
    account = dbx.add_account("Proxy User", "proxy@example.com")
    user = user_make()
    client = _client(user)
    code = _consent(dbx, _start(client), account)
    _use_proxy(recording_proxy, password="wrong")
    resp = _paste(client, code)
    assert resp.status_code == 400
    assert "proxy" in resp.content.decode().lower()
    assert _connection(user) is None
    result = services.provider_test_connection(actor=admin(), provider="dropbox")
    assert not result.ok and result.stage == "proxy" and "407" in result.message
