"""Browser journey through cloud storage: the administrator enables Amazon S3 with the moto
endpoint allow-listed (Admin » Integration » Cloud Storage); a user connects S3 on "Cloud
storage", is told precisely that the secret is wrong, then connects and sees "connected".

moto's S3 server runs on 127.0.0.1 with credential checking on (tests/storage/moto_server.py).
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from storage.moto_server import MotoServer, start_moto_server
from strongroom.accounts import services as people
from strongroom.storage.models import ProviderSettings, StorageConnection

from .conftest import guard_of, open_menu, shoot, sign_in, sign_out

pytestmark = pytest.mark.browser

PASSWORD = "Correct-horse-battery-staple-7"


@pytest.fixture(scope="module")
def moto():
    server = start_moto_server()
    yield server
    server.stop()


def person(role: str, name: str):
    return people.user_create(
        actor=None, username=f"{name}-{uuid.uuid4().hex[:4]}", password=PASSWORD, role=role
    )


def test_admin_enables_s3_and_user_connects(new_page, moto: MotoServer):
    admin = person("admin", "alice")
    user = person("password_user", "tom")
    page = new_page("desktop")

    # The administrator enables S3 with the moto endpoint on the allow-list.
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Cloud Storage"
    ).click()
    expect(page.get_by_role("heading", name="Cloud Storage", exact=True)).to_be_visible()
    card = page.locator("section[data-provider=s3]")
    card.get_by_label("Enabled for users").check()
    card.get_by_label("Allowed S3-compatible endpoints").fill(moto.url)
    card.get_by_role("button", name="Save Amazon S3").click()
    expect(page.locator(".flash")).to_contain_text("Amazon S3 settings saved.")
    shoot(page, "storage-admin")
    # Test connection says at which stage it failed (moto answers an anonymous GET / with
    # HTTP 500 when credential checking is on), but for a target on an internal address
    # (here loopback) it echoes none of the remote's answer: no port scanner for admins.
    page.locator("section[data-provider=s3]").get_by_role("button", name="Test connection").click()
    result = page.locator("section[data-provider=s3] .test-result")
    expect(result).to_contain_text("Connection failed (http): the service answered with an error")
    expect(result).to_contain_text(f"Target: {moto.url}/")
    expect(result).not_to_contain_text("500")
    shoot(page, "storage-admin-test-connection")
    row = ProviderSettings.objects.get(provider="s3")
    assert row.enabled and row.config["endpoints"] == [moto.url]
    sign_out(page)

    # The user connects S3: first with a wrong secret, then correctly.
    sign_in(page, user.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    expect(page.get_by_role("heading", name="Cloud storage", level=1)).to_be_visible()
    guard_of(page).allow(r"status of 400 .*/storage/s3/connect/")
    form = page.locator("section[data-provider=s3]")
    form.get_by_label("Access key ID").fill(moto.admin.access_key_id)
    form.get_by_label("Secret access key").fill("definitely-not-the-secret-0123456789abcd")
    form.get_by_label("Bucket").fill(moto.admin.bucket)
    form.get_by_label("Region").fill("us-east-1")
    form.get_by_label("Key prefix").fill("tom/")
    form.get_by_label("Endpoint").select_option(moto.url)
    form.get_by_role("button", name="Connect Amazon S3").click()
    form = page.locator("section[data-provider=s3]")
    expect(form.locator(".alert-error")).to_contain_text(
        "bad secret: the secret access key does not match the access key ID"
    )
    expect(page.locator("main")).not_to_contain_text("definitely-not-the-secret")
    shoot(page, "storage-wrong-secret")
    assert not StorageConnection.objects.filter(user=user).exists()

    form.get_by_label("Secret access key").fill(moto.admin.secret_access_key)
    form.get_by_role("button", name="Connect Amazon S3").click()
    expect(page.locator(".flash")).to_contain_text("Amazon S3 connected")
    status = page.locator("section[data-provider=s3] .storage-status")
    expect(status).to_contain_text("connected")
    expect(status).to_contain_text("s3://strongroom-test/tom/")
    expect(page.locator("main")).not_to_contain_text(moto.admin.secret_access_key)
    shoot(page, "storage-connected")
    conn = StorageConnection.objects.get(user=user, provider="s3")
    assert conn.status == "connected"


def test_user_connects_and_disconnects_the_local_folder_on_a_phone(new_page, tmp_path):
    from strongroom.storage import registry, services

    admin = person("admin", "ada")
    base = tmp_path / "cloud-sync"
    base.mkdir()
    services.provider_settings_update(
        actor=admin, provider="local", enabled=True, config={"base_dir": str(base)}
    )
    user = person("password_user", "pia")
    page = new_page("phone")
    sign_in(page, user.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    card = page.locator("section[data-provider=local]")
    card.get_by_label("Folder name").fill("pia-phone")
    card.get_by_role("button", name="Connect Local folder").click()
    expect(card.locator(".storage-status")).to_contain_text("connected")
    expect(card.locator(".storage-status")).to_contain_text(str(base / str(user.pk) / "pia-phone"))
    shoot(page, "storage-local-connected")
    conn = StorageConnection.objects.get(user=user, provider="local")
    registry.provider_for_connection(conn).put(services.SYNCED_OBJECT_NAME, b"copy")

    card.get_by_label("Also delete the synced copy").check()
    card.get_by_role("button", name="Disconnect Local folder").click()
    expect(page.locator(".flash")).to_contain_text("synced copy deleted")
    expect(card.locator(".storage-status")).to_contain_text("disconnected")
    assert not (base / str(user.pk) / "pia-phone" / services.SYNCED_OBJECT_NAME).exists()
    conn.refresh_from_db()
    assert conn.credentials is None
