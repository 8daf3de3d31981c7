"""Fixtures for the audit API tests (shared helpers from tests/accounts/helpers.py)."""

from __future__ import annotations

import pytest

from accounts.helpers import api_for, user_make


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Argon2id at test cost (see tests/accounts/conftest.py for why this is here)."""
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def auditor_api(db):
    return api_for(user_make("auditor", username="the-auditor"))


@pytest.fixture
def make_user(db):
    return user_make
