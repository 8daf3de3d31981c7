"""Fixtures for the web page tests: users of every role (built through the real services)
and Django test clients signed in as them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from strongroom.accounts import services
from strongroom.accounts.models import User

PASSWORD = "Correct-horse-battery-staple-7"
ROLES = ("admin", "password_admin", "password_user", "auditor")


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Argon2id at test cost (the settings module is imported before tests/conftest.py can
    set STRONGROOM_ARGON2_FAST)."""
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


def user_make(role: str = "password_user", username: str | None = None, **kw: Any) -> User:
    kw.setdefault("password", PASSWORD)
    return services.user_create(
        actor=None, username=username or f"{role}-{uuid.uuid4().hex[:8]}", role=role, **kw
    )


def client_for(user: User, *, csrf: bool = False, confirmed: bool = False) -> Client:
    """A browser session signed in as ``user`` (``csrf=True`` enforces CSRF like a browser;
    ``confirmed=True`` has also just confirmed it's them, see ``confirm_its_me``)."""
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    if confirmed:
        confirm_its_me(client)
    return client


def confirm_its_me(client: Client, password: str = PASSWORD, otp: str = "") -> None:
    """Go through "Confirm it's you" as a person would, so the session may do the
    account-takeover actions (2FA, tokens, own password) for the next few minutes."""
    response = client.post(
        reverse("accounts:reauth"), {"password": password, "otp": otp, "next": "/account/"}
    )
    assert response.status_code == 302 and response["Location"] == "/account/", response.content


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    return user_make


@pytest.fixture
def admin(db) -> User:
    return user_make("admin", username="root-admin")


@pytest.fixture
def admin_client(admin) -> Client:
    return client_for(admin)


@pytest.fixture
def users(db) -> dict[str, User]:
    """One active user of each role."""
    return {role: user_make(role) for role in ROLES}
