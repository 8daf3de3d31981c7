"""The PostgreSQL restore steps of docs/operations.md, run exactly as written (only the
variables' values are the test's): a new role, an empty database it owns, `strongroom
restore`; and the by-hand route with pg_restore and ANALYZE."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from cli.helpers import make_installation, outer_postgres_url

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"

pytestmark = [
    pytest.mark.db_specific,
    pytest.mark.skipif(
        outer_postgres_url() is None, reason="runs when the suite runs on PostgreSQL"
    ),
]


def _block(marker: str) -> str:
    text = DOC.read_text()
    start = text.index(f"<!-- pg-steps:{marker} -->")
    body = text[start:].split("```sh\n", 1)[1].split("\n```", 1)[0]
    return body


def _with_values(script: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        script, n = re.subn(rf"(?m)(^|\s){name}=\S+", rf"\g<1>{name}={value}", script, count=1)
        assert n == 1, name
    return script


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    prelude = f'set -euo pipefail\nstrongroom() {{ "{sys.executable}" -m strongroom.cli "$@"; }}\n'
    return subprocess.run(
        ["bash", "-c", prelude + script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def pg_names():
    outer = outer_postgres_url()
    suffix = uuid.uuid4().hex[:10]
    names = {"role": f"sr_role_{suffix}", "dbs": [f"sr_doc_{suffix}", f"sr_doc_{suffix}_b"]}
    yield names
    with psycopg.connect(outer, autocommit=True) as conn:
        for db in names["dbs"]:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{names["role"]}"')


def test_the_documented_postgresql_steps_restore_a_backup(demo, tmp_path, pg_names):
    backup = tmp_path / "backup"
    demo.ok("backup", "--out", str(backup))

    target, cleanup = make_installation(tmp_path / "target")
    try:
        target.data_dir.mkdir(parents=True, mode=0o700)
        shutil.copy2(demo.data_dir / "master.key", target.data_dir / "master.key")
        env = {k: v for k, v in target.env.items() if k != "STRONGROOM_DATABASE_URL"}
        parts = urlsplit(outer_postgres_url())
        values = {
            "DBHOST": parts.hostname or "127.0.0.1",
            "DBPORT": str(parts.port or 5432),
            "DBROLE": pg_names["role"],
            "DBNAME": pg_names["dbs"][0],
            "DBPASS": "doc-test-pass",
            "BACKUP": str(backup),
        }
        setup = _block("setup")
        done = _bash(_with_values(setup, values), env)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "OK: " in done.stdout and "chain intact; data keys open" in done.stdout

        # The by-hand route, into a second empty database made by the same createdb line.
        values["DBNAME"] = pg_names["dbs"][1]
        head = "\n".join(setup.splitlines()[:2])
        createdb = next(line for line in setup.splitlines() if line.startswith("createdb "))
        manual = _with_values(head, values) + "\n" + createdb + "\n" + _block("manual")
        done = _bash(manual, env)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "OK: " in done.stdout and "chain intact" in done.stdout

        outer = outer_postgres_url()
        for db in pg_names["dbs"]:
            with psycopg.connect(outer.rsplit("/", 1)[0] + f"/{db}") as conn:
                owners = conn.execute(
                    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
                assert owners == [(pg_names["role"],)]
                analyzed = conn.execute(
                    "SELECT count(*) FROM pg_stat_user_tables "
                    "WHERE relname = 'strongroom_audit_event' AND last_analyze IS NOT NULL"
                ).fetchone()
                assert analyzed == (1,)
    finally:
        cleanup()
