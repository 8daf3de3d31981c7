"""Shared browser-test fixtures: a live Strongroom server, one headless Chromium per session,
pages for a desktop and a phone viewport that fail the test on any JavaScript dialog,
console error, uncaught page error, CSP violation or 5xx response, screenshots, and helpers
to sign in (with TOTP) and out.

Chromium is Debian's (/usr/bin/chromium, installed by scripts/test when missing); the
browser build Playwright would download is not used. Mark tests ``@pytest.mark.browser``.

Fixtures
    ``browser``        the session's Chromium
    ``server``         base URL of the live server (pytest-django ``live_server``)
    ``desktop_page``   a fresh page at 1280x800
    ``phone_page``     a fresh page at 390x844, is_mobile, has_touch
    ``device_page``    parametrised over both: one test run per viewport
    ``new_page``       factory ``new_page("desktop" | "phone")`` for several users at once
    ``shoot``          ``shoot(page, "name")`` saves a PNG when STRONGROOM_SCREENSHOTS is set
    ``sign_in``        ``sign_in(page, username, password, totp_secret=None)``
    ``sign_out``       ``sign_out(page)``
    ``open_menu``      ``open_menu(page)``: opens the phone layout's menu (no-op on a desktop)
    ``totp_code``      ``totp_code(secret)``: a code the server has not seen used yet

Each page has a ``PageGuard`` (``guard_of(page)``); ``guard_of(page).allow("status of 403")``
lets a test visit a page it expects to be refused without the console error failing it.
"""

from __future__ import annotations

import os
import re
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest

DEVICES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
        "user_agent": (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
        ),
    },
}
TIMEOUT_MS = 10_000

# Runs in every frame before the page's own scripts. Init scripts are injected by the
# browser, so the page's CSP does not apply to them; violations are reported through the
# exposed binding (and collected in window.__cspViolations as a fallback).
_CSP_LISTENER = """
(() => {
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    const report = {
      directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
      line: e.lineNumber, sample: e.sample, page: document.location.href,
    };
    window.__cspViolations.push(report);
    if (typeof window.__strongroomCspViolation === "function") {
      window.__strongroomCspViolation(report);
    }
  });
})();
"""


@dataclass
class PageGuard:
    """Everything that went wrong on a page; the fixture fails the test if any remain."""

    device: str
    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Tolerate console errors matching ``pattern`` (e.g. an expected 403 page load)."""
        self.allowed.append(re.compile(pattern))

    def add(self, problem: str) -> None:
        if not any(p.search(problem) for p in self.allowed):
            self.problems.append(problem)


_GUARDS: weakref.WeakKeyDictionary[Any, PageGuard] = weakref.WeakKeyDictionary()


def guard_of(page: Any) -> PageGuard:
    return _GUARDS[page]


def _watch(page: Any, guard: PageGuard) -> None:
    def on_dialog(dialog: Any) -> None:
        # A dialog means script ran that nobody wrote: record it and close it so the page
        # does not hang.
        guard.problems.append(f"JavaScript dialog ({dialog.type}): {dialog.message!r}")
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error":
            guard.add(f"console error: {message.text} at {message.location}")

    def on_response(response: Any) -> None:
        if response.status >= 500:
            guard.problems.append(f"HTTP {response.status} for {response.url}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: guard.problems.append(f"page error: {error}"))
    page.on("response", on_response)


def _csp_violations(page: Any) -> list[Any]:
    from playwright.sync_api import Error as PlaywrightError

    if page.is_closed():
        return []
    try:
        return page.evaluate("window.__cspViolations || []")
    except PlaywrightError:
        # Mid-navigation or crashed: the other listeners report what matters there.
        return []


@pytest.fixture(scope="session")
def browser(chromium: Any) -> Any:
    """The session's shared Chromium (tests/conftest.py)."""
    return chromium


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    """Argon2id at test cost (the live server thread shares these settings)."""
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def _toasts_stay(settings: Any) -> None:
    """Success toasts fade after a few seconds in use; a test that reads or dismisses one
    must not race that, so here they stay a minute. Tests of the fade set their own."""
    settings.STRONGROOM_TOAST_FADE_MS = 60_000


@pytest.fixture
def server(live_server: Any) -> str:
    """Base URL of the live server; the database is the test's (transactional_db)."""
    return str(live_server.url)


@pytest.fixture
def new_page(browser: Any, server: str) -> Iterator[Callable[[str], Any]]:
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(device: str = "desktop") -> Any:
        context = browser.new_context(
            base_url=server, accept_downloads=True, locale="en-GB", **DEVICES[device]
        )
        context.set_default_timeout(TIMEOUT_MS)
        guard = PageGuard(device=device)
        context.expose_binding(
            "__strongroomCspViolation",
            lambda _source, report: guard.problems.append(f"CSP violation: {report}"),
        )
        context.add_init_script(_CSP_LISTENER)
        page = context.new_page()
        _GUARDS[page] = guard
        _watch(page, guard)
        contexts.append(context)
        pages.append(page)
        return page

    yield make

    problems: list[str] = []
    for page in pages:
        guard = _GUARDS[page]
        # Fallback for a violation the binding could not deliver (e.g. during unload).
        for report in _csp_violations(page):
            message = f"CSP violation: {report}"
            if message not in guard.problems:
                guard.problems.append(message)
        problems += [f"[{guard.device}] {problem}" for problem in guard.problems]
    for context in contexts:
        context.close()
    if problems:
        pytest.fail("browser problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def desktop_page(new_page: Callable[[str], Any]) -> Any:
    return new_page("desktop")


@pytest.fixture
def phone_page(new_page: Callable[[str], Any]) -> Any:
    return new_page("phone")


@pytest.fixture(params=["desktop", "phone"])
def device_page(request: pytest.FixtureRequest, new_page: Callable[[str], Any]) -> Any:
    return new_page(request.param)


def shoot(page: Any, name: str) -> Path | None:
    """Save a full-page screenshot as ``<device>-<name>.png`` under $STRONGROOM_SCREENSHOTS."""
    folder = os.environ.get("STRONGROOM_SCREENSHOTS", "")
    if not folder:
        return None
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    guard = _GUARDS.get(page)
    device = guard.device if guard is not None else "page"
    path = directory / f"{device}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    # From the top, so a sticky header is drawn where a person sees it.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


@pytest.fixture(name="shoot")
def shoot_fixture() -> Callable[[Any, str], Path | None]:
    return shoot


_LAST_STEP: dict[str, int] = {}


def totp_code(secret: str) -> str:
    """A current code for ``secret`` whose time step is newer than any handed out before.

    The server accepts each time step once (replay protection) and the steps either side of
    now, so a test that enrols and then signs in within 30 seconds needs the next step's code.
    The previous step's code is never used: it may expire before the request arrives. Two
    codes per secret are always at hand (this step's and the next one's); a test needing a
    third within the same 30 seconds fails here rather than wait for the clock.
    """
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // totp.interval
    step = max(now_step, _LAST_STEP.get(secret, 0) + 1)
    if step > now_step + 1:
        pytest.fail("a third TOTP code for one secret within 30 seconds: recover with a code")
    _LAST_STEP[secret] = step
    return totp.generate_otp(step)


@pytest.fixture(name="totp_code")
def totp_code_fixture() -> Callable[[str], str]:
    return totp_code


def sign_in(page: Any, username: str, password: str, totp_secret: str | None = None) -> None:
    """Sign in through the sign-in page (and its one-time code step when 2FA is on)."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    if totp_secret is not None:
        page.wait_for_url(re.compile(r"/login/code/"))
        page.get_by_label("Code").fill(totp_code(totp_secret))
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture(name="sign_in")
def sign_in_fixture() -> Callable[..., None]:
    return sign_in


def open_menu(page: Any) -> None:
    """On a phone the navigation and the Sign out button sit behind the Menu button."""
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


@pytest.fixture(name="open_menu")
def open_menu_fixture() -> Callable[[Any], None]:
    return open_menu


def sign_out(page: Any) -> None:
    open_menu(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login/"))


@pytest.fixture(name="sign_out")
def sign_out_fixture() -> Callable[[Any], None]:
    return sign_out


def authorize_in_new_window(page: Any, provider: str, label: str, connected: str) -> Any:
    """The redirect flow as a user meets it: Authorize opens the provider in a new window,
    the provider sends that window back to Strongroom connected, and the window the user
    started from (still showing Authorize) updates itself. Returns the new window."""
    from playwright.sync_api import expect

    expect(page.locator("[data-storage-page]")).to_have_attribute("data-storage-js", "ready")
    card = page.locator(f"section[data-provider={provider}]")
    with page.expect_popup() as popup_info:
        card.get_by_role("link", name=f"Authorize {label}").click()
    popup = popup_info.value
    expect(popup.locator(".flash")).to_contain_text(connected)
    expect(popup.locator(".storage-close-hint")).to_be_visible()
    # The provider's pages got no handle on the window the user started from (noopener).
    assert popup.evaluate("window.opener === null")
    # The first window reloads on the new window's announcement: the card shows the account.
    expect(card.locator(".storage-status")).to_contain_text("connected")
    expect(card.locator(".oauth-connect")).to_have_count(0)
    return popup


def export_menu_ready(page: Any) -> None:
    """Wait until the Export menu's scripts have wired its forms (each marks <body> when it is
    done): a test that submits a dialog before then would get the no-script form post."""
    from playwright.sync_api import expect

    body = page.locator("body")
    expect(body).to_have_attribute("data-export-js", "ready")
    if page.locator("[data-sync-targets]").count():
        expect(body).to_have_attribute("data-sync-js", "ready")
