"""Red team against offline format 4 (attachments in the HTML copy): what `strongroom open
--save-attachments` writes for names chosen by whoever may name an account or attach a
file to it (another user of a shared account), and what it does with a folder the
attacker can write (a synced folder). The verdict attacks on the format itself (moved,
renamed, spliced, resized attachment segments) are rows of the shared table
(tests/offline/hostile.py), through both readers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from strongroom.crypto import offline_cli
from strongroom.crypto.offline import OfflineAttachment, OfflineEntry

from .helpers import PASSPHRASE, build, cheap_keys
from .test_cli_open import run

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _copy(folder: Path, entries: list[OfflineEntry]) -> list[str]:
    (folder / "copy.html").write_bytes(build(cheap_keys(), entries))
    (folder / "pass.txt").write_text(PASSPHRASE + "\n", encoding="utf-8")
    return [str(folder / "copy.html"), "--passphrase-file", str(folder / "pass.txt")]


def _with_pem(name: str) -> OfflineEntry:
    return OfflineEntry(
        name=name, username="u", password="p", attachments=(OfflineAttachment("ca.pem", PEM),)
    )


def test_an_entry_name_of_long_non_ascii_text_still_saves_its_attachments(tmp_path):
    """Hole (fixed): the entry folder's name was cut at 120 characters, not bytes, so 120
    emoji made a 471-byte name: over every file system's 255-byte limit, the save failed
    with exit 1 and nothing saved, for every entry after it too. Any user who may rename a
    shared account could stop every colleague saving the copy's attachments."""
    name = "\U0001f510 vault " + "\u00e9\U0001f511" * 150
    args = _copy(tmp_path, [_with_pem(name)])
    out = tmp_path / "saved"
    done = run(tmp_path, *args, "--save-attachments", str(out))
    assert done.returncode == 0, done.stderr
    (saved,) = out.iterdir()
    assert len(saved.name.encode()) <= 240 and saved.name.startswith("1 \U0001f510 vault ")
    assert (saved / "ca.pem").read_bytes() == PEM


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        # Hole (fixed): a device name that only appears once the name is cut to length.
        ("con" + " " * 117 + "x", "_con"),
        ("aux" + "." * 117 + "txt", "_aux"),
        # Hole (fixed): Windows also reserves COM¹-³ and LPT¹-³, a device name followed by
        # spaces before its extension, and CONIN$ / CONOUT$.
        ("COM\u00b9", "_COM\u00b9"),
        ("lpt\u00b3.log", "_lpt\u00b3.log"),
        ("CON .txt", "_CON .txt"),
        ("conout$", "_conout$"),
        # Line and paragraph separators are line breaks to a terminal and a file manager.
        ("ca\u2028.pem", "ca_.pem"),
        # Whatever is cut, at most 240 bytes (room for the "_" above, under 255).
        ("\U0001f510" * 100, "\U0001f510" * 60),
        # Ordinary names stay as they are.
        ("console.pem", "console.pem"),
        ("COM10", "COM10"),
    ],
)
def test_safe_file_name_leaves_no_device_name_and_no_name_too_long(name, safe):
    assert offline_cli.safe_file_name(name) == safe
    assert len(offline_cli.safe_file_name(name).encode()) <= 240


def test_a_dangling_symbolic_link_planted_at_a_file_is_not_followed(tmp_path):
    """Attack (fails; regression): the synced folder already holds the entry's folder with
    a dangling link named like the attachment, pointing at a file the attacker wants made
    (~/.ssh/authorized_keys, say). O_EXCL | O_NOFOLLOW refuse it; nothing is created."""
    args = _copy(tmp_path, [_with_pem("Web")])
    out = tmp_path / "saved"
    (out / "1 Web").mkdir(parents=True)
    target = tmp_path / "elsewhere" / "authorized_keys"
    target.parent.mkdir()
    (out / "1 Web" / "ca.pem").symlink_to(target)
    done = run(tmp_path, *args, "--save-attachments", str(out))
    assert done.returncode == 1 and "refusing to overwrite" in done.stderr
    assert not target.exists()


def test_names_that_become_one_safe_name_never_overwrite_each_other(tmp_path):
    """Attack (fails; regression): two files of one account whose names differ only in
    what safe_file_name replaces ("a:b", "a?b") would land on one name: the second is
    refused, never written over the first."""
    files = (OfflineAttachment("a:b", b"first"), OfflineAttachment("a?b", b"second"))
    args = _copy(tmp_path, [OfflineEntry(name="X", username="u", password="p",
                                         attachments=files)])  # fmt: skip
    out = tmp_path / "saved"
    done = run(tmp_path, *args, "--save-attachments", str(out))
    assert done.returncode == 1 and "refusing to overwrite" in done.stderr
    assert (out / "1 X" / "a_b").read_bytes() == b"first"


# The attacker wins the race: run by a Python audit hook at the moment `strongroom open`
# opens the first attachment to write it, after its checks of the entry's folder. It
# swaps that folder for a symbolic link to a folder outside DIR, as another process
# writing the synced folder could at any moment.
_RACE = """
import os, sys
from pathlib import Path
place, elsewhere = Path(sys.argv[1]), sys.argv[2]
swapped = []
def hook(event, args):
    if event == "open" and not swapped and str(args[0]).endswith("ca.pem"):
        swapped.append(1)
        place.rename(place.with_name(place.name + " (moved)"))
        place.symlink_to(elsewhere, target_is_directory=True)
sys.addaudithook(hook)
from strongroom.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


def test_an_entry_folder_swapped_for_a_link_after_its_check_is_not_followed(tmp_path):
    """Hole (fixed): the entry's folder was checked (a real folder right inside DIR) and
    then each file opened by its path, so a folder swapped for a symbolic link in between
    (before any of the entry's files, or between two of them) sent the files outside DIR.
    Now the files are opened relative to the folder's own descriptor: they land in the
    folder that was checked, wherever it has been moved, and nothing outside."""
    args = _copy(tmp_path, [_with_pem("Web")])
    out = tmp_path / "saved"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _RACE,
            str(out / "1 Web"),
            str(elsewhere),
            "open",
            *args,
            "--save-attachments",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )
    assert list(elsewhere.iterdir()) == [], done.stderr
    assert done.returncode == 0, done.stderr
    assert (out / "1 Web (moved)" / "ca.pem").read_bytes() == PEM


@pytest.mark.browser
def test_the_viewer_downloads_each_entrys_own_file_found_by_search(open_file, tmp_path):
    """Attack (fails; regression): three entries in three different row segments each
    carry a file of the same name with different bytes, and entries between them carry
    others; the viewer finds a file's bytes by counting the carried files of the rows
    before it. Opened from a search (the list filtered), each Download gives its own
    entry's bytes, never a neighbour's."""
    from playwright.sync_api import expect

    def entry(i: int) -> OfflineEntry:
        files: tuple[OfflineAttachment, ...] = ()
        if i in (0, 41, 2100):
            files = (OfflineAttachment("same.txt", f"bytes of {i}".encode()),)
        elif i % 7 == 0:
            files = (OfflineAttachment(f"other-{i}.bin", bytes([i % 256]) * (i + 1)),
                     OfflineAttachment("big.iso", None, size=5_000_000))  # fmt: skip
        return OfflineEntry(name=f"Entry {i:04d}", username="u", password="p", attachments=files)

    path = tmp_path / "copy.html"
    path.write_bytes(build(cheap_keys(), [entry(i) for i in range(2200)]))
    page = open_file(path)
    expect(page.locator("html")).to_have_attribute("data-ready", "1")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("html")).to_have_attribute("data-verdict", "ok")
    for i in (2100, 41, 0):
        page.get_by_role("searchbox").fill(f"Entry {i:04d}")
        page.locator(".row", has_text=f"Entry {i:04d}").click()
        with page.expect_download() as info:
            page.locator("#detail-body .file").get_by_role("button", name="Download").click()
        assert Path(info.value.path()).read_bytes() == f"bytes of {i}".encode()
