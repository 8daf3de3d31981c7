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


@pytest.fixture
def open_file(offline_browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_file(path, device="desktop", clipboard=False, clock=False, javascript=True)``
    opens an offline file from disk in a fresh context and returns the page."""
    opened: list[tuple[Any, Any, Watch]] = []

    def make(
        path: Path,
        device: str = "desktop",
        *,
        clipboard: bool = False,
        clock: bool = False,
        javascript: bool = True,
    ) -> Any:
        context = offline_browser.new_context(
            locale="en-GB", java_script_enabled=javascript, **DEVICES[device]
        )
        context.set_default_timeout(15_000)
        if clipboard:
            context.grant_permissions(["clipboard-read", "clipboard-write"])
        watch = Watch(device=device, url=path.resolve().as_uri())

        def on_request(request: Any) -> None:
            watch.requests.append(request.url)

        def on_route(route: Any) -> None:
            if route.request.url != watch.url:
                watch.problems.append(f"network request attempted: {route.request.url}")
                route.abort()
            else:
                route.continue_()

        def on_dialog(dialog: Any) -> None:
            watch.problems.append(f"JavaScript dialog ({dialog.type}): {dialog.message!r}")
            dialog.dismiss()

        def on_console(message: Any) -> None:
            if message.type in {"error", "warning"}:
                watch.problems.append(f"console {message.type}: {message.text}")

        context.route("**/*", on_route)
        context.add_init_script(_CSP_LISTENER)
        page = context.new_page()
        page.on("request", on_request)
        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
        if clock:
            page.clock.install()
        page.goto(watch.url)
        page._strongroom_watch = watch
        opened.append((context, page, watch))
        return page

    yield make

    problems: list[str] = []
    for context, page, watch in opened:
        if not page.is_closed():
            for report in page.evaluate("window.__cspViolations || []"):
                watch.problems.append(f"CSP violation: {report}")
        extra = [url for url in watch.requests if url != watch.url]
        if extra:
            watch.problems.append(f"requests other than the file: {extra}")
        problems += [f"[{watch.device}] {p}" for p in watch.problems]
        context.close()
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
