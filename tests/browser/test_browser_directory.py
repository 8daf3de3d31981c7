"""Browser: an administrator sets up the directory on its page, then a directory user signs
in through the ordinary sign-in page (Chromium, real slapd)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from directory.conftest import slapd  # noqa: F401 - the session's slapd fixture
from directory.slapd_server import GROUPS, PASSWORDS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, STAFF
from strongroom.accounts import services
from strongroom.accounts.models import User

from .conftest import guard_of, sign_in, sign_out

pytestmark = pytest.mark.browser

PASSWORD = "Correct-horse-battery-staple-7"


def test_admin_sets_up_the_directory_and_a_directory_user_signs_in(desktop_page, slapd):  # noqa: F811
    page = desktop_page
    services.user_create(actor=None, username="it-admin", password=PASSWORD, role="admin")
    sign_in(page, "it-admin", PASSWORD)
    page.goto("/admin/directory/")
    page.get_by_label("Sign in with the directory").check()
    page.get_by_label("Server URLs").fill(slapd.ldaps_url)
    page.get_by_label("CA certificates (PEM)").fill(slapd.ca_pem)
    page.get_by_label("Service account DN").fill(SERVICE_DN)
    page.get_by_label("Service account password").fill(SERVICE_PASSWORD)
    page.get_by_label("User search base").fill(PEOPLE)
    page.get_by_label("Group search base").fill(GROUPS)
    page.get_by_label("Allowed group DN").fill(STAFF)
    page.get_by_label("Create users on their first sign-in (just in time)").check()
    page.get_by_role("button", name="Save directory settings").click()
    expect(page.get_by_text("The directory settings were saved.")).to_be_visible()
    page.get_by_label("Look up a user (optional)").fill("alice")
    page.get_by_role("button", name="Test the connection").click()
    expect(page.get_by_text("alice: found, in 2 groups")).to_be_visible()
    assert SERVICE_PASSWORD not in page.content()
    sign_out(page)

    sign_in(page, "alice", PASSWORDS["alice"])
    expect(page.get_by_text("alice").first).to_be_visible()
    assert User.objects.get(username="alice").directory_account.dn.startswith("uid=alice")
    assert not guard_of(page).problems
