"""Fixtures for the people tests (helpers live in tests/accounts/helpers.py)."""

from __future__ import annotations

import pytest

from .helpers import Clock, api_for, user_make


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Argon2id at test cost. tests/conftest.py sets STRONGROOM_ARGON2_FAST for this, but
    pytest-django imports the settings before that conftest runs, so it has no effect."""
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def make_user(db):
    return user_make


@pytest.fixture
def api_as(db):
    return api_for


@pytest.fixture
def admin(db):
    return user_make("admin", username="root-admin", email="root@example.test")


@pytest.fixture
def admin_api(admin):
    return api_for(admin)


@pytest.fixture
def clock(monkeypatch):
    """Every "now" of the server (timezone.now: re-authentication age, throttle windows,
    sessions) read from a hand-moved Clock."""
    moved = Clock()
    monkeypatch.setattr("django.utils.timezone.now", moved)
    return moved
