"""Backups and restores of the database, with a manifest (docs/operations.md, "Backups").

A backup directory (0700) holds the database snapshot (0600) and ``manifest.json`` (0600):
the database kind, the applied migrations, row counts of every Strongroom table, the data
key ids and the master key ids (fingerprints) that wrap them, the audit chain head, and
the SHA-256 of each file. Never the master key: a backup is useless without it, which is
the point; keep the key elsewhere.

- SQLite: the ``sqlite3`` online backup API (a consistent copy while the server writes);
  counts and key ids are read from the copy itself.
- PostgreSQL: ``pg_dump --format=custom`` inside an exported snapshot, and the manifest is
  read in the same snapshot, so the counts describe exactly what was dumped.

A restore goes only into an empty database, after checking the files' hashes and that the
configured master key is one the manifest's data keys need; then it checks the data keys
open, the row counts match and the audit chain verifies.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connections

from strongroom.core.errors import AppError, ErrorCode

MANIFEST = "manifest.json"
FORMAT = "strongroom-backup"
VERSION = 1
SQLITE_FILE = "strongroom.sqlite3"
PG_FILE = "strongroom.pgdump"


class BackupError(AppError):
    """The backup or restore was refused or failed; nothing was changed."""

    code = ErrorCode.BACKUP_FAILED
    status = 400


class RestoreTargetNotEmpty(BackupError):
    code = ErrorCode.RESTORE_TARGET_NOT_EMPTY


class RestoreKeyMismatch(BackupError):
    code = ErrorCode.MASTER_KEY


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    audit_checked: int = 0
    problems: list[str] = field(default_factory=list)
    pending_migrations: list[str] = field(default_factory=list)


def _tables() -> list[str]:
    """Every table of Strongroom's own apps (the counts a restore must reproduce)."""
    return sorted(
        m._meta.db_table
        for m in apps.get_models()
        if m.__module__.startswith("strongroom.") and m._meta.managed
    )


def _db() -> dict[str, Any]:
    return connections["default"].settings_dict


def is_sqlite() -> bool:
    return _db()["ENGINE"] == "django.db.backends.sqlite3"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _prepare_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} already exists and is not an empty directory; name a new one")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    out.chmod(0o700)


def _read_state(cursor: Any, tables: list[str]) -> dict[str, Any]:
    """Migrations, counts, key ids and audit head, read through a DB-API cursor."""
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    migrations: dict[str, list[str]] = {}
    for app, name in cursor.fetchall():
        migrations.setdefault(app, []).append(name)
    counts = {}
    for table in tables:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - our own table names
        counts[table] = int(cursor.fetchone()[0])
    cursor.execute("SELECT id, master_key_id, status FROM strongroom_data_key ORDER BY id")
    data_keys = [{"id": r[0], "master_key_id": r[1], "status": r[2]} for r in cursor.fetchall()]
    cursor.execute("SELECT seq, hash FROM strongroom_audit_head WHERE id = 1")
    head = cursor.fetchone()
    return {
        "migrations": migrations,
        "counts": counts,
        "data_keys": data_keys,
        "master_key_ids": sorted({k["master_key_id"] for k in data_keys}),
        "audit_head": {"seq": head[0], "hash": head[1]} if head else None,
    }


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    path = out / MANIFEST
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def backup_create(*, out: Path) -> dict[str, Any]:
    """Snapshot the database into ``out`` (new or empty) and write the manifest."""
    _prepare_out(out)
    tables = _tables()
    with _private_umask():
        if is_sqlite():
            name, state = _backup_sqlite(out, tables)
            kind = "sqlite"
        else:
            name, state = _backup_postgres(out, tables)
            kind = "postgresql"
    path = out / name
    path.chmod(0o600)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": {"kind": kind, "file": name},
        "files": {name: {"size": path.stat().st_size, "sha256": _sha256(path)}},
        **state,
    }
    _write_manifest(out, manifest)
    return manifest


def _backup_sqlite(out: Path, tables: list[str]) -> tuple[str, dict[str, Any]]:
    target = out / SQLITE_FILE
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(str(_db()["NAME"]))
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)
        # One self-contained file: the copy inherits WAL mode from the page header.
        copy.execute("PRAGMA journal_mode=DELETE")
        state = _read_state(copy.cursor(), tables)
    finally:
        copy.close()
        source.close()
    return SQLITE_FILE, state


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: STRONGROOM_PG_BIN_DIR, else PATH, else the newest
    /usr/lib/postgresql/<version>/bin (Debian keeps them there)."""
    configured = os.environ.get("STRONGROOM_PG_BIN_DIR", "")
    if configured:
        return str(Path(configured) / name)
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise BackupError(
            f"{name} was not found (install the PostgreSQL client tools of the server's "
            "version, or set STRONGROOM_PG_BIN_DIR)"
        )
    return str(candidates[-1])


def _pg_env() -> dict[str, str]:
    """Connection parameters for the client tools, through the environment (a password
    never appears in a process list)."""
    db = _db()
    env = dict(os.environ)
    for var, key in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
        ("PGDATABASE", "NAME"),
    ):
        if db.get(key):
            env[var] = str(db[key])
    sslmode = (db.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return env


def _pg_connect() -> Any:
    import psycopg

    db = _db()
    return psycopg.connect(
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        **{k: v for k, v in (db.get("OPTIONS") or {}).items() if k == "sslmode"},
    )


def _backup_postgres(out: Path, tables: list[str]) -> tuple[str, dict[str, Any]]:
    target = out / PG_FILE
    with _pg_connect() as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        state = _read_state(conn.cursor(), tables)
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                pg_tool("pg_dump"),
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={target}",
            ],
            env=_pg_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        conn.rollback()
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed (exit {done.returncode}): {done.stderr.strip()}")
    return PG_FILE, state


# --------------------------------------------------------------------------------------
# Restore


def manifest_read(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source / MANIFEST} cannot be read: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{source} is not a Strongroom backup of a version this one reads")
    for name, info in manifest["files"].items():
        path = source / name
        if not path.is_file() or _sha256(path) != info["sha256"]:
            raise BackupError(f"{path} is missing or does not match its SHA-256 in the manifest")
    return manifest


def _target_tables() -> list[str]:
    with connections["default"].cursor() as cursor:
        return list(connections["default"].introspection.table_names(cursor))


def _check_key(manifest: dict[str, Any]) -> None:
    from strongroom.core import keys

    if keys.configured_source() == "file" and not keys.key_file_path().exists():
        raise RestoreKeyMismatch(
            f"no master key: put the key of this backup at {keys.key_file_path()} (or set "
            "STRONGROOM_MASTER_KEY / STRONGROOM_MASTER_KEY_COMMAND); nothing was restored"
        )
    ring = keys.reload_ring()
    missing = [mk for mk in manifest["master_key_ids"] if ring.by_id(mk) is None]
    if missing:
        raise RestoreKeyMismatch(
            f"the backup's data keys are wrapped by master key {', '.join(missing)}, but the "
            f"configured key is {ring.describe()}; give the key of the backup's time "
            "(after a rotation: the retired key file). Nothing was restored."
        )


def backup_restore(*, source: Path) -> RestoreReport:
    """Restore ``source`` into the configured (empty) database and check the result."""
    from strongroom.audit.services import audit_verify
    from strongroom.core import checks, keys

    manifest = manifest_read(source)
    kind = "sqlite" if is_sqlite() else "postgresql"
    if manifest["database"]["kind"] != kind:
        raise BackupError(
            f"this backup is of a {manifest['database']['kind']} database; the configured "
            f"database is {kind}"
        )
    existing = _target_tables()
    if existing:
        raise RestoreTargetNotEmpty(
            f"the target database is not empty ({len(existing)} tables, e.g. "
            f"{sorted(existing)[0]}); restore only into a new, empty database. Nothing was "
            "changed."
        )
    _check_key(manifest)
    file = source / manifest["database"]["file"]
    with _private_umask():
        if kind == "sqlite":
            _restore_sqlite(file)
        else:
            _restore_postgres(file)
    connections.close_all()
    keys.reset()
    report = RestoreReport(manifest=manifest)
    report.pending_migrations = checks.pending_migrations()
    keys.verify(create_missing=False)
    with connections["default"].cursor() as cursor:
        state = _read_state(cursor, [t for t in manifest["counts"]])
    for table, count in manifest["counts"].items():
        if state["counts"][table] != count:
            report.problems.append(
                f"{table}: {state['counts'][table]} rows restored, the manifest says {count}"
            )
    if not report.pending_migrations:
        chain = audit_verify()
        report.audit_checked = chain.checked
        report.problems += [f"audit: {p}" for p in chain.problems]
    return report


def _restore_sqlite(file: Path) -> None:
    target = Path(str(_db()["NAME"]))
    connections.close_all()
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=WAL")
    finally:
        copy.close()
        source.close()
    target.chmod(0o600)


def _restore_postgres(file: Path) -> None:
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            pg_tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            # Strongroom's schema has no comments; the dump's only one is pg_trgm's, and
            # COMMENT ON EXTENSION fails for a role that did not create the extension (a
            # superuser did it first: docs/operations.md, "PostgreSQL: the pg_trgm extension").
            "--no-comments",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_db()['NAME']}",
            str(file),
        ],
        env=_pg_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed (exit {done.returncode}): {done.stderr.strip()}")
    with _pg_connect() as conn:
        conn.autocommit = True
        conn.execute("ANALYZE")
