"""Fixtures for the offline-file tests. None needs a database.

Browser tests drive Debian's Chromium (one per session, like tests/browser) against files
opened from disk. Every page is watched: a JavaScript dialog, a console error, an uncaught
error, a CSP violation or any request other than the file itself fails the test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
_CSP_LISTENER = """
(() => {
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                                 sample: e.sample});
  });
})();
"""


@dataclass
class Watch:
    """What a page did that it must not: the fixture fails the test if any of it happened."""

    device: str
    url: str = ""
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def offline_browser(chromium: Any) -> Any:
    """The session's shared Chromium (tests/conftest.py)."""
    return chromium


class _Watched:
    """A browser context and page whose every request, dialog, console message and page
    error is charged to the current :class:`Watch` (``watch``, swapped per file when the
    page is reused)."""

    def __init__(
        self, browser: Any, device: str, *, clipboard: bool, clock: bool, javascript: bool
    ) -> None:
        self.watch = Watch(device=device)
        self.context = browser.new_context(
            locale="en-GB", java_script_enabled=javascript, **DEVICES[device]
        )
        self.context.set_default_timeout(15_000)
        if clipboard:
            self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.context.route("**/*", self._on_route)
        self.context.add_init_script(_CSP_LISTENER)
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self.watch.requests.append(request.url))
        self.page.on("dialog", self._on_dialog)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.watch.problems.append(f"page error: {error}"))
        if clock:
            self.page.clock.install()

    def _on_route(self, route: Any) -> None:
        if route.request.url != self.watch.url:
            self.watch.problems.append(f"network request attempted: {route.request.url}")
            route.abort()
        else:
            route.continue_()

    def _on_dialog(self, dialog: Any) -> None:
        self.watch.problems.append(f"JavaScript dialog ({dialog.type}): {dialog.message!r}")
        dialog.dismiss()

    def _on_console(self, message: Any) -> None:
        if message.type in {"error", "warning"}:
            self.watch.problems.append(f"console {message.type}: {message.text}")

    def open(self, path: Path) -> Any:
        self.watch = Watch(device=self.watch.device, url=path.resolve().as_uri())
        self.page._strongroom_watch = self.watch
        self.page.goto(self.watch.url)
        return self.page

    def problems(self) -> list[str]:
        """What the current file's page did that it must not (read once, after the test)."""
        watch = self.watch
        if not self.page.is_closed():
            for report in self.page.evaluate("window.__cspViolations || []"):
                watch.problems.append(f"CSP violation: {report}")
        extra = [url for url in watch.requests if url != watch.url]
        if extra:
            watch.problems.append(f"requests other than the file: {extra}")
        return [f"[{watch.device}] {p}" for p in watch.problems]


@pytest.fixture
def open_file(offline_browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_file(path, device="desktop", clipboard=False, clock=False, javascript=True)``
    opens an offline file from disk in a fresh context and returns the page."""
    opened: list[_Watched] = []

    def make(
        path: Path,
        device: str = "desktop",
        *,
        clipboard: bool = False,
        clock: bool = False,
        javascript: bool = True,
    ) -> Any:
        watched = _Watched(
            offline_browser, device, clipboard=clipboard, clock=clock, javascript=javascript
        )
        opened.append(watched)
        return watched.open(path)

    yield make

    problems: list[str] = []
    for watched in opened:
        problems += watched.problems()
        watched.context.close()
    if problems:
        pytest.fail("browser problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def _reused_page(offline_browser: Any) -> Iterator[_Watched]:
    watched = _Watched(offline_browser, "desktop", clipboard=False, clock=False, javascript=True)
    yield watched
    watched.context.close()


@pytest.fixture
def open_file_reusing_the_page(_reused_page: _Watched) -> Iterator[Callable[[Path], Any]]:
    """Like ``open_file`` (desktop, watched the same way), but every test of the module
    navigates one page, instead of starting a browser context and a renderer process per
    file: for tables of many files (tests/offline/test_hostile_table.py). A file's verdict
    cannot depend on the one before: each is a new document load, and the viewer keeps
    nothing (no storage, no cookies: the CSP and the network watch see to it)."""

    yield _reused_page.open

    problems = _reused_page.problems()
    if problems:
        pytest.fail("browser problems:\n" + "\n".join(problems), pytrace=False)


def shoot(page: Any, name: str) -> Path | None:
    """A full-page PNG ``offline-<device>-<name>.png`` under $STRONGROOM_SCREENSHOTS."""
    folder = os.environ.get("STRONGROOM_SCREENSHOTS", "")
    if not folder:
        return None
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    device = page._strongroom_watch.device
    path = directory / f"offline-{device}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
