"""Fixtures shared by every suite (a pytest plugin, loaded by tests/conftest.py), over the
factories of tests/factories.py. A suite's own conftest adds what only it needs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from factories import ROLES, Api, Clock, api_for, user_make
from strongroom.accounts.models import User


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    """``user_make``: ``make_user(role="password_user", username=None, **user_create args)``."""
    return user_make


@pytest.fixture
def admin(db) -> User:
    """The administrator "root-admin" (password factories.PASSWORD)."""
    return user_make("admin", username="root-admin", email="root@example.test")


@pytest.fixture
def users(db) -> dict[str, User]:
    """One active user of each role."""
    return {role: user_make(role) for role in ROLES}


@pytest.fixture
def api_as(db) -> Callable[..., Api]:
    """``api_for``: an Api with a fresh token of the given user."""
    return api_for


@pytest.fixture
def admin_api(admin) -> Api:
    return api_for(admin)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Every "now" of the server (django.utils.timezone.now: token expiry, re-authentication
    age, throttle windows, sessions) read from a hand-moved Clock: time passes when the test
    says ``clock.advance(seconds)``, never by waiting."""
    moved = Clock()
    monkeypatch.setattr("django.utils.timezone.now", moved)
    return moved
