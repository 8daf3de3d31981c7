"""Test set-up shared by every test. The environment (private data directory, cheap
Argon2id) is prepared by the plugin strongroom.testing.pytest_env, loaded from pyproject.

The whole suite runs on SQLite; the tests marked ``db_specific`` run again on PostgreSQL
(scripts/test sets STRONGROOM_DATABASE_URL and ``-m db_specific`` for that run). What must
be marked: docs/architecture.md, "Tests".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The fixtures every suite shares (admin, make_user, api_as, clock…): tests/shared_fixtures.py;
# splitting a run into lanes that run side by side (scripts/test): tests/lanes.py.
pytest_plugins = ["shared_fixtures", "lanes"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs real transactions (``django_db(transaction=True)``: several
    connections, threads, commits) can differ by database, so it is ``db_specific`` too."""
    for item in items:
        for mark in item.iter_markers("django_db"):
            if mark.kwargs.get("transaction"):
                item.add_marker(pytest.mark.db_specific)
                break


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    """Each test starts with no cached data keys (the test database is rebuilt per test)."""
    from strongroom.core import keys

    keys.reset()
    yield
    keys.reset()


CHROMIUM = os.environ.get("STRONGROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The one headless Debian Chromium of the test session, shared by every browser suite.

    Playwright's sync API allows one instance per thread, so the web-UI suite and the
    offline-viewer suite must share it rather than each start their own.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test (it installs Debian's chromium)")
    # Playwright's sync API keeps an event loop in this thread, which Django's ORM takes for
    # async code; the test code's own database calls are ordinary synchronous calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# --- Box stand-in (the Box provider's tests: storage, sync, browser) ----------------------
# One HTTPS stand-in of Box's API, upload and OAuth hosts per test session
# (tests/standins/box_api.py); ``box_api`` points the settings at it and clears its faults.


@pytest.fixture(scope="session")
def box_standin() -> Iterator[Any]:
    from standins.box_api import BoxStandIn

    server = BoxStandIn()
    yield server
    server.close()


@pytest.fixture
def box_api(box_standin: Any, settings: Any) -> Iterator[Any]:
    for key, value in box_standin.settings().items():
        setattr(settings, key, value)
    box_standin.clear()
    yield box_standin
    box_standin.clear()


# --- Google Drive stand-in (the Google Drive provider's tests: storage, sync) -------------
# One HTTPS stand-in of Google OAuth + Drive v3 per test session (tests/standins/gdrive_api.py);
# ``gdrive_api`` points the settings at it and clears its faults.


@pytest.fixture(scope="session")
def gdrive_standin() -> Iterator[Any]:
    from standins.gdrive_api import GDriveStandIn

    server = GDriveStandIn()
    yield server
    server.close()


@pytest.fixture
def gdrive_api(gdrive_standin: Any, settings: Any) -> Iterator[Any]:
    for key, value in gdrive_standin.settings().items():
        setattr(settings, key, value)
    gdrive_standin.clear()
    yield gdrive_standin
    gdrive_standin.clear()


# --- Dropbox stand-in (the Dropbox provider's tests: storage, sync, browser) --------------
# The dropbox SDK reads DROPBOX_API_HOST / DROPBOX_API_CONTENT_HOST / DROPBOX_WEB_HOST once,
# at import: the stand-in's three listening sockets are bound here, at conftest import
# (before anything imports dropbox), and the environment points at them (subprocesses
# inherit it). The server itself starts on those sockets on first use (``dropbox_standin``).
from standins.dropbox_api import reserve_hosts as _dropbox_reserve_hosts  # noqa: E402

_dropbox_reserve_hosts()


@pytest.fixture(scope="session")
def dropbox_standin() -> Iterator[Any]:
    from standins.dropbox_api import DropboxStandIn

    server = DropboxStandIn()
    yield server
    server.close()


@pytest.fixture
def dropbox_api(dropbox_standin: Any, settings: Any) -> Iterator[Any]:
    """The stand-in, its CA trusted (settings.PROVIDER_CA_BUNDLE), faults and logs cleared."""
    for key, value in dropbox_standin.settings().items():
        setattr(settings, key, value)
    dropbox_standin.clear()
    yield dropbox_standin
    dropbox_standin.clear()


# --- WebDAV servers (the WebDAV provider's tests: storage, sync, worker kill, bench) -------
# wsgidav laid out like Nextcloud and ``rclone serve webdav``, each in its own process on
# 127.0.0.1, started on first use and stopped at the end of the session.
from storage.webdav_servers import rclone_server, wsgidav_server  # noqa: E402, F401

# --- Microsoft identity platform + Graph stand-in (OneDrive / SharePoint) -----------------
# (tests/standins/graph_api.py); ``graph_api`` points MS_LOGIN_URL / GRAPH_API_URL at it.


@pytest.fixture(scope="session")
def graph_standin() -> Iterator[Any]:
    from standins.graph_api import GraphStandIn

    server = GraphStandIn()
    yield server
    server.close()


@pytest.fixture
def graph_api(graph_standin: Any, settings: Any) -> Iterator[Any]:
    for key, value in graph_standin.settings().items():
        setattr(settings, key, value)
    graph_standin.clear()
    yield graph_standin
    graph_standin.clear()
