"""Box's redirect flow through the web views, the Box stand-in's consent page and token
endpoint: admin settings (write-only client ID and secret, the exact redirect URI), a
real authorisation, attacks on ``state`` and the code (refused, nothing linked),
disconnect revokes and erases, and no secret in pages, errors or logs."""

from __future__ import annotations

import json
import logging
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
from strongroom.storage.oauth import oauth_redirect_uri

from .helpers import admin, api_for, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def box(box_api: Any) -> Any:
    """Box enabled by the admin with the stand-in's app credentials."""
    box_api.redirect_uris.add(oauth_redirect_uri("box"))
    services.provider_settings_update(
        actor=admin(),
        provider="box",
        enabled=True,
        secret={"client_id": box_api.client_id, "client_secret": box_api.client_secret},
    )
    return box_api


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _consent(box: Any, authorize_url: str, *, as_user: str | None = None) -> tuple[str, str]:
    """What the user's browser does at Box: open the consent page, be redirected back.
    Returns (callback path with query, code)."""
    if as_user is not None:
        box.authorize_as = as_user
    resp = requests.get(authorize_url, verify=box.ca_path, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    parts = urlsplit(location)
    return parts.path + "?" + parts.query, parse_qs(parts.query)["code"][0]


def _start(client: Client) -> tuple[str, str]:
    resp = client.get("/storage/box/authorize/")
    assert resp.status_code == 302
    url = resp["Location"]
    assert url.startswith("https://127.0.0.1:")
    return url, parse_qs(urlsplit(url).query)["state"][0]


def _connection(user: Any) -> StorageConnection | None:
    return StorageConnection.objects.filter(user=user, provider="box").first()


# -- admin settings ------------------------------------------------------------------------


def test_admin_page_shows_the_exact_redirect_uri_and_never_the_secret(box_api, settings):
    settings.PUBLIC_URL = "https://vault.example.com"
    client = _client(admin())
    resp = client.post(
        "/admin/storage/box/",
        {"enabled": "on", "client_id": box_api.client_id, "client_secret": box_api.client_secret},
    )
    assert resp.status_code == 302
    row = ProviderSettings.objects.get(provider="box")
    assert row.enabled and row.secret is not None
    assert box_api.client_secret.encode() not in bytes(row.secret)
    page = client.get("/admin/storage/").content.decode()
    assert "https://vault.example.com/storage/box/oauth/callback/" in page
    assert "Read and write all files and folders" in page
    assert "A client ID and secret are stored" in page
    assert box_api.client_secret not in page and box_api.client_id not in page
    # Saving again with the fields empty keeps the stored secret.
    client.post("/admin/storage/box/", {"enabled": "on"})
    from strongroom.storage.registry import admin_settings

    assert admin_settings("box")[1]["client_secret"] == box_api.client_secret


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_id": "abc", "client_secret": "s" * 32}, "32 letters and digits"),
        ({"client_id": "<script>x</script>", "client_secret": "s" * 32}, "32 letters"),
        ({"client_id": "a" * 32, "client_secret": ""}, "client secret is required"),
        ({"client_id": "", "client_secret": "s" * 32}, "client ID is required"),
        ({"client_id": "a" * 32, "client_secret": "=cmd|' /C calc'!A0"}, "never uses"),
    ],
)
def test_admin_bad_client_credentials_are_refused_and_change_nothing(fields, message):
    client = _client(admin())
    resp = client.post("/admin/storage/box/", {"enabled": "on", **fields})
    assert resp.status_code == 400
    body = resp.content.decode()
    assert message in body
    assert "<script>x</script>" not in body
    row = ProviderSettings.objects.filter(provider="box").first()
    assert row is None or (row.secret is None and not row.enabled)


def test_admin_test_connection_reaches_box(box, settings):
    resp = _client(admin()).post("/admin/storage/box/test/")
    body = resp.content.decode()
    assert "Connection works" in body and f"127.0.0.1:{box.port}" in body
    settings.BOX_API_URL = "https://127.0.0.1:9"  # nothing listens there
    body = _client(admin()).post("/admin/storage/box/test/").content.decode()
    assert "Connection failed (connect)" in body


# -- the redirect flow ---------------------------------------------------------------------


def test_user_authorises_through_the_redirect(box, caplog):
    caplog.set_level(logging.DEBUG)
    user = user_make()
    client = _client(user)
    url, state = _start(client)
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [oauth_redirect_uri("box")]
    assert query["client_id"] == [box.client_id] and query["response_type"] == ["code"]
    callback, code = _consent(box, url)
    assert parse_qs(urlsplit(callback).query)["state"] == [state]  # echoed exactly
    resp = client.get(callback, follow=True)
    body = resp.content.decode()
    conn = _connection(user)
    assert conn is not None and conn.status == "connected"
    assert conn.account_label == "Box Tester <tester@example.com>"
    assert "Box connected: Box Tester" in body
    creds = services.unsealed_credentials(conn)
    # No secret in the pages, the log records or the database in the clear.
    for secret in (creds["access_token"], creds["refresh_token"], box.client_secret, code):
        assert secret not in body
        assert secret not in caplog.text
        assert secret.encode() not in bytes(conn.credentials)
    assert OAuthPending.objects.filter(user=user).count() == 0


def test_missing_state_is_refused(box):
    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    _callback, code = _consent(box, url)
    body = (
        client.get(f"/storage/box/oauth/callback/?code={code}", follow=True)
        .content.decode()
        .lower()
    )
    assert "no box authorisation is in progress" in body
    assert _connection(user) is None


def test_wrong_state_is_refused(box):
    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    _callback, code = _consent(box, url)
    body = (
        client.get(
            f"/storage/box/oauth/callback/?code={code}&state=forged-state-value", follow=True
        )
        .content.decode()
        .lower()
    )
    assert "was not started by you" in body
    assert _connection(user) is None


def test_reused_state_and_replayed_code_are_refused_and_link_nothing(box):
    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    callback, code = _consent(box, url)
    client.get(callback)
    conn = _connection(user)
    assert conn is not None
    first = services.unsealed_credentials(conn)
    # The same callback again (state spent).
    body = client.get(callback, follow=True).content.decode().lower()
    assert "already used" in body or "was not started by you" in body
    # A fresh authorisation with the old code replayed: Box refuses the spent code.
    _url2, state2 = _start(client)
    body = (
        client.get(f"/storage/box/oauth/callback/?code={code}&state={state2}", follow=True)
        .content.decode()
        .lower()
    )
    assert "box refused the authorisation code" in body
    conn.refresh_from_db()
    assert services.unsealed_credentials(conn) == first


def test_another_users_state_is_refused(box):
    alice, mallory = user_make(), user_make()
    alice_client = _client(alice)
    url, _state = _start(alice_client)
    callback, _code = _consent(box, url)
    # Mallory's browser is sent Alice's callback (login CSRF / a stolen link).
    body = _client(mallory).get(callback, follow=True).content.decode().lower()
    assert "was not started by you" in body
    assert _connection(mallory) is None and _connection(alice) is None


def test_state_from_another_session_of_the_same_user_is_refused(box):
    user = user_make()
    url, _state = _start(_client(user))
    callback, _code = _consent(box, url)
    body = _client(user).get(callback, follow=True).content.decode().lower()
    assert "was not started by you in this session" in body
    assert _connection(user) is None


def test_redirect_uri_not_registered_is_refused_at_box(box, settings):
    settings.PUBLIC_URL = "https://elsewhere.example.com"
    url, _state = _start(_client(user_make()))
    resp = requests.get(url, verify=box.ca_path, allow_redirects=False, timeout=10)
    assert resp.status_code == 400 and "redirect_uri_mismatch" in resp.text


def test_api_start_and_complete(box):
    user = user_make()
    api = api_for(user)
    start = api.post("/storage/oauth/box/start").json()
    assert start["flow"] == "redirect"
    _callback, code = _consent(box, start["authorize_url"])
    conn = api.post("/storage/oauth/box/complete", {"state": start["state"], "code": code})
    assert conn.status_code == 201, conn.content
    conn = conn.json()
    assert conn["provider"] == "box" and conn["status"] == "connected"
    again = api.call("post", "/storage/oauth/box/complete", {"state": start["state"], "code": code})
    assert again.status_code == 400


# -- an authorisation past its window (STRONGROOM_OAUTH_PENDING_SECONDS) -------------------


def _row(user: Any) -> tuple | None:
    conn = _connection(user)
    if conn is None:
        return None
    return (conn.status, bytes(conn.credentials or b""), conn.account_label, conn.updated_at)


def test_expired_authorisation_is_refused_and_leaves_the_connection_unchanged(box):
    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    client.get(_consent(box, url)[0])
    before = _row(user)
    assert before is not None and before[0] == "connected"
    # She authorises again, but comes back from Box after the pending window has passed
    # (the row is aged in the database: test setup, not a shortcut through our code).
    url, _state = _start(client)
    callback, _code = _consent(box, url)
    aged = OAuthPending.objects.filter(user=user, provider="box", used_at=None).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert aged == 1
    box.log.clear()
    body = client.get(callback, follow=True).content.decode().lower()
    assert "this box authorisation expired: click authorize to start again" in body
    assert _row(user) == before
    assert "POST /oauth2/token" not in box.log  # the code was never exchanged
    failure = AuditEvent.objects.filter(action="storage.connect").latest("seq")
    assert failure.outcome == "failure"
    assert failure.details["error"] == "oauth_state_expired"
    # "Start again" is true: a fresh authorisation links.
    url, _state = _start(client)
    client.get(_consent(box, url)[0])
    assert _row(user) != before and _connection(user).status == "connected"


def test_api_complete_after_the_window_is_refused_and_links_nothing(box, settings):
    settings.OAUTH_PENDING_SECONDS = 0  # every authorisation is already past its window
    user = user_make()
    api = api_for(user)
    start = api.post("/storage/oauth/box/start").json()
    assert parse_datetime(start["expires_at"]) <= timezone.now()
    _callback, code = _consent(box, start["authorize_url"])
    box.log.clear()
    resp = api.call("post", "/storage/oauth/box/complete", {"state": start["state"], "code": code})
    assert resp.status_code == 400, resp.content
    error = resp.json()["error"]
    assert error["code"] == "oauth_state_expired"
    assert error["message"] == "this Box authorisation expired: click Authorize to start again"
    assert _connection(user) is None
    assert "POST /oauth2/token" not in box.log
    settings.OAUTH_PENDING_SECONDS = 900
    start = api.post("/storage/oauth/box/start").json()
    _callback, code = _consent(box, start["authorize_url"])
    done = api.post("/storage/oauth/box/complete", {"state": start["state"], "code": code})
    assert done.status_code == 201, done.content


# -- disconnect ------------------------------------------------------------------------------


def test_disconnect_revokes_at_box_and_erases(box):
    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    callback, _code = _consent(box, url)
    client.get(callback)
    conn = _connection(user)
    box_user = box.users[box.authorize_as]
    assert box.grant_active(box_user.id)
    creds = services.unsealed_credentials(conn)
    resp = client.post(f"/storage/connections/{conn.pk}/disconnect/", {})
    assert resp.status_code == 302
    conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.credentials is None
    # Box no longer accepts the tokens.
    r = requests.get(
        f"{box.api_url}/2.0/users/me",
        headers={"Authorization": "Bearer " + creds["access_token"]},
        verify=box.ca_path,
        timeout=10,
    )
    assert r.status_code == 401
    assert json.dumps(creds) not in str(conn.status_message)


def test_api_admin_sets_the_box_secret_write_only(box_api):
    api = api_for(admin())
    body = {
        "providers": [
            {
                "name": "box",
                "enabled": True,
                "secret": {"client_id": box_api.client_id, "client_secret": box_api.client_secret},
            }
        ]
    }
    resp = api.put("/storage/settings", body)
    assert resp.status_code == 200, resp.content
    text = resp.content.decode() + api.get("/storage/settings").content.decode()
    assert box_api.client_secret not in text and box_api.client_id not in text
    [row] = [p for p in api.get("/storage/settings").json()["providers"] if p["name"] == "box"]
    assert row["has_secret"] and row["enabled"]
    bad = api.put(
        "/storage/settings",
        {"providers": [{"name": "box", "secret": {"client_id": "<b>", "client_secret": "x"}}]},
    )
    assert bad.status_code == 400 and "client ID" in bad.content.decode()
    from strongroom.storage.registry import admin_settings

    assert admin_settings("box")[1]["client_secret"] == box_api.client_secret


def test_expired_code_is_refused(box):
    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    box.code_ttl = -1.0
    try:
        callback, _code = _consent(box, url)
    finally:
        box.code_ttl = 30.0
    body = client.get(callback, follow=True).content.decode().lower()
    assert "box refused the authorisation code" in body
    assert _connection(user) is None


def test_wrong_client_secret_is_reported_for_the_administrator(box):
    services.provider_settings_update(
        actor=admin(),
        provider="box",
        secret={"client_id": box.client_id, "client_secret": "wrong-secret-0123456789"},
    )
    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    callback, _code = _consent(box, url)
    body = client.get(callback, follow=True).content.decode().lower()
    assert "refused the app's client id or secret" in body.replace("&#x27;", "'")
    assert "wrong-secret-0123456789" not in body
    assert _connection(user) is None


def test_disconnect_can_delete_the_synced_copy_in_box(box):
    from strongroom.storage.registry import provider_for_connection

    user = user_make()
    client = _client(user)
    url, _state = _start(client)
    callback, _code = _consent(box, url)
    client.get(callback)
    conn = _connection(user)
    provider_for_connection(conn).put(services.synced_object_name(conn), b"synced copy")
    creds = services.unsealed_credentials(conn)
    box_user_id = box.authorize_as
    assert box.file(box_user_id, services.synced_object_name(conn)) is not None
    client.post(f"/storage/connections/{conn.pk}/disconnect/", {"delete_remote_copy": "on"})
    conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.credentials is None
    assert conn.status_message == "synced copy deleted"
    assert box.file(box_user_id, services.synced_object_name(conn)) is None
    assert box.access[creds["access_token"]]["revoked"]
