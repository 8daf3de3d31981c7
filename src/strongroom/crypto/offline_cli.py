"""Text output of ``strongroom open``: search, a terminal table and JSON for opened
offline files. Pure functions; the decryption itself is :mod:`strongroom.crypto.offline`.

Entry values are hostile until proven otherwise: the table shows control characters and
bidirectional overrides as visible escapes (so a resource name cannot move the cursor,
clear the screen or reorder the line); JSON escapes them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import struct
import time
import unicodedata
from dataclasses import asdict
from urllib.parse import parse_qsl, urlsplit

from strongroom.crypto.offline import OfflineAttachment, OfflineEntry, OfflinePayload

# C0/C1 controls, DEL, and the Unicode bidi controls (embeddings, overrides, isolates,
# marks) plus line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# json.dumps(ensure_ascii=False) leaves DEL, C1 and these as they are.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")

COLUMNS = (("NAME", 30), ("USERNAME", 24), ("HOST / URL", 34), ("FOLDER", 22))


def search_text(entry: OfflineEntry) -> str:
    """What search looks at (the viewer uses the same fields): never the password,
    notes or TOTP seed. Custom field labels and values and the resource description are
    searched too (a serial number, a contract ID)."""
    custom = (text for pair in entry.custom_fields for text in pair)
    return "\n".join(
        (
            entry.name,
            entry.username,
            entry.host,
            entry.url,
            entry.folder,
            entry.description,
            *custom,
        )
    ).lower()


def entries_search(entries: list[OfflineEntry], query: str) -> list[OfflineEntry]:
    """Entries containing every whitespace-separated term of ``query`` (case-insensitive)."""
    terms = query.lower().split()
    if not terms:
        return list(entries)
    found = []
    for entry in entries:
        hay = search_text(entry)
        if all(term in hay for term in terms):
            found.append(entry)
    return found


def _visible(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _width(text: str) -> int:
    return sum(
        0
        if unicodedata.combining(ch)
        else 2
        if unicodedata.east_asian_width(ch) in {"W", "F"}
        else 1
        for ch in text
    )


def _cell(text: str, width: int) -> str:
    text = _visible(text)
    if _width(text) > width:
        out, used = [], 0
        for ch in text:
            w = _width(ch)
            if used + w > width - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * (width - _width(text))


_DIGESTS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}


def totp_parameters(seed: str) -> tuple[bytes, int, int, str]:
    """(secret, digits, period, digest) of a stored seed: a base32 secret or an
    ``otpauth://totp/`` URI. The viewer parses seeds the same way. Raises ValueError."""
    digits, period, digest, secret_text = 6, 30, "sha1", seed
    if seed[:10].lower() == "otpauth://":
        # Exactly "otpauth://totp/": no user, port or other host (the viewer's rule too).
        if seed[:15].lower() != "otpauth://totp/":
            raise ValueError("not a TOTP URI")
        params = {k.lower(): v for k, v in parse_qsl(urlsplit(seed).query, keep_blank_values=True)}
        secret_text = params.get("secret", "")
        digits = _small_number(params.get("digits") or "6")
        period = _small_number(params.get("period") or "30")
        found = _DIGESTS.get((params.get("algorithm") or "SHA1").upper())
        if found is None:
            raise ValueError("unsupported algorithm")
        digest = found
    if not 6 <= digits <= 10 or not 1 <= period <= 3600:
        raise ValueError("unusable TOTP parameters")
    return _base32(secret_text), digits, period, digest


def _small_number(text: str) -> int:
    """1 to 4 ASCII digits, nothing else ("6_0" and "٦" are refused, as in the viewer)."""
    if re.fullmatch(r"[0-9]{1,4}", text) is None:
        raise ValueError("not a small number")
    return int(text)


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _base32(text: str) -> bytes:
    """Base32 as the viewer decodes it: ASCII spaces, '=' and '-' ignored, case-insensitive,
    leftover bits dropped; any other character refused."""
    clean = re.sub(r"[ \t\n\r\f\v=-]", "", text).upper()
    if not clean:
        raise ValueError("empty secret")
    out = bytearray()
    bits = value = 0
    for char in clean:
        index = _B32.find(char)
        if index < 0:
            raise ValueError("not base32")
        value = ((value << 5) | index) & 0xFFFF
        bits += 5
        if bits >= 8:
            out.append((value >> (bits - 8)) & 0xFF)
            bits -= 8
    return bytes(out)


def totp_now(seed: str | None, at: float | None = None) -> str:
    """The RFC 6238 code for a stored seed now (or at ``at``): "" without a seed, "?" if
    the seed cannot make codes."""
    if not seed:
        return ""
    try:
        secret, digits, period, digest = totp_parameters(seed)
    except (ValueError, binascii.Error):
        return "?"
    counter = int((time.time() if at is None else at) // period)
    mac = hmac.new(secret, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def payload_table(
    payload: OfflinePayload, entries: list[OfflineEntry], *, search: str | None
) -> str:
    lines = [
        f"{_visible(payload.title)} — offline copy for {_visible(payload.owner)}",
        f"generated {payload.generated_at:%Y-%m-%d %H:%M} UTC"
        + (
            f", advisory expiry {payload.expires_at:%Y-%m-%d %H:%M} UTC"
            + (" (EXPIRED)" if payload.is_expired() else "")
            if payload.expires_at
            else ""
        ),
        (
            "authenticated: built by this copy's Strongroom server, unchanged since: "
            if payload.authenticated
            else "VERSION 1 FILE: decrypted but not authenticated against forgery; re-export: "
        )
        + f"{len(payload.entries)} "
        + ("entry" if len(payload.entries) == 1 else "entries")
        + (f", {len(entries)} matching {_visible(search)!r}" if search else ""),
        "",
    ]
    with_totp = any(e.totp_seed for e in entries)
    head = "  ".join(_cell(title, width) for title, width in COLUMNS) + "  PASSWORD"
    lines.append(head + ("  TOTP" if with_totp else ""))
    for entry in entries:
        where = entry.url or entry.host
        row = "  ".join(
            _cell(value, width)
            for value, (_, width) in zip(
                (entry.name, entry.username, where, entry.folder), COLUMNS, strict=True
            )
        )
        row += "  " + _visible(entry.password)
        if with_totp:
            row += "  " + totp_now(entry.totp_seed)
        lines.append(row.rstrip())
        for item in entry.attachments:
            lines.append(
                f"    attachment {_visible(item.name)} ({item.size:,} bytes"
                + (")" if item.included else ", not included in the offline copy)")
            )
    return "\n".join(lines) + "\n"


# Characters no file system takes in a name, or that a shell or Windows treats specially.
_UNSAFE_IN_NAME = re.compile(
    r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|\u061c\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]'
)
# Windows device names, with any extension, and with spaces before it ("CON .txt"); COM and
# LPT take the superscript digits too.
_WINDOWS_RESERVED = re.compile(
    r"(?i)(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9\u00b9\u00b2\u00b3]) *(\..*)?"
)
# File systems count a name's bytes (ext4, APFS, NTFS in UTF-16 units: at most 255); 240
# leaves room for the "_" a device name gets.
_MAX_NAME_BYTES = 240


def safe_file_name(name: str) -> str:
    """``name`` as a file name any system accepts as one name, never a path: separators,
    controls, direction marks and ``:*?"<>|`` become ``_``; leading dots and spaces and
    trailing dots and spaces go (no ``.``, ``..`` or hidden file); Windows device names
    get a ``_`` in front (checked after cutting); at most 120 characters and 240 bytes of
    UTF-8; ``_`` if nothing is left."""
    clean = _UNSAFE_IN_NAME.sub("_", name).strip(" .")[:120]
    while len(clean.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        clean = clean[:-1]
    clean = clean.rstrip(" .")
    if _WINDOWS_RESERVED.fullmatch(clean):
        clean = "_" + clean
    return clean or "_"


def attachment_dict(item: OfflineAttachment) -> dict[str, object]:
    """An attachment in ``--json``: name, size, whether the copy carries it, its SHA-256
    and its bytes as standard base64 (null when not included)."""
    return {
        "name": item.name,
        "size": item.size,
        "included": item.included,
        "sha256": item.sha256,
        "data_base64": None if item.data is None else base64.b64encode(item.data).decode(),
    }


def payload_json(payload: OfflinePayload, entries: list[OfflineEntry]) -> str:
    def entry_dict(entry: OfflineEntry) -> dict[str, object]:
        data = asdict(entry)
        data.pop("entry_id", None)  # the server's account ID: never in an offline file
        data["attachments"] = [attachment_dict(item) for item in entry.attachments]
        data["updated_at"] = (
            None if entry.updated_at is None else entry.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        return data

    document = {
        "format": "strongroom-offline",
        "version": payload.version,
        "title": payload.title,
        "owner": payload.owner,
        "generated_at": payload.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (
            None
            if payload.expires_at is None
            else payload.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "expired": payload.is_expired(),
        "kdf_iterations": payload.iterations,
        "integrity": "authenticated" if payload.authenticated else "unauthenticated_version_1",
        "entry_count": len(payload.entries),
        "match_count": len(entries),
        "entries": [entry_dict(e) for e in entries],
    }
    text = json.dumps(document, ensure_ascii=False, indent=2)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
