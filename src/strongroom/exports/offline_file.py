"""The offline file's HTML container: the viewer page (assets, CSP, released-viewer
hashes) around the header and payload that ``strongroom.crypto.offline`` seals and opens.

``offline_file_build`` is what export and sync call; ``offline_file_open``,
``offline_file_header`` and ``viewer_check`` are ``strongroom open``'s. Reading the page's
two data elements follows docs/offline-file-format.md §5 (one strict parser, shared rules
with the viewer).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from strongroom.crypto.offline import (
    MIN_ITERATIONS,
    READABLE_VERSIONS,
    CopyKeys,
    OfflineEntry,
    OfflineFileDamaged,
    OfflineFormatUnsupported,
    OfflinePayload,
    OfflineViewerForeign,
    header_parse,
    payload_open,
    payload_seal,
)

HEADER_ELEMENT_ID = "strongroom-header"
PAYLOAD_ELEMENT_ID = "strongroom-payload"
HEADER_OPEN = b'<script type="application/json" id="' + HEADER_ELEMENT_ID.encode() + b'">'
PAYLOAD_OPEN = b'<script type="application/octet-stream" id="' + PAYLOAD_ELEMENT_ID.encode() + b'">'
ELEMENT_CLOSE = b"</script>"
# Where the HTML parser ends a script element's content: the first "</script" in any
# letter case followed by white space, "/" or ">" (so "</SCRIPT >" ends it as well).
_ELEMENT_END_RE = re.compile(rb"</script[\t\n\f\r />]", re.IGNORECASE)
# An HTML comment as the parser reads it: "<!-->" and "<!--->" are whole (empty) comments,
# otherwise it runs to the first "-->" or "--!>" (or the end of the file).
_COMMENT_RE = re.compile(rb"<!--(?:>|->|.*?(?:--!?>|\Z))", re.DOTALL)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _damaged(what: str) -> OfflineFileDamaged:
    return OfflineFileDamaged(f"the file is damaged or was edited ({what})")


def offline_file_build(
    *,
    copy_keys: CopyKeys,
    entries: list[OfflineEntry],
    generated_at: datetime,
    expires_at: datetime | None,
    title: str,
    owner: str,
    minimum_iterations: int = MIN_ITERATIONS,
) -> bytes:
    """The offline ``.html`` file (UTF-8 bytes) holding ``entries``, readable only with the
    passphrase the ``copy_keys`` were created with (see ``crypto.offline.payload_seal``)."""
    header_bytes, payload = payload_seal(
        copy_keys=copy_keys,
        entries=entries,
        generated_at=generated_at,
        expires_at=expires_at,
        title=title,
        owner=owner,
        minimum_iterations=minimum_iterations,
    )
    return _render(header_bytes, payload)


def offline_file_open(*, html: bytes, passphrase: str) -> OfflinePayload:
    """Decrypt and verify an offline file. Raises ``OfflineWrongPassphrase``,
    ``OfflineFileDamaged`` or ``OfflineFormatUnsupported``; returns nothing unless every
    byte of header and payload authenticated. (Whether the page around them is a released
    viewer is :func:`viewer_check`'s question.)"""
    page = _page(html)
    return payload_open(
        header_bytes=bytes(html[page.header_start : page.header_end]),
        payload_text=bytes(html[page.payload_start : page.payload_end]),
        passphrase=passphrase,
    )


@dataclass(frozen=True)
class _ViewerAssets:
    template: str
    script: str
    style: str
    csp: str


@cache
def _viewer_assets() -> _ViewerAssets:
    # Under templates/ so that package-data ships them (pyproject: **/templates/**/*).
    folder = resources.files("strongroom.exports") / "templates" / "offline_viewer"
    template = (folder / "viewer.html").read_text(encoding="utf-8")
    script = (folder / "viewer.js").read_text(encoding="utf-8")
    style = (folder / "viewer.css").read_text(encoding="utf-8")
    for name, text in (("viewer.js", script), ("viewer.css", style)):
        lowered = text.lower()
        if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
            raise RuntimeError(f"{name} must not contain '</script', '</style' or '<!--'")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src '{_csp_hash(script)}'",
            f"style-src '{_csp_hash(style)}'",
            "img-src data:",
            "connect-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ]
    )
    return _ViewerAssets(template=template, script=script, style=style, csp=csp)


def viewer_content_security_policy() -> str:
    """The CSP every file built by this version carries (for tests and `strongroom open`)."""
    return _viewer_assets().csp


def _csp_hash(text: str) -> str:
    return "sha256-" + _b64(hashlib.sha256(text.encode("utf-8")).digest())


def _render(header_bytes: bytes, payload_b64: bytes) -> bytes:
    assets = _viewer_assets()
    values = {
        "CSP": assets.csp,
        "STYLE": assets.style,
        "SCRIPT": assets.script,
        "HEADER_ID": HEADER_ELEMENT_ID,
        "PAYLOAD_ID": PAYLOAD_ELEMENT_ID,
    }
    parts = re.split(r"\{\{(\w+)\}\}", assets.template)
    out: list[bytes] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part.encode("utf-8"))
        elif part == "HEADER":
            out.append(header_bytes)
        elif part == "PAYLOAD":
            out.append(payload_b64)
        else:
            out.append(values[part].encode("utf-8"))
    return b"".join(out)


@cache
def released_viewers() -> dict[str, tuple[str, tuple[int, ...]]]:
    """SHA-256 (hex) of every released viewer page skeleton -> (its name, the format
    versions it reads): the package's list (``viewer_hashes.json``, one entry per viewer
    ever released) and the viewer this package itself builds with."""
    text = (resources.files("strongroom.exports") / "viewer_hashes.json").read_text("utf-8")
    listed = json.loads(text)
    known = {
        str(entry["sha256"]): (str(entry["viewer"]), tuple(int(v) for v in entry["formats"]))
        for entry in listed["viewers"]
    }
    known.setdefault(viewer_own_sha256(), ("this version's viewer", READABLE_VERSIONS))
    return known


def viewer_own_sha256() -> str:
    """The skeleton hash of the viewer this package builds files with."""
    return hashlib.sha256(_render(b"", b"")).hexdigest()


def viewer_skeleton_sha256(html: bytes) -> str:
    """SHA-256 (hex) of the page without the header's and the payload's contents: what
    identifies the viewer code and page around them. The page must parse (see
    :func:`offline_file_header`)."""
    page = _page(html)
    skeleton = html[: page.header_start] + html[page.header_end : page.payload_start]
    skeleton += html[page.payload_end :]
    return hashlib.sha256(skeleton).hexdigest()


def viewer_check(html: bytes) -> str:
    """The released viewer's name; :class:`OfflineViewerForeign` for any other page, and
    :class:`OfflineFormatUnsupported` when that viewer cannot read the file's format (it
    would say so in a browser)."""
    found = released_viewers().get(viewer_skeleton_sha256(html))
    if found is None:
        raise OfflineViewerForeign(
            "this file's viewer is not Strongroom's: do not open it in a browser (its page "
            "code was changed and could send the passphrase anywhere)"
        )
    name, formats = found
    version = offline_file_header(html)["version"]
    if version not in formats:
        raise OfflineFormatUnsupported(
            f"this file's page is {name}, which cannot read format {version} files: "
            "get a fresh copy"
        )
    return name


@dataclass(frozen=True)
class _Page:
    header_start: int
    header_end: int
    payload_start: int
    payload_end: int


def _page(html: bytes) -> _Page:
    """Exactly one header element and one payload element, in that order, neither named
    inside a comment, or the file is damaged."""
    if not isinstance(html, bytes | bytearray):
        raise TypeError("html must be bytes")
    header_id, payload_id = HEADER_ELEMENT_ID.encode(), PAYLOAD_ELEMENT_ID.encode()
    if header_id not in html and payload_id not in html:
        raise OfflineFormatUnsupported("this is not a Strongroom offline file")
    if (
        html.count(HEADER_OPEN) != 1
        or html.count(PAYLOAD_OPEN) != 1
        or html.count(b'id="' + header_id + b'"') != 1
        or html.count(b'id="' + payload_id + b'"') != 1
    ):
        raise _damaged("there must be exactly one header and one payload element")
    for comment in _COMMENT_RE.finditer(html):
        if header_id in comment.group() or payload_id in comment.group():
            raise _damaged("a header or payload element inside a comment")
    header_start = html.index(HEADER_OPEN) + len(HEADER_OPEN)
    payload_start = html.index(PAYLOAD_OPEN) + len(PAYLOAD_OPEN)
    # Ended where a browser ends them: what follows is page (judged by viewer_check).
    header_close = _ELEMENT_END_RE.search(html, header_start)
    payload_close = _ELEMENT_END_RE.search(html, payload_start)
    header_end = -1 if header_close is None else header_close.start()
    payload_end = -1 if payload_close is None else payload_close.start()
    if header_end < 0 or payload_end < 0 or not header_end < payload_start:
        raise _damaged("the header element must come before the payload element")
    return _Page(header_start, header_end, payload_start, payload_end)


def offline_file_header(html: bytes) -> dict[str, Any]:
    """The clear header, readable without the passphrase (not yet authenticated: only
    :func:`offline_file_open` proves it was not edited). ``generated_at`` and ``expires_at``
    are ISO 8601 UTC strings (``expires_at`` may be ``None``); the entry count is not in
    the clear."""
    header, _, _ = _header_from_html(html)
    return header


def _header_from_html(html: bytes) -> tuple[dict[str, Any], bytes, _Page]:
    page = _page(html)
    header_bytes = bytes(html[page.header_start : page.header_end])
    return header_parse(header_bytes), header_bytes, page
