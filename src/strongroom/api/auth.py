"""API authentication: bearer API tokens for scripts, the session (with CSRF) for the web UI."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from strongroom.accounts import services as account_services


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = account_services.api_token_authenticate(raw_token=token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The signed-in web session. CSRF is checked for unsafe methods (ninja's csrf=True)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            if request.session.get("mfa_pending"):
                return None
            return user
        return None


api_auth = [TokenAuth(), SessionAuth(csrf=True)]
