"""Browser journey with Dropbox (the HTTPS Dropbox stand-in plays Dropbox's consent page,
token endpoint and API): the administrator enters the Dropbox app key on Admin »
Integration » Cloud Storage, reads the set-up guide and tests the connection; a user clicks
Authorize Dropbox, a new window opens Dropbox's consent page, the user allows access, copies
the code Dropbox shows, pastes it back (a wrong code first: a clear message, nothing
connected), saves, syncs from the Export menu and is told in the notification area (bottom
left); the file in the stand-in's app folder opens with ``strongroom open`` to exactly the
user's scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from strongroom.storage.models import ProviderSettings, StorageConnection

from .conftest import guard_of, open_menu, shoot, sign_in, sign_out
from .test_browser_sync import (
    PASSWORD,
    _cheap_kdf,  # noqa: F401  (autouse: the test-only KDF minimum)
    expect_toast_bottom_left,
    finished_job,
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


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_admin_enables_dropbox_user_pastes_the_code_and_syncs(
    new_page: Any, device: str, dropbox_api: Any, tmp_path: Path
) -> None:
    account = dropbox_api.add_account("Tom Dropbox", "tom@dropbox.example.com")
    dropbox_api.signed_in = account  # the user's browser is signed in at "Dropbox"
    tech = person("password_user", "tom")
    admin, expected, never = vault_with_scope(tech)

    # The administrator enters the app key, reads the guide, tests the connection.
    page = new_page(device)
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Cloud Storage"
    ).click()
    card = page.locator("section[data-provider=dropbox]")
    expect(card.locator("[data-guide=dropbox]")).to_contain_text("App folder")
    expect(card.locator("[data-guide=dropbox]")).to_contain_text("files.content.write")
    card.get_by_label("Enabled for users").check()
    card.get_by_label("App key").fill(dropbox_api.app_key)
    card.get_by_role("button", name="Save Dropbox").click()
    expect(page.locator(".flash")).to_contain_text("Dropbox settings saved.")
    card = page.locator("section[data-provider=dropbox]")
    card.get_by_role("button", name="Test connection").click()
    expect(page.locator("section[data-provider=dropbox] .test-result")).to_contain_text(
        "Connection works"
    )
    shoot(page, f"dropbox-admin-{device}")
    assert ProviderSettings.objects.get(provider="dropbox").enabled
    sign_out(page)

    # The user clicks Authorize: Dropbox's consent page opens in a new window.
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    card = page.locator("section[data-provider=dropbox]")
    with page.expect_popup() as popup_info:
        card.get_by_role("link", name="Authorize Dropbox").click()
    consent = popup_info.value
    consent.wait_for_load_state()
    expect(consent.locator("#scopes")).to_contain_text("files.content.write")
    consent.get_by_role("button", name="Allow").click()
    code = consent.locator("#code").input_value()
    assert len(code) > 20
    consent.close()

    # A wrong code first: a clear message (the form comes back with HTTP 400), nothing
    # connected.
    guard_of(page).allow(r"status of 400 .*/storage/dropbox/oauth/code/")
    card.get_by_label("Authorisation code").fill("not-the-code-" + code[:6])
    card.get_by_role("button", name="Save Dropbox connection").click()
    expect(page.locator("section[data-provider=dropbox]")).to_contain_text(
        "That code was not accepted", ignore_case=True
    )
    assert not StorageConnection.objects.filter(user=tech, provider="dropbox").exists()

    # The right code.
    card = page.locator("section[data-provider=dropbox]")
    card.get_by_label("Authorisation code").fill(code)
    card.get_by_role("button", name="Save Dropbox connection").click()
    expect(page.locator(".flash")).to_contain_text("Dropbox connected: Tom Dropbox")
    expect(page.locator("section[data-provider=dropbox] .storage-account")).to_have_text(
        "Tom Dropbox <tom@dropbox.example.com>"
    )
    shoot(page, f"dropbox-connected-{device}")
    conn = StorageConnection.objects.get(user=tech, provider="dropbox")
    assert conn.status == "connected"

    # Export menu → Sync with Dropbox for Mobile Access, announced bottom left.
    sync_through_the_export_menu(page, "Dropbox")
    expect_toast_bottom_left(page, "Dropbox")
    shoot(page, f"dropbox-synced-{device}")
    job = finished_job(tech, "dropbox")

    body = dropbox_api.files(account)["/" + job.object_name]
    assert len(body) == job.result_size
    for secret in (*expected.values(), *never):
        assert secret.encode() not in body
    copy = tmp_path / "from-dropbox.html"
    copy.write_bytes(body)
    assert opened_entries(copy, tmp_path) == expected
