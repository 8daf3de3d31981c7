"""Browser journey through the password health report, on a desktop (1280x800) and a phone
(390x844): an administrator loads a breached list, refreshes the report and sees the
organisation's counts per owner (no account names: none is shared with them); the owner
sees their accounts with what was found, filters to the breached ones; a reader with one
resource shared sees only that resource's accounts, and no reuse with an account they
cannot retrieve.

The page fixtures fail a test on any JavaScript dialog, console error, CSP violation or 5xx
answer (tests/browser/conftest.py).
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
from playwright.sync_api import expect

from factories import PASSWORD
from strongroom.accounts import services as people
from strongroom.notifications.services import notification_mark_all_read
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .conftest import open_menu, shoot, sign_in

pytestmark = pytest.mark.browser

WEAK, REUSED, BREACHED = "letmein1", "Shared-Canary-Reuse-77q", "Breached-Canary-Trellis-5"


def person(role: str, name: str):
    return people.user_create(
        actor=None, username=f"{name}-{uuid.uuid4().hex[:4]}", password=PASSWORD, role=role
    )


def _fits_the_screen(page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def _clean(page) -> None:
    body = page.content()
    for secret in (WEAK, REUSED, BREACHED):
        assert secret not in body
        assert hashlib.sha1(secret.encode(), usedforsecurity=False).hexdigest().upper() not in body


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_health_report_admin_owner_and_reader(new_page, device, tmp_path):
    admin = person("admin", "ada")
    owner = person("password_admin", "olga")
    reader = person("password_user", "rex")
    mail = vault.resource_create(actor=owner, name="Mail server <i>")
    vpn = vault.resource_create(actor=owner, name="VPN gateway")
    for resource, username, password in (
        (mail, "postmaster", WEAK),
        (mail, "relay", REUSED),
        (vpn, "vpnadmin", REUSED),
        (vpn, "backup", BREACHED),
    ):
        vault.account_create(
            actor=owner, resource_id=resource.pk, username=username, password=password
        )
    vault.share_grant(actor=owner, resource_id=mail.pk, user_id=reader.pk, level=AccessLevel.VIEW)
    for user in (admin, owner, reader):
        notification_mark_all_read(user=user)
    listing = tmp_path / "pwned-passwords.txt"
    sha1 = hashlib.sha1(BREACHED.encode(), usedforsecurity=False).hexdigest().upper()
    listing.write_text(f"{sha1}:42\r\n0000000A0C4E4A1F6C3B9D1E2F3A4B5C6D7E8F90:3\r\n")

    # The administrator loads the list and runs a check.
    page = new_page(device)
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Health").click()
    expect(page.get_by_role("heading", name="Password health", level=1)).to_be_visible()
    expect(page.locator("[data-never]")).to_be_visible()
    if device == "desktop":
        # The extra entry keeps an administrator's top bar on one line at 1280 px.
        assert page.locator("header.topbar").bounding_box()["height"] < 64
    page.get_by_label("List file").set_input_files(str(listing))
    page.get_by_role("button", name="Load the list").click()
    expect(page.locator("[data-list-loaded]")).to_contain_text("2 hashes")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("[data-computed]")).to_contain_text("4 accounts in the vault")
    org = page.locator("[data-organisation]")
    expect(org.locator('[data-org-count="weak"]')).to_have_text("1")
    expect(org.locator('[data-org-count="reused"]')).to_have_text("2")
    expect(org.locator('[data-org-count="breached"]')).to_have_text("1")
    expect(page.locator(f'[data-owners] [data-owner="{owner.username}"]')).to_be_visible()
    expect(page.locator("[data-no-accounts]")).to_be_visible()
    body = page.content()
    assert "Mail server" not in body and "postmaster" not in body
    _clean(page)
    _fits_the_screen(page)
    shoot(page, "health-admin")
    page.screenshot(path=str(tmp_path / f"{device}-health-admin.png"), full_page=True)

    # The owner: each account with what was found.
    owner_page = new_page(device)
    sign_in(owner_page, owner.username, PASSWORD)
    owner_page.goto("/password-health/")
    rows = owner_page.locator("[data-accounts] tbody tr")
    expect(rows).to_have_count(4)
    expect(owner_page.locator('[data-count="reused"]')).to_have_text("2")
    expect(owner_page.locator("[data-accounts]")).to_contain_text("Mail server <i>")
    expect(rows.filter(has_text="backup")).to_contain_text("Breached (42)")
    expect(rows.filter(has_text="postmaster")).to_contain_text("Weak")
    expect(rows.filter(has_text="relay")).to_contain_text("Reused (2 accounts)")
    _clean(owner_page)
    _fits_the_screen(owner_page)
    shoot(owner_page, "health-owner")
    owner_page.screenshot(path=str(tmp_path / f"{device}-health-owner.png"), full_page=True)
    owner_page.get_by_role("link", name="breached", exact=True).click()
    expect(owner_page.locator("[data-accounts] tbody tr")).to_have_count(1)
    expect(owner_page.locator("[data-breached-form]")).to_have_count(0)

    # The reader sees the mail server's two accounts, and "relay" is not reused for them.
    reader_page = new_page(device)
    sign_in(reader_page, reader.username, PASSWORD)
    reader_page.goto("/password-health/")
    reader_rows = reader_page.locator("[data-accounts] tbody tr")
    expect(reader_rows).to_have_count(2)
    expect(reader_page.locator('[data-count="reused"]')).to_have_text("0")
    expect(reader_rows.filter(has_text="relay")).to_contain_text("OK")
    assert "VPN gateway" not in reader_page.content() and "vpnadmin" not in reader_page.content()
    expect(reader_page.locator("[data-organisation]")).to_have_count(0)
    _clean(reader_page)
    _fits_the_screen(reader_page)
    shoot(reader_page, "health-reader")
    reader_page.screenshot(path=str(tmp_path / f"{device}-health-reader.png"), full_page=True)
