"""Browser journey with OneDrive (the HTTPS identity-platform + Graph stand-in plays
Microsoft's sign-in page, token endpoint and Graph): the administrator enters the Entra
app's client ID, tenant and secret on Admin » Integration » Cloud Storage and sees the exact
redirect URI and the delegated permissions; a user clicks Authorize, signs in at
"Microsoft", comes back connected, syncs from the Export menu and is told
in the notification area; the copy in the app folder opens to exactly the user's scope."""

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

LABEL = "OneDrive / SharePoint"


@pytest.fixture
def browser(chromium: Any) -> Any:
    """Contexts accept the stand-in's trustme certificate (Chromium does not read the test
    CA; Strongroom's own calls verify it)."""

    class Browser:
        def new_context(self, **kwargs: Any) -> Any:
            return chromium.new_context(ignore_https_errors=True, **kwargs)

    return Browser()


def test_admin_configures_onedrive_user_authorises_and_syncs(
    new_page: Any, server: str, graph_api: Any, settings: Any, tmp_path: Path
) -> None:
    settings.PUBLIC_URL = server
    redirect_uri = f"{server}/storage/onedrive/oauth/callback/"
    graph_api.redirect_uris.add(redirect_uri)
    ms_user = graph_api.add_user("Tom at Contoso")
    graph_api.authorize_as = ms_user.id
    tech = person("password_user", "tom")
    admin, expected, never = vault_with_scope(tech)

    page = new_page("desktop")
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Cloud Storage"
    ).click()
    card = page.locator("section[data-provider=onedrive]")
    expect(card.locator("[data-redirect-uri]")).to_have_text(redirect_uri)
    expect(card.locator("[data-permissions]")).to_contain_text("Files.ReadWrite.AppFolder")
    expect(card.locator("[data-permissions]")).to_contain_text("offline_access")
    card.get_by_label("Enabled for users").check()
    card.get_by_label("Application (client) ID").fill(graph_api.client_id)
    card.get_by_label("Tenant").fill("organizations")
    card.get_by_label("Client secret").fill(graph_api.client_secret)
    card.get_by_role("button", name=f"Save {LABEL}").click()
    expect(page.locator(".flash")).to_contain_text("settings saved.")
    card = page.locator("section[data-provider=onedrive]")
    expect(card).to_contain_text("A client secret is stored")
    expect(page.locator("main")).not_to_contain_text(graph_api.client_secret)
    shoot(page, "onedrive-admin")
    assert ProviderSettings.objects.get(provider="onedrive").enabled
    sign_out(page)

    # The user authorises in a new window: the redirect flow goes to "Microsoft" and comes
    # back to Strongroom there; the window they started from shows the connection by itself.
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    popup = authorize_in_new_window(page, "onedrive", LABEL, "connected: Tom at Contoso")
    shoot(popup, "onedrive-connected-window")
    popup.close()
    shoot(page, "onedrive-connected")
    conn = StorageConnection.objects.get(user=tech, provider="onedrive")
    assert conn.status == "connected"

    page.goto("/storage/")
    sync_through_the_export_menu(page, LABEL)
    expect_toast_bottom_left(page, LABEL)
    assert (
        SyncJob.objects.filter(user=tech, provider="onedrive", state=JobState.SUCCEEDED).count()
        == 1
    )
    shoot(page, "onedrive-synced")

    [name] = graph_api.names(ms_user.id)
    body = graph_api.read(ms_user.id, name)
    for secret in (*expected.values(), *never):
        assert secret.encode() not in body
    copy = tmp_path / "from-onedrive.html"
    copy.write_bytes(body)
    assert opened_entries(copy, tmp_path) == expected
