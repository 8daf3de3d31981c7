"""The Cloud storage pages and the REST API (Django test client)."""

from __future__ import annotations

import pytest
from django.test import Client

from strongroom.storage.models import ProviderSettings, StorageConnection

from .helpers import admin, api_for, enable_local, enable_s3, s3_input, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_page_is_admin_only():
    assert _client(user_make()).get("/admin/storage/").status_code == 403
    page = _client(admin()).get("/admin/storage/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Amazon S3" in body and "Local folder" in body and "Outbound proxy" in body


def test_admin_enables_s3_with_allow_list_and_proxy(dns):
    dns.set("proxy.corp", ["93.184.216.34"])  # a public address (never connected to)
    client = _client(admin())
    resp = client.post(
        "/admin/storage/s3/",
        {"enabled": "on", "endpoints": "http://127.0.0.1:9000\nhttps://minio.example.com"},
    )
    assert resp.status_code == 302
    row = ProviderSettings.objects.get(provider="s3")
    assert row.enabled and row.config["endpoints"] == [
        "http://127.0.0.1:9000",
        "https://minio.example.com",
    ]
    bad = client.post("/admin/storage/s3/", {"enabled": "on", "endpoints": "ftp://x"})
    assert bad.status_code == 400 and "not a valid endpoint" in bad.content.decode()
    resp = client.post(
        "/admin/storage/proxy/",
        {"enabled": "on", "host": "proxy.corp", "port": "3128", "username": "u", "password": "p"},
    )
    assert resp.status_code == 302
    page = client.get("/admin/storage/").content.decode()
    assert "proxy.corp" in page and 'value="p"' not in page and "A password is stored" in page


def test_admin_test_connection_local(local_base_dir):
    enable_local(local_base_dir)
    page = _client(admin()).post("/admin/storage/local/test/")
    assert page.status_code == 200
    assert "Connection works" in page.content.decode()


def test_user_connects_s3_and_disconnects(moto, s3_credentials):
    enable_s3(moto.url)
    user = user_make()
    client = _client(user)
    page = client.get("/storage/").content.decode()
    assert "Connect Amazon S3" in page
    config, creds = s3_input(s3_credentials, moto.url)
    resp = client.post("/storage/s3/connect/", {**config, **creds})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    page = client.get("/storage/").content.decode()
    assert "connected" in page and "s3://strongroom-test/people/" in page
    assert s3_credentials.secret_access_key not in page
    conn = StorageConnection.objects.get(user=user)
    resp = client.post(f"/storage/connections/{conn.pk}/disconnect/", {"delete_remote_copy": "on"})
    assert resp.status_code == 302
    conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.credentials is None


def test_wrong_secret_shows_the_precise_message(moto, s3_credentials):
    enable_s3(moto.url)
    client = _client(user_make())
    config, creds = s3_input(s3_credentials, moto.url, secret_access_key="w" * 40)
    resp = client.post("/storage/s3/connect/", {**config, **creds})
    assert resp.status_code == 400
    body = resp.content.decode()
    assert "bad secret" in body and "w" * 40 not in body


def test_disabled_provider_is_not_offered(local_base_dir):
    page = _client(user_make()).get("/storage/").content.decode()
    assert "No cloud storage provider is enabled" in page


# -- API ------------------------------------------------------------------------------


def test_api_settings_admin_only_and_password_write_only(dns):
    dns.set("proxy.corp", ["93.184.216.34"])  # a public address (never connected to)
    assert api_for(user_make()).get("/storage/settings").status_code == 403
    api = api_for(admin())
    resp = api.put(
        "/storage/settings",
        {
            "providers": [{"name": "s3", "enabled": True, "config": {"endpoints": []}}],
            "proxy": {"enabled": True, "host": "proxy.corp", "port": 8080, "password": "s3cr3t"},
        },
    )
    assert resp.status_code == 200, resp.content
    data = resp.json()
    assert data["proxy"] == {
        "enabled": True,
        "host": "proxy.corp",
        "port": 8080,
        "username": "",
        "has_password": True,
    }
    assert "s3cr3t" not in resp.content.decode()
    s3 = next(p for p in data["providers"] if p["name"] == "s3")
    assert s3["enabled"] is True


def test_api_connections(moto, s3_credentials, local_base_dir):
    enable_s3(moto.url)
    enable_local(local_base_dir)
    api = api_for(user_make())
    config, creds = s3_input(s3_credentials, moto.url, secret_access_key="bad" * 10)
    body = {"provider": "s3", "config": config, "credentials": creds}
    resp = api.post("/storage/connections", body)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "storage_check_failed"
    assert "bad secret" in resp.json()["error"]["message"]
    config, creds = s3_input(s3_credentials, moto.url)
    body = {"provider": "s3", "config": config, "credentials": creds}
    resp = api.post("/storage/connections", body)
    assert resp.status_code == 201, resp.content
    assert s3_credentials.secret_access_key not in resp.content.decode()
    conn_id = resp.json()["id"]
    listing = api.get("/storage/connections").json()
    assert [c["status"] for c in listing] == ["connected"]
    resp = api.delete(f"/storage/connections/{conn_id}?delete_remote_copy=true")
    assert resp.status_code == 200 and resp.json()["status"] == "disconnected"


def test_api_test_connection(local_base_dir):
    enable_local(local_base_dir)
    resp = api_for(admin()).post("/storage/providers/local/test")
    assert resp.status_code == 200 and resp.json()["ok"] is True
    assert api_for(user_make()).post("/storage/providers/local/test").status_code == 403


def test_user_connects_local_folder(local_base_dir):
    enable_local(local_base_dir)
    user = user_make()
    client = _client(user)
    bad = client.post("/storage/local/connect/", {"folder": "../escape"})
    assert bad.status_code == 400 and "single name" in bad.content.decode()
    resp = client.post("/storage/local/connect/", {"folder": "Téléphone de Tom"})
    assert resp.status_code == 302
    page = client.get("/storage/").content.decode()
    folder = local_base_dir / str(user.pk) / "Téléphone de Tom"
    assert "connected" in page and str(folder) in page
    assert folder.is_dir()


def test_api_settings_are_all_or_nothing():
    api = api_for(admin())
    resp = api.put(
        "/storage/settings",
        {
            "providers": [
                {"name": "s3", "enabled": True, "config": {"endpoints": []}},
                {"name": "local", "enabled": True, "config": {"base_dir": "relative/path"}},
            ]
        },
    )
    assert resp.status_code == 400
    assert not ProviderSettings.objects.filter(provider="s3", enabled=True).exists()


def test_api_admin_secret_is_write_only():
    api = api_for(admin())
    resp = api.put(
        "/storage/settings",
        {"providers": [{"name": "s3", "enabled": False, "secret": {"client_secret": "zz-top"}}]},
    )
    assert resp.status_code == 200
    s3 = next(p for p in resp.json()["providers"] if p["name"] == "s3")
    assert s3["has_secret"] is True and "zz-top" not in resp.content.decode()
    row = ProviderSettings.objects.get(provider="s3")
    assert b"zz-top" not in bytes(row.secret)
