"""Test set-up shared by every test. The environment (private data directory, cheap
Argon2id) is prepared by the plugin strongroom.testing.pytest_env, loaded from pyproject.

The suite runs once on SQLite and once on PostgreSQL (scripts/test sets
STRONGROOM_DATABASE_URL for the second run).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    """Each test starts with no cached data keys (the test database is rebuilt per test)."""
    from strongroom.core import keys

    keys.reset()
    yield
    keys.reset()
