"""Vault test helpers: people and vault objects built through the real services, API calls
through Django's test client with real bearer tokens (real routing, auth, error handling)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.test import Client

from strongroom.accounts import services as account_services
from strongroom.accounts.models import User, UserGroup
from strongroom.vault import services
from strongroom.vault.models import Account, Resource, ResourceGroup

LOGIN_PASSWORD = "Correct-horse-battery-staple-7"
ROLES = ("admin", "password_admin", "password_user", "auditor")


@dataclass
class Api:
    """Calls /api/v1 as one user with a bearer token."""

    token: str
    client: Client = field(default_factory=Client)
    ip: str = "127.0.0.1"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {
            "headers": {"Authorization": f"Bearer {self.token}"},
            "REMOTE_ADDR": self.ip,
        }
        if body is not None:
            kwargs["data"] = body
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method.lower())(f"/api/v1{path}", **kwargs)

    def get(self, path: str) -> Any:
        return self.call("get", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("post", path, {} if body is None else body)

    def patch(self, path: str, body: Any) -> Any:
        return self.call("patch", path, body)

    def delete(self, path: str) -> Any:
        return self.call("delete", path)

    def upload(self, path: str, data: bytes, fmt: str, filename: str = "import.csv") -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post(
            f"/api/v1{path}",
            {"file": SimpleUploadedFile(filename, data, content_type="text/csv"), "format": fmt},
            headers={"Authorization": f"Bearer {self.token}"},
            REMOTE_ADDR=self.ip,
        )


def user_make(role: str = "password_user", username: str | None = None) -> User:
    return account_services.user_create(
        actor=None,
        username=username or f"{role}-{uuid.uuid4().hex[:8]}",
        password=LOGIN_PASSWORD,
        role=role,
    )


def api_for(user: User, ip: str = "127.0.0.1") -> Api:
    issued = account_services.api_token_create(
        user=user, name="vault tests", reauth=account_services.REAUTH_TRUSTED
    )
    return Api(token=issued.raw, ip=ip)


def group_make(*members: User, name: str | None = None) -> UserGroup:
    group = account_services.user_group_create(
        actor=None, name=name or f"team-{uuid.uuid4().hex[:8]}"
    )
    for member in members:
        account_services.user_group_add_member(actor=None, group=group, user=member)
    return group


def deactivate(user: User) -> None:
    admin = user_make("admin")
    account_services.user_deactivate(actor=admin, user=user)


def resource_make(owner: User, name: str | None = None, **fields: Any) -> Resource:
    return services.resource_create(
        actor=owner, name=name or f"srv-{uuid.uuid4().hex[:6]}", **fields
    )


def account_make(
    actor: User,
    resource: Resource,
    username: str = "root",
    password: str = "pw",  # noqa: S107
    **kw: Any,
) -> Account:
    return services.account_create(
        actor=actor, resource_id=resource.pk, username=username, password=password, **kw
    )


def rgroup_make(owner: User, *resources: Resource, name: str | None = None) -> ResourceGroup:
    group = services.resource_group_create(actor=owner, name=name or f"rg-{uuid.uuid4().hex[:6]}")
    for resource in resources:
        services.resource_group_add_resource(
            actor=owner, resource_group_id=group.pk, resource_id=resource.pk
        )
    return group


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, body
    return body["error"]
