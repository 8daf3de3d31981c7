"""Vault test fixtures (helpers in tests/vault/helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Argon2id at test cost (the settings module is imported before tests/conftest.py can
    set STRONGROOM_ARGON2_FAST)."""
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]
