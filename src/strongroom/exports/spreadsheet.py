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
every cell as an inline string in the "Text" number format, never a formula. XML cannot
hold most control characters, so they are written with the OOXML ``_xHHHH_`` escape that
Excel and LibreOffice decode (a literal ``_xHHHH_`` in the text is escaped as
``_x005F_xHHHH_``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime

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
    buffer = io.BytesIO()
    # Encoded as it is written: a str buffer of the whole file would take up to four bytes
    # a character, and another copy to encode it.
    text = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(columns(with_secrets=with_secrets))
    for entry in entries:
        writer.writerow([cell_neutralise(v) for v in entry_row(entry, with_secrets=with_secrets)])
    text.flush()
    content = buffer.getvalue()
    text.detach()
    return content


_COLUMN_LETTERS = [chr(ord("A") + i) for i in range(26)]
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    _XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" '
    'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _XML_HEAD + f'<Relationships xmlns="{_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_DOC_REL}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL_NS}/metadata/core-properties" '
    'Target="docProps/core.xml"/></Relationships>'
)
_WORKBOOK = (
    _XML_HEAD + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_DOC_REL}">'
    '<sheets><sheet name="Export" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    _XML_HEAD + f'<Relationships xmlns="{_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_DOC_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC_REL}/styles" Target="styles.xml"/></Relationships>'
)
# Style 1: bold (the header). Style 2: the "Text" number format (@), so that a value typed
# into a cell later is also taken as text, not as a formula.
_STYLES = (
    _XML_HEAD + f'<styleSheet xmlns="{_MAIN_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="49" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_ROWS_PER_WRITE = 1000


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sheet_row(number: int, values: Sequence[str], style: int) -> str:
    cells = []
    for index, value in enumerate(values):
        if value:
            text = _xml_text(ooxml_escape(cell_neutralise(value)))
            cells.append(
                f'<c r="{_COLUMN_LETTERS[index]}{number}" s="{style}" t="inlineStr">'
                f'<is><t xml:space="preserve">{text}</t></is></c>'
            )
    return f'<row r="{number}">{"".join(cells)}</row>'


def xlsx_build(entries: Sequence[OfflineEntry], *, with_secrets: bool, title: str = "") -> bytes:
    """One worksheet "Export" (header row frozen), every cell an inline string.

    Written directly as SpreadsheetML (ECMA-376) rather than through a workbook library:
    at 100,000 rows a general-purpose writer spends a minute on per-cell objects, this
    takes seconds. The tests read every file back with openpyxl."""
    header = list(columns(with_secrets=with_secrets))
    if len(header) > len(_COLUMN_LETTERS):
        raise ValueError("more columns than this writer names")
    last = _COLUMN_LETTERS[len(header) - 1]
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    core = (
        _XML_HEAD + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/'
        '2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{_xml_text(ooxml_escape(title[:200]))}</dc:title>"
        "<dc:creator>Strongroom</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created>'
        "</cp:coreProperties>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("docProps/core.xml", core)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/styles.xml", _STYLES)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                (
                    _XML_HEAD + f'<worksheet xmlns="{_MAIN_NS}"><dimension ref="A1:{last}'
                    f'{len(entries) + 1}"/><sheetViews><sheetView workbookViewId="0">'
                    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                    "</sheetView></sheetViews>"
                    f'<cols><col min="1" max="{len(header)}" width="24" customWidth="1"/></cols>'
                    "<sheetData>" + _sheet_row(1, header, 1)
                ).encode("utf-8")
            )
            chunk: list[str] = []
            for number, entry in enumerate(entries, start=2):
                chunk.append(_sheet_row(number, entry_row(entry, with_secrets=with_secrets), 2))
                if len(chunk) >= _ROWS_PER_WRITE:
                    sheet.write("".join(chunk).encode("utf-8"))
                    chunk = []
            sheet.write(("".join(chunk) + "</sheetData></worksheet>").encode("utf-8"))
    return buffer.getvalue()
