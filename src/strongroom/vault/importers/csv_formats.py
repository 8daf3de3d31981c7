"""Reading CSV files for import: Strongroom's own columns, and the CSV exports of Bitwarden,
KeePassXC, LastPass and 1Password (docs/import.md has the user's view of each).

This module only parses and validates; ``services.import_csv`` writes the result in one
transaction, and only when the whole file is valid. URLs must pass ``base.url_problem``.

Files
-----

UTF-8 (a byte-order mark is fine), comma-separated, RFC 4180 quoting (fields with commas,
quotes or line breaks in double quotes, quotes doubled), the first record is the header.
At most :data:`MAX_IMPORT_BYTES` bytes and :data:`MAX_IMPORT_ROWS` entries. Blank lines are
skipped. Every record must have exactly as many fields as the header; no field may contain
a NUL character. Values are imported exactly as written (no trimming; a leading ``=`` is
kept as text).

Row numbers in reports count records as a spreadsheet shows them: the header is row 1, the
first entry is row 2. ``line`` is the physical line where the record starts (they differ
when a quoted field spans lines).

Strongroom format (``strongroom``)
----------------------------------

Header with these columns, in any order, all present and no others:

==================  =====================================================================
``resource_name``   resource name (required)
``resource_type``   e.g. ``Linux``, ``Windows``, ``Web Site``
``host``            host name or IP address
``url``             URL
``department``      department
``location``        location
``description``     description of the resource
``username``        account user name (may be empty, e.g. for a Wi-Fi key)
``password``        account password
``notes``           account notes (stored encrypted)
``totp_seed``       base32 TOTP secret or ``otpauth://totp/...`` URI (optional)
==================  =====================================================================

An optional ``resource_group`` column puts the resource into the resource group of that
name owned by the importing user (created if missing).

Rows with the same ``resource_name`` and ``url`` are accounts of one resource. The
resource's other columns may be left empty on later rows; a later row that gives a
*different* value for them is reported as a problem rather than silently ignored.

Bitwarden (``bitwarden``)
-------------------------

Bitwarden's CSV export of a personal vault (``folder,favorite,type,name,notes,fields,
reprompt,login_uri,login_username,login_password,login_totp``) or of an organisation
(``collections`` instead of ``folder``). Only ``login`` and ``note`` items exist in that
export. ``name`` becomes the resource name; the first URI of ``login_uri`` the resource
URL (further URIs go to the resource's custom field ``Other URIs``); the folder or each
collection becomes a resource group. ``notes`` and the item's custom ``fields`` (which may
hold hidden values) become the account's encrypted notes. ``favorite`` and ``reprompt`` are
not imported. Columns added by later Bitwarden versions are ignored.

KeePassXC (``keepassxc``)
-------------------------

KeePassXC's *Export → CSV* (``"Group","Title","Username","Password","URL","Notes","TOTP",
"Icon","Last Modified","Created"``; files from older versions without the last four columns
are accepted). ``Title`` becomes the resource name (an untitled entry is named after its
URL, or ``Untitled entry``); ``Group`` without the database's root group becomes a resource
group (entries directly in the root get none); ``TOTP`` is the entry's ``otpauth://`` URI.
``Icon`` and the dates are not imported.

LastPass (``lastpass``)
-----------------------

LastPass's *Export* (``url,username,password,totp,extra,name,grouping,fav``; ``totp`` and
``fav`` optional). ``extra`` is the notes; ``grouping`` the folder (``(none)`` is none). A
secure note has the URL ``http://sn``: a plain one becomes a *Secure Note* resource, a typed
one (``extra`` starting ``NoteType:Credit Card``…) is skipped and reported.

1Password CSV (``1password_csv``)
---------------------------------

1Password 8's CSV export (``Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,
Notes``; the last four optional). Archived rows are skipped and reported; tags are not
imported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from strongroom.core.errors import ValidationFailed
from strongroom.core.progress import Ticker
from strongroom.vault import validation as v
from strongroom.vault.importers.base import (
    BITWARDEN_SKIPPED_TYPES,
    MAX_IMPORT_ROWS,
    ImportEntry,
    ImportProblem,
    ParsedImport,
    Row,
    add_problem,
    file_problem,
    untitled,
)

# A single field may be as long as the longest value we accept, plus room for quoting.
_CSV_FIELD_LIMIT = 128 * 1024


# --------------------------------------------------------------------------- formats


@dataclass(frozen=True)
class _Format:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    unknown_columns_allowed: bool
    # Columns of which exactly one must be present (Bitwarden: folder or collections).
    one_of: tuple[str, ...] = ()
    # Whether later rows of a resource must agree with the first on the resource's fields.
    resource_fields_must_agree: bool = False
    to_entry: Callable[[Row], ImportEntry | None] = field(default=lambda row: None)


def _strongroom_entry(row: Row) -> ImportEntry | None:
    name = row.text("resource_name", max_length=v.MAX_RESOURCE_NAME, required=True)
    url = row.text("url", max_length=v.MAX_URL)
    row.url("url", url)
    resource = {
        "resource_type": row.text("resource_type", max_length=v.MAX_RESOURCE_TYPE),
        "host": row.text("host", max_length=v.MAX_HOST),
        "department": row.text("department", max_length=v.MAX_DEPARTMENT),
        "location": row.text("location", max_length=v.MAX_LOCATION),
        "description": row.text("description", max_length=v.MAX_DESCRIPTION),
    }
    username = row.text("username", max_length=v.MAX_USERNAME)
    password = row.text("password", max_length=v.MAX_PASSWORD)
    notes = row.text("notes", max_length=v.MAX_NOTES)
    totp_seed = row.totp("totp_seed")
    group = row.text("resource_group", max_length=v.MAX_GROUP_NAME)
    if row.bad:
        return None
    return ImportEntry(
        row=row.number,
        name=name,
        url=url,
        resource=resource,
        custom_fields={},
        username=username,
        password=password,
        notes=notes,
        totp_seed=totp_seed,
        groups=[group] if group.strip() else [],
    )


def _bitwarden_entry(row: Row) -> ImportEntry | None:
    item_type = row.values.get("type", "")
    name = row.text("name", max_length=v.MAX_RESOURCE_NAME, required=True)
    if item_type in BITWARDEN_SKIPPED_TYPES:
        # A card or an identity is not a login: report it and import the rest of the file.
        if not row.bad:
            row.skip(name, BITWARDEN_SKIPPED_TYPES[item_type])
        return None
    if item_type not in {"login", "note"}:
        row.problem(
            "type",
            "this is not a Bitwarden item type (a CSV export holds 'login' and 'note' items; "
            "'card', 'identity' and 'sshkey' items are skipped)",
        )
    uris = row.text("login_uri", max_length=v.MAX_URL * 10)
    uri_list = [u for u in uris.split(",") if u.strip()] if uris else []
    url = uri_list[0] if uri_list else ""
    try:
        v.text_clean("login_uri", url, max_length=v.MAX_URL)
    except ValidationFailed as exc:
        row.problem("login_uri", exc.message)
    for uri in uri_list:
        row.url("login_uri", uri)
    custom_fields = {"Other URIs": "\n".join(uri_list[1:])} if len(uri_list) > 1 else {}
    try:
        v.custom_fields_clean(custom_fields)
    except ValidationFailed as exc:
        row.problem("login_uri", exc.message)
    notes = row.text("notes", max_length=v.MAX_NOTES)
    extra = row.text("fields", max_length=v.MAX_NOTES)
    if extra:
        notes = f"{notes}\n\n{extra}" if notes else extra
        if len(notes) > v.MAX_NOTES:
            row.problem("fields", f"notes and fields together exceed {v.MAX_NOTES} characters")
    username = row.text("login_username", max_length=v.MAX_USERNAME)
    password = row.text("login_password", max_length=v.MAX_PASSWORD)
    totp_seed = row.totp("login_totp")
    if "collections" in row.values:
        raw_groups = row.text("collections", max_length=v.MAX_GROUP_NAME * 20)
        groups = [g for g in raw_groups.split(",") if g.strip()]
    else:
        folder = row.text("folder", max_length=v.MAX_GROUP_NAME)
        groups = [folder] if folder.strip() else []
    for group in groups:
        if len(group) > v.MAX_GROUP_NAME:
            row.problem("folder", f"a folder name is longer than {v.MAX_GROUP_NAME} characters")
    if row.bad:
        return None
    resource_type = "Secure Note" if item_type == "note" else ("Web Site" if url else "")
    return ImportEntry(
        row=row.number,
        name=name,
        url=url,
        resource={"resource_type": resource_type},
        custom_fields=custom_fields,
        username=username,
        password=password,
        notes=notes,
        totp_seed=totp_seed,
        groups=groups,
    )


def _keepassxc_entry(row: Row) -> ImportEntry | None:
    title = row.text("Title", max_length=v.MAX_RESOURCE_NAME)
    url = row.text("URL", max_length=v.MAX_URL)
    row.url("URL", url)
    if not title.strip():
        title = url if url.strip() and len(url) <= v.MAX_RESOURCE_NAME else "Untitled entry"
    username = row.text("Username", max_length=v.MAX_USERNAME)
    password = row.text("Password", max_length=v.MAX_PASSWORD)
    notes = row.text("Notes", max_length=v.MAX_NOTES)
    totp_seed = row.totp("TOTP")
    group_path = row.text("Group", max_length=v.MAX_GROUP_NAME * 4)
    # The first component is the database's root group, which every entry shares.
    parts = group_path.split("/", 1)
    group = parts[1] if len(parts) == 2 else ""
    if len(group) > v.MAX_GROUP_NAME:
        row.problem("Group", f"the group path is longer than {v.MAX_GROUP_NAME} characters")
    if row.bad:
        return None
    return ImportEntry(
        row=row.number,
        name=title,
        url=url,
        resource={"resource_type": "Web Site" if url else ""},
        custom_fields={},
        username=username,
        password=password,
        notes=notes,
        totp_seed=totp_seed,
        groups=[group] if group.strip() else [],
    )


_LASTPASS_NOTE_URL = "http://sn"
_LASTPASS_NOTE_TYPE = re.compile(r"^NoteType:([A-Za-z][A-Za-z ()/-]{0,40})(\r?\n|$)")


def _lastpass_entry(row: Row) -> ImportEntry | None:
    name = row.text("name", max_length=v.MAX_RESOURCE_NAME)
    url = row.text("url", max_length=v.MAX_URL)
    extra = row.text("extra", max_length=v.MAX_NOTES)
    is_note = url == _LASTPASS_NOTE_URL
    if is_note:
        url = ""
        note_type = _LASTPASS_NOTE_TYPE.match(extra)
        if note_type:
            # A "credit card", "bank account", "server"… note: structured fields in ``extra``
            # that are not a login's.
            row.skip(
                untitled(name, ""),
                f"LastPass {note_type.group(1).strip()!r} notes are not imported (Strongroom "
                "keeps logins and plain secure notes)",
            )
            return None
    row.url("url", url)
    username = row.text("username", max_length=v.MAX_USERNAME)
    password = row.text("password", max_length=v.MAX_PASSWORD)
    totp_seed = row.totp("totp")
    grouping = row.text("grouping", max_length=v.MAX_GROUP_NAME)
    if grouping == "(none)":  # older exports' word for "no folder"
        grouping = ""
    if row.bad:
        return None
    return ImportEntry(
        row=row.number,
        name=untitled(name, url),
        url=url,
        resource={"resource_type": "Secure Note" if is_note else ("Web Site" if url else "")},
        custom_fields={},
        username=username,
        password=password,
        notes=extra,
        totp_seed=totp_seed,
        groups=[grouping] if grouping.strip() else [],
    )


def _onepassword_entry(row: Row) -> ImportEntry | None:
    title = row.text("Title", max_length=v.MAX_RESOURCE_NAME)
    url = row.text("Url", max_length=v.MAX_URL)
    if row.values.get("Archived", "").strip().lower() == "true":
        row.skip(untitled(title, url), "archived in 1Password (archived items are not imported)")
        return None
    row.url("Url", url)
    username = row.text("Username", max_length=v.MAX_USERNAME)
    password = row.text("Password", max_length=v.MAX_PASSWORD)
    notes = row.text("Notes", max_length=v.MAX_NOTES)
    totp_seed = row.totp("OTPAuth")
    if row.bad:
        return None
    return ImportEntry(
        row=row.number,
        name=untitled(title, url),
        url=url,
        resource={"resource_type": "Web Site" if url else ""},
        custom_fields={},
        username=username,
        password=password,
        notes=notes,
        totp_seed=totp_seed,
        groups=[],
    )


_FORMATS: dict[str, _Format] = {
    "strongroom": _Format(
        name="strongroom",
        required=(
            "resource_name",
            "resource_type",
            "host",
            "url",
            "department",
            "location",
            "description",
            "username",
            "password",
            "notes",
            "totp_seed",
        ),
        optional=("resource_group",),
        unknown_columns_allowed=False,
        resource_fields_must_agree=True,
        to_entry=_strongroom_entry,
    ),
    "bitwarden": _Format(
        name="bitwarden",
        required=(
            "type",
            "name",
            "notes",
            "fields",
            "login_uri",
            "login_username",
            "login_password",
            "login_totp",
        ),
        optional=("favorite", "reprompt"),
        one_of=("folder", "collections"),
        unknown_columns_allowed=True,
        to_entry=_bitwarden_entry,
    ),
    "keepassxc": _Format(
        name="keepassxc",
        required=("Group", "Title", "Username", "Password", "URL", "Notes"),
        optional=("TOTP", "Icon", "Last Modified", "Created"),
        unknown_columns_allowed=True,
        to_entry=_keepassxc_entry,
    ),
    "lastpass": _Format(
        name="lastpass",
        required=("url", "username", "password", "extra", "name", "grouping"),
        optional=("totp", "fav"),
        unknown_columns_allowed=True,
        to_entry=_lastpass_entry,
    ),
    "1password_csv": _Format(
        name="1password_csv",
        required=("Title", "Url", "Username", "Password", "Notes"),
        optional=("OTPAuth", "Favorite", "Archived", "Tags"),
        unknown_columns_allowed=True,
        to_entry=_onepassword_entry,
    ),
}


# --------------------------------------------------------------------------- parsing


def _columns(count: int) -> str:
    return "column" if count == 1 else "columns"


def _check_header(spec: _Format, header: list[str], parsed: ParsedImport) -> bool:
    # Column names are echoed only when the first line clearly is a header (every required
    # column present): a file without a header has data there, perhaps a password.
    present = set(header)
    missing = [c for c in spec.required if c not in present]
    problems: list[str] = []
    if missing:
        problems.append(f"missing {_columns(len(missing))}: " + ", ".join(missing))
    if spec.one_of and sum(c in present for c in spec.one_of) != 1:
        problems.append("needs exactly one of the columns: " + ", ".join(spec.one_of))
    if not problems:
        duplicates = sorted({c for c in header if header.count(c) > 1})
        if duplicates:
            problems.append(
                f"{_columns(len(duplicates))} appearing twice: "
                + ", ".join(d[:60] for d in duplicates)
            )
        if not spec.unknown_columns_allowed:
            known = set(spec.required) | set(spec.optional) | set(spec.one_of)
            unknown = [c for c in header if c not in known]
            if unknown:
                problems.append(
                    f"unknown {_columns(len(unknown))}: " + ", ".join(repr(c[:60]) for c in unknown)
                )
    for message in problems:
        parsed.problems.append(
            ImportProblem(1, None, f"this is not a {spec.name} CSV header: {message}", 1)
        )
    return not problems


def _check_agreement(spec: _Format, entries: list[ImportEntry], parsed: ParsedImport) -> None:
    """Rows of one resource (same name and url) must not contradict each other."""
    first: dict[tuple[str, str], ImportEntry] = {}
    defined_at: dict[tuple[str, str, str], int] = {}  # (name, url, column) -> row
    for entry in entries:
        key = (entry.name, entry.url)
        original = first.setdefault(key, entry)
        if not spec.resource_fields_must_agree:
            continue
        for column, value in entry.resource.items():
            if not value:
                continue
            where = (*key, column)
            if where not in defined_at:
                defined_at[where] = entry.row
                original.resource[column] = value
            elif value != original.resource[column]:
                add_problem(
                    parsed,
                    ImportProblem(
                        entry.row,
                        column,
                        f"{column} differs from row {defined_at[where]}, which has the same "
                        "resource_name and url (rows of one resource must agree)",
                    ),
                )


CSV_FORMATS = tuple(_FORMATS)


def csv_format_guess(text: str) -> str | None:
    """The CSV format whose header the file's first record is, or None."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), None)
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(old_limit)
    if not header:
        return None
    present = set(header)
    for spec in _FORMATS.values():
        if not set(spec.required) <= present:
            continue
        if spec.one_of and sum(c in present for c in spec.one_of) != 1:
            continue
        return spec.name
    return None


def csv_parse(*, text: str, fmt: str, parsed: ParsedImport, ticker: Ticker) -> None:
    """Parse and validate a whole CSV file of format ``fmt`` (one of :data:`CSV_FORMATS`)
    into ``parsed``; may raise ``TooManyProblems``."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        _parse_records(_FORMATS[fmt], text, parsed, ticker)
    finally:
        csv.field_size_limit(old_limit)


def _parse_records(spec: _Format, text: str, parsed: ParsedImport, ticker: Ticker) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    record_number = 0
    line = 1
    entries: list[ImportEntry] = []
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            add_problem(
                parsed,
                ImportProblem(
                    record_number + 1,
                    None,
                    f"the CSV is malformed here ({exc}); nothing after this point was read",
                    line,
                ),
            )
            return
        ticker.update(reader.line_num + 1 - line)
        if not record:
            continue  # blank line
        record_number += 1
        if header is None:
            header = record
            if any("\x00" in name for name in header):
                add_problem(parsed, ImportProblem(1, None, "the header contains NUL", line))
                return
            if not _check_header(spec, header, parsed):
                return
            continue
        parsed.rows += 1
        if parsed.rows > MAX_IMPORT_ROWS:
            add_problem(
                parsed,
                ImportProblem(
                    record_number,
                    None,
                    f"the file has more than {MAX_IMPORT_ROWS} entries; split it into "
                    "several files",
                    line,
                ),
            )
            return
        if len(record) != len(header):
            add_problem(
                parsed,
                ImportProblem(
                    record_number,
                    None,
                    f"this row has {len(record)} fields but the header has {len(header)}",
                    line,
                ),
            )
            continue
        values = dict(zip(header, record, strict=True))
        row = Row(record_number, line, values, parsed)
        for column, value in values.items():
            if "\x00" in value:
                row.problem(column, f"{column} must not contain NUL characters (U+0000)")
        if row.bad:
            continue
        entry = spec.to_entry(row)
        if entry is not None:
            entries.append(entry)
    if header is None:
        file_problem(parsed, "the file is empty")
        return
    if parsed.rows == 0:
        add_problem(parsed, ImportProblem(None, None, "the file has a header but no entries"))
        return
    _check_agreement(spec, entries, parsed)
    parsed.entries = entries
