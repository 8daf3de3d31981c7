"""Resource search served by each database's own index.

What a search finds (the same on both databases): the resources with the search text,
case-insensitively, anywhere in one of ``RESOURCE_FIELDS`` or in the username of one of
their accounts. Who may see a result is decided elsewhere: this module only narrows the set
of resources, and :mod:`strongroom.vault.selectors` intersects it with the visibility rules.

How it is found:

- **PostgreSQL**: ``pg_trgm`` GIN indexes on ``UPPER(field)`` (one multi-column index on the
  resource table, one on account usernames; a short pending list, see ``PG_INDEXES``),
  which serve exactly the ``UPPER(field) LIKE UPPER('%text%')`` that Django writes for
  ``icontains``; the matching resource IDs are one ``UNION`` of the two index scans.
  PostgreSQL re-checks every candidate row, so queries the index cannot narrow (one or two
  characters, only punctuation) are still answered correctly, by a scan.
- **SQLite**: an FTS5 table with the ``trigram`` tokenizer (SQLite ≥ 3.34) over a plain
  table, ``strongroom_vault_search``, that holds one row per resource (its searched fields)
  and one per account (its username), kept current by triggers on the resource and account
  tables (so every write path — services, imports, bulk inserts, raw SQL — keeps it
  current). The plain table gives the FTS rows stable integer row IDs (the UUID-keyed
  vault tables have none that survive a ``VACUUM``). The search text is one FTS5 phrase
  (quoted, ``"`` doubled), so operators (``AND``, ``NEAR``, ``*``, ``^``, ``:``) are
  ordinary text; a phrase of trigrams matches exactly where the text is a substring. The
  tokenizer folds case for all of Unicode (``ÉCOLE`` finds ``école``), where SQLite's
  ``LIKE`` folds ASCII only. A trigram index cannot answer texts shorter than three
  characters: those fall back to the ``icontains`` scan (ASCII-only case folding, as
  before), which at 25,000 resources costs tens of milliseconds.

Django's SQLite schema editor rebuilds a table (new table, copy, drop, rename) for some
schema changes, and dropping a table drops its triggers: :func:`index_ensure` runs after
every ``migrate`` and reinstalls and rebuilds the index if a trigger is missing.
"""

# The SQL below is built from this module's own constant names only; search text is always
# a parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from django.db import connection as default_connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

logger = logging.getLogger(__name__)

RESOURCE_FIELDS = (
    "name",
    "host",
    "url",
    "resource_type",
    "department",
    "location",
    "description",
)
"""The resource columns a search reads (plus the accounts' usernames)."""

MIN_INDEXED_LENGTH = 3
"""Shorter search texts cannot use a trigram index (SQLite falls back to a scan)."""

SQLITE_MIN_VERSION = (3, 34, 0)  # the FTS5 trigram tokenizer

TABLE = "strongroom_vault_search"
FTS = "strongroom_vault_search_fts"
PG_RESOURCE_INDEX = "strongroom_resource_search_trgm"
PG_ACCOUNT_INDEX = "strongroom_account_username_trgm"

_COLUMNS = (*RESOURCE_FIELDS, "username")
_COLS = ", ".join(_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in _COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in _COLUMNS)
_RES_COLS = ", ".join(RESOURCE_FIELDS)
_RES_NEW = ", ".join(f"new.{c}" for c in RESOURCE_FIELDS)
_RES_SET = ", ".join(f"{c} = new.{c}" for c in RESOURCE_FIELDS)
_RES_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in RESOURCE_FIELDS)
_TEXT_COLUMNS = ",\n    ".join(f"{c} TEXT NOT NULL DEFAULT ''" for c in _COLUMNS)

# One statement per string (sqlite3 executes one at a time).
SQLITE_TABLES = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY,
    resource_id char(32) NOT NULL,
    account_id char(32) UNIQUE,
    {_TEXT_COLUMNS}
)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_resource ON {TABLE} (resource_id, account_id)",
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(
    {_COLS}, content='{TABLE}', content_rowid='id', tokenize='trigram'
)""",
]
SQLITE_TRIGGERS = {
    # The plain table → its FTS index (SQLite's external-content pattern: the index is
    # told the old values to remove, exactly as they were indexed).
    f"{TABLE}_ai": f"""AFTER INSERT ON {TABLE} BEGIN
    INSERT INTO {FTS} (rowid, {_COLS}) VALUES (new.id, {_NEW});
END""",
    f"{TABLE}_ad": f"""AFTER DELETE ON {TABLE} BEGIN
    INSERT INTO {FTS} ({FTS}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
END""",
    f"{TABLE}_au": f"""AFTER UPDATE ON {TABLE} BEGIN
    INSERT INTO {FTS} ({FTS}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
    INSERT INTO {FTS} (rowid, {_COLS}) VALUES (new.id, {_NEW});
END""",
    # The vault tables → the plain table.
    "strongroom_resource_search_ai": f"""AFTER INSERT ON strongroom_resource BEGIN
    INSERT INTO {TABLE} (resource_id, {_RES_COLS}) VALUES (new.id, {_RES_NEW});
END""",
    "strongroom_resource_search_au": f"""AFTER UPDATE ON strongroom_resource
WHEN {_RES_CHANGED} BEGIN
    UPDATE {TABLE} SET {_RES_SET} WHERE resource_id = new.id AND account_id IS NULL;
END""",
    "strongroom_resource_search_ad": f"""AFTER DELETE ON strongroom_resource BEGIN
    DELETE FROM {TABLE} WHERE resource_id = old.id;
END""",
    "strongroom_account_search_ai": f"""AFTER INSERT ON strongroom_account BEGIN
    INSERT INTO {TABLE} (resource_id, account_id, username)
    VALUES (new.resource_id, new.id, new.username);
END""",
    "strongroom_account_search_au": f"""AFTER UPDATE ON strongroom_account
WHEN old.username IS NOT new.username OR old.resource_id IS NOT new.resource_id BEGIN
    UPDATE {TABLE} SET username = new.username, resource_id = new.resource_id
    WHERE account_id = new.id;
END""",
    "strongroom_account_search_ad": f"""AFTER DELETE ON strongroom_account BEGIN
    DELETE FROM {TABLE} WHERE account_id = old.id;
END""",
}
SQLITE_FILL = [
    f"INSERT INTO {TABLE} (resource_id, {_RES_COLS}) "
    f"SELECT id, {_RES_COLS} FROM strongroom_resource",
    f"INSERT INTO {TABLE} (resource_id, account_id, username) "
    "SELECT resource_id, id, username FROM strongroom_account",
    f"INSERT INTO {FTS} ({FTS}) VALUES ('rebuild')",
]

# Used by vault.selectors.search_count (which owns the visibility rule it applies): up to a
# limit of the resources a phrase finds, in the FTS5 index's order, each with the user's
# visibility row. CROSS JOIN fixes SQLite's join order (matches first).
SQLITE_VISIBLE_MATCHES = (
    f"SELECT DISTINCT v.resource_id, v.resource_type, v.department "
    f"FROM {FTS} CROSS JOIN {TABLE} s CROSS JOIN strongroom_visibility v "
    f"WHERE {FTS} MATCH %s AND s.id = {FTS}.rowid "
    f"AND v.user_id = %s AND v.resource_id = s.resource_id LIMIT %s"
)

_PG_RESOURCE_KEYS = ", ".join(f"(UPPER({c}::text)) gin_trgm_ops" for c in RESOURCE_FIELDS)
# A GIN index takes new rows into a pending list that every search reads linearly until
# VACUUM (or a full list) merges it: with the default 4 MB limit, a search right after a
# bulk load of 10,000 resources took 190 ms instead of 2 ms. A 256 kB list keeps that read
# short and cost no measurable insert time (10,000 rows in 1.4 s either way; with the list
# turned off, fastupdate = off, 12 s).
_PG_WITH = "WITH (gin_pending_list_limit = 256)"
PG_INDEXES = [
    f"CREATE INDEX IF NOT EXISTS {PG_RESOURCE_INDEX} ON strongroom_resource "
    f"USING gin ({_PG_RESOURCE_KEYS}) {_PG_WITH}",
    f"CREATE INDEX IF NOT EXISTS {PG_ACCOUNT_INDEX} ON strongroom_account "
    f"USING gin ((UPPER(username::text)) gin_trgm_ops) {_PG_WITH}",
]


class SearchIndexUnavailable(RuntimeError):
    """The database cannot hold the search index (message says what to do)."""


# --------------------------------------------------------------------------- queries


def _resource_fields_q(text: str) -> Q:
    q = Q()
    for name in RESOURCE_FIELDS:
        q |= Q(**{f"{name}__icontains": text})
    return q


def fts_phrase(text: str) -> str:
    """The search text as one FTS5 string: every character literal (``"`` doubled)."""
    return '"' + text.replace('"', '""') + '"'


def pg_resource_ids_matching(text: str, *, distinct: bool = True) -> QuerySet[Any, Any]:
    """PostgreSQL: the IDs of the resources that match ``text``, as one ``UNION`` of the two
    trigram index scans (a subquery to filter on; narrows only). ``distinct=False``: ``UNION
    ALL`` (a resource found by a field and by a username comes twice), which a ``LIMIT``
    can stop early."""
    from strongroom.vault.models import Account, Resource

    in_usernames = Account.objects.filter(username__icontains=text).order_by().values("resource_id")
    in_resources = Resource.objects.filter(_resource_fields_q(text)).order_by().values("pk")
    return in_resources.union(in_usernames, all=not distinct)


def pg_matching_ids_at_most(text: str, limit: int) -> list[Any] | None:
    """PostgreSQL: the IDs of the resources ``text`` finds if there are at most ``limit``
    (reads at most ``limit + 1`` matches from the indexes), else None. Texts too short for
    a trigram index are answered None without reading. A query that filters on the IDs
    themselves reads them by primary key: the planner, given the index scans as a subquery,
    expected twice the matches and hashed them against a scan of every resource."""
    if len(text) < MIN_INDEXED_LENGTH:
        return None
    found = list(
        pg_resource_ids_matching(text, distinct=False).values_list("pk", flat=True)[: limit + 1]
    )
    return sorted(set(found)) if len(found) <= limit else None


def resources_matching_q(text: str) -> Q:
    """A filter for ``Resource`` rows that match ``text`` (already validated: no NUL, at
    most the filter length). Narrows only: combine it with the visibility rules."""
    from strongroom.vault.models import Account

    vendor = default_connection.vendor
    if vendor == "postgresql":
        # One UNION of the two index scans (a bitmap OR over the resource index, and the
        # username index). With the username subquery ORed into the resource conditions,
        # PostgreSQL tests it on every resource row instead.
        return Q(pk__in=pg_resource_ids_matching(text))
    in_usernames = Account.objects.filter(username__icontains=text).order_by().values("resource_id")
    if vendor == "sqlite" and len(text) >= MIN_INDEXED_LENGTH:
        sql = (
            f"SELECT resource_id FROM {TABLE} WHERE id IN "
            f"(SELECT rowid FROM {FTS} WHERE {FTS} MATCH %s)"
        )
        return Q(pk__in=RawSQL(sql, [fts_phrase(text)]))  # noqa: S611 - text is a parameter
    return _resource_fields_q(text) | Q(pk__in=in_usernames)


# The characters outside ASCII that SQLite's trigram tokenizer folds into ASCII (Unicode case
# folding without diacritics removed: LONG S → s, KELVIN SIGN → k). SQLite's LIKE folds ASCII
# letters only, so, with these two put back to ASCII first, an ASCII search text finds by
# LIKE exactly the rows the FTS5 index finds (tests/vault/test_vault_search.py checks the set
# against every code point of this SQLite).
SQLITE_FOLDS_TO_ASCII = {"\u017f": "s", "\u212a": "k"}


def _row_field(name: str, *, fold: bool) -> Any:
    """A searched column as a per-row LIKE operand (with the trigram tokenizer's folds into
    ASCII applied when ``fold``)."""
    from django.db.models import F, TextField, Value
    from django.db.models.functions import Replace

    expr: Any = F(name)
    if fold:
        for char, ascii_char in SQLITE_FOLDS_TO_ASCII.items():
            expr = Replace(expr, Value(char), Value(ascii_char), output_field=TextField())
    return expr


def resources_matching_row_q(text: str) -> Q | None:
    """The same match as :func:`resources_matching_q`, as a test of each ``Resource`` row
    (its fields, then its accounts' usernames read from the (resource, username) index), for
    reading in an order of our own (the name index) and stopping early; or None where a
    per-row test cannot give exactly the index's answer (SQLite: a text of three characters
    or more outside ASCII, whose case folding only the FTS5 index knows).

    - PostgreSQL: ``UPPER(field) LIKE UPPER('%text%')`` is what the trigram indexes serve
      (they only find the candidates and PostgreSQL re-checks each), so the per-row test is
      the same condition.
    - SQLite, one or two characters: the ``icontains`` fallback itself.
    - SQLite, three or more ASCII characters: the FTS5 phrase matches where the text is a
      substring after the tokenizer's case folding; for ASCII text that is ``LIKE`` once the
      two characters the tokenizer folds into ASCII are folded (``SQLITE_FOLDS_TO_ASCII``).
    """
    from django.db.models import OuterRef, Subquery
    from django.db.models.lookups import IsNull

    from strongroom.vault.models import Account

    vendor = default_connection.vendor
    fold = vendor == "sqlite" and len(text) >= MIN_INDEXED_LENGTH
    if fold and not text.isascii():
        return None
    q = Q()
    for name in RESOURCE_FIELDS:
        q |= Q(**{f"{name}__icontains": text}) if not fold else _folded_icontains(name, text)
    usernames = Account.objects.filter(resource_id=OuterRef("pk")).order_by()
    if fold:
        usernames = usernames.alias(_u=_row_field("username", fold=True)).filter(_u__icontains=text)
    else:
        usernames = usernames.filter(username__icontains=text)
    # A scalar subquery, not EXISTS: PostgreSQL turns an EXISTS inside OR into one hashed
    # set of every matching username (all 100,000 for 'db', 34 ms), where a walk that stops
    # early needs only the usernames of the resources it tests.
    first_username = Subquery(usernames.values("resource_id")[:1])
    return q | Q(IsNull(first_username, False))


def _folded_icontains(name: str, text: str) -> Q:
    from django.db.models.lookups import IContains

    return Q(IContains(_row_field(name, fold=True), text))


# --------------------------------------------------------------------------- the index


def _sqlite_check(cursor: Any) -> None:
    import sqlite3

    if sqlite3.sqlite_version_info < SQLITE_MIN_VERSION:
        raise SearchIndexUnavailable(
            f"Strongroom's search index needs SQLite {'.'.join(map(str, SQLITE_MIN_VERSION))} "
            f"or newer with FTS5 (the trigram tokenizer); this Python uses SQLite "
            f"{sqlite3.sqlite_version}. Use a Python built with a newer SQLite, or PostgreSQL."
        )
    try:
        cursor.execute(
            "CREATE VIRTUAL TABLE temp.strongroom_fts5_probe USING fts5(a, tokenize='trigram')"
        )
        cursor.execute("DROP TABLE temp.strongroom_fts5_probe")
    except DatabaseError as exc:
        raise SearchIndexUnavailable(
            f"Strongroom's search index needs SQLite's FTS5 extension with the trigram "
            f"tokenizer, which this SQLite ({sqlite3.sqlite_version}) lacks: {exc}"
        ) from exc


def sqlite_index_build(cursor: Any) -> None:
    """(Re)create the search table, its FTS5 index and the triggers, filled from the vault
    tables. Everything is dropped first: an index that missed writes cannot be patched
    (its 'delete' commands must be given exactly what was indexed)."""
    _sqlite_check(cursor)
    sqlite_index_drop(cursor)
    for statement in SQLITE_TABLES:
        cursor.execute(statement)
    for statement in SQLITE_FILL:
        cursor.execute(statement)
    for name, body in SQLITE_TRIGGERS.items():
        cursor.execute(f"CREATE TRIGGER {name} {body}")


def sqlite_index_drop(cursor: Any) -> None:
    for name in SQLITE_TRIGGERS:
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    cursor.execute(f"DROP TABLE IF EXISTS {FTS}")
    cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def sqlite_missing_triggers(cursor: Any) -> list[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    present = {row[0] for row in cursor.fetchall()}
    return [name for name in SQLITE_TRIGGERS if name not in present]


def pg_index_install(cursor: Any) -> None:
    """``pg_trgm`` and the two trigram indexes (idempotent)."""
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    if cursor.fetchone() is None:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:  # InsufficientPrivilege; extension not installed
            raise SearchIndexUnavailable(
                "Strongroom's search index needs the PostgreSQL extension pg_trgm, and this "
                f"database user could not create it ({exc}). Have a superuser run "
                "CREATE EXTENSION pg_trgm; in this database once (the package postgresql-"
                "contrib provides it), then run strongroom migrate again "
                "(docs/operations.md, PostgreSQL)."
            ) from exc
    for statement in PG_INDEXES:
        cursor.execute(statement)


def pg_index_drop(cursor: Any) -> None:
    cursor.execute(f"DROP INDEX IF EXISTS {PG_RESOURCE_INDEX}")
    cursor.execute(f"DROP INDEX IF EXISTS {PG_ACCOUNT_INDEX}")


def index_ensure(*, connection: Any) -> bool:
    """After ``migrate``: put back a SQLite index whose triggers a table rebuild dropped
    (then refill it). Returns whether anything was repaired."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name IN (%s, %s)", [TABLE, FTS])
        tables = {row[0] for row in cursor.fetchall()}
        if not tables:
            return False  # the migration that creates it has not run (yet)
        missing = sqlite_missing_triggers(cursor)
        if not missing and len(tables) == 2:
            return False
        logger.warning(
            "the search index lost %d trigger(s) or a table (a vault table was rebuilt); "
            "rebuilding it",
            len(missing),
        )
        sqlite_index_build(cursor)
    return True
