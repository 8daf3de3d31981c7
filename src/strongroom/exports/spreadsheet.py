"""Spreadsheet files (CSV and XLSX) of export entries. Pure: entries in, bytes out.

Formula neutralisation (docs/exports.md): a spreadsheet must never run a cell as a formula.
A cell gets one leading apostrophe (``'``) when

* its first character is TAB, CR or LF, or
* its first character that is not whitespace is ``=``, ``+``, ``-``, ``@`` or ``|`` (or their
  full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20, U+FF5C), since spreadsheets skip
  leading spaces before a formula, or
* it already starts with an apostrophe (so the rule is reversible: a reader gets the exact
  value back by removing one leading apostrophe from every cell that starts with one).

The XLSX file applies the same prefix (so copying its cells into CSV stays safe) and stores
every cell as a string, never a formula. XML cannot hold most control characters, so they
are written with the OOXML ``_xHHHH_`` escape that Excel and LibreOffice decode (a literal
``_xHHHH_`` in the text is escaped as ``_x005F_xHHHH_``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC

from openpyxl import Workbook

from strongroom.crypto.offline import OfflineEntry

FORMULA_STARTS = frozenset("=+-@|\uff1d\uff0b\uff0d\uff20\uff5c")
RAW_STARTS = frozenset("\t\r\n'")

COLUMNS_WITH_SECRETS = (
    "Resource",
    "Username",
    "Password",
    "TOTP seed",
    "Notes",
    "Type",
    "Host",
    "URL",
    "Resource groups",
    "Department",
    "Location",
    "Updated",
)
COLUMNS_WITHOUT_SECRETS = tuple(
    c for c in COLUMNS_WITH_SECRETS if c not in {"Password", "TOTP seed", "Notes"}
)

# XML 1.0 forbids these; CR would be read back as LF. "_" before an escape-like sequence is
# itself escaped so that decoding is exact.
_OOXML_UNDERSCORE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_OOXML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")
_OOXML_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def cell_neutralise(value: str) -> str:
    """The cell text a spreadsheet will show as text, never evaluate (see module doc)."""
    if not value:
        return value
    if value[0] in RAW_STARTS:
        return "'" + value
    stripped = value.lstrip()
    if stripped and stripped[0] in FORMULA_STARTS:
        return "'" + value
    return value


def cell_restore(text: str) -> str:
    """The original value of a neutralised cell (for readers and tests)."""
    return text[1:] if text.startswith("'") else text


def ooxml_escape(text: str) -> str:
    text = _OOXML_UNDERSCORE.sub("_x005F_", text)
    return _OOXML_ILLEGAL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)


def ooxml_unescape(text: str) -> str:
    """What Excel shows for a stored string (openpyxl does not decode these escapes)."""
    return _OOXML_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def entry_row(entry: OfflineEntry, *, with_secrets: bool) -> list[str]:
    updated = (
        entry.updated_at.astimezone(UTC).isoformat(timespec="seconds") if entry.updated_at else ""
    )
    if with_secrets:
        values = [
            entry.name,
            entry.username,
            entry.password,
            entry.totp_seed or "",
            entry.notes,
        ]
    else:
        values = [entry.name, entry.username]
    values += [
        entry.resource_type,
        entry.host,
        entry.url,
        entry.folder,
        entry.department,
        entry.location,
        updated,
    ]
    return values


def columns(*, with_secrets: bool) -> Sequence[str]:
    return COLUMNS_WITH_SECRETS if with_secrets else COLUMNS_WITHOUT_SECRETS


def csv_build(entries: Sequence[OfflineEntry], *, with_secrets: bool) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads it as UTF-8), RFC 4180 quoting, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns(with_secrets=with_secrets))
    for entry in entries:
        writer.writerow([cell_neutralise(v) for v in entry_row(entry, with_secrets=with_secrets)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_build(entries: Sequence[OfflineEntry], *, with_secrets: bool, title: str = "") -> bytes:
    """One worksheet, a header row, every cell a string."""
    workbook = Workbook(write_only=True)
    if title:
        workbook.properties.title = ooxml_escape(title[:200])
    workbook.properties.creator = "Strongroom"
    sheet = workbook.create_sheet("Export")
    sheet.append(list(columns(with_secrets=with_secrets)))
    for entry in entries:
        sheet.append(
            [ooxml_escape(cell_neutralise(v)) for v in entry_row(entry, with_secrets=with_secrets)]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
