"""Test set-up shared by every test: a private data directory and a real database.

The suite runs once on SQLite and once on PostgreSQL (scripts/test sets
STRONGROOM_DATABASE_URL for the second run).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("STRONGROOM_DATA_DIR", tempfile.mkdtemp(prefix="strongroom-test-"))
os.environ.setdefault("STRONGROOM_ARGON2_FAST", "1")
os.environ.setdefault("STRONGROOM_HUEY_IMMEDIATE", "1")

import pytest


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    """Each test starts with no cached data keys (the test database is rebuilt per test)."""
    from strongroom.core import keys

    keys.reset()
    yield
    keys.reset()
