"""Format 4 attachments in the viewer (Chromium, desktop and phone): an entry's detail
sheet lists its files as text, offers a download of each file the copy carries (the bytes
saved are the bytes attached), and marks the files over the policy's cap "not included in
the offline copy". Data only as text and attributes; the strict CSP holds (the fixture fails
the test on any CSP violation, network request, dialog or console error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from strongroom.crypto.offline import OfflineAttachment, OfflineEntry

from .conftest import shoot
from .helpers import PASSPHRASE, build, cheap_keys

CERT = bytes(range(256)) * 40 + b"-----END CERTIFICATE-----\n"  # every byte value
MARKUP = "<img src=x onerror=alert(1)> =1+1 🔐.key"
KEY = b"\x00ssh-ed25519 AAAA\xff\n"


def entries() -> list[OfflineEntry]:
    return [
        OfflineEntry(
            name="Edge router",
            username="admin",
            password="pw-1",
            attachments=(
                OfflineAttachment("ca.pem", CERT),
                OfflineAttachment(MARKUP, KEY),
                OfflineAttachment("firmware.bin", None, size=30_000_000),
            ),
        ),
        OfflineEntry(name="Payroll DB", username="svc", password="pw-2"),
    ] + [OfflineEntry(name=f"Filler {i}", username="u", password="p") for i in range(60)]


@pytest.fixture(scope="module")
def copy_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("v4") / "copy.html"
    path.write_bytes(build(cheap_keys(), entries()))
    return path


def unlock(page) -> None:
    expect(page.locator("html")).to_have_attribute("data-ready", "1")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("html")).to_have_attribute("data-verdict", "ok")


@pytest.mark.browser
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_attachments_download_with_their_exact_bytes(open_file, copy_path, device):
    page = open_file(copy_path, device)
    unlock(page)
    page.locator(".row", has_text="Edge router").click()
    files = page.locator("#detail-body .file")
    expect(files).to_have_count(3)
    expect(files.nth(0).locator(".file-name")).to_have_text("ca.pem")
    # Markup in a name is text, never an element; a listed-only file says so.
    expect(files.nth(1).locator(".file-name")).to_have_text(MARKUP)
    assert page.locator("#detail-body img").count() == 0
    expect(files.nth(2)).to_contain_text("firmware.bin")
    expect(files.nth(2)).to_contain_text("not included in the offline copy")
    assert files.nth(2).get_by_role("button").count() == 0
    shoot(page, "attachments")

    for index, (name, data) in enumerate([("ca.pem", CERT), (MARKUP, KEY)]):
        button = files.nth(index).get_by_role("button", name="Download")
        expect(button).to_be_enabled()
        with page.expect_download() as info:
            button.click()
        download = info.value
        if name == "ca.pem":  # (the browser itself replaces "<", ">" in names it saves)
            assert download.suggested_filename == name
        assert Path(download.path()).read_bytes() == data

    # Lock drops the data: no file list, no rows (on a phone, close the sheet first).
    if device == "phone":
        page.locator("#detail-close").click()
    page.get_by_role("button", name="Lock").click()
    assert page.locator("#detail-body .file").count() == 0
    assert page.locator(".row").count() == 0


@pytest.mark.browser
def test_an_entry_without_attachments_shows_no_attachment_list(open_file, copy_path):
    page = open_file(copy_path)
    unlock(page)
    page.locator(".row", has_text="Payroll DB").click()
    expect(page.locator("#detail-password")).to_be_visible()
    assert page.locator("#detail-body .file").count() == 0
