"""Browser journeys of administrators and auditors: users, user groups, roles, settings and
the audit trail (with its CSV download), with hostile names shown as text."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, user_make
from strongroom.accounts import services
from strongroom.accounts.models import User, UserGroup
from strongroom.core.settings_store import setting_get

from .conftest import guard_of, open_menu, shoot, sign_in

pytestmark = pytest.mark.browser

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "<script>alert(1)</script>"


def test_admin_adds_a_user_resets_the_password_and_deactivates(device_page, new_page):
    page = device_page
    admin = user_make("admin")
    sign_in(page, admin.username, PASSWORD)
    page.goto("/admin/users/")
    shoot(page, "admin-users")
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Full name").fill(HOSTILE_IMG)
    page.get_by_label("E-mail").fill("carol@example.test")
    page.get_by_label("Role").select_option("password_user")
    shoot(page, "admin-user-add")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("heading", name="User “carol” added")).to_be_visible()
    first_password = page.locator("#temporary-password").inner_text().strip()
    assert len(first_password) >= 16
    shoot(page, "admin-user-created")
    page.get_by_role("link", name="Done").click()

    expect(page.locator(".subtitle")).to_contain_text(HOSTILE_IMG)
    expect(page.get_by_label("Full name")).to_have_value(HOSTILE_IMG)
    assert page.locator("main img[src='x']").count() == 0
    page.get_by_label("Role").select_option("password_admin")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("was saved")
    shoot(page, "admin-user-detail")
    assert User.objects.get(username="carol").role == "password_admin"

    # Carol signs in with the temporary password and must choose her own first.
    carol = new_page(guard_of(page).device)
    sign_in(carol, "carol", first_password)
    expect(carol.get_by_role("heading", name="Choose a new password")).to_be_visible()
    carol.goto("/account/tokens/")
    expect(carol.get_by_role("heading", name="Choose a new password")).to_be_visible()

    page.get_by_role("button", name="Reset password").click()
    second_password = page.locator("#temporary-password").inner_text().strip()
    assert second_password != first_password
    page.get_by_role("link", name="Done").click()

    # The reset ended Carol's session: her next page is the sign-in page.
    carol.goto("/")
    carol.wait_for_url(re.compile("/login/"))
    expect(carol.locator(".flash")).to_contain_text("session has ended")

    page.get_by_text("Deactivate…").click()
    page.get_by_role("button", name="Deactivate user").click()
    expect(page.locator(".flash")).to_contain_text("was deactivated")
    expect(page.locator(".subtitle")).to_contain_text("Deactivated")
    carol.goto("/login/")
    carol.get_by_label("Username").fill("carol")
    carol.get_by_label("Password", exact=True).fill(second_password)
    carol.get_by_role("button", name="Sign in").click()
    expect(carol.locator(".alert-error")).to_contain_text("not correct")

    page.get_by_role("button", name="Reactivate user").click()
    expect(page.locator(".flash")).to_contain_text("was reactivated")
    page.goto("/admin/users/?q=carol")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text(HOSTILE_IMG)


def test_user_groups_with_hostile_names(device_page):
    page = device_page
    admin = user_make("admin")
    member = user_make("password_user", username="erin", full_name=HOSTILE_SCRIPT)
    sign_in(page, admin.username, PASSWORD)
    page.goto("/admin/groups/")
    page.get_by_label("Name").fill(HOSTILE_SCRIPT)
    page.get_by_label("Description").fill(HOSTILE_IMG)
    page.get_by_role("button", name="Add group").click()
    expect(page.get_by_role("heading", name=HOSTILE_SCRIPT, exact=True)).to_be_visible()
    page.get_by_label("Add a member").fill("erin")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".flash")).to_contain_text("“erin” was added")
    expect(page.locator("tbody")).to_contain_text(HOSTILE_SCRIPT)
    page.get_by_label("Add a member").fill("nobody-here")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".errorlist")).to_contain_text("no active user named")
    shoot(page, "admin-group-detail")
    group = UserGroup.objects.get(name=HOSTILE_SCRIPT)
    assert list(group.members.all()) == [member]

    page.locator("form", has=page.get_by_role("button", name="Save")).get_by_label("Name").fill(
        "Ops " + HOSTILE_IMG
    )
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Ops " + HOSTILE_IMG)).to_be_visible()
    page.get_by_role("button", name="Remove erin").click()
    expect(page.locator(".flash")).to_contain_text("was removed")
    page.goto("/admin/groups/")
    expect(page.locator("tbody")).to_contain_text("Ops " + HOSTILE_IMG)
    shoot(page, "admin-groups")
    page.get_by_role("link", name="Ops " + HOSTILE_IMG).click()
    page.get_by_text("Delete group…").click()
    page.get_by_role("button", name="Delete group", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("was deleted")
    assert not UserGroup.objects.exists()


def test_roles_and_settings(device_page):
    page = device_page
    admin = user_make("admin")
    sign_in(page, admin.username, PASSWORD)
    page.goto("/admin/roles/")
    expect(page.locator("table.matrix")).to_contain_text("audit.read")
    shoot(page, "admin-roles")
    page.get_by_role("link", name="General settings").click()
    box = page.get_by_label("Retrieval reason required")
    expect(box).not_to_be_checked()
    box.check()
    shoot(page, "admin-settings")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_contain_text("settings were saved")
    expect(page.get_by_label("Retrieval reason required")).to_be_checked()
    assert setting_get("retrieval_reason_required") is True


def test_audit_trail_shows_sign_ins_and_downloads_csv(device_page):
    page = device_page
    auditor = user_make("auditor")
    other = user_make("password_user")
    services.login_authenticate(username=other.username, password=PASSWORD, client_ip="10.1.2.3")
    services.user_group_create(actor=None, name='=HYPERLINK("http://x.test")')
    sign_in(page, auditor.username, PASSWORD)
    open_menu(page)
    # An auditor's only admin page is the audit trail, straight in the top bar.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    nav.get_by_role("link", name="Audit trail").click()
    expect(page.locator(".chain-ok")).to_contain_text("Hash chain intact")
    shoot(page, "audit")

    page.get_by_label("Action").fill("auth.login")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(auditor.username)
    expect(rows.nth(1)).to_contain_text(other.username)
    expect(rows.nth(1)).to_contain_text("10.1.2.3")
    shoot(page, "audit-filtered")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert re.fullmatch(r"strongroom-audit-\d{8}-\d{6}\.csv", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["actor"] for r in table] == [auditor.username, other.username]
    assert {r["action"] for r in table} == {"auth.login"}

    page.goto("/audit/")
    page.get_by_label("Object type").select_option("user_group")
    page.get_by_role("button", name="Apply filters").click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    table = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    assert table[1][7] == '\'=HYPERLINK("http://x.test")'  # neutralised formula


def test_other_roles_get_the_403_page(desktop_page):
    page = desktop_page
    user = user_make("password_user")
    sign_in(page, user.username, PASSWORD)
    open_menu(page)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    guard_of(page).allow(r"status of 403")
    response = page.goto("/admin/users/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    shoot(page, "403")
    guard_of(page).allow(r"status of 404")
    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()
