"""Browser journey through an SFTP connection: the administrator enables SFTP with the test
sshd allow-listed (Admin » Integration » Cloud Storage, a card generated from the
provider's declared fields); a user fills the SFTP form, is shown the server's host key
fingerprint with a "Trust this host key" step (nothing sent to the server before that),
re-enters the private key, trusts the key and sees "connected".

OpenSSH's sshd runs on 127.0.0.1 as the current user (tests/storage/sftp_servers.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from storage.sftp_servers import SshServer
from strongroom.accounts import services as people
from strongroom.storage.models import ProviderSettings, StorageConnection

from .conftest import guard_of, open_menu, shoot, sign_in, sign_out

pytestmark = pytest.mark.browser

PASSWORD = "Correct-horse-battery-staple-7"


@pytest.fixture
def sshd(tmp_path: Path):
    server = SshServer(tmp_path / "sshd").start()
    yield server
    server.stop()


def person(role: str, name: str):
    return people.user_create(
        actor=None, username=f"{name}-{uuid.uuid4().hex[:4]}", password=PASSWORD, role=role
    )


def test_admin_enables_sftp_and_user_trusts_the_host_key(new_page, sshd: SshServer, tmp_path):
    admin = person("admin", "alice")
    user = person("password_user", "tom")
    folder = tmp_path / "tom-sync"
    folder.mkdir()
    page = new_page("desktop")
    allowed = f"127.0.0.1:{sshd.port}"

    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Cloud Storage"
    ).click()
    card = page.locator("section[data-provider=sftp]")
    card.get_by_label("Enabled for users").check()
    card.get_by_label("Allowed SFTP servers").fill(allowed)
    card.get_by_role("button", name="Save SFTP server").click()
    expect(page.locator(".flash")).to_contain_text("SFTP server settings saved.")
    page.locator("section[data-provider=sftp]").get_by_role(
        "button", name="Test connection"
    ).click()
    expect(page.locator("section[data-provider=sftp] .test-result")).to_contain_text(
        sshd.host_fingerprint
    )
    shoot(page, "storage-sftp-admin")
    row = ProviderSettings.objects.get(provider="sftp")
    assert row.enabled and row.config["hosts"] == [allowed]
    sign_out(page)

    sign_in(page, user.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    guard_of(page).allow(r"status of 400 .*/storage/sftp/connect/")
    form = page.locator("section[data-provider=sftp]")
    form.get_by_label("Host", exact=True).fill("127.0.0.1")
    form.get_by_label("Port").fill(str(sshd.port))
    form.get_by_label("User name").fill(sshd.user)
    form.get_by_label("Private key").fill(sshd.client_key)
    form.get_by_label("Folder").fill(str(folder))
    form.get_by_role("button", name="Connect SFTP server").click()

    form = page.locator("section[data-provider=sftp]")
    expect(form.locator(".alert-error, .field-error, .errorlist").first).to_contain_text(
        sshd.host_fingerprint
    )
    expect(form.get_by_label("Host key fingerprint")).to_have_value(
        f"ssh-ed25519 {sshd.host_fingerprint}"
    )
    expect(form.get_by_label("Private key")).to_have_value("")  # never sent back
    expect(page.locator("main")).not_to_contain_text("PRIVATE KEY-----")
    assert list(folder.iterdir()) == []  # no login happened, no probe file
    assert not StorageConnection.objects.filter(user=user).exists()
    shoot(page, "storage-sftp-confirm")

    form.get_by_label("Private key").fill(sshd.client_key)
    form.get_by_role("button", name="Trust this host key").click()
    expect(page.locator(".flash")).to_contain_text("SFTP server connected")
    status = page.locator("section[data-provider=sftp] .storage-status")
    expect(status).to_contain_text("connected")
    expect(status).to_contain_text(f"sftp://{sshd.user}@127.0.0.1:{sshd.port}")
    shoot(page, "storage-sftp-connected")
    conn = StorageConnection.objects.get(user=user, provider="sftp")
    assert conn.config["host_key"] == f"ssh-ed25519 {sshd.host_fingerprint}"
