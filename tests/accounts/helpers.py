"""People test helpers beyond the shared factories (tests/factories.py)."""

from __future__ import annotations

from factories import Api, api_for
from strongroom.accounts.models import User


def confirmed_api_for(user: User, otp: str | None = None) -> Api:
    """``api_for(user)`` that has just confirmed it's them (password, and ``otp`` if given)."""
    api = api_for(user)
    response = api.reauth(otp=otp)
    assert response.status_code == 200, response.content
    return api
