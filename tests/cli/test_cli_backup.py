"""`strongroom backup`, `strongroom restore` and `strongroom migrate`'s exit codes, run for
real against private installations (SQLite files, or fresh PostgreSQL databases when the
suite runs on PostgreSQL)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat

import pytest

from cli.helpers import free_port, make_installation

pytestmark = pytest.mark.db_specific

EXIT_FAILED, EXIT_CONFIG = 1, 3

# Every row of every Strongroom table, serialised in primary key order, hashed per table.
TABLE_DIGESTS = """
import hashlib
from django.apps import apps
from django.core import serializers
result = {}
for model in apps.get_models():
    if model.__module__.startswith("strongroom.") and model._meta.managed:
        rows = serializers.serialize("json", model.objects.order_by("pk"))
        result[model._meta.db_table] = hashlib.sha256(rows.encode()).hexdigest()
"""

TABLES = """
from django.db import connection
with connection.cursor() as cursor:
    result = sorted(connection.introspection.table_names(cursor))
"""


@pytest.fixture
def fresh(tmp_path):
    """A new installation with an empty database and no master key."""
    inst, cleanup = make_installation(tmp_path / "target")
    inst.data_dir.mkdir(mode=0o700, parents=True)
    try:
        yield inst
    finally:
        cleanup()


def _give_key(source, target) -> None:
    shutil.copy2(source.data_dir / "master.key", target.data_dir / "master.key")
    (target.data_dir / "master.key").chmod(0o600)


def test_backup_then_restore_into_a_fresh_database(demo, fresh, tmp_path):
    out = tmp_path / "backup"
    done = demo.ok("backup", "--out", str(out))
    assert "it needs master key" in done.stdout

    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    files = sorted(p.name for p in out.iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    db_file = manifest["database"]["file"]
    assert files == sorted(["manifest.json", db_file])
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    key = (demo.data_dir / "master.key").read_bytes()
    raw_key = base64.b64decode(key.strip())
    for path in out.iterdir():
        content = path.read_bytes()
        assert (
            key.strip() not in content
            and raw_key not in content
            and raw_key.hex().encode() not in content
        )
    assert manifest["database"]["kind"] == ("postgresql" if demo.db_name else "sqlite")
    assert manifest["master_key_ids"] and all(len(k) == 16 for k in manifest["master_key_ids"])
    assert [k["id"] for k in manifest["data_keys"]]
    assert "0002_keyed_head_and_anchors" in manifest["migrations"]["audit"]
    assert manifest["counts"]["strongroom_audit_event"] == manifest["audit_head"]["seq"] > 0
    assert manifest["files"][db_file]["sha256"] and manifest["files"][db_file]["size"] > 0

    _give_key(demo, fresh)
    restored = fresh.ok("restore", str(out))
    assert f"OK: {manifest['audit_head']['seq']} audit records, chain intact" in restored.stdout

    assert fresh.script(TABLE_DIGESTS) == demo.script(TABLE_DIGESTS)
    assert fresh.ok("audit", "verify").stdout.startswith("OK: ")
    fresh.ok("check")
    if not fresh.db_name:
        sqlite_file = fresh.data_dir / "strongroom.sqlite3"
        assert stat.S_IMODE(sqlite_file.stat().st_mode) == 0o600


def test_restore_refuses_a_database_that_is_not_empty(demo, tmp_path):
    out = tmp_path / "backup"
    demo.ok("backup", "--out", str(out))
    before = demo.script(TABLE_DIGESTS)
    refused = demo.run("restore", str(out))
    assert refused.returncode == EXIT_FAILED
    assert "the target database is not empty" in " ".join(refused.stderr.split())
    assert "Nothing was changed" in " ".join(refused.stderr.split())
    assert demo.script(TABLE_DIGESTS) == before


def test_restore_refuses_a_wrong_or_missing_master_key(demo, fresh, tmp_path):
    out = tmp_path / "backup"
    demo.ok("backup", "--out", str(out))

    missing = fresh.run("restore", str(out))
    assert missing.returncode == EXIT_CONFIG
    assert "no master key" in " ".join(missing.stderr.split())
    assert not (fresh.data_dir / "master.key").exists()  # none was invented

    key_file = fresh.data_dir / "master.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
    os.close(fd)
    wrong = fresh.run("restore", str(out))
    assert wrong.returncode == EXIT_CONFIG
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"wrapped by master key {manifest['master_key_ids'][0]}" in " ".join(
        wrong.stderr.split()
    )
    assert fresh.script(TABLES) == []  # nothing was restored


def test_restore_refuses_a_damaged_backup_and_backup_refuses_a_used_directory(
    demo, fresh, tmp_path
):
    out = tmp_path / "backup"
    demo.ok("backup", "--out", str(out))
    again = demo.run("backup", "--out", str(out))
    assert again.returncode == EXIT_FAILED
    assert "is not an empty directory" in " ".join(again.stderr.split())

    manifest = json.loads((out / "manifest.json").read_text())
    db_file = out / manifest["database"]["file"]
    data = bytearray(db_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    db_file.write_bytes(bytes(data))
    _give_key(demo, fresh)
    damaged = fresh.run("restore", str(out))
    assert damaged.returncode == EXIT_FAILED
    assert "does not match its SHA-256" in " ".join(damaged.stderr.split())
    assert fresh.script(TABLES) == []


# --------------------------------------------------------------------------------------
# migrate: 0 up to date, 1 a migration failed, 3 the database cannot be reached


def test_migrate_exit_codes_for_an_unreachable_database(inst, tmp_path):
    for url in (
        f"postgres://postgres@127.0.0.1:{free_port()}/nothing",
        f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}",
    ):
        done = inst.run("migrate", env={"STRONGROOM_DATABASE_URL": url})
        assert done.returncode == EXIT_CONFIG, (url, done.stderr)
        assert "cannot migrate" in " ".join(done.stderr.split())


def test_migrate_exit_code_when_a_migration_fails_then_succeeds(inst):
    """A table in the way (a half-restored or foreign database) makes a migration fail."""
    create = "CREATE TABLE strongroom_audit_event (id integer)"
    if inst.db_name:
        import psycopg

        with psycopg.connect(inst.database_url, autocommit=True) as conn:
            conn.execute(create)
    else:
        inst.data_dir.mkdir(mode=0o700)
        with sqlite3.connect(inst.data_dir / "strongroom.sqlite3") as conn:
            conn.execute(create)
    failed = inst.run("migrate")
    assert failed.returncode == EXIT_FAILED
    assert "a migration failed" in " ".join(failed.stderr.split())
    assert "strongroom_audit_event" in failed.stderr

    if inst.db_name:
        with psycopg.connect(inst.database_url, autocommit=True) as conn:
            conn.execute("DROP TABLE strongroom_audit_event")
    else:
        with sqlite3.connect(inst.data_dir / "strongroom.sqlite3") as conn:
            conn.execute("DROP TABLE strongroom_audit_event")
    done = inst.ok("migrate")
    assert "database schema is up to date" in done.stdout
