"""Browser journeys through the vault pages, on a desktop and a phone viewport: add a resource
and an account with a generated password, share it, retrieve and copy the password as the
person it was shared with (reason dialog when mandated), see the retrieval in the audit
trail; hostile names and notes stay text; the import report.

The page fixtures fail a test on any JavaScript dialog, console error, CSP violation or
5xx answer (tests/browser/conftest.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, user_make
from strongroom.accounts import services as people
from strongroom.accounts.settings import setting_set
from strongroom.audit.models import AuditEvent
from strongroom.vault import selectors
from strongroom.vault import services as vault
from strongroom.vault.models import Account, Resource

from .conftest import guard_of, shoot, sign_in

pytestmark = pytest.mark.browser

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "<script>alert(1)</script>"
DEVICES = ["desktop", "phone"]


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


@pytest.mark.parametrize("device", DEVICES)
def test_add_share_retrieve_copy_and_audit(new_page, server, device):
    admin = user_make("admin", "alice")
    bob = user_make("password_user", "bob")
    setting_set(actor=admin, key="retrieval_reason_required", value=True)

    # Alice adds a resource with a custom field, then an account with a generated password.
    page = new_page(device)
    sign_in(page, admin.username, PASSWORD)
    page.goto("/resources/")
    expect(page.get_by_role("heading", name="No resources yet")).to_be_visible()
    page.get_by_role("link", name="Add resource").first.click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Mail server")
    page.get_by_label("Type", exact=True).fill("Linux")
    page.get_by_label("Host name or IP address").fill("mail.corp.example")
    page.get_by_label("Field name").last.fill("Rack")
    page.get_by_label("Field value").last.fill("R4")
    page.get_by_role("button", name="Add field").click()
    expect(page.get_by_label("Field name")).to_have_count(2)
    page.get_by_role("button", name="Add resource").click()
    expect(page.get_by_role("heading", name="Add account")).to_be_visible()
    expect(page.locator(".flash")).to_contain_text("Now add its accounts")

    page.get_by_label("Username").fill("root")
    page.get_by_label("Length").fill("28")
    page.get_by_role("button", name="Generate strong password").click()
    field = page.locator("#id_password")
    expect(field).to_have_attribute("type", "text")  # shown once generated
    generated = field.input_value()
    assert len(generated) == 28
    assert re.search(r"[a-z]", generated) and re.search(r"[A-Z]", generated)
    assert re.search(r"[0-9]", generated) and re.search(r"[^A-Za-z0-9]", generated)
    assert not re.search(r"[Il1O0o|]", generated)
    expect(page.locator("[data-gen-strength]")).to_contain_text("bits of entropy")
    page.get_by_role("button", name="Generate strong password").click()
    assert field.input_value() != generated  # a fresh one each time
    generated = field.input_value()
    shoot(page, "vault-account-form")
    page.get_by_role("button", name="Add account").click()
    expect(page.locator(".flash")).to_contain_text("Account added.")
    expect(page.get_by_role("heading", name="Mail server")).to_be_visible()
    account = Account.objects.get(resource__name="Mail server")
    assert vault.password_retrieve(actor=admin, account_id=account.pk, reason="check") == (
        generated
    )
    assert generated not in page.content()

    # ... and shares it with Bob at view level.
    page.get_by_role("link", name="Sharing", exact=True).click()
    page.get_by_label("Share with").select_option(label=bob.username)
    page.get_by_label("Access level").select_option(label="View")
    page.get_by_role("button", name="Share", exact=True).click()
    expect(page.locator(".flash")).to_contain_text(f"shared with {bob.username} at view level")
    who = page.locator("table.access-table")
    expect(who.locator("tr", has_text=bob.username)).to_contain_text("shared directly")
    shoot(page, "vault-sharing")

    # Bob finds it, copies the password (asked for a reason first), then shows it.
    bob_page = new_page(device)
    bob_page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    bob_page.clock.install()
    sign_in(bob_page, bob.username, PASSWORD)
    bob_page.goto("/resources/")
    expect(bob_page.locator("table.resources tbody tr")).to_have_count(1)
    expect(bob_page.locator("table.resources")).to_contain_text("mail.corp.example")
    shoot(bob_page, "vault-list")
    bob_page.get_by_role("link", name="Mail server").click()
    expect(bob_page.locator(".badge.level-view").first).to_be_visible()
    expect(bob_page.get_by_role("link", name="Sharing", exact=True)).to_have_count(0)
    value = bob_page.locator("[data-secret-value]").first
    expect(value).to_have_text("••••••••••••")
    shoot(bob_page, "vault-resource")

    bob_page.get_by_role("button", name="Copy: password of root").click()
    dialog = bob_page.get_by_role("dialog", name="Why do you need this secret?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert not AuditEvent.objects.filter(action="password.retrieve", actor=bob).exists()

    bob_page.get_by_role("button", name="Copy: password of root").click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("INC-4711 mail queue stuck")
    shoot(bob_page, "vault-retrieve-dialog")
    dialog.get_by_role("button", name="Continue").click()
    expect(bob_page.locator("[data-vault-status]")).to_contain_text("Password copied")
    assert clipboard(bob_page) == generated
    expect(value).to_have_text("••••••••••••")  # copied, never shown
    bob_page.clock.fast_forward(31_000)
    bob_page.wait_for_function("navigator.clipboard.readText().then(t => t === '')")

    bob_page.get_by_role("button", name="Show: password of root").click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("INC-4711 check it by eye")
    dialog.get_by_role("button", name="Continue").click()
    expect(value).to_have_text(generated)
    shoot(bob_page, "vault-password-shown")
    bob_page.get_by_role("button", name="Show: password of root").click()  # now "Hide"
    expect(value).to_have_text("••••••••••••")

    reasons = list(
        AuditEvent.objects.filter(action="password.retrieve", actor=bob)
        .order_by("seq")
        .values_list("reason", flat=True)
    )
    assert reasons == ["INC-4711 mail queue stuck", "INC-4711 check it by eye"]

    # Alice sees both retrievals in the audit trail.
    page.goto("/audit/?action=password.retrieve")
    rows = page.locator("table.audit tbody tr", has_text=bob.username)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("INC-4711 check it by eye")
    expect(rows.first).to_contain_text("Mail server / root")


@pytest.mark.parametrize("device", DEVICES)
def test_hostile_names_and_notes_stay_text(new_page, device):
    owner = user_make("password_admin", "olga")
    team = people.user_group_create(actor=None, name=f"team {HOSTILE_IMG}")
    resource = vault.resource_create(
        actor=owner,
        name=HOSTILE_IMG,
        host=HOSTILE_SCRIPT,
        url="javascript:alert(1)",
        description=HOSTILE_SCRIPT,
        custom_fields={HOSTILE_IMG: HOSTILE_SCRIPT},
    )
    account = vault.account_create(
        actor=owner,
        resource_id=resource.pk,
        username=HOSTILE_IMG,
        password=HOSTILE_IMG,
        notes=HOSTILE_SCRIPT,
        totp_seed="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    )
    vault.account_update(actor=owner, account_id=account.pk, password=HOSTILE_SCRIPT)
    group = vault.resource_group_create(actor=owner, name=HOSTILE_SCRIPT)
    vault.resource_group_add_resource(
        actor=owner, resource_group_id=group.pk, resource_id=resource.pk
    )
    vault.share_grant(actor=owner, resource_id=resource.pk, user_group_id=team.pk, level=2)

    page = new_page(device)
    sign_in(page, owner.username, PASSWORD)
    pages = [
        "/resources/",
        f"/resources/{resource.pk}/",
        f"/resources/{resource.pk}/edit/",
        f"/resources/{resource.pk}/sharing/",
        f"/accounts/{account.pk}/history/",
        "/resource-groups/",
        f"/resource-groups/{group.pk}/",
        f"/resource-groups/{group.pk}/sharing/",
    ]
    for url in pages:
        page.goto(url)
        main = page.locator("main")
        expect(main).to_contain_text(HOSTILE_IMG if "resource-groups" not in url else "<script")
        assert main.locator("img, script").count() == 0, url
    page.goto(f"/resources/{resource.pk}/")
    page.get_by_text("Notes").click()
    expect(page.locator(".notes")).to_have_text(HOSTILE_SCRIPT)
    assert page.locator("a[href^='javascript']").count() == 0
    # The secrets themselves are markup-looking text too: shown as text, never parsed.
    page.get_by_role("button", name=f"Show: password of {HOSTILE_IMG}").click()
    expect(page.locator("[data-secret-value]").first).to_have_text(HOSTILE_SCRIPT)
    page.get_by_role("button", name=f"Show code: one-time code of {HOSTILE_IMG}").click()
    expect(page.locator(".secret-box.totp [data-secret-value]")).to_have_text(
        re.compile(r"^\d{6}$")
    )
    expect(page.locator(".secret-box.totp [data-totp-remaining]")).to_have_text(
        re.compile(r"\d+ s")
    )
    page.goto(f"/accounts/{account.pk}/history/")
    page.get_by_role("button", name="Show: earlier password").click()
    expect(page.locator("[data-secret-value]").first).to_have_text(HOSTILE_IMG)
    assert page.locator("main img").count() == 0
    shoot(page, "vault-history")


BAD_CSV = (
    "resource_name,resource_type,host,url,department,location,description,username,password,"
    "notes,totp_seed\n"
    "web-01,Linux,10.0.0.5,,IT,DC1,,root,pw-1,,\n"
    ",Linux,10.0.0.6,,IT,DC1,,root,pw-2,,\n"
    f"{HOSTILE_IMG},Linux,10.0.0.7,,IT,DC1,,root,pw-3,,not base32!\n"
)
GOOD_CSV = BAD_CSV.replace(",Linux,10.0.0.6", "web-02,Linux,10.0.0.6").replace("not base32!", "")


@pytest.mark.parametrize("device", DEVICES)
def test_import_report_then_import(new_page, device):
    owner = user_make("password_admin", "ivan")
    page = new_page(device)
    sign_in(page, owner.username, PASSWORD)
    page.goto("/import/")
    page.get_by_label("Format").select_option("strongroom")
    page.get_by_label(re.compile(r"^File")).set_input_files(
        files=[{"name": "vault.csv", "mimeType": "text/csv", "buffer": BAD_CSV.encode()}]
    )
    # A refused import answers 400 (its report is the page); that status is expected here.
    guard_of(page).allow("status of 400")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Nothing was imported")).to_be_visible()
    rows = page.locator("table.problems tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("3")
    expect(rows.nth(0)).to_contain_text("resource_name is required")
    expect(rows.nth(1)).to_contain_text("4")
    expect(rows.nth(1)).to_contain_text("totp_seed")
    assert not Resource.objects.exists()
    shoot(page, "vault-import-report")

    page.get_by_label(re.compile(r"^File")).set_input_files(
        files=[{"name": "vault.csv", "mimeType": "text/csv", "buffer": GOOD_CSV.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".flash")).to_contain_text("Imported 3 accounts into 3 new resources")
    expect(page.locator("table.resources tbody tr")).to_have_count(3)
    expect(page.locator("table.resources")).to_contain_text(HOSTILE_IMG)
    assert page.locator("main img").count() == 0
    assert Resource.objects.filter(owner=owner).count() == 3

    # The same file again, detected and in the default mode: every entry is skipped and listed.
    page.goto("/import/")
    expect(page.get_by_label("Format")).to_have_value("auto")
    expect(page.get_by_label("Skip entries already in the vault")).to_be_checked()
    page.get_by_label(re.compile(r"^File")).set_input_files(
        files=[{"name": "vault.csv", "mimeType": "text/csv", "buffer": GOOD_CSV.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible()
    expect(page.locator("table.import-skipped tbody tr")).to_have_count(3)
    expect(page.locator("table.import-skipped")).to_contain_text(HOSTILE_IMG)
    assert page.locator("main img").count() == 0
    shoot(page, "vault-import-skipped")
    assert Resource.objects.filter(owner=owner).count() == 3
    page.get_by_role("link", name="Go to resources").click()

    # Filter the list: a search, then a type menu (phones fold the menus behind "Filters";
    # choosing from a menu submits the form by itself).
    page.get_by_label("Search").fill("web-0")
    page.get_by_label("Search").press("Enter")
    expect(page.locator("table.resources tbody tr")).to_have_count(2)
    if device == "phone":
        expect(page.get_by_label("Type")).to_be_hidden()
        page.get_by_role("button", name="Filters").click()
    page.get_by_label("Type").select_option("Linux")
    page.wait_for_url(re.compile(r"type=Linux"))
    expect(page.locator("table.resources tbody tr")).to_have_count(2)
    expect(page.get_by_label("Type")).to_be_visible()  # an active filter stays unfolded
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("table.resources tbody tr")).to_have_count(3)


def test_resource_group_add_share_change_level_and_revoke(desktop_page):
    owner = user_make("password_admin", "gina")
    member = user_make("password_user", "hugo")
    team = people.user_group_create(actor=None, name="Network team")
    people.user_group_add_member(actor=None, group=team, user=member)
    for name in ("core-sw-01", "core-sw-02", "printer-7"):
        vault.resource_create(actor=owner, name=name)
    page = desktop_page
    sign_in(page, owner.username, PASSWORD)
    page.goto("/resource-groups/")
    page.get_by_role("link", name="New resource group").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Core switches")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Core switches")).to_be_visible()
    page.get_by_label("Find resources you manage").fill("core")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name="Add core-sw-01 to the group").click()
    expect(page.locator(".flash")).to_contain_text("“core-sw-01” added to the group.")
    page.get_by_label("Find resources you manage").fill("core-sw-02")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name="Add core-sw-02 to the group").click()
    heading = page.get_by_role("heading", name=re.compile("Resources in this group"))
    members = page.locator("section", has=heading)
    expect(members.locator("tbody tr")).to_have_count(2)
    shoot(page, "vault-group")

    page.get_by_role("link", name="Sharing", exact=True).click()
    page.get_by_label("Share with").select_option(label="Network team")
    page.get_by_label("Access level").select_option(label="Modify")
    page.get_by_role("button", name="Share", exact=True).click()
    row = page.locator("table.shares tbody tr", has_text="Network team")
    expect(row).to_contain_text("user group")
    # The level menu of a row saves on change (its button only shows without script).
    expect(row.get_by_role("button", name="Change")).to_be_hidden()
    row.get_by_label("Access level for Network team").select_option(label="View")
    expect(page.locator(".flash")).to_contain_text("Access level changed.")
    group = selectors.resource_groups_visible(user=owner).get(name="Core switches")
    share = selectors.shares_list(user=owner, resource_group_id=group.pk).get()
    assert share.level == 1
    resource = Resource.objects.get(name="core-sw-02")
    assert selectors.resource_get(user=member, resource_id=resource.pk).access_level == 1
    shoot(page, "vault-group-sharing")
    page.locator("table.shares tbody tr", has_text="Network team").get_by_role(
        "button", name="Remove"
    ).click()
    expect(page.locator(".flash")).to_contain_text("Share with Network team removed.")
    expect(page.locator("table.shares")).to_have_count(0)
