"""People test helpers: users built through the real services, API calls through Django's
test client (real URL routing, auth, CSRF and error handling)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client

from strongroom.accounts import services
from strongroom.accounts.models import User

PASSWORD = "Correct-horse-battery-staple-7"


@dataclass
class Api:
    """Calls /api/v1 with a bearer token (or the client's session when token is None).

    ``reauth()`` confirms it's you the way a client must before account-takeover actions
    (2FA, tokens, own password, an administrator on their own account): through a token it
    keeps the returned secret and sends it as X-Strongroom-Reauth from then on; through a
    session the server remembers."""

    client: Client = field(default_factory=Client)
    token: str | None = None
    reauth_secret: str | None = None

    def _headers(self, headers: dict[str, str]) -> dict[str, str]:
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if self.reauth_secret:
            headers.setdefault("X-Strongroom-Reauth", self.reauth_secret)
        return headers

    def reauth(
        self, password: str = PASSWORD, otp: str | None = None, ip: str = "127.0.0.1"
    ) -> Any:
        body: dict[str, Any] = {"password": password}
        if otp is not None:
            body["otp"] = otp
        response = self.call("post", "/auth/reauth", body, ip=ip)
        if response.status_code == 200 and response.json()["reauth"]:
            self.reauth_secret = response.json()["reauth"]
        return response

    def call(
        self, method: str, path: str, body: Any = None, ip: str = "127.0.0.1", **headers: str
    ) -> Any:
        headers = self._headers(headers)
        kwargs: dict[str, Any] = {"headers": headers, "REMOTE_ADDR": ip}
        if body is not None:
            kwargs["data"] = body
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method)(f"/api/v1{path}", **kwargs)

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        headers = self._headers(headers)
        return self.client.get(f"/api/v1{path}", params or {}, headers=headers)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("post", path, body if body is not None else {}, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("put", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("patch", path, body if body is not None else {}, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("delete", path, **kw)

    def login(
        self, username: str, password: str = PASSWORD, otp: str | None = None, ip: str = "127.0.0.1"
    ) -> Any:
        body: dict[str, Any] = {"username": username, "password": password}
        if otp is not None:
            body["otp"] = otp
        return self.call("post", "/auth/login", body, ip=ip)


def user_make(role: str = "password_user", username: str | None = None, **kw: Any) -> User:
    kw.setdefault("password", PASSWORD)
    return services.user_create(
        actor=None, username=username or f"{role}-{uuid.uuid4().hex[:8]}", role=role, **kw
    )


def api_for(user: User, scopes: Any = services.ALL_SCOPES) -> Api:
    """An Api authenticated as ``user`` with a fresh API token (every scope unless told)."""
    issued = services.api_token_create(
        user=user, name="tests", scopes=scopes, reauth=services.REAUTH_TRUSTED
    )
    return Api(token=issued.raw)


def confirmed_api_for(user: User, otp: str | None = None) -> Api:
    """``api_for(user)`` that has just confirmed it's them (password, and ``otp`` if given)."""
    api = api_for(user)
    response = api.reauth(otp=otp)
    assert response.status_code == 200, response.content
    return api


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]


class Clock:
    """A hand-moved clock that stands in for django.utils.timezone.now (see the ``clock``
    fixtures): it starts at the real time and moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
