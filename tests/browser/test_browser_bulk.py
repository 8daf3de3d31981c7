"""Browser journeys for favourites, the recently used list and bulk actions, on a desktop
(1280x800) and a phone (390x844): star a resource from the list and find it under
Favourites; show a password and find it under Recently used; tick resources (and "All on
this page") and move them to a resource group; and the same bulk action with the page
script never loaded (the controls are plain forms).

The page fixtures fail a test on any JavaScript dialog, console error, CSP violation or
5xx answer (tests/browser/conftest.py).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, account_make, resource_make, rgroup_make, user_make
from strongroom.audit.models import AuditEvent
from strongroom.vault.models import Resource

from .conftest import shoot, sign_in

pytestmark = pytest.mark.browser

DEVICES = ["desktop", "phone"]
HOSTILE = "<img src=x onerror=alert(1)>"


def _vault(username: str):
    owner = user_make("password_admin", username)
    made = {}
    for name in ("Backup NAS", "Core switch", "Mail server", HOSTILE):
        made[name] = resource_make(owner, name, host=f"{len(made)}.corp.example")
        account_make(owner, made[name], "root", f"pw-{len(made)}")
    return owner, made


def _row(page, name: str):
    return page.locator("table.resources tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )


@pytest.mark.parametrize("device", DEVICES)
def test_star_a_resource_and_find_it_in_favourites(new_page, device):
    owner, _ = _vault("fav-owner")
    page = new_page(device)
    sign_in(page, owner.username, PASSWORD)
    page.goto("/resources/")
    page.get_by_role("button", name="Add Mail server to favourites").click()
    expect(page.get_by_role("button", name="Remove Mail server from favourites")).to_be_visible()
    expect(page.get_by_role("button", name=f"Add {HOSTILE} to favourites")).to_be_visible()
    shoot(page, "vault-favourite-starred")
    page.get_by_role("navigation", name="Resources").get_by_role("link", name="Favourites").click()
    expect(page.get_by_text("1 favourite", exact=True)).to_be_visible()
    expect(page.locator("table.favourites").get_by_role("link", name="Mail server")).to_be_visible()
    shoot(page, "vault-favourites")
    page.get_by_role("button", name="Remove Mail server from favourites").click()
    expect(page.get_by_role("heading", name="No favourites yet")).to_be_visible()


@pytest.mark.parametrize("device", DEVICES)
def test_a_shown_password_appears_under_recently_used(new_page, device):
    owner, made = _vault("recent-owner")
    page = new_page(device)
    sign_in(page, owner.username, PASSWORD)
    page.goto(f"/resources/{made['Core switch'].pk}/")
    page.get_by_role("button", name="Show: password of root").click()
    expect(page.get_by_text("pw-2", exact=True)).to_be_visible()
    page.goto("/resources/")
    page.get_by_role("navigation", name="Resources").get_by_role(
        "link", name="Recently used"
    ).click()
    table = page.locator("table.recent")
    expect(table.get_by_role("link", name="Core switch")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_text("pw-2")).to_have_count(0)  # the page itself holds no secret
    expect(table.get_by_text("just now")).to_be_visible()
    shoot(page, "vault-recently-used")
    # Shown again from the list: retrieved (and audited) like on the resource's page.
    table.get_by_role("button", name="Show: password of root").click()
    expect(table.get_by_text("pw-2", exact=True)).to_be_visible()
    assert AuditEvent.objects.filter(action="password.retrieve", actor=owner).count() == 2


@pytest.mark.parametrize("device", DEVICES)
def test_tick_resources_and_move_them_to_a_group(new_page, device):
    owner, made = _vault("bulk-owner")
    old = rgroup_make(owner, made["Backup NAS"], name="Old racks")
    new = rgroup_make(owner, name="Datacentre B")
    page = new_page(device)
    sign_in(page, owner.username, PASSWORD)
    page.goto("/resources/")
    # The script adds "All on this page" and the count.
    select_all = page.get_by_role("checkbox", name="Select every resource on this page")
    expect(select_all).to_be_visible()
    select_all.check()
    expect(page.locator("[data-bulk-count]")).to_have_text("4 selected:")
    _row(page, "Mail server").get_by_role("checkbox").uncheck()
    _row(page, HOSTILE).get_by_role("checkbox").uncheck()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected:")
    shoot(page, "vault-bulk-selected")
    page.get_by_role("button", name="Move…").click()
    expect(page.get_by_role("heading", name="Move to a resource group")).to_be_visible()
    expect(page.locator(".bulk-list li")).to_have_text(["Backup NAS", "Core switch"])
    page.get_by_label("Resource group").select_option(label="Datacentre B")
    shoot(page, "vault-bulk-move-confirm")
    page.get_by_role("button", name="Move 2 resources").click()
    expect(page.locator(".flash")).to_contain_text("Moved 2 resources.")
    assert set(new.resources.values_list("name", flat=True)) == {"Backup NAS", "Core switch"}
    assert not old.resources.exists()
    moves = AuditEvent.objects.filter(action="resource.move", actor=owner)
    assert sorted(moves.values_list("object_name", flat=True)) == ["Backup NAS", "Core switch"]
    shoot(page, "vault-bulk-moved")


@pytest.mark.parametrize("device", DEVICES)
def test_bulk_delete_works_without_the_page_script(new_page, device):
    """The page script is answered with an empty file (as if it never arrived): no
    select-all, but ticking boxes and the action bar are plain forms and work."""
    owner, _ = _vault("nojs-owner")
    page = new_page(device)
    page.route(
        "**/vault*.js",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=""),
    )
    sign_in(page, owner.username, PASSWORD)
    page.goto("/resources/")
    expect(page.get_by_role("checkbox", name="Select every resource on this page")).to_be_hidden()
    _row(page, "Core switch").get_by_role("checkbox").check()
    _row(page, HOSTILE).get_by_role("checkbox").check()
    page.get_by_role("button", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete resources")).to_be_visible()
    expect(page.locator(".bulk-list li")).to_have_text([HOSTILE, "Core switch"])  # list order
    shoot(page, "vault-bulk-delete-confirm-nojs")
    page.get_by_role("button", name="Delete 2 resources").click()
    expect(page.locator(".flash")).to_contain_text("Deleted 2 resources.")
    assert sorted(Resource.objects.filter(owner=owner).values_list("name", flat=True)) == [
        "Backup NAS",
        "Mail server",
    ]
    assert AuditEvent.objects.filter(action="resource.delete", actor=owner).count() == 2
    # The star is a plain form too.
    page.get_by_role("button", name="Add Backup NAS to favourites").click()
    expect(page.get_by_role("button", name="Remove Backup NAS from favourites")).to_be_visible()
