"""Test data for the whole suite, built through the real services (never rows written past
them, so every object is one the application itself could have made), and the client the
tests call /api/v1 with (Django's test client: real routing, authentication, CSRF and error
handling). Import from here (``from factories import user_make, api_for``); the fixtures
over these (``admin``, ``make_user``, ``clock``…) are in tests/shared_fixtures.py.

One copy of each: a suite that needs something else adds it here, not a private twin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client

from strongroom.accounts import services as people
from strongroom.accounts.models import User, UserGroup
from strongroom.vault import services as vault
from strongroom.vault.models import Account, Resource, ResourceGroup

PASSWORD = "Correct-horse-battery-staple-7"
LOGIN_PASSWORD = PASSWORD
PASSPHRASE = "plum orbit quietly seventy lantern"
ROLES = ("admin", "password_admin", "password_user", "auditor")

# The test-only PBKDF2 minimum of offline copies (the Django setting
# STRONGROOM_EXPORT_MIN_ITERATIONS, which production does not have: its minimum is
# 600,000). Tests whose subject is not the KDF lower the policy's iterations to it.
TEST_ITERATIONS = 1_000


# --- People --------------------------------------------------------------------------------


def user_make(role: str = "password_user", username: str | None = None, **kw: Any) -> User:
    """A user of ``role`` with the password ``PASSWORD`` (a fresh random name unless given)."""
    kw.setdefault("password", PASSWORD)
    return people.user_create(
        actor=None, username=username or f"{role}-{uuid.uuid4().hex[:8]}", role=role, **kw
    )


def admin_get(username: str = "test-admin") -> User:
    """The administrator called ``username``, made on first use (one per test database)."""
    found = User.objects.filter(username=username).first()
    return found or user_make("admin", username)


def group_make(*members: User, name: str | None = None) -> UserGroup:
    group = people.user_group_create(actor=None, name=name or f"team-{uuid.uuid4().hex[:8]}")
    for member in members:
        people.user_group_add_member(actor=None, group=group, user=member)
    return group


def deactivate(user: User) -> None:
    people.user_deactivate(actor=user_make("admin"), user=user)


# --- Vault ---------------------------------------------------------------------------------


def resource_make(owner: User, name: str | None = None, **fields: Any) -> Resource:
    return vault.resource_create(actor=owner, name=name or f"srv-{uuid.uuid4().hex[:6]}", **fields)


def account_make(
    actor: User,
    resource: Resource,
    username: str = "root",
    password: str = "pw",  # noqa: S107
    **kw: Any,
) -> Account:
    return vault.account_create(
        actor=actor, resource_id=resource.pk, username=username, password=password, **kw
    )


def rgroup_make(owner: User, *resources: Resource, name: str | None = None) -> ResourceGroup:
    """A resource group of ``owner`` holding ``resources``."""
    group = vault.resource_group_create(actor=owner, name=name or f"rg-{uuid.uuid4().hex[:6]}")
    for resource in resources:
        vault.resource_group_add_resource(
            actor=owner, resource_group_id=group.pk, resource_id=resource.pk
        )
    return group


# --- The API -------------------------------------------------------------------------------


@dataclass
class Api:
    """Calls /api/v1 with a bearer token (or the client's session when token is None), from
    the client address ``ip``.

    ``reauth()`` confirms it's you the way a client must before account-takeover actions
    (2FA, tokens, own password, an administrator on their own account): through a token it
    keeps the returned secret and sends it as X-Strongroom-Reauth from then on; through a
    session the server remembers."""

    token: str | None = None
    client: Client = field(default_factory=Client)
    ip: str = "127.0.0.1"
    reauth_secret: str | None = None

    def _headers(self, headers: dict[str, str]) -> dict[str, str]:
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if self.reauth_secret:
            headers.setdefault("X-Strongroom-Reauth", self.reauth_secret)
        return headers

    def call(
        self, method: str, path: str, body: Any = None, ip: str | None = None, **headers: str
    ) -> Any:
        kwargs: dict[str, Any] = {"headers": self._headers(headers), "REMOTE_ADDR": ip or self.ip}
        if body is not None:
            kwargs["data"] = body
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method.lower())(f"/api/v1{path}", **kwargs)

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(
            f"/api/v1{path}", params or {}, headers=self._headers(headers), REMOTE_ADDR=self.ip
        )

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("post", path, body if body is not None else {}, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("put", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("patch", path, body if body is not None else {}, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("delete", path, **kw)

    def upload(self, path: str, data: bytes, fmt: str, filename: str = "import.csv") -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post(
            f"/api/v1{path}",
            {"file": SimpleUploadedFile(filename, data, content_type="text/csv"), "format": fmt},
            headers=self._headers({}),
            REMOTE_ADDR=self.ip,
        )

    def login(
        self, username: str, password: str = PASSWORD, otp: str | None = None, ip: str | None = None
    ) -> Any:
        body: dict[str, Any] = {"username": username, "password": password}
        if otp is not None:
            body["otp"] = otp
        return self.call("post", "/auth/login", body, ip=ip)

    def reauth(
        self, password: str = PASSWORD, otp: str | None = None, ip: str | None = None
    ) -> Any:
        body: dict[str, Any] = {"password": password}
        if otp is not None:
            body["otp"] = otp
        response = self.call("post", "/auth/reauth", body, ip=ip)
        if response.status_code == 200 and response.json()["reauth"]:
            self.reauth_secret = response.json()["reauth"]
        return response


def api_for(user: User, scopes: Any = people.ALL_SCOPES, ip: str = "127.0.0.1") -> Api:
    """An Api authenticated as ``user`` with a fresh API token named "tests" (every scope
    unless told)."""
    issued = people.api_token_create(
        user=user, name="tests", scopes=scopes, reauth=people.REAUTH_TRUSTED
    )
    return Api(token=issued.raw, ip=ip)


def error(response: Any) -> dict[str, Any]:
    """The API's error object of ``response`` (``code``, ``message``, ``details``)."""
    body = response.json()
    assert "error" in body, body
    return body["error"]


def error_code(response: Any) -> str:
    return error(response)["code"]


# --- Time ----------------------------------------------------------------------------------


class Clock:
    """A hand-moved clock that stands in for django.utils.timezone.now (the ``clock``
    fixture of tests/shared_fixtures.py): it starts at ``start`` (the real time unless given) and
    moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
