"""Browser journey with Google Drive (the HTTPS Google stand-in plays the consent page, token
endpoint and Drive API): the administrator enters the OAuth client ID and secret on Admin »
Integration » Cloud Storage and sees the exact redirect URI and the drive.file scope; a user
clicks Authorize Google Drive, is sent to "Google", comes back connected, syncs twice from
the Export menu and is told in the notification area; the second sync is a new revision of
the one file (same ID), and it opens to exactly the user's scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from strongroom.storage.models import ProviderSettings, StorageConnection
from strongroom.sync.models import JobState, SyncJob

from .conftest import authorize_in_new_window, open_menu, shoot, sign_in, sign_out
from .test_browser_sync import (
    PASSWORD,
    _cheap_kdf,  # noqa: F401  (autouse: the test-only KDF minimum)
    expect_toast_bottom_left,
    opened_entries,
    person,
    sync_through_the_export_menu,
    vault_with_scope,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(chromium: Any) -> Any:
    """The session's Chromium, whose contexts accept the stand-in's trustme certificate
    (Chromium does not read the test CA; Strongroom's own calls verify it)."""

    class Browser:
        def new_context(self, **kwargs: Any) -> Any:
            return chromium.new_context(ignore_https_errors=True, **kwargs)

    return Browser()


def test_admin_configures_gdrive_user_authorises_and_syncs_twice(
    new_page: Any, server: str, gdrive_api: Any, settings: Any, tmp_path: Path
) -> None:
    settings.PUBLIC_URL = server
    redirect_uri = f"{server}/storage/gdrive/oauth/callback/"
    gdrive_api.redirect_uris.add(redirect_uri)
    g_user = gdrive_api.add_user("Tom at Google", "tom@drive.example.com")
    gdrive_api.authorize_as = g_user.id
    tech = person("password_user", "tom")
    admin, expected, never = vault_with_scope(tech)

    # The administrator enters the OAuth client and sees the redirect URI and the scope.
    page = new_page("desktop")
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Cloud Storage"
    ).click()
    card = page.locator("section[data-provider=gdrive]")
    expect(card.locator("[data-redirect-uri]")).to_have_text(redirect_uri)
    expect(card).to_contain_text("drive.file")
    card.get_by_label("Enabled for users").check()
    card.get_by_label("OAuth client ID").fill(gdrive_api.client_id)
    card.get_by_label("Client secret").fill(gdrive_api.client_secret)
    card.get_by_role("button", name="Save Google Drive").click()
    expect(page.locator(".flash")).to_contain_text("Google Drive settings saved.")
    card = page.locator("section[data-provider=gdrive]")
    expect(card).to_contain_text("A client ID and secret are stored")
    expect(page.locator("main")).not_to_contain_text(gdrive_api.client_secret)
    card.get_by_role("button", name="Test connection").click()
    expect(page.locator("section[data-provider=gdrive] .test-result")).to_contain_text(
        "Connection works"
    )
    shoot(page, "gdrive-admin")
    assert ProviderSettings.objects.get(provider="gdrive").enabled
    sign_out(page)

    # The user authorises in a new window, through the redirect to "Google" and back; the
    # window they started from shows the connection by itself.
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    popup = authorize_in_new_window(
        page, "gdrive", "Google Drive", "Google Drive connected: Tom at Google"
    )
    shoot(popup, "gdrive-connected-window")
    popup.close()
    expect(page.locator("section[data-provider=gdrive]")).to_contain_text("tom@drive.example.com")
    shoot(page, "gdrive-connected")
    conn = StorageConnection.objects.get(user=tech, provider="gdrive")
    assert conn.status == "connected"

    # Two syncs from the Export menu; each is announced bottom left.
    for round_ in (1, 2):
        sync_through_the_export_menu(page, "Google Drive")
        expect_toast_bottom_left(page, "Google Drive")
        jobs = SyncJob.objects.filter(user=tech, provider="gdrive", state=JobState.SUCCEEDED)
        assert jobs.count() == round_
        page.goto("/storage/")
    shoot(page, "gdrive-synced")

    [item] = gdrive_api.files_of(g_user.id)
    assert len(item.revisions) == 2  # one file (one ID), a new revision on the second sync
    body = item.revisions[-1]
    for secret in (*expected.values(), *never):
        assert secret.encode() not in body
    copy = tmp_path / "from-gdrive.html"
    copy.write_bytes(body)
    assert opened_entries(copy, tmp_path) == expected
