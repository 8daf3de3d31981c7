"""Reading structured exports for import: Bitwarden JSON, 1Password 1PUX, KeePass 2.x XML and
KeePass databases (KDBX, opened with pykeepass and the password the user gives).

Every item is validated like a CSV row (:class:`~strongroom.vault.importers.base.Row`), under
column names that are the exporting program's own field names (``login.password``,
``UserName``), so a report can say which field of which item is wrong. Items are counted
from 1 in file order; ``item`` says where the item is.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from strongroom.core.errors import ValidationFailed
from strongroom.core.progress import Ticker
from strongroom.vault import validation as v
from strongroom.vault.importers.base import (
    BITWARDEN_SKIPPED_TYPES,
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ROWS,
    ImportEntry,
    ImportNote,
    ImportProblem,
    ParsedImport,
    Row,
    add_problem,
    file_problem,
    shorten,
    untitled,
)

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- shared


def _join_notes(row: Row, notes: str, extra: list[tuple[str, str]], column: str) -> str:
    """Notes with the item's other fields appended as ``name: value`` lines (the notes are
    sealed; a resource's custom fields are not, and the extra fields may be hidden ones)."""
    lines = [f"{name}: {value}" for name, value in extra if value]
    if not lines:
        return notes
    joined = "\n".join(lines)
    notes = f"{notes}\n\n{joined}" if notes else joined
    try:
        v.text_clean(column, notes, max_length=v.MAX_NOTES)
    except ValidationFailed as exc:
        row.problem(column, exc.message)
    return notes


def _entry(
    row: Row,
    *,
    title: str,
    urls: list[str],
    url_column: str,
    username: str,
    password: str,
    notes: str,
    totp: str,
    extra: list[tuple[str, str]],
    groups: list[str],
    resource_type: str | None = None,
) -> ImportEntry | None:
    """Validate one item's values and make the entry. Every argument naming a field is the
    column ``row.values`` holds it under; ``extra`` pairs such a column with the name the
    field is shown under in the notes."""
    name = row.text(title, max_length=v.MAX_RESOURCE_NAME)
    url_list = []
    for column in urls:
        value = row.text(column, max_length=v.MAX_URL)
        row.url(column, value)
        if value.strip():
            url_list.append(value)
    url = url_list[0] if url_list else ""
    custom_fields = {"Other URIs": "\n".join(url_list[1:])} if len(url_list) > 1 else {}
    try:
        v.custom_fields_clean(custom_fields)
    except ValidationFailed as exc:
        row.problem(url_column, exc.message)
    user = row.text(username, max_length=v.MAX_USERNAME)
    secret = row.text(password, max_length=v.MAX_PASSWORD)
    text = row.text(notes, max_length=v.MAX_NOTES)
    shown = [
        (shown_as, row.text(column, max_length=v.MAX_CUSTOM_FIELD_VALUE))
        for column, shown_as in extra
    ]
    text = _join_notes(row, text, shown, notes)
    seed = row.totp(totp)
    for group in groups:
        try:
            v.text_clean("group", group, max_length=v.MAX_GROUP_NAME)
        except ValidationFailed as exc:
            row.problem("group", exc.message)
    if row.bad:
        return None
    return ImportEntry(
        row=row.number,
        name=untitled(name, url),
        url=url,
        resource={
            "resource_type": resource_type
            if resource_type is not None
            else ("Web Site" if url else "")
        },
        custom_fields=custom_fields,
        username=user,
        password=secret,
        notes=text,
        totp_seed=seed,
        groups=[g for g in groups if g.strip()],
        item=row.item,
    )


def _count(parsed: ParsedImport, number: int) -> bool:
    """Count one item; False (and a problem) once the file has too many."""
    parsed.rows += 1
    if parsed.rows > MAX_IMPORT_ROWS:
        add_problem(
            parsed,
            ImportProblem(
                number,
                None,
                f"the file has more than {MAX_IMPORT_ROWS} entries; split it into several files",
            ),
        )
        return False
    return True


def _text_of(value: Any) -> str | None:
    """A JSON value as text: strings as they are, numbers and booleans written out; None for
    objects and lists (which are not a field's value)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


class _Values(dict[str, str]):
    """``row.values`` for a JSON item: non-text values become a problem for their field."""

    def __init__(self) -> None:
        super().__init__()
        self.wrong: list[str] = []

    def put(self, column: str, value: Any) -> str:
        text = _text_of(value)
        if text is None:
            self.wrong.append(column)
            text = ""
        self[column] = text
        return column


def _row(number: int, values: _Values, parsed: ParsedImport, item: str) -> Row:
    row = Row(number, None, values, parsed, item)
    for column in values.wrong:
        row.problem(column, f"{column} must be text, not a list or an object")
    for column, value in values.items():
        if "\x00" in value:
            row.problem(column, f"{column} must not contain NUL characters (U+0000)")
    return row


def _load_json(parsed: ParsedImport, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        file_problem(
            parsed,
            f"the file is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            exc.lineno,
        )
    except RecursionError:
        file_problem(parsed, "the JSON is nested too deeply to read")
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        file_problem(parsed, f"the JSON cannot be read ({str(exc)[:120]})")
    return None


# --------------------------------------------------------------------------- Bitwarden JSON

_BITWARDEN_TYPES = {1: "login", 2: "note", 3: "card", 4: "identity", 5: "sshkey"}


def bitwarden_json_parse(*, text: str, parsed: ParsedImport, ticker: Ticker) -> None:
    doc = _load_json(parsed, text)
    if doc is None:
        return
    if isinstance(doc, dict) and (doc.get("encrypted") or doc.get("passwordProtected")):
        file_problem(
            parsed,
            "this Bitwarden export is encrypted; export the vault again with the file format "
            "'.json' (not '.json (Encrypted)') and import that file",
        )
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        file_problem(parsed, "this is not a Bitwarden JSON export (no list of items)")
        return
    names: dict[str, str] = {}
    for key in ("folders", "collections"):
        for group in doc.get(key) or []:
            if isinstance(group, dict) and isinstance(group.get("id"), str):
                names[group["id"]] = _str(group.get("name"))
    for index, item in enumerate(doc["items"]):
        ticker.update()
        number = index + 1
        if not _count(parsed, number):
            return
        label = f"items[{index}]"
        if not isinstance(item, dict):
            add_problem(
                parsed, ImportProblem(number, None, "this item is not an object", None, label)
            )
            continue
        entry = _bitwarden_item(number, label, item, names, parsed)
        if entry is not None:
            parsed.entries.append(entry)


def _bitwarden_item(
    number: int, label: str, item: dict[str, Any], names: dict[str, str], parsed: ParsedImport
) -> ImportEntry | None:
    values = _Values()
    title = values.put("name", item.get("name"))
    raw_type = item.get("type")
    kind = _BITWARDEN_TYPES.get(raw_type) if isinstance(raw_type, int) else None
    if kind in BITWARDEN_SKIPPED_TYPES:
        row = _row(number, values, parsed, label)
        row.skip(values[title] or "Untitled item", BITWARDEN_SKIPPED_TYPES[kind])
        return None
    if kind not in ("login", "note"):
        row = _row(number, values, parsed, label)
        row.problem(
            "type",
            "this is not a Bitwarden item type (1 login, 2 note, 3 card, 4 identity, 5 SSH key)",
        )
        return None
    login = item.get("login") or {}
    if not isinstance(login, dict):
        login = {}
        values.wrong.append("login")
    uris = login.get("uris") or []
    if not isinstance(uris, list):
        uris = []
        values.wrong.append("login.uris")
    url_columns = []
    for position, uri in enumerate(uris[: v.MAX_CUSTOM_FIELDS]):
        url_columns.append(
            values.put(
                f"login.uris[{position}].uri", uri.get("uri") if isinstance(uri, dict) else uri
            )
        )
    extra: list[tuple[str, str]] = []
    fields = item.get("fields") or []
    if not isinstance(fields, list):
        fields = []
        values.wrong.append("fields")
    for position, custom in enumerate(fields[: v.MAX_CUSTOM_FIELDS]):
        if not isinstance(custom, dict) or custom.get("type") == 3:  # 3: linked, no value
            continue
        name = _text_of(custom.get("name")) or f"Field {position + 1}"
        column = values.put(f"fields[{position}].value", custom.get("value"))
        extra.append((column, name))
    groups: list[str] = []
    folder = item.get("folderId")
    if isinstance(folder, str) and names.get(folder):
        groups.append(names[folder])
    for collection in _list(item.get("collectionIds")):
        if isinstance(collection, str) and names.get(collection):
            groups.append(names[collection])
    columns = {
        "username": values.put("login.username", login.get("username")),
        "password": values.put("login.password", login.get("password")),
        "totp": values.put("login.totp", login.get("totp")),
        "notes": values.put("notes", item.get("notes")),
    }
    row = _row(number, values, parsed, label)
    return _entry(
        row,
        title=title,
        urls=url_columns,
        url_column="login.uris",
        extra=extra,
        groups=groups,
        resource_type="Secure Note" if kind == "note" else None,
        **columns,
    )


# --------------------------------------------------------------------------- 1Password 1PUX

# 1PUX category UUIDs (1Password's "1PUX format" page). Imported: the ones that are a login
# in all but name; the others are reported as skipped.
_OP_IMPORTED = {
    "001": "",  # Login
    "003": "Secure Note",
    "005": "",  # Password
    "102": "Database",
    "110": "Server",
}
_OP_CATEGORIES = {
    "002": "credit card",
    "004": "identity",
    "006": "document",
    "100": "software license",
    "101": "bank account",
    "103": "driver license",
    "104": "outdoor license",
    "105": "membership",
    "106": "passport",
    "107": "reward program",
    "108": "social security number",
    "109": "wireless router",
    "111": "email account",
    "112": "API credential",
    "113": "medical record",
    "114": "SSH key",
    "115": "crypto wallet",
}
# Section field ids that hold a Server's or Database's login.
_OP_USER_IDS = ("username",)
_OP_PASSWORD_IDS = ("password",)
_OP_URL_IDS = ("url", "hostname", "server")
ONEPUX_DATA = "export.data"


def onepux_text(data: bytes, parsed: ParsedImport) -> str | None:
    """The ``export.data`` JSON of a 1PUX file (a zip), or None with a problem."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            try:
                info = archive.getinfo(ONEPUX_DATA)
            except KeyError:
                file_problem(parsed, "this zip file is not a 1PUX export (it has no export.data)")
                return None
            # A zip can claim little and inflate to much: read no more than an import allows.
            if info.file_size > MAX_IMPORT_BYTES:
                file_problem(
                    parsed,
                    f"export.data is larger than {MAX_IMPORT_BYTES} bytes, the most that can be "
                    "imported at once",
                )
                return None
            with archive.open(info) as handle:
                raw = handle.read(MAX_IMPORT_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError) as exc:
        file_problem(parsed, f"this 1PUX file is not a readable zip archive ({exc})")
        return None
    if len(raw) > MAX_IMPORT_BYTES:
        file_problem(parsed, f"export.data is larger than {MAX_IMPORT_BYTES} bytes")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        file_problem(parsed, "export.data in this 1PUX file is not UTF-8 text")
        return None


def onepux_parse(*, text: str, parsed: ParsedImport, ticker: Ticker) -> None:
    doc = _load_json(parsed, text)
    if doc is None:
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("accounts"), list):
        file_problem(parsed, "export.data is not 1PUX data (no list of accounts)")
        return
    number = 0
    for a_index, account in enumerate(doc["accounts"]):
        for v_index, vault in enumerate(_list(_dict(account).get("vaults"))):
            if not isinstance(vault, dict):
                continue
            vault_name = _str(_dict(vault.get("attrs")).get("name"))
            for i_index, item in enumerate(_list(vault.get("items"))):
                ticker.update()
                number += 1
                if not _count(parsed, number):
                    return
                label = f"accounts[{a_index}].vaults[{v_index}].items[{i_index}]"
                if not isinstance(item, dict):
                    add_problem(
                        parsed,
                        ImportProblem(number, None, "this item is not an object", None, label),
                    )
                    continue
                entry = _onepux_item(number, label, item, vault_name, parsed)
                if entry is not None:
                    parsed.entries.append(entry)


def _op_field_text(value: Any) -> Any:
    """A 1PUX section field's value (``{"concealed": "…"}``, ``{"string": "…"}``…) as a
    scalar; structured ones (addresses, emails) as None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if kind == "email" and isinstance(inner, dict):
        return inner.get("email_address")
    return inner if isinstance(inner, str | int | float) else None


def _onepux_item(
    number: int, label: str, item: dict[str, Any], vault: str, parsed: ParsedImport
) -> ImportEntry | None:
    values = _Values()
    overview = _dict(item.get("overview"))
    details = _dict(item.get("details"))
    title = values.put("overview.title", overview.get("title"))
    category = _str(item.get("categoryUuid"))
    if item.get("state") == "archived":
        _row(number, values, parsed, label).skip(
            values[title] or "Untitled item",
            "archived in 1Password (archived items are not imported)",
        )
        return None
    if category not in _OP_IMPORTED:
        what = _OP_CATEGORIES.get(category)
        reason = (
            f"1Password {what} items are not imported (Strongroom keeps logins, passwords, "
            "servers, databases and secure notes)"
            if what
            else "this 1Password item category is not imported"
        )
        _row(number, values, parsed, label).skip(values[title] or "Untitled item", reason)
        return None
    url_columns: list[str] = []
    if overview.get("url"):
        url_columns.append(values.put("overview.url", overview.get("url")))
    for position, entry in enumerate(_list(overview.get("urls"))[: v.MAX_CUSTOM_FIELDS]):
        url = entry.get("url") if isinstance(entry, dict) else entry
        if url and url != overview.get("url"):
            url_columns.append(values.put(f"overview.urls[{position}].url", url))
    username = values.put("details.username", "")
    password = values.put("details.password", details.get("password"))
    for position, login_field in enumerate(_list(details.get("loginFields"))):
        if not isinstance(login_field, dict):
            continue
        if login_field.get("designation") == "username":
            username = values.put(
                f"details.loginFields[{position}].value", login_field.get("value")
            )
        elif login_field.get("designation") == "password":
            password = values.put(
                f"details.loginFields[{position}].value", login_field.get("value")
            )
    totp = values.put("totp", "")
    extra: list[tuple[str, str]] = []
    for s_index, section in enumerate(_list(details.get("sections"))):
        for f_index, section_field in enumerate(_list(_dict(section).get("fields"))):
            if not isinstance(section_field, dict):
                continue
            column = f"details.sections[{s_index}].fields[{f_index}]"
            raw = section_field.get("value")
            field_id = _str(section_field.get("id"))
            if isinstance(raw, dict) and "totp" in raw:
                if values.get(totp):
                    continue  # one TOTP per account; further ones stay in 1Password
                totp = values.put(column, raw["totp"])
                continue
            scalar = _op_field_text(raw)
            if scalar is None or scalar == "":
                continue
            if field_id in _OP_USER_IDS and not values.get(username):
                username = values.put(column, scalar)
            elif field_id in _OP_PASSWORD_IDS and not values.get(password):
                password = values.put(column, scalar)
            elif field_id in _OP_URL_IDS and not url_columns:
                url_columns.append(values.put(column, scalar))
            elif len(extra) < v.MAX_CUSTOM_FIELDS:
                shown = section_field.get("title")
                extra.append(
                    (
                        values.put(column, scalar),
                        shown if isinstance(shown, str) and shown else field_id or "Field",
                    )
                )
    notes = values.put("details.notesPlain", details.get("notesPlain"))
    row = _row(number, values, parsed, label)
    return _entry(
        row,
        title=title,
        urls=url_columns,
        url_column="overview.urls",
        username=username,
        password=password,
        notes=notes,
        totp=totp,
        extra=extra,
        groups=[vault] if vault else [],
        resource_type=_OP_IMPORTED[category] or None,
    )


# --------------------------------------------------------------------------- KeePass XML / KDBX

_KEEPASS_STANDARD = ("Title", "UserName", "Password", "URL", "Notes")
# Where KeePassXC (``otp``) and KeePass 2.47+ (``TimeOtp-Secret-Base32``) keep a TOTP secret.
_KEEPASS_TOTP = ("otp", "TimeOtp-Secret-Base32")
_KEEPASS_TOTP_SETTINGS = ("TimeOtp-Length", "TimeOtp-Period", "TimeOtp-Algorithm")
_NO_UUID = "AAAAAAAAAAAAAAAAAAAAAA=="


def keepass_xml_parse(
    *, data: bytes, parsed: ParsedImport, ticker: Ticker, decrypted: bool = False
) -> None:
    """A KeePass 2.x XML document: KeePass's *Export → KeePass XML (2.x)*, or the inner XML
    of a KDBX database that pykeepass decrypted (``decrypted``: its ``Protected`` values
    are plain text by then)."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        file_problem(parsed, "the XML declares a DTD or entities, which an export never does")
        return
    except SafeET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        file_problem(parsed, f"the file is not well-formed XML ({exc})", line)
        return
    except (ValueError, LookupError) as exc:  # an encoding expat does not know
        file_problem(parsed, f"the XML cannot be read ({str(exc)[:120]})")
        return
    if root.tag != "KeePassFile" or root.find("Root/Group") is None:
        file_problem(parsed, "this is not a KeePass XML export (no KeePassFile/Root/Group)")
        return
    recycle_bin = (root.findtext("Meta/RecycleBinUUID") or "").strip()
    top = root.find("Root/Group")
    assert top is not None  # noqa: S101  (checked above)
    counter = [0]
    try:
        for group_path, entry in _keepass_entries(top, [], recycle_bin):
            ticker.update()
            counter[0] += 1
            number = counter[0]
            if not _count(parsed, number):
                return
            made = _keepass_entry(number, group_path, entry, parsed, decrypted=decrypted)
            if made is not None:
                parsed.entries.append(made)
    except _TooDeep:
        parsed.entries.clear()
        file_problem(
            parsed,
            f"the groups are nested more than {KEEPASS_MAX_DEPTH} deep, which an export never is",
        )
        return
    for skipped in _keepass_recycled(top, recycle_bin):
        parsed.skipped.append(skipped)


KEEPASS_MAX_DEPTH = 100
"""Deepest group nesting a KeePass file may have (KeePass users nest a handful of levels)."""


class _TooDeep(Exception):
    pass


def _keepass_entries(
    group: Element, path: list[str], recycle_bin: str
) -> Iterator[tuple[list[str], Element]]:
    """Entries in document order with the names of the groups above them (the root group
    excluded), leaving out the recycle bin and each entry's history. Walked with an
    explicit stack, not recursion: a hostile file nests groups thousands deep
    (:class:`_TooDeep` past :data:`KEEPASS_MAX_DEPTH`)."""
    stack: list[tuple[Iterator[Element], list[str]]] = [(iter(group), path)]
    while stack:
        children, here = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
        elif child.tag == "Entry":
            yield here, child
        elif child.tag == "Group":
            if (
                recycle_bin
                and recycle_bin != _NO_UUID
                and (child.findtext("UUID") or "") == recycle_bin
            ):
                continue
            if len(stack) >= KEEPASS_MAX_DEPTH:
                raise _TooDeep
            stack.append((iter(child), [*here, child.findtext("Name") or ""]))


def _keepass_recycled(top: Element, recycle_bin: str) -> list[ImportNote]:
    """The entries in the recycle bin (and its subgroups): reported as skipped."""
    if not recycle_bin or recycle_bin == _NO_UUID:
        return []
    notes = []
    for group in top.iter("Group"):
        if (group.findtext("UUID") or "") != recycle_bin:
            continue
        for inner in group.iter("Group"):
            for entry in inner.findall("Entry"):
                title = next(
                    (
                        s.findtext("Value") or ""
                        for s in entry.findall("String")
                        if s.findtext("Key") == "Title"
                    ),
                    "",
                )
                notes.append(
                    ImportNote(
                        None,
                        "recycle bin",
                        shorten(title or "Untitled entry"),
                        "in the KeePass recycle bin (deleted entries are not imported)",
                    )
                )
    return notes


def _keepass_entry(
    number: int, path: list[str], entry: Element, parsed: ParsedImport, *, decrypted: bool
) -> ImportEntry | None:
    values = _Values()
    protected_encrypted: list[str] = []
    for string in entry.findall("String"):
        key = string.findtext("Key") or ""
        value_el = string.find("Value")
        value = value_el.text or "" if value_el is not None else ""
        if value_el is not None and value_el.get("Protected") == "True" and not decrypted:
            protected_encrypted.append(key)
        if key and key not in values:
            values[key] = value
    place = "/".join(path) if path else "the root group"
    title_for_label = values.get("Title", "")[:60]
    label = f"entry {title_for_label!r} in {place[:120]}"
    row = _row(number, values, parsed, label)
    for key in protected_encrypted:
        row.problem(
            key,
            f'{key} is encrypted in this XML (Protected="True"): export it with KeePass\'s '
            "File → Export → KeePass XML (2.x), or import the .kdbx database itself",
        )
    totp_column = next((k for k in _KEEPASS_TOTP if values.get(k)), "otp")
    if totp_column == "TimeOtp-Secret-Base32" and any(
        values.get(k) for k in _KEEPASS_TOTP_SETTINGS
    ):
        row.problem(
            "TimeOtp-Secret-Base32",
            "TOTP settings other than the defaults (TimeOtp-Length, -Period, -Algorithm) are "
            "not imported; give the entry an otpauth:// URI in its 'otp' field instead",
        )
    for key in _KEEPASS_STANDARD:
        values.setdefault(key, "")
    values.setdefault("otp", "")
    extra = [
        (key, key)
        for key in list(values)
        if key not in _KEEPASS_STANDARD
        and key not in _KEEPASS_TOTP
        and key not in _KEEPASS_TOTP_SETTINGS
        and not key.startswith("KPXC_")
        and values[key]
    ][: v.MAX_CUSTOM_FIELDS]
    group = "/".join(path)
    return _entry(
        row,
        title="Title",
        urls=["URL"],
        url_column="URL",
        username="UserName",
        password="Password",
        notes="Notes",
        totp=totp_column,
        extra=extra,
        groups=[group] if group.strip() else [],
    )


# KDF costs a database may ask for before we spend them: an uploaded file must not be able
# to make the server hash for minutes or allocate gigabytes.
KDBX_MAX_ARGON2_MEMORY = 512 * 1024 * 1024
KDBX_MAX_ARGON2_ITERATIONS = 100
KDBX_MAX_ARGON2_PARALLELISM = 64
KDBX_MAX_AES_ROUNDS = 10_000_000
KDBX_SIGNATURE = bytes.fromhex("03d9a29a67fb4bb5")


def kdbx_parse(*, data: bytes, password: str | None, parsed: ParsedImport, ticker: Ticker) -> None:
    """A KeePass database (KDBX 3.1 or 4), opened with its password (key files are not
    supported), then read like a KeePass XML export."""
    # construct is pykeepass's parser: its errors are how pykeepass reports a file it cannot
    # read (a truncated or foreign file).
    from construct import ConstructError
    from pykeepass import PyKeePass
    from pykeepass.exceptions import (
        CredentialsError,
        HeaderChecksumError,
        PayloadChecksumError,
    )
    from pykeepass.kdbx_parsing.kdbx import KDBX

    if not password:
        file_problem(parsed, "this is a KeePass database (.kdbx): give its password to import it")
        return
    try:
        header = KDBX.subcons[0].parse(data).value
    except (ConstructError, ValueError, UnicodeDecodeError, OverflowError):
        file_problem(parsed, "this is not a KeePass database, or its header is damaged")
        return
    too_costly = _kdbx_cost_problem(header)
    if too_costly:
        file_problem(parsed, too_costly)
        return
    try:
        database = PyKeePass(io.BytesIO(data), password=password)
    except CredentialsError:
        file_problem(
            parsed,
            "the password is wrong for this KeePass database (or the database also needs a key "
            "file, which import does not support)",
        )
        return
    except (HeaderChecksumError, PayloadChecksumError):
        file_problem(parsed, "this KeePass database is damaged (its checksums do not match)")
        return
    except Exception as exc:  # noqa: BLE001
        # pykeepass reads an untrusted file and raises what its layers raise (construct's
        # errors, ValueError, a bare Exception for an unknown cipher or KDF): any of them
        # means this file cannot be read, which is the user's answer, not a server error.
        logger.info("KDBX import refused: %s", type(exc).__name__)
        file_problem(parsed, "this KeePass database cannot be read (damaged or unsupported)")
        return
    xml = database.xml()
    del database
    keepass_xml_parse(data=xml, parsed=parsed, ticker=ticker, decrypted=True)


_ARGON2_IDS = {
    bytes.fromhex("ef636ddf8c29444b91f7a9a403e30a0c"),  # Argon2d
    bytes.fromhex("9e298b1956db4773b23dfc3ec6f0a1e6"),  # Argon2id
}
_AES_KDF_ID = bytes.fromhex("c9d9f39a628a4460bf740d08c18a4fea")


def _kdbx_cost_problem(header: Any) -> str | None:
    """Why the database's key derivation costs more than an import spends, or None.

    The parameters checked are chosen by the KDF's UUID, exactly as pykeepass chooses them
    when it derives the key: a file must not pass with harmless decoy parameters of the
    other KDF (an AES-KDF database carrying a small ``M`` would otherwise have its ``R``
    unchecked). A parameter the chosen KDF needs but the file lacks refuses the file."""
    dynamic = header.dynamic_header
    limits: list[tuple[str, Any, int]] = []  # (what, asked, most)
    try:
        if header.major_version == 3:
            limits.append(("AES-KDF rounds", dynamic.transform_rounds.data, KDBX_MAX_AES_ROUNDS))
        else:
            params = dynamic.kdf_parameters.data.dict
            kdf = params["$UUID"].value if "$UUID" in params else None
            if kdf in _ARGON2_IDS:
                limits += [
                    ("bytes of Argon2 memory", params["M"].value, KDBX_MAX_ARGON2_MEMORY),
                    ("Argon2 iterations", params["I"].value, KDBX_MAX_ARGON2_ITERATIONS),
                    ("Argon2 lanes", params["P"].value, KDBX_MAX_ARGON2_PARALLELISM),
                ]
            elif kdf == _AES_KDF_ID:
                limits.append(("AES-KDF rounds", params["R"].value, KDBX_MAX_AES_ROUNDS))
            else:
                return "the database uses a key derivation this import does not know"
    except (KeyError, AttributeError):
        return "this KeePass database's key derivation settings are incomplete (damaged file)"
    for what, asked, most in limits:
        if not isinstance(asked, int):
            return "this KeePass database's key derivation settings are damaged"
        if asked > most:
            if what == "bytes of Argon2 memory":  # said in MiB, rounded up
                what, asked, most = "MiB of Argon2 memory", -(-asked // 2**20), most // 2**20
            return (
                f"the database asks for {asked:,} {what}, more than the {most:,} an import "
                "spends; lower it in KeePass (Database settings → Security) or export KeePass "
                "XML and import that"
            )
    return None
