"""Browser journey with Box (the HTTPS Box stand-in plays Box's consent page, token
endpoint and API): the administrator enters the Box app's client ID and secret on Admin »
Integration » Cloud Storage and sees the exact redirect URI; a user clicks Authorize Box,
is sent to "Box", comes back connected, syncs twice from the Export menu and is told in the
notification area; the second sync is a new version of the one file in Box's Strongroom
folder, and it opens to exactly the user's scope."""

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


def test_admin_configures_box_user_authorises_and_syncs_twice(
    new_page: Any, server: str, box_api: Any, settings: Any, tmp_path: Path
) -> None:
    settings.PUBLIC_URL = server
    redirect_uri = f"{server}/storage/box/oauth/callback/"
    box_api.redirect_uris.add(redirect_uri)
    box_user = box_api.add_user("Tom at Box", "tom@box.example.com")
    box_api.authorize_as = box_user.id
    tech = person("password_user", "tom")
    admin, expected, never = vault_with_scope(tech)

    # The administrator enters the Box app's credentials and sees the redirect URI.
    page = new_page("desktop")
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Cloud Storage"
    ).click()
    card = page.locator("section[data-provider=box]")
    expect(card.locator("[data-redirect-uri]")).to_have_text(redirect_uri)
    expect(card).to_contain_text("Read and write all files and folders")
    card.get_by_label("Enabled for users").check()
    card.get_by_label("Client ID").fill(box_api.client_id)
    card.get_by_label("Client secret").fill(box_api.client_secret)
    card.get_by_role("button", name="Save Box").click()
    expect(page.locator(".flash")).to_contain_text("Box settings saved.")
    card = page.locator("section[data-provider=box]")
    expect(card).to_contain_text("A client ID and secret are stored")
    expect(page.locator("main")).not_to_contain_text(box_api.client_secret)
    card.get_by_role("button", name="Test connection").click()
    expect(page.locator("section[data-provider=box] .test-result")).to_contain_text(
        "Connection works"
    )
    shoot(page, "box-admin")
    assert ProviderSettings.objects.get(provider="box").enabled
    sign_out(page)

    # The user authorises in a new window, through the redirect to "Box" and back; the
    # window they started from shows the connection by itself.
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    popup = authorize_in_new_window(page, "box", "Box", "Box connected: Tom at Box")
    shoot(popup, "box-connected-window")
    popup.close()
    expect(page.locator("section[data-provider=box]")).to_contain_text("tom@box.example.com")
    shoot(page, "box-connected")
    conn = StorageConnection.objects.get(user=tech, provider="box")
    assert conn.status == "connected"

    # Two syncs from the Export menu; each is announced bottom left.
    for round_ in (1, 2):
        sync_through_the_export_menu(page, "Box")
        expect_toast_bottom_left(page, "Box")
        jobs = SyncJob.objects.filter(user=tech, provider="box", state=JobState.SUCCEEDED)
        assert jobs.count() == round_
        page.goto("/storage/")
    shoot(page, "box-synced")

    [item] = box_api.files(box_user.id)
    assert len(item.versions) == 2  # one file, a new version on the second sync
    body = item.versions[-1]
    for secret in (*expected.values(), *never):
        assert secret.encode() not in body
    copy = tmp_path / "from-box.html"
    copy.write_bytes(body)
    assert opened_entries(copy, tmp_path) == expected
