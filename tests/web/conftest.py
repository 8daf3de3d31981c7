"""Fixtures for the web page tests: Django test clients signed in as users of every role
(the users come from tests/factories.py and the shared fixtures of tests/shared_fixtures.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from factories import PASSWORD
from strongroom.accounts.models import User


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
def admin_client(admin) -> Client:
    return client_for(admin)
