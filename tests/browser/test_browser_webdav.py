"""Browser journey with WebDAV (wsgidav laid out like Nextcloud, on 127.0.0.1): the
administrator enables WebDAV with the server allow-listed on the generated settings card and
tests the connection; a user connects on the generated form (told precisely that the app
password is wrong, then connected), syncs from the Export menu, is told in the notification
area (bottom left), and the copy on the server opens to exactly their scope."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from storage.webdav_servers import DavServer
from strongroom.storage.models import ProviderSettings, StorageConnection

from .conftest import guard_of, open_menu, shoot, sign_in, sign_out
from .test_browser_sync import (
    PASSWORD,
    expect_toast_bottom_left,
    finished_job,
    opened_entries,
    person,
    sync_through_the_export_menu,
    vault_with_scope,
)
from .test_browser_sync import _cheap_kdf as _cheap_kdf  # an autouse fixture

pytestmark = pytest.mark.browser

LABEL = "WebDAV (Nextcloud, ownCloud)"
# Steps that talk to the WebDAV server (a Python server in another process) on a busy
# 2-core machine get more than Playwright's default 5 s.
SERVER_STEP_MS = 20_000


def test_admin_enables_webdav_user_connects_syncs_and_the_copy_opens(
    new_page: Any, wsgidav_server: DavServer, tmp_path: Path
) -> None:
    dav = wsgidav_server
    tech = person("password_user", "tom")
    admin, expected, never = vault_with_scope(tech)
    folder = dav.folder(f"phone-{uuid.uuid4().hex[:8]}").name
    page = new_page("desktop")

    # The administrator enables WebDAV with the company's server allow-listed.
    sign_in(page, admin.username, PASSWORD)
    page.goto("/admin/storage/")
    card = page.locator("section[data-provider=webdav]")
    card.get_by_label("Enabled for users").check()
    card.get_by_label("Allowed WebDAV servers").fill(dav.origin)
    card.get_by_role("button", name=f"Save {LABEL}").click()
    expect(page.locator(".flash")).to_contain_text(f"{LABEL} settings saved.")
    page.locator("section[data-provider=webdav]").get_by_role(
        "button", name="Test connection"
    ).click()
    result = page.locator("section[data-provider=webdav] .test-result")
    expect(result).to_contain_text("the service answered", timeout=SERVER_STEP_MS)
    expect(result).to_contain_text(f"Target: {dav.origin}/")
    shoot(page, "webdav-admin-test-connection")
    assert ProviderSettings.objects.get(provider="webdav").config["servers"] == [dav.origin]
    sign_out(page)

    # The user connects: a wrong app password first, then the right one.
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    guard_of(page).allow(r"status of 400 .*/storage/webdav/connect/")
    form = page.locator("section[data-provider=webdav]")
    form.get_by_label("Server URL").fill(dav.url)
    form.get_by_label("User name").fill(dav.username)
    form.get_by_label("App password").fill("not-the-app-password-42")
    form.get_by_label("Folder").fill(folder)
    form.get_by_role("button", name=f"Connect {LABEL}").click()
    form = page.locator("section[data-provider=webdav]")
    expect(form.locator(".alert-error")).to_contain_text(
        "the WebDAV server refused the user name or app password", timeout=SERVER_STEP_MS
    )
    expect(page.locator("main")).not_to_contain_text("not-the-app-password-42")
    assert not StorageConnection.objects.filter(user=tech).exists()
    form.get_by_label("App password").fill(dav.password)
    form.get_by_role("button", name=f"Connect {LABEL}").click()
    expect(page.locator(".flash")).to_contain_text(f"{LABEL} connected", timeout=SERVER_STEP_MS)
    status = page.locator("section[data-provider=webdav] .storage-status")
    expect(status).to_contain_text("connected")
    expect(status).to_contain_text(f"{dav.url}{folder}/")
    expect(page.locator("main")).not_to_contain_text(dav.password)
    shoot(page, "webdav-connected")

    # Export menu → Sync with WebDAV for Mobile Access, then the notification.
    sync_through_the_export_menu(page, LABEL)
    expect_toast_bottom_left(page, LABEL)
    shoot(page, "webdav-notified")
    job = finished_job(tech, "webdav")
    stored = dav.root / folder / job.object_name
    body = stored.read_bytes()
    assert len(body) == job.result_size
    for secret in (*expected.values(), *never):
        assert secret.encode() not in body
    assert opened_entries(stored, tmp_path) == expected
