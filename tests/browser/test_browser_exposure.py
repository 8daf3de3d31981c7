"""Browser journeys through the exposure register, on a desktop (1280x800) and a phone
(390x844): an administrator reports a technician's lost phone and sees how many passwords
must be rotated (counts only: none of them is shared with the administrator); the
technician sees each account marked "Rotate", and one flips to "Rotated" when its owner
changes the password; the owner opens "who had this offline" on the account.

The page fixtures fail a test on any JavaScript dialog, console error, CSP violation or 5xx
answer (tests/browser/conftest.py).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from factories import PASSPHRASE, PASSWORD, TEST_ITERATIONS
from strongroom.accounts import services as people
from strongroom.exports import policy as export_policy
from strongroom.exports import services as exports
from strongroom.notifications.services import notification_mark_all_read
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .conftest import open_menu, shoot, sign_in

pytestmark = pytest.mark.browser

SECRETS = ("Mail-pw-Canary-1", "Vpn-pw-Canary-2", "Nas-pw-Canary-3")


@pytest.fixture(autouse=True)
def _cheap_kdf(settings):
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


def person(role: str, name: str):
    return people.user_create(
        actor=None, username=f"{name}-{uuid.uuid4().hex[:4]}", password=PASSWORD, role=role
    )


def _fits_the_screen(page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_lost_phone_report_rotation_tracking_and_who_had_it_offline(new_page, device):
    admin = person("admin", "ada")
    owner = person("password_admin", "olga")
    tech = person("password_user", "tom")
    export_policy.policy_get()
    exports.export_policy_update(actor=admin, values={"kdf_iterations": TEST_ITERATIONS})
    accounts = []
    for (name, user), secret in zip(
        (("Mail server <i>", "postmaster"), ("VPN gateway", "vpnadmin"), ("NAS", "backup")),
        SECRETS,
        strict=True,
    ):
        resource = vault.resource_create(actor=owner, name=name)
        accounts.append(
            vault.account_create(
                actor=owner, resource_id=resource.pk, username=user, password=secret
            )
        )
        vault.share_grant(
            actor=owner, resource_id=resource.pk, user_id=tech.pk, level=AccessLevel.VIEW
        )
    # The technician's copy (the one on the phone).
    exports.export_offline(actor=tech, passphrase=PASSPHRASE, fmt="html")
    # The "shared with you" notices were read long ago; their pop-ups are not the subject.
    for user in (admin, owner, tech):
        notification_mark_all_read(user=user)
    today = timezone.now().date().isoformat()

    # The administrator reports the lost phone.
    page = new_page(device)
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Offline exposure"
    ).click()
    expect(page.get_by_role("heading", name="Offline exposure", level=1)).to_be_visible()
    expect(page.locator("[data-builds] [data-build]")).to_have_count(1)
    expect(page.locator("[data-builds]")).to_contain_text(tech.username)
    page.get_by_label("Whose device was lost").select_option(label=tech.username)
    page.get_by_label("Copies made since").fill(today)
    page.get_by_label("What happened").fill("Phone left in a taxi <b>=cmd</b>")
    _fits_the_screen(page)
    shoot(page, "exposure-register")
    page.get_by_role("button", name="Report and list the passwords to rotate").click()
    page.wait_for_url(re.compile(r"/exposure/incidents/[0-9a-f-]+/$"))
    expect(page.get_by_role("heading", name=f"Lost device: {tech.username}")).to_be_visible()
    expect(page.locator("[data-count-rotate]")).to_have_text("3 to rotate")
    expect(page.locator("[data-hidden]")).to_contain_text("3 of these accounts are not shared")
    expect(page.locator("[data-exposed]")).to_have_count(0)  # no names for the admin
    expect(page.get_by_text("Phone left in a taxi <b>=cmd</b>")).to_be_visible()
    body = page.content()
    assert not any(s in body for s in SECRETS) and "Mail server" not in body
    _fits_the_screen(page)
    shoot(page, "exposure-lost-device-admin")
    incident_url = page.url

    # The technician follows the incident: every account is to rotate.
    tech_page = new_page(device)
    sign_in(tech_page, tech.username, PASSWORD)
    open_menu(tech_page)
    tech_page.get_by_role("navigation", name="Main").get_by_role("link", name="Export").click()
    tech_page.get_by_role("link", name="offline exposure register").click()
    expect(tech_page.locator("[data-builds] [data-build]")).to_have_count(1)
    tech_page.locator("[data-incidents]").get_by_role("link", name=tech.username).click()
    tech_page.wait_for_url(incident_url)
    rows = tech_page.locator("[data-exposed] tbody tr")
    expect(rows).to_have_count(3)
    expect(tech_page.locator('[data-exposed] [data-status="rotate"]')).to_have_count(3)
    expect(tech_page.locator("[data-exposed]")).to_contain_text("Mail server <i>")

    # The owner changes one password: it flips to rotated.
    vault.account_update(actor=owner, account_id=accounts[0].pk, password="Brand-new-pw-1")
    tech_page.reload()
    expect(tech_page.locator("[data-count-rotate]")).to_have_text("2 to rotate")
    expect(tech_page.locator("[data-count-rotated]")).to_have_text("1 rotated")
    rotated = tech_page.locator(f'[data-account="{accounts[0].pk}"]')
    expect(rotated).to_have_attribute("data-status", "rotated")
    expect(rotated.get_by_text("Rotated", exact=True)).to_be_visible()
    assert not any(s in tech_page.content() for s in SECRETS)
    _fits_the_screen(tech_page)
    shoot(tech_page, "exposure-lost-device")
    tech_page.get_by_role("link", name="to rotate").click()
    expect(tech_page.locator("[data-exposed] tbody tr")).to_have_count(2)

    # The owner: who had the VPN password offline?
    owner_page = new_page(device)
    sign_in(owner_page, owner.username, PASSWORD)
    owner_page.goto(f"/resources/{accounts[1].resource_id}/")
    owner_page.get_by_role("link", name="Offline copies").click()
    expect(owner_page.get_by_role("heading", name="Who had this password offline")).to_be_visible()
    expect(owner_page.locator("[data-users]")).to_have_text("1 user")
    expect(owner_page.locator("[data-current]")).to_have_text("1 with the current password")
    copy_row = owner_page.locator("[data-account-copies] [data-build]")
    expect(copy_row).to_have_count(1)
    expect(copy_row).to_contain_text(tech.username)
    expect(copy_row).to_contain_text("Downloaded")
    assert not any(s in owner_page.content() for s in SECRETS)
    _fits_the_screen(owner_page)
    shoot(owner_page, "exposure-account")
