"""Browser journeys of one signed-in person: two-factor enrolment and sign-in with a code,
changing the password, API tokens, notifications, and the inactivity timeout."""

from __future__ import annotations

import re
import time

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from factories import PASSWORD, user_make
from strongroom.audit.models import AuditEvent
from strongroom.notifications.models import Notification
from strongroom.notifications.services import notification_post
from strongroom.web.session import LAST_ACTIVITY_KEY

from .conftest import shoot, sign_in, sign_out, totp_code

pytestmark = pytest.mark.browser

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "<script>alert(1)</script>"


def poll_now(page) -> None:
    """What the page does when its tab becomes visible again: poll the feed at once."""
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def test_enrol_two_factor_then_sign_in_with_a_code(device_page):
    page = device_page
    user = user_make(full_name="Dana Ops")
    sign_in(page, user.username, PASSWORD)
    expect(page.get_by_role("heading", name="Welcome, Dana Ops")).to_be_visible()
    shoot(page, "home")

    page.goto("/account/")
    shoot(page, "account")
    page.get_by_role("link", name="Turn on").click()
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    # A second factor is set up only after "Confirm it's you", which returns to the page.
    expect(page.get_by_role("heading", name=re.compile("Confirm it.s you"))).to_be_visible()
    shoot(page, "confirm-its-you")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile("/account/two-factor/$"))
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    assert page.evaluate("img => img.naturalWidth > 100", qr.element_handle())
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.get_by_text("Show the setup link").click()
    expect(page.locator("#totp-uri")).to_contain_text("otpauth://totp/Strongroom:")
    shoot(page, "two-factor-enrol")

    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator(".errorlist")).to_contain_text("not correct")
    page.get_by_label("Code from your authenticator app").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", c.strip()) for c in codes)
    shoot(page, "recovery-codes")
    page.get_by_role("link", name="I have saved them").click()
    expect(page.locator(".badge.ok", has_text="On")).to_be_visible()
    shoot(page, "two-factor-on")

    sign_out(page)
    expect(page.locator(".flash")).to_contain_text("You have signed out.")
    shoot(page, "sign-in")
    # The password alone now leads to the code step, which keeps the half-done sign-in on
    # the server: no field of the page carries the password.
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile("/login/code/"))
    assert PASSWORD not in page.content()
    shoot(page, "sign-in-code")
    page.get_by_label("Code").fill(codes[0].strip())  # a recovery code works once
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    sign_out(page)

    sign_in(page, user.username, PASSWORD, totp_secret=secret)
    expect(page.get_by_role("heading", name="Welcome, Dana Ops")).to_be_visible()
    factors = [
        e.details.get("second_factor")
        for e in AuditEvent.objects.filter(action="auth.login", actor_id=user.pk).order_by("seq")
    ]
    assert factors == [None, "recovery_code", "totp"]


def test_change_password_then_sign_in_with_the_new_one(desktop_page):
    page = desktop_page
    user = user_make()
    sign_in(page, user.username, PASSWORD)
    page.goto("/account/password/")
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("Another-long-passphrase-42")
    page.get_by_label("New password (again)").fill("Another-long-passphrase-42")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".errorlist")).to_contain_text("current password is not correct")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password (again)").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".errorlist")).to_contain_text("at least 12 characters")
    shoot(page, "password-change-errors")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("Another-long-passphrase-42")
    page.get_by_label("New password (again)").fill("Another-long-passphrase-42")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flash")).to_contain_text("Your password was changed.")
    sign_out(page)
    sign_in(page, user.username, "Another-long-passphrase-42")
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()


def test_create_use_and_revoke_an_api_token(device_page, server):
    page = device_page
    user = user_make()
    sign_in(page, user.username, PASSWORD)
    page.goto("/account/tokens/")
    page.get_by_label("Token name").fill(HOSTILE_SCRIPT)
    page.get_by_role("button", name="Create token").click()
    # Creating a token needs "Confirm it's you" first, which returns to the tokens page.
    expect(page.get_by_role("heading", name=re.compile("Confirm it.s you"))).to_be_visible()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile("/account/tokens/$"))
    page.get_by_label("Token name").fill(HOSTILE_SCRIPT)
    page.get_by_label("Expires after").select_option("30")
    expect(page.get_by_label("Read (lists and details, never passwords)")).to_be_checked()
    page.get_by_role("button", name="Create token").click()
    raw = page.locator("#new-token").inner_text().strip()
    assert raw.startswith("sr_")
    shoot(page, "token-created")
    me = requests.get(f"{server}/api/v1/me", headers={"Authorization": f"Bearer {raw}"}, timeout=10)
    assert me.status_code == 200 and me.json()["username"] == user.username

    page.get_by_role("link", name="Done").click()
    row = page.locator("tr", has_text=HOSTILE_SCRIPT)
    expect(row).to_contain_text(raw[:9])
    expect(row).to_contain_text("Active")
    assert raw not in page.content()  # shown once, never again
    shoot(page, "tokens")
    row.get_by_text("Revoke…").click()
    row.get_by_role("button", name="Revoke token").click()
    expect(page.locator(".flash")).to_contain_text("was revoked")
    expect(page.locator("tr", has_text=HOSTILE_SCRIPT)).to_contain_text("Revoked")
    gone = requests.get(
        f"{server}/api/v1/me", headers={"Authorization": f"Bearer {raw}"}, timeout=10
    )
    assert gone.status_code == 401


def test_notifications_arrive_in_the_corner_and_dismiss(device_page):
    page = device_page
    user = user_make()
    notification_post(
        user=user, level="success", title=HOSTILE_IMG, body=HOSTILE_SCRIPT, link="/notifications/"
    )
    sign_in(page, user.username, PASSWORD)
    area = page.locator("#notifications")
    first = area.locator(".toast", has_text=HOSTILE_IMG)
    expect(first).to_be_visible()
    expect(first).to_contain_text(HOSTILE_SCRIPT)
    assert area.locator("img, script").count() == 0
    expect(page.locator("[data-unread-count]")).to_have_text("1")

    # One posted while the page is open shows up at the next poll (every 5 seconds, and at
    # once when the tab becomes visible again, which the test uses to save the wait).
    notification_post(user=user, level="error", title="Sync failed", body="Token expired")
    poll_now(page)
    later = area.locator(".toast", has_text="Sync failed")
    expect(later).to_be_visible()
    expect(later).to_have_class(re.compile("toast-error"))
    shoot(page, "notifications-toasts")
    if page.viewport_size["width"] < 600:
        # A phone shows one toast: the error takes the success's place; the success waits
        # in the bell and comes back once the error is dismissed.
        expect(first).to_have_count(0)
        expect(page.locator("[data-unread-count]")).to_have_text("2")
        dismissed, kept, title = later, first, "Sync failed"
    else:
        dismissed, kept, title = first, later, HOSTILE_IMG

    dismissed.get_by_role("button", name="Dismiss").click()
    expect(dismissed).to_have_count(0)
    expect(kept).to_be_visible()
    expect(page.locator("[data-unread-count]")).to_have_text("1")
    assert Notification.objects.get(title=title).read_at is not None

    page.goto("/notifications/")
    expect(page.locator(".note")).to_have_count(2)
    expect(page.locator(".note.unread")).to_have_count(1)
    shoot(page, "notifications")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator(".note.unread")).to_have_count(0)
    expect(area.locator(".toast")).to_have_count(0)


def test_idle_session_ends_with_a_message(desktop_page, settings):
    settings.SESSION_COOKIE_AGE = 60
    page = desktop_page
    user = user_make()
    sign_in(page, user.username, PASSWORD)
    # A minute passes without activity (instead of waiting for it, the session's stored
    # last-activity time moves back). The notification poll is not activity: the page
    # takes itself to the sign-in page, which says why.
    # Nothing of the page's own may still be in flight: a request that read the session
    # before the change below would store its own (fresh) last-activity time after it.
    page.wait_for_load_state("networkidle")
    session_key = next(
        c["value"] for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME
    )
    for _ in range(3):  # again only if a late page request still overwrote the change
        stored = SessionStore(session_key=session_key)
        stored[LAST_ACTIVITY_KEY] = int(time.time()) - settings.SESSION_COOKIE_AGE - 1
        stored.save()
        poll_now(page)
        try:
            page.wait_for_url(re.compile("/login/"), timeout=10_000)
            break
        except PlaywrightTimeoutError:
            continue
    page.wait_for_url(re.compile("/login/"))
    expect(page.locator(".flash")).to_contain_text(
        "You were signed out after 1 minute of inactivity"
    )
    shoot(page, "signed-out-idle")
    page.goto("/account/")
    page.wait_for_url(re.compile("/login/"))
