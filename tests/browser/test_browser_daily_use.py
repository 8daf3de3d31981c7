"""Rough edges of daily use (issue 17, points 1, 2, 3 and 6), on a desktop (1280x800) and a
phone (390x844), against the live server with Amazon S3 on moto's server (127.0.0.1):

1. notifications never cover a button of the page (measured: every toast's box against
   every on-screen button's, and Playwright's own hit test on the button), a phone shows at
   most one toast (the rest wait in the bell), and a success toast fades after the delay
   the page is given (``STRONGROOM_TOAST_FADE_MS`` → ``data-fade-ms``) while an error stays;
2. no card of the Export menu is wider than itself ("Sync with Amazon S3 for Mobile
   Access…" overflowed at 1280 px);
3. Synced copies shows the last attempt's outcome, when, and what to do, after a sync to a
   deleted bucket failed (it said "Kept in sync · Last error none");
6. the admin page is reached and named "Admin » Integration » Cloud Storage".
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, TEST_ITERATIONS
from storage.conftest import moto as moto  # session fixture: moto's S3 server
from storage.moto_server import MotoServer
from strongroom.accounts import services as people
from strongroom.accounts.models import User
from strongroom.exports import services as exports
from strongroom.notifications.models import Notification
from strongroom.notifications.services import notification_post
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync import services as sync
from strongroom.sync.models import JobState, SyncCopy, SyncJob
from strongroom.vault import services as vault

from .conftest import open_menu, shoot, sign_in

pytestmark = pytest.mark.browser

PASSPHRASE = "plum orbit quietly seventy lantern"
SYNC_BUTTON = "Sync with Amazon S3 for Mobile Access…"
LANDED = "Your offline copy is in Amazon S3"
POLL_MS = 20_000  # the notification area polls every 5 s

# Every on-screen button of the page that a shown toast overlaps.
COVERED_JS = """
() => {
  const shown = (el) => {
    const style = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return style.visibility !== "hidden" && style.display !== "none" && r.width > 0 && r.height > 0;
  };
  const toasts = [...document.querySelectorAll("#notifications > *")].filter(shown)
    .map((el) => el.getBoundingClientRect());
  const hits = [];
  for (const button of document.querySelectorAll("main .btn, main button")) {
    const r = button.getBoundingClientRect();
    if (!shown(button) || r.bottom <= 0 || r.top >= innerHeight) continue;
    for (const t of toasts) {
      if (t.left < r.right && r.left < t.right && t.top < r.bottom && r.top < t.bottom) {
        hits.push(button.textContent.trim());
      }
    }
  }
  return { hits, toasts: toasts.length };
}
"""
FRAMES_JS = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


@pytest.fixture(autouse=True)
def _cheap_kdf(settings: Any) -> None:
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


def person(role: str, name: str) -> User:
    return people.user_create(
        actor=None, username=f"{name}-{uuid.uuid4().hex[:4]}", password=PASSWORD, role=role
    )


@pytest.fixture
def s3_tech(moto: MotoServer) -> tuple[User, StorageConnection, str]:
    """A technician with one account to sync and Amazon S3 connected (moto, fresh bucket)."""
    admin = person("admin", "ada")
    exports.export_policy_update(actor=admin, values={"kdf_iterations": TEST_ITERATIONS})
    storage.provider_settings_update(
        actor=admin, provider="s3", enabled=True, config={"endpoints": [moto.url]}
    )
    tech = person("password_admin", "tia")
    resource = vault.resource_create(actor=tech, name="edge-firewall")
    vault.account_create(actor=tech, resource_id=resource.pk, username="admin", password="fw-1")
    bucket = moto.new_bucket(f"daily-{uuid.uuid4().hex[:12]}")
    conn = storage.storage_connection_save(
        actor=tech,
        provider="s3",
        config={"bucket": bucket, "region": "us-east-1", "endpoint": moto.url},
        credentials={
            "access_key_id": moto.admin.access_key_id,
            "secret_access_key": moto.admin.secret_access_key,
        },
    )
    return tech, conn, bucket


def landed(user: User) -> Notification:
    return notification_post(
        user=user,
        level="success",
        title=LANDED,
        body="1 entry synced to s3://bucket/strongroom-offline.html. Open it on your phone "
        "with your passphrase.",
        link=sync.HISTORY_LINK,
        kind="sync_landed",
    )


def poll_now(page: Any) -> None:
    """What the page does when its tab becomes visible again: poll the feed at once."""
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def shoot_screen(page: Any, name: str) -> None:
    """What the person sees at this scroll position (``shoot`` takes the whole page from the
    top, where a fixed notification area is drawn over the first screen)."""
    folder = os.environ.get("STRONGROOM_SCREENSHOTS", "")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{device_of(page)}-{name}.png"))


def device_of(page: Any) -> str:
    return "phone" if page.viewport_size["width"] < 600 else "desktop"


# -- 1. notifications -----------------------------------------------------------------------


def test_toasts_never_cover_a_button_and_a_phone_shows_one(
    device_page: Any, s3_tech: Any, settings: Any
) -> None:
    settings.STRONGROOM_TOAST_FADE_MS = 120_000  # placement is the subject here, not fading
    page = device_page
    tech, _, _ = s3_tech
    landed(tech)
    landed(tech)
    sign_in(page, tech.username, PASSWORD)
    page.goto("/export/")
    toasts = page.locator("#notifications .toast")
    expect(toasts.first).to_be_attached(timeout=POLL_MS)
    expect(page.locator("[data-unread-count]")).to_have_text("2")
    expect(toasts).to_have_count(1 if device_of(page) == "phone" else 2)

    for label in (SYNC_BUTTON, "Download encrypted file…", "Download spreadsheet"):
        button = page.get_by_role("button", name=label)
        # Put the button where the notification area sits by default: the bottom of the screen.
        button.evaluate(
            "el => window.scrollBy(0, el.getBoundingClientRect().bottom - (innerHeight - 24))"
        )
        page.evaluate(FRAMES_JS)
        covered = page.evaluate(COVERED_JS)
        assert covered["hits"] == [], (label, covered)
        button.click(trial=True, timeout=3_000)  # Playwright's hit test: nothing on top
        if label == SYNC_BUTTON:
            shoot_screen(page, "daily-toast-clear-of-sync-button")
    # The toasts are still there for whoever looks (not dismissed, not read).
    assert Notification.objects.filter(user=tech, read_at__isnull=True).count() == 2


def test_success_toasts_fade_into_the_bell_errors_stay(
    device_page: Any, s3_tech: Any, settings: Any
) -> None:
    settings.STRONGROOM_TOAST_FADE_MS = 1_500
    page = device_page
    phone = device_of(page) == "phone"
    tech, _, _ = s3_tech
    first = landed(tech)
    sign_in(page, tech.username, PASSWORD)
    page.goto("/sync/history/")
    area = page.locator("#notifications")
    assert area.get_attribute("data-fade-ms") == "1500"
    toast = area.locator(f".toast[data-id='{first.pk}']")
    expect(toast).to_be_visible(timeout=POLL_MS)
    # Wait for the fade itself (the condition), never a fixed sleep.
    expect(toast).to_have_count(0, timeout=15_000)
    expect(page.locator("[data-unread-count]")).to_have_text("1")  # still in the bell

    notification_post(
        user=tech,
        level="error",
        title="Sync to Amazon S3 failed",
        body="no such bucket: gone. Check that the bucket or folder still exists in Amazon S3.",
        link=sync.HISTORY_LINK,
        kind="sync_failed",
    )
    second = landed(tech)
    poll_now(page)
    error = area.locator(".toast-error")
    expect(error).to_be_visible(timeout=POLL_MS)
    later = area.locator(f".toast[data-id='{second.pk}']")
    if phone:
        # One at a time, the error first; the success waits in the bell until it is gone.
        expect(later).to_have_count(0)
        shoot(page, "daily-toast-error-first")
        error.get_by_role("button", name="Dismiss").click()
        expect(later).to_be_visible(timeout=POLL_MS)
        expect(later).to_have_count(0, timeout=15_000)
        expect(page.locator("[data-unread-count]")).to_have_text("2")
    else:
        # Made at the same moment: the success fades, the error outlives it.
        expect(later).to_be_visible()
        expect(later).to_have_count(0, timeout=15_000)
        expect(error).to_be_visible()
        expect(page.locator("[data-unread-count]")).to_have_text("3")
        shoot(page, "daily-toast-error-stays")
    # A faded toast does not pop up again on the next page.
    page.goto("/export/")
    expect(page.locator("[data-unread-count]")).to_have_text("2" if phone else "3")
    page.evaluate(FRAMES_JS)
    expect(area.locator(".toast-success")).to_have_count(0)
    assert Notification.objects.filter(user=tech, read_at__isnull=True).count() == (
        2 if phone else 3
    )


# -- 2. the Export menu's cards hold their buttons ----------------------------------------------


def test_export_cards_hold_their_buttons(device_page: Any, s3_tech: Any) -> None:
    page = device_page
    tech, _, _ = s3_tech
    sign_in(page, tech.username, PASSWORD)
    page.goto("/export/")
    expect(page.get_by_role("button", name=SYNC_BUTTON)).to_be_visible()
    found = page.evaluate(
        """() => [...document.querySelectorAll("main .card")].map((card) => {
             const box = card.getBoundingClientRect();
             const out = [...card.querySelectorAll(".btn")].filter((b) => {
               const r = b.getBoundingClientRect();
               return r.width > 0 && (r.right > box.right + 0.5 || r.left < box.left - 0.5);
             }).map((b) => b.textContent.trim());
             return { title: (card.querySelector("h2") || card).textContent.trim(),
                      scroll: card.scrollWidth, client: card.clientWidth, out };
           })"""
    )
    assert found, "no cards on the Export menu"
    for card in found:
        assert card["scroll"] <= card["client"], card
        assert card["out"] == [], card
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    shoot(page, "daily-export-cards")


# -- 3. Synced copies tells the last attempt --------------------------------------------------


def _delete_bucket(moto: MotoServer, bucket: str) -> None:
    client = moto.client()
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def test_synced_copies_shows_a_failed_last_attempt_and_what_to_do(
    device_page: Any, s3_tech: Any, moto: MotoServer
) -> None:
    page = device_page
    tech, conn, bucket = s3_tech
    kept = sync.sync_request(
        actor=tech, connection_id=conn.pk, passphrase=PASSPHRASE, keep_in_sync=True
    )
    kept.refresh_from_db()
    assert kept.state == JobState.SUCCEEDED, (kept.state, kept.last_error)
    _delete_bucket(moto, bucket)
    # A one-off sync (not "keep up to date") to the deleted bucket: it fails at once.
    failed = sync.sync_request(actor=tech, connection_id=conn.pk, passphrase=PASSPHRASE)
    failed.refresh_from_db()
    assert failed.state == JobState.FAILED and failed.error_code == "storage_not_found"
    copy = SyncCopy.objects.get(user=tech, connection=conn)

    sign_in(page, tech.username, PASSWORD)
    page.goto("/sync/copies/")
    card = page.locator(f"section[data-sync-copy='{copy.pk}']")
    expect(card.locator("[data-copy-state]")).to_contain_text("the last attempt did not land")
    attempt = card.locator("[data-copy-attempt]")
    expect(attempt).to_have_attribute("data-copy-attempt", "failed")
    expect(attempt).to_contain_text("Failed")
    expect(attempt).to_contain_text(f"no such bucket: {bucket}")
    expect(attempt).to_contain_text(failed.finished_at.strftime("%Y-%m-%d"))
    expect(attempt.locator("[data-copy-advice]")).to_have_text(
        "Check that the bucket or folder still exists in Amazon S3, then sync again."
    )
    expect(card).not_to_contain_text("none")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    shoot(page, "daily-copies-last-attempt-failed")
    # The API says the same.
    assert SyncJob.objects.filter(user=tech).count() == 2


# -- 6. one name for the admin page -----------------------------------------------------------


def test_admin_reaches_admin_integration_cloud_storage(device_page: Any) -> None:
    page = device_page
    admin = person("admin", "root")
    sign_in(page, admin.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Cloud Storage"
    ).click()
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_have_text(
        "Admin » Integration » Cloud Storage"
    )
    expect(page.get_by_role("heading", name="Cloud Storage", level=1)).to_be_visible()
    expect(page).to_have_title("Cloud Storage · Strongroom")
    shoot(page, "daily-admin-integration-cloud-storage")
