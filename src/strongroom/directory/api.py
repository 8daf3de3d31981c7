"""Directory (LDAP / Active Directory) API: settings, group mappings, test, sync now."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from strongroom.accounts.models import UserGroup
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.core.errors import NotFound
from strongroom.core.request import client_ip
from strongroom.directory import services
from strongroom.directory.models import DirectoryConfig, GroupMapping

router = Router(tags=["directory"])


class DirectoryOut(Schema):
    enabled: bool
    server_urls: list[str]
    security: str
    ca_bundle: str
    bind_dn: str
    bind_password_set: bool
    user_search_base: str
    user_filter: str
    username_attribute: str
    email_attribute: str
    name_attribute: str
    group_search_base: str
    group_filter: str
    nesting: str
    allowed_group_dn: str
    jit_create: bool
    default_role: str
    timeout_seconds: int
    last_sync_at: datetime | None
    last_sync_result: dict[str, Any]


class DirectoryIn(Schema):
    """Fields left out keep their values; ``bind_password`` is write-only ("" clears it)."""

    enabled: bool | None = None
    server_urls: list[str] | None = None
    security: str | None = None
    ca_bundle: str | None = None
    bind_dn: str | None = None
    bind_password: str | None = None
    user_search_base: str | None = None
    user_filter: str | None = None
    username_attribute: str | None = None
    email_attribute: str | None = None
    name_attribute: str | None = None
    group_search_base: str | None = None
    group_filter: str | None = None
    nesting: str | None = None
    allowed_group_dn: str | None = None
    jit_create: bool | None = None
    default_role: str | None = None
    timeout_seconds: int | None = None


class MappingIn(Schema):
    group_dn: str
    user_group_id: uuid.UUID | None = None
    role: str = ""


class MappingOut(Schema):
    id: uuid.UUID
    group_dn: str
    user_group_id: uuid.UUID | None
    user_group_name: str | None
    role: str


class TestIn(Schema):
    username: str | None = None


class TestOut(Schema):
    users: int
    user_found: bool | None = None
    groups: list[str] = []


class DirectoryUserIn(Schema):
    username: str


class DirectoryUserOut(Schema):
    id: uuid.UUID
    username: str
    email: str
    full_name: str
    role: str


class SyncOut(Schema):
    checked: int
    deactivated: int
    kept: int


def directory_out(config: DirectoryConfig) -> dict[str, Any]:
    return {
        **{
            name: getattr(config, name)
            for name in DirectoryOut.model_fields
            if name not in ("server_urls", "bind_password_set")
        },
        "server_urls": config.server_urls.split(),
        "bind_password_set": config.bind_password is not None,
    }


def mapping_out(mapping: GroupMapping) -> dict[str, Any]:
    return {
        "id": mapping.pk,
        "group_dn": mapping.group_dn,
        "user_group_id": mapping.user_group_id,
        "user_group_name": mapping.user_group.name if mapping.user_group else None,
        "role": mapping.role,
    }


@router.get("/directory", response=DirectoryOut)
def directory_get(request: HttpRequest) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    return directory_out(services.directory_config())


@router.put("/directory", response=DirectoryOut)
def directory_put(request: HttpRequest, body: DirectoryIn) -> Any:
    changes = body.model_dump(exclude={"bind_password"})
    if body.server_urls is not None:
        changes["server_urls"] = "\n".join(body.server_urls)
    config = services.directory_config_update(
        actor=request.auth,  # type: ignore[attr-defined]
        bind_password=body.bind_password,
        client_ip=client_ip(request),
        **changes,
    )
    return directory_out(config)


@router.get("/directory/mappings", response=list[MappingOut])
def directory_mappings(request: HttpRequest) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    return [mapping_out(m) for m in GroupMapping.objects.select_related("user_group")]


@router.post("/directory/mappings", response={201: MappingOut})
def directory_mapping_create(request: HttpRequest, body: MappingIn) -> Any:
    group = None
    if body.user_group_id is not None:
        group = UserGroup.objects.filter(pk=body.user_group_id).first()
        if group is None:
            raise NotFound("no such user group", field="user_group_id")
    mapping = services.group_mapping_create(
        actor=request.auth,  # type: ignore[attr-defined]
        group_dn=body.group_dn,
        user_group=group,
        role=body.role,
        client_ip=client_ip(request),
    )
    return 201, mapping_out(mapping)


@router.delete("/directory/mappings/{mapping_id}", response={204: None})
def directory_mapping_delete(request: HttpRequest, mapping_id: uuid.UUID) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    mapping = GroupMapping.objects.filter(pk=mapping_id).first()
    if mapping is None:
        raise NotFound("no such group mapping")
    services.group_mapping_delete(
        actor=request.auth,  # type: ignore[attr-defined]
        mapping=mapping,
        client_ip=client_ip(request),
    )
    return 204, None


@router.post("/directory/test", response=TestOut)
def directory_test(request: HttpRequest, body: TestIn) -> Any:
    """Bind with the service account, count the users, and look one up with their groups."""
    return services.directory_test(actor=request.auth, username=body.username)  # type: ignore[attr-defined]


@router.post("/directory/users", response={201: DirectoryUserOut})
def directory_user_add(request: HttpRequest, body: DirectoryUserIn) -> Any:
    """Add a directory user to Strongroom now (needed before their first sign-in when
    just-in-time creation is off)."""
    user = services.directory_user_add(
        actor=request.auth,  # type: ignore[attr-defined]
        username=body.username,
        client_ip=client_ip(request),
    )
    return 201, {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
    }


@router.post("/directory/sync", response=SyncOut)
def directory_sync_now(request: HttpRequest) -> Any:
    """Sync now: deactivate the linked users who left the directory or the allowed group."""
    result = services.directory_sync(
        actor=request.auth,  # type: ignore[attr-defined]
        client_ip=client_ip(request),
    )
    return result.as_dict()
