"""`strongroom migrate` as a PostgreSQL role that may not create the pg_trgm extension, as
docs/operations.md ("PostgreSQL: the pg_trgm extension") describes: the migration stops with
a message that says what to do, and after a superuser's CREATE EXTENSION it completes and
search uses the index."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from cli.helpers import make_installation, outer_postgres_url

pytestmark = [
    pytest.mark.db_specific,
    pytest.mark.skipif(
        outer_postgres_url() is None, reason="runs when the suite runs on PostgreSQL"
    ),
]


def test_migrate_without_the_extension_privilege_says_what_to_do(tmp_path):
    outer = outer_postgres_url()
    assert outer is not None
    suffix = uuid.uuid4().hex[:10]
    role, db, password = f"sr_trgm_{suffix}", f"sr_trgm_{suffix}", "trgm-test-pass"
    with psycopg.connect(outer, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        # Owned by the superuser: the role may create tables in the schema, not extensions
        # (a trusted extension needs CREATE on the database).
        conn.execute(f'CREATE DATABASE "{db}"')
    parts = urlsplit(outer)
    url = urlunsplit(
        parts._replace(
            netloc=f"{role}:{password}@{parts.hostname}:{parts.port or 5432}", path=f"/{db}"
        )
    )
    super_url = urlunsplit(parts._replace(path=f"/{db}"))
    install, _ = make_installation(tmp_path)
    install.env["STRONGROOM_DATABASE_URL"] = url
    try:
        with psycopg.connect(super_url, autocommit=True) as conn:
            conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")

        refused = install.run("migrate")
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        message = refused.stdout + refused.stderr
        assert "needs the PostgreSQL extension pg_trgm" in message
        assert "CREATE EXTENSION pg_trgm" in message
        with psycopg.connect(super_url) as conn:
            applied = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM django_migrations WHERE app = 'vault'"
                ).fetchall()
            }
            assert "0001_initial" in applied  # the earlier ones ran; the failed one changed nothing
            assert not any(name.endswith("_resource_search_index") for name in applied)
            trgm = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%_trgm'")
            assert trgm.fetchone() == (0,)

        with psycopg.connect(super_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        install.ok("migrate")
        with psycopg.connect(super_url) as conn:
            indexes = {
                row[0]
                for row in conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", ["%_trgm"]
                ).fetchall()
            }
        assert indexes == {"strongroom_resource_search_trgm", "strongroom_account_username_trgm"}
    finally:
        with psycopg.connect(outer, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f"DROP ROLE IF EXISTS {role}")
