"""Browser journey for auto-sync, as a person does it: on a desktop, tick "Keep this copy up
to date" in the sync dialog; on a phone, the Synced copies page shows the copy (no
sideways scrolling), and the controls work: re-sync now, change the passphrase (the file
then opens with the new one, via `strongroom open`), stop keeping it up to date. The page
guard fails the test on any console error, CSP violation, dialog or 5xx."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, TEST_ITERATIONS
from strongroom.accounts import services as people
from strongroom.exports import services as exports
from strongroom.storage import services as storage
from strongroom.sync.models import AutoState, JobState, JobTrigger, SyncCopy, SyncJob
from strongroom.vault import services as vault

from .conftest import export_menu_ready, open_menu, shoot, sign_in

pytestmark = pytest.mark.browser

PASSPHRASE = "plum orbit quietly seventy lantern"
NEW_PASSPHRASE = "marigold tundra patiently eleven harbour"


@pytest.fixture(autouse=True)
def _cheap_kdf(settings: Any) -> None:
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


def _open(path: Path, passphrase: str, tmp_path: Path) -> list[dict[str, Any]]:
    secret = tmp_path / f"p-{uuid.uuid4().hex[:6]}.txt"
    secret.write_text(passphrase + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "strongroom.cli", "open", str(path), "--passphrase-file",
         str(secret), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["entries"])


def dismiss_notifications(page: Any) -> None:
    """Wait for the notification that just arrived (it polls), then dismiss every one."""
    toasts = page.locator("#notifications").get_by_role("button", name="Dismiss")
    expect(toasts.first).to_be_visible(timeout=20_000)
    while toasts.count():
        toasts.first.click()


def test_keep_in_sync_dialog_and_copies_page_controls_on_a_phone(
    new_page: Any, tmp_path: Path
) -> None:
    boss = people.user_create(
        actor=None, username=f"boss-{uuid.uuid4().hex[:4]}", password=PASSWORD, role="admin"
    )
    exports.export_policy_update(actor=boss, values={"kdf_iterations": TEST_ITERATIONS})
    tech = people.user_create(
        actor=None, username=f"kim-{uuid.uuid4().hex[:4]}", password=PASSWORD,
        role="password_admin",
    )  # fmt: skip
    resource = vault.resource_create(actor=tech, name="edge-firewall")
    vault.account_create(actor=tech, resource_id=resource.pk, username="admin", password="fw-1")
    base = tmp_path / "cloud-sync"
    storage.demo_enable_local_folder(base_dir=str(base))
    conn = storage.storage_connection_save(
        actor=tech, provider="local", config={"folder": "kim"}, credentials={}
    )

    desktop = new_page("desktop")
    sign_in(desktop, tech.username, PASSWORD)
    desktop.goto("/export/")
    export_menu_ready(desktop)
    desktop.get_by_role("button", name="Sync with Local folder for Mobile Access…").click()
    dialog = desktop.locator("dialog[open]")
    dialog.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    dialog.get_by_label("Passphrase again").fill(PASSPHRASE)
    dialog.get_by_label("Keep this copy up to date").check()
    dialog.get_by_role("button", name="Sync", exact=True).click()
    expect(desktop.locator("dialog[open]")).to_have_count(0)
    copy = SyncCopy.objects.get(user=tech, connection=conn)
    assert copy.keep_in_sync and copy.auto_state == AutoState.ACTIVE
    path = base / str(tech.pk) / "kim" / copy.object_name
    assert [e["password"] for e in _open(path, PASSPHRASE, tmp_path)] == ["fw-1"]

    phone = new_page("phone")
    sign_in(phone, tech.username, PASSWORD)
    dismiss_notifications(phone)  # "Your offline copy is in Local folder"
    open_menu(phone)
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Export").click()
    phone.get_by_role("link", name="Synced copies").click()
    card = phone.locator(f"section[data-sync-copy='{copy.pk}']")
    expect(card).to_contain_text("Local folder")
    expect(card.locator("[data-copy-state]")).to_contain_text("Kept in sync")
    expect(card.locator("[data-copy-location]")).to_contain_text(str(path))
    expect(card.locator("[data-copy-next]")).not_to_have_text("—")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shoot(phone, "autosync-copies-phone")

    card.get_by_role("button", name="Re-sync now").click()
    expect(phone.locator("main")).to_contain_text("Re-sync started")
    resync = SyncJob.objects.get(sync_copy=copy, trigger=JobTrigger.RESYNC)
    assert resync.state == JobState.SUCCEEDED

    dismiss_notifications(phone)  # the re-sync's own, bottom-left over the page
    card = phone.locator(f"section[data-sync-copy='{copy.pk}']")
    card.get_by_text("Change the passphrase…").click()
    card.get_by_label("New passphrase", exact=True).fill(NEW_PASSPHRASE)
    card.get_by_label("New passphrase again").fill(NEW_PASSPHRASE)
    card.get_by_role("button", name="Set the new passphrase").click()
    expect(phone.locator("main")).to_contain_text("New passphrase set")
    assert [e["password"] for e in _open(path, NEW_PASSPHRASE, tmp_path)] == ["fw-1"]

    dismiss_notifications(phone)
    card = phone.locator(f"section[data-sync-copy='{copy.pk}']")
    card.get_by_role("button", name="Stop keeping it up to date").click()
    expect(phone.locator("main")).to_contain_text("no longer kept up to date")
    card = phone.locator(f"section[data-sync-copy='{copy.pk}']")
    expect(card.locator("[data-copy-state]")).to_contain_text("Not kept in sync")
    expect(card.get_by_role("button", name="Keep it up to date")).to_be_visible()
    assert not SyncCopy.objects.get(pk=copy.pk).keep_in_sync
