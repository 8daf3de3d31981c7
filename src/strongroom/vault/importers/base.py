"""What every import format shares: limits, the report's pieces, one row being validated,
and the URL rule."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from strongroom.core.errors import ValidationFailed
from strongroom.core.text import plural
from strongroom.vault import validation as v

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
MAX_PROBLEMS = 200
# What the report lists of skipped and updated items (the counts are always complete).
MAX_NOTES = 1_000

MODES = ("skip", "update", "duplicate")


@dataclass
class ImportProblem:
    """One problem found in the file. ``row`` is None for problems with the whole file.

    CSV files count rows as a spreadsheet does (the header is row 1); structured files
    (JSON, XML, KDBX, 1PUX) count their items from 1 in file order, and ``item`` says
    where the item is (``items[3]``, ``group Servers, entry 2``)."""

    row: int | None
    column: str | None
    problem: str
    line: int | None = None
    item: str | None = None


@dataclass
class ImportNote:
    """An item that was not created: skipped (with why) or used to update an account."""

    row: int | None
    item: str | None
    name: str
    reason: str


@dataclass
class ImportReport:
    """The outcome of an import: counts when it succeeded, every problem when it did not.
    Never holds secret values (names and the reasons for skipping only)."""

    format: str
    mode: str = "skip"
    ok: bool = False
    rows: int = 0
    resources_created: int = 0
    accounts_created: int = 0
    accounts_updated: int = 0
    resource_groups_created: int = 0
    skipped_count: int = 0
    updated_count: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    skipped: list[ImportNote] = field(default_factory=list)
    updated: list[ImportNote] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One sentence for people: what was created, updated and skipped, or why nothing
        was imported."""
        if not self.ok:
            return "nothing was imported: the file has " + plural(len(self.problems), "problem")
        created = (
            f"imported {plural(self.accounts_created, 'account')} into "
            f"{plural(self.resources_created, 'new resource')}"
        )
        if self.resource_groups_created:
            created += f" and {plural(self.resource_groups_created, 'new resource group')}"
        parts = [created]
        if self.accounts_updated:
            parts.append(f"updated {plural(self.accounts_updated, 'account')}")
        if self.skipped_count:
            parts.append(f"skipped {plural(self.skipped_count, 'item')}")
        return "; ".join(parts)


@dataclass(eq=False)  # compared and hashed by identity: the import plan keys on entries
class ImportEntry:
    """One account to create, with the resource it belongs to."""

    row: int
    name: str
    url: str
    resource: dict[str, Any]  # resource_type, host, description, department, location
    custom_fields: dict[str, str]
    username: str
    password: str
    notes: str
    totp_seed: str | None
    groups: list[str]
    item: str | None = None


@dataclass
class ParsedImport:
    fmt: str
    rows: int = 0
    entries: list[ImportEntry] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    # Items the file holds that Strongroom does not import (a card, an identity): reported,
    # never a reason to refuse the file.
    skipped: list[ImportNote] = field(default_factory=list)


class TooManyProblems(Exception):
    pass


def add_problem(parsed: ParsedImport, problem: ImportProblem) -> None:
    parsed.problems.append(problem)
    if len(parsed.problems) >= MAX_PROBLEMS:
        raise TooManyProblems


def file_problem(parsed: ParsedImport, message: str, line: int | None = None) -> ParsedImport:
    parsed.problems.append(ImportProblem(None, None, message, line))
    return parsed


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Row:
    """One record being turned into an entry; collects a problem per bad column."""

    def __init__(
        self,
        number: int,
        line: int | None,
        values: dict[str, str],
        parsed: ParsedImport,
        item: str | None = None,
    ):
        self.number = number
        self.line = line
        self.values = values
        self.item = item
        self._parsed = parsed
        self.bad = False

    def problem(self, column: str | None, message: str) -> None:
        self.bad = True
        add_problem(self._parsed, ImportProblem(self.number, column, message, self.line, self.item))

    def skip(self, name: str, reason: str) -> None:
        self._parsed.skipped.append(ImportNote(self.number, self.item, shorten(name), reason))

    def text(self, column: str, *, max_length: int, required: bool = False) -> str:
        value = self.values.get(column, "")
        try:
            return v.text_clean(column, value, max_length=max_length, required=required)
        except ValidationFailed as exc:
            self.problem(column, exc.message)
            return ""

    def totp(self, column: str) -> str | None:
        try:
            return v.totp_seed_clean(self.values.get(column, ""), field=column)
        except ValidationFailed as exc:
            self.problem(column, exc.message)
            return None

    def url(self, column: str, value: str) -> None:
        """Refuse a value that is not a URL a person could open (see :func:`url_problem`)."""
        problem = url_problem(value)
        if problem:
            self.problem(column, f"{column} is not a valid URL: {problem}")


# --------------------------------------------------------------------------- URLs

# Schemes an imported URL may use: the web, file transfer and the remote-access protocols
# IT teams keep passwords for, and the app links Bitwarden stores for mobile logins.
URL_SCHEMES = (
    "http",
    "https",
    "ftp",
    "ftps",
    "sftp",
    "ssh",
    "telnet",
    "rdp",
    "vnc",
    "smb",
    "ldap",
    "ldaps",
    "androidapp",
    "iosapp",
)
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
# Characters RFC 3986 never allows unencoded in a URL.
_FORBIDDEN = set('<>"`{}|\\^')
_ASCII_SUSPECT = re.compile(r'[\x00-\x20\x7f<>"`{}|\\^]')
_HOST_RE = re.compile(r"^[\w.-]+$|^\[[0-9A-Fa-f:.]+\]$")


@functools.lru_cache(maxsize=4096)  # rows of one resource repeat its URL
def url_problem(url: str) -> str | None:
    """Why ``url`` is not a URL to keep, or None. Empty is fine. Accepted: ``scheme://host…``
    with a scheme of :data:`URL_SCHEMES`, or a bare ``host[:port][/path]``."""
    if not url:
        return None
    # ASCII URLs (nearly all) need one regular expression; others are read char by char.
    suspects = _ASCII_SUSPECT.findall(url) if url.isascii() else url
    for char in suspects:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return (
                f"it contains a space, control or invisible character (U+{ord(char):04X}); "
                "encode it or remove it"
            )
        if char in _FORBIDDEN:
            return f"it contains {char!r}, which a URL cannot hold unencoded"
    match = _SCHEME_RE.match(url)
    if match and "://" in url and url.index("://") == len(match.group(1)):
        scheme = match.group(1).lower()
        if scheme not in URL_SCHEMES:
            return (
                f"the scheme {shorten(scheme, 20)!r} is not accepted (use one of: "
                + ", ".join(URL_SCHEMES)
                + ")"
            )
        rest = url
    elif match and not re.match(r"^\d+(/|$)", match.group(2)):
        # ``javascript:…``, ``data:…``, ``mailto:…``: a scheme without an authority. (A bare
        # ``host:8080`` also matches the pattern; its "rest" starts with the port.)
        return (
            f"the scheme {shorten(match.group(1).lower(), 20)!r} is not accepted (use one of: "
            + ", ".join(URL_SCHEMES)
            + ")"
        )
    else:
        rest = "//" + url
    try:
        parts = urlsplit(rest)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        return f"it cannot be read as a URL ({exc})"
    host = parts.hostname or ""
    if not host:
        return "it names no host"
    if not _HOST_RE.match(host if not host.count(":") else f"[{host}]"):
        return f"the host {shorten(host, 60)!r} is not a host name or IP address"
    return None


# Bitwarden item types that are not logins: skipped and reported (CSV ``type`` names).
BITWARDEN_SKIPPED_TYPES = {
    "card": "Bitwarden card items are not imported (Strongroom keeps logins and notes)",
    "identity": "Bitwarden identity items are not imported (Strongroom keeps logins and notes)",
    "sshkey": "Bitwarden SSH key items are not imported (Strongroom keeps logins and notes)",
}


def untitled(title: str, url: str) -> str:
    """The resource name for an entry without a title: its URL if that fits, or a label."""
    if title.strip():
        return title
    return url if url.strip() and len(url) <= v.MAX_RESOURCE_NAME else "Untitled entry"
