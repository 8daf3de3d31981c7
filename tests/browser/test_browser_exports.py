"""Browser journeys through exports, on a desktop and a phone viewport: the administrator sets
the policy on Admin → Export / Offline Access; a user opens the Export menu, is told why a
weak passphrase is refused, downloads the encrypted HTML file with passphrase, confirmation
and reason, opens the downloaded file from disk (file://), unlocks it and finds their entry.

The page fixtures fail a test on any JavaScript dialog, console error, CSP violation or 5xx
answer (tests/browser/conftest.py).
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, TEST_ITERATIONS
from strongroom.accounts import services as people
from strongroom.audit.models import AuditEvent
from strongroom.exports import policy as export_policy
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .conftest import export_menu_ready, guard_of, open_menu, shoot, sign_in, sign_out

pytestmark = pytest.mark.browser

PASSPHRASE = "plum orbit quietly seventy lantern"
ITERATIONS = 2 * TEST_ITERATIONS  # above the test-only minimum (production: 600,000)


@pytest.fixture(autouse=True)
def _cheap_kdf(settings):
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


def person(role: str, name: str):
    return people.user_create(
        actor=None, username=f"{name}-{uuid.uuid4().hex[:4]}", password=PASSWORD, role=role
    )


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_admin_sets_policy_and_user_downloads_and_opens_the_encrypted_file(
    new_page, device, tmp_path
):
    admin = person("admin", "alice")
    owner = person("password_admin", "olga")
    tech = person("password_user", "tom")
    router = vault.resource_create(actor=owner, name="Core router <b>", host="10.0.0.1")
    vault.account_create(
        actor=owner, resource_id=router.pk, username="netadmin", password="R0uter-pw!"
    )
    hidden = vault.resource_create(actor=owner, name="Payroll DB")
    vault.account_create(actor=owner, resource_id=hidden.pk, username="sa", password="never-seen")
    vault.share_grant(actor=owner, resource_id=router.pk, user_id=tech.pk, level=AccessLevel.VIEW)

    # The administrator sets the policy.
    page = new_page(device)
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Export / Offline Access"
    ).click()
    expect(page.get_by_role("heading", name="Export / Offline Access", level=1)).to_be_visible()
    page.get_by_label("Require a reason for every export").check()
    page.get_by_label("Passphrase minimum length").fill("14")
    page.get_by_label("PBKDF2 iterations").fill(str(ITERATIONS))
    page.get_by_label("Maximum age of an offline copy (days)").fill("5")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".flash")).to_contain_text("The export policy was saved.")
    page.get_by_label("Applies to").select_option("role")
    page.locator("select[name=role]").select_option("auditor")
    page.get_by_label("Export", exact=True).select_option("refuse")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("[data-rule]")).to_contain_text("Auditor")
    shoot(page, "export-admin-policy")
    current = export_policy.policy_get()
    assert (current.reason_required, current.passphrase_min_length) == (True, 14)
    assert (current.kdf_iterations, current.max_age_days) == (ITERATIONS, 5)
    sign_out(page)

    # The technician opens the Export menu.
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Export").click()
    expect(page.get_by_role("heading", name="Export", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("1 entry today")
    shoot(page, "export-menu")
    export_menu_ready(page)
    page.get_by_role("button", name="Download encrypted file…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()

    # A weak passphrase: the dialog says why, nothing is downloaded. (The refusal is a 400,
    # which Chromium logs as a failed resource load.)
    guard_of(page).allow(r"status of 400 .*/export/html/")
    dialog.get_by_label("Passphrase", exact=True).fill("password123456")
    dialog.get_by_label("Passphrase again").fill("password123456")
    dialog.get_by_label("Reason").fill("Site visit, no network in the DMZ")
    downloads: list[str] = []
    page.on("download", lambda d: downloads.append(d.suggested_filename))
    dialog.get_by_role("button", name="Download").click()
    expect(dialog.locator(".errorlist:not([hidden])")).to_contain_text("too easy to guess")
    expect(dialog).to_be_visible()
    shoot(page, "export-weak-passphrase")
    assert downloads == []

    # Passphrases that differ are caught before anything is sent.
    dialog.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    dialog.get_by_label("Passphrase again").fill(PASSPHRASE + "!")
    dialog.get_by_role("button", name="Download").click()
    expect(dialog.locator(".errorlist:not([hidden])")).to_contain_text(
        "The two passphrases differ."
    )

    dialog.get_by_label("Passphrase again").fill(PASSPHRASE)
    with page.expect_download() as download_info:
        dialog.get_by_role("button", name="Download").click()
    download = download_info.value
    assert re.fullmatch(
        r"strongroom-offline-tom-[0-9a-f]{4}-\d{8}-\d{4}\.html", download.suggested_filename
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-export-status]")).to_contain_text("1 entry")
    shoot(page, "export-downloaded")
    event = AuditEvent.objects.get(action="export.html", outcome="success")
    assert event.actor_id == tech.pk
    assert event.reason == "Site visit, no network in the DMZ"
    assert event.details["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert b"R0uter-pw!" not in saved.read_bytes()

    # Offline: the downloaded file, opened from disk, unlocks and shows the entry.
    viewer = new_page(device)
    viewer.goto(saved.as_uri())
    viewer.get_by_label("Passphrase").fill(PASSPHRASE)
    viewer.get_by_role("button", name="Unlock").click()
    expect(viewer.locator("#vault")).to_be_visible()
    expect(viewer.locator("#count")).to_have_text(re.compile(r"^1 entr"))
    viewer.locator("#search").fill("core")
    row = viewer.locator(".row:not([hidden])").first
    expect(row.locator(".row-name")).to_have_text("Core router <b>")
    expect(viewer.locator("body")).not_to_contain_text("Payroll DB")
    shoot(viewer, "export-opened-offline")


def test_the_export_dialog_opens_and_closes_before_any_script_has_loaded(new_page):
    """On a slow phone the page shows before its scripts arrive: the buttons must already do
    what they say. Every script of the page is held back here; the dialog still opens (with
    its form, which posts without script) and Cancel closes it."""
    tech = person("password_user", "tom")
    page = new_page("phone")
    sign_in(page, tech.username, PASSWORD)
    held: list[str] = []
    page.route("**/*.js", lambda route: (held.append(route.request.url), route.abort()))
    guard_of(page).allow(r"Failed to load resource|ERR_FAILED")
    page.goto("/export/")
    expect(page.get_by_role("heading", name="Export", level=1)).to_be_visible()
    assert any(url.endswith("/exports/export.js") for url in held), held
    assert page.locator("body").get_attribute("data-export-js") is None  # no script ran
    page.get_by_role("button", name="Download encrypted file…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Passphrase", exact=True)).to_be_editable()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
