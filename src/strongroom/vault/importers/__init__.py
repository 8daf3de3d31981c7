"""Reading files for import: CSV (Strongroom's own, Bitwarden, KeePassXC, LastPass,
1Password), Bitwarden JSON, 1Password 1PUX, KeePass 2.x XML and KeePass databases (KDBX).

This package only parses and validates; ``services.import_csv`` writes the result in one
transaction, and only when the whole file is valid. ``docs/import.md`` describes each
format, what becomes of each field and what is skipped.

- :mod:`.csv_formats`: the CSV formats (the column tables are in its docstring);
- :mod:`.structured`: Bitwarden JSON, 1PUX, KeePass XML and KDBX;
- :mod:`.base`: limits, the report's pieces, the row validator, the URL rule.

``fmt="auto"`` detects the format from the file (:func:`format_detect`).
"""

from __future__ import annotations

from strongroom.core.progress import ProgressFactory, no_progress
from strongroom.vault.importers import structured
from strongroom.vault.importers.base import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ROWS,
    MAX_PROBLEMS,
    MODES,
    ImportEntry,
    ImportNote,
    ImportProblem,
    ImportReport,
    ParsedImport,
    TooManyProblems,
    file_problem,
    url_problem,
)
from strongroom.vault.importers.csv_formats import CSV_FORMATS, csv_format_guess, csv_parse

# Formats by name, in the order the web form lists them ("auto" first).
FORMATS = (
    "strongroom",
    "bitwarden",
    "bitwarden_json",
    "keepassxc",
    "keepass_xml",
    "kdbx",
    "1password_1pux",
    "1password_csv",
    "lastpass",
)
FORMAT_LABELS = {
    "auto": "Detect from the file",
    "strongroom": "Strongroom CSV",
    "bitwarden": "Bitwarden CSV export",
    "bitwarden_json": "Bitwarden JSON export",
    "keepassxc": "KeePassXC CSV export",
    "keepass_xml": "KeePass XML (2.x) export",
    "kdbx": "KeePass database (.kdbx)",
    "1password_1pux": "1Password export (.1pux)",
    "1password_csv": "1Password CSV export",
    "lastpass": "LastPass CSV export",
}
# Formats read as text (UTF-8); the others are binary (a zip, a KDBX database).
_TEXT_FORMATS = (*CSV_FORMATS, "bitwarden_json", "keepass_xml")
_ZIP_SIGNATURE = b"PK\x03\x04"

__all__ = [
    "FORMATS",
    "FORMAT_LABELS",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ROWS",
    "MAX_PROBLEMS",
    "MODES",
    "ImportEntry",
    "ImportNote",
    "ImportProblem",
    "ImportReport",
    "ParsedImport",
    "format_detect",
    "import_parse",
    "url_problem",
]


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def format_detect(data: bytes) -> str | None:
    """The format of ``data`` judged from its content, or None if it is none we read."""
    if data.startswith(structured.KDBX_SIGNATURE):
        return "kdbx"
    if data.startswith(_ZIP_SIGNATURE):
        return "1password_1pux"
    text = _text(data)
    if text is None:
        return None
    head = text.lstrip()[:4096]
    if head.startswith("{"):
        return "bitwarden_json"
    if head.startswith("<"):
        return "keepass_xml" if "<KeePassFile" in head else None
    return csv_format_guess(text)


def import_parse(
    *,
    data: bytes,
    fmt: str,
    password: str | None = None,
    progress: ProgressFactory = no_progress,
) -> ParsedImport:
    """Parse and validate a whole file. ``problems`` is empty only if every item is good;
    ``skipped`` lists items the format holds that are not imported (never a reason to
    refuse the file). ``password`` opens a KDBX database."""
    if fmt == "auto":
        if len(data) > MAX_IMPORT_BYTES:
            return _too_large(ParsedImport(fmt=fmt))
        detected = format_detect(data)
        if detected is None:
            return file_problem(
                ParsedImport(fmt=fmt),
                "could not tell which program exported this file; choose the format "
                "(one of: " + ", ".join(FORMATS) + ")",
            )
        fmt = detected
    parsed = ParsedImport(fmt=fmt)
    if fmt not in FORMATS:
        return file_problem(
            parsed,
            f"unknown import format {fmt[:40]!r}; use one of: auto, " + ", ".join(FORMATS),
        )
    if len(data) > MAX_IMPORT_BYTES:
        return _too_large(parsed)
    text = ""
    if fmt in _TEXT_FORMATS:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            return file_problem(
                parsed,
                f"the file is not UTF-8 text (invalid byte at offset {exc.start}, line {line}); "
                "export it again as UTF-8",
                line,
            )
        if not text.strip():
            return file_problem(parsed, "the file is empty")
    elif not data:
        return file_problem(parsed, "the file is empty")

    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    ticker = progress(f"reading {FORMAT_LABELS[fmt]}", lines if fmt in CSV_FORMATS else 0)
    try:
        if fmt in CSV_FORMATS:
            csv_parse(text=text, fmt=fmt, parsed=parsed, ticker=ticker)
        elif fmt == "bitwarden_json":
            structured.bitwarden_json_parse(text=text, parsed=parsed, ticker=ticker)
        elif fmt == "keepass_xml":
            structured.keepass_xml_parse(data=data, parsed=parsed, ticker=ticker)
        elif fmt == "kdbx":
            structured.kdbx_parse(data=data, password=password, parsed=parsed, ticker=ticker)
        else:
            onepux = structured.onepux_text(data, parsed)
            if onepux is not None:
                structured.onepux_parse(text=onepux, parsed=parsed, ticker=ticker)
    except TooManyProblems:
        parsed.problems.append(
            ImportProblem(None, None, f"stopped after {MAX_PROBLEMS} problems; fix these first")
        )
    finally:
        ticker.close()
    if not parsed.problems and not parsed.entries and not parsed.skipped:
        file_problem(parsed, "the file holds no entries")
    if parsed.problems:
        parsed.entries = []
    return parsed


def _too_large(parsed: ParsedImport) -> ParsedImport:
    return file_problem(
        parsed,
        f"the file is larger than {MAX_IMPORT_BYTES} bytes, the most that can be imported "
        "at once (split it into several files)",
    )
