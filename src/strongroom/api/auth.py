"""API authentication: bearer API tokens for scripts, the session (with CSRF) for the web UI.

A request that presents a bearer token is judged by that token alone: an invalid, revoked
or expired token is a 401, never a fall-through to the session. A valid token must also
hold the scope its endpoint declares in api/scopes.py (403 ``insufficient_scope``): this is
the one place that check is made.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer

from strongroom.accounts import services as account_services
from strongroom.accounts.models import ApiToken
from strongroom.api import scopes
from strongroom.core.errors import ErrorCode, PermissionDenied

# What a user who must change their password may still reach.
_PASSWORD_CHANGE_PATHS = (
    "/api/v1/me",
    "/api/v1/me/password",
    "/api/v1/auth/reauth",
    "/api/v1/auth/logout",
)


def _enforce_password_change(request: HttpRequest, user: Any) -> None:
    if getattr(user, "must_change_password", False) and request.path not in _PASSWORD_CHANGE_PATHS:
        raise PermissionDenied(
            "you must change your password before doing anything else (POST /api/v1/me/password)",
            code=ErrorCode.MUST_CHANGE_PASSWORD,
        )


def _enforce_scope(request: HttpRequest, token: ApiToken) -> None:
    needed = scopes.required_scope(request)
    if needed is scopes.UNDECLARED:
        raise PermissionDenied(
            "this endpoint cannot be used with an API token", code=ErrorCode.INSUFFICIENT_SCOPE
        )
    if needed is not None and needed not in token.scopes:
        raise PermissionDenied(
            f"this API token does not have the {needed} scope this endpoint needs",
            code=ErrorCode.INSUFFICIENT_SCOPE,
            required_scope=str(needed),
            token_scopes=list(token.scopes),
        )


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = account_services.api_token_resolve(raw_token=token)
        if api_token is None:
            raise AuthenticationError(401, "invalid, revoked or expired API token")
        user = api_token.user
        _enforce_password_change(request, user)
        _enforce_scope(request, api_token)
        request.user = user
        request.api_token = api_token  # type: ignore[attr-defined]
        return user


class SessionAuth(APIKeyCookie):
    """The signed-in web session. CSRF is checked for unsafe methods (ninja's csrf=True)."""

    param_name = "sessionid"

    def __call__(self, request: HttpRequest) -> Any:
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return None  # judged by TokenAuth alone
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            _enforce_password_change(request, user)
            return user
        return None


api_auth = [TokenAuth(), SessionAuth(csrf=True)]
