"""Vault endpoints of the REST API (mounted at /api/v1/ by strongroom.api.main).

Thin: each endpoint calls one selector or service with the authenticated user and the
client address. Objects the caller cannot see answer 404 (never revealing that they
exist), objects they can see without the needed level answer 403. Secret values travel
only in the bodies of the POST retrieval endpoints (never in URLs, never cached).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import File, Form, Query, Router, Schema, Status, UploadedFile
from pydantic import Field

from strongroom.core.errors import ErrorCode, ValidationFailed
from strongroom.core.paging import MAX_OFFSET
from strongroom.core.request import client_ip
from strongroom.vault import attachments, bulk, favourites, importers, selectors, services
from strongroom.vault.schemas import (
    AccountDetailOut,
    AccountIn,
    AccountOut,
    AccountPatch,
    GroupMemberIn,
    HistoryOut,
    ImportReportOut,
    PasswordOut,
    ReasonIn,
    ResourceAccessOut,
    ResourceGroupIn,
    ResourceGroupOut,
    ResourceGroupPatch,
    ResourceIn,
    ResourceListOut,
    ResourceOut,
    ResourcePatch,
    ShareIn,
    ShareOut,
    TotpOut,
)

router = Router(tags=["vault"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _ip(request: HttpRequest) -> str:
    return client_ip(request)


def _reason(payload: ReasonIn | None) -> str:
    """The body is optional: without one, the reason is empty (refused if it is required)."""
    return payload.reason if payload is not None else ""


def _account_detail(request: HttpRequest, account_id: Any) -> Any:
    account = selectors.account_get(user=_actor(request), account_id=account_id)
    account.notes_text = selectors.account_notes(account=account)  # type: ignore[attr-defined]
    return account


# --------------------------------------------------------------------------- resources


class ResourceFilters(Schema):
    search: str | None = None
    type: str | None = None
    department: str | None = None
    group: UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


@router.get("/resources", response=ResourceListOut, summary="List the resources you can see")
def resources_list(request: HttpRequest, filters: Query[ResourceFilters]) -> dict[str, Any]:
    page = selectors.resources_page(
        user=_actor(request),
        limit=filters.limit,
        offset=filters.offset,
        search=filters.search or None,
        resource_type=filters.type or None,
        department=filters.department or None,
        resource_group_id=filters.group,
    )
    return _resource_list(page, limit=filters.limit, offset=filters.offset)


def _resource_list(page: selectors.ResourcePage, *, limit: int, offset: int) -> dict[str, Any]:
    return {
        "items": page.items,
        "total": page.total,
        "total_capped": page.total_capped,
        "has_more": page.has_more,
        "limit": limit,
        "offset": offset,
    }


@router.post("/resources", response={201: ResourceOut}, summary="Create a resource")
def resources_create(request: HttpRequest, payload: ResourceIn) -> Status[Any]:
    resource = services.resource_create(
        actor=_actor(request), client_ip=_ip(request), **payload.model_dump()
    )
    return Status(201, selectors.resource_get(user=_actor(request), resource_id=resource.pk))


class BulkIn(Schema):
    action: str = Field(description="share, add_to_group, move or delete")
    resource_ids: list[Any] = Field(
        description=f"The selection: at most {bulk.MAX_SELECTION} resource IDs. All or "
        "nothing: if one is not allowed, nothing changes and the error lists each refused one."
    )
    resource_group_id: str | None = Field(None, description="add_to_group and move")
    user_id: str | None = Field(None, description="share: with a user …")
    user_group_id: str | None = Field(None, description="share: … or with a user group")
    level: int | str | None = Field(None, description="share: view, modify or manage")


class BulkUnchangedOut(Schema):
    id: str
    name: str
    problem: str


class BulkOut(Schema):
    action: str
    selected: int
    changed: list[UUID]
    unchanged: list[BulkUnchangedOut]


@router.post(
    "/resources/bulk",
    response=BulkOut,
    summary="Share, add to a group, move or delete a selection of resources (all or nothing)",
)
def resources_bulk(request: HttpRequest, payload: BulkIn) -> Any:
    actor, ip = _actor(request), _ip(request)
    if payload.action == "delete":
        return bulk.resources_bulk_delete(
            actor=actor, resource_ids=payload.resource_ids, client_ip=ip
        )
    if payload.action in {"add_to_group", "move"}:
        run = (
            bulk.resources_bulk_group_add
            if payload.action == "add_to_group"
            else bulk.resources_bulk_move
        )
        return run(
            actor=actor,
            resource_ids=payload.resource_ids,
            resource_group_id=payload.resource_group_id,
            client_ip=ip,
        )
    if payload.action == "share":
        if payload.level is None:
            raise ValidationFailed("give the level: view, modify or manage", field="level")
        return bulk.resources_bulk_share(
            actor=actor,
            resource_ids=payload.resource_ids,
            level=payload.level,
            user_id=payload.user_id,
            user_group_id=payload.user_group_id,
            client_ip=ip,
        )
    raise ValidationFailed(
        "action must be share, add_to_group, move or delete (export: POST /exports/… with "
        "resource_ids)",
        field="action",
    )


# --------------------------------------------------------------------------- favourites


class RecentOut(Schema):
    account_id: UUID
    resource_id: UUID
    resource_name: str
    username: str
    used_at: datetime
    action: str

    @staticmethod
    def resolve_account_id(obj: Any) -> UUID:
        return obj.account.pk  # type: ignore[no-any-return]

    @staticmethod
    def resolve_resource_id(obj: Any) -> UUID:
        return obj.account.resource_id  # type: ignore[no-any-return]

    @staticmethod
    def resolve_resource_name(obj: Any) -> str:
        return str(obj.account.resource.name)

    @staticmethod
    def resolve_username(obj: Any) -> str:
        return str(obj.account.username)


@router.get("/favourites", response=list[ResourceOut], summary="Your favourite resources")
def favourites_list(request: HttpRequest) -> Any:
    return list(favourites.favourites_list(user=_actor(request))[: favourites.MAX_FAVOURITES])


@router.put("/favourites/{resource_id}", response={204: None}, summary="Star a resource")
def favourites_add(request: HttpRequest, resource_id: UUID) -> Status[None]:
    favourites.favourite_add(actor=_actor(request), resource_id=resource_id)
    return Status(204, None)


@router.delete("/favourites/{resource_id}", response={204: None}, summary="Unstar a resource")
def favourites_remove(request: HttpRequest, resource_id: UUID) -> Status[None]:
    favourites.favourite_remove(actor=_actor(request), resource_id=resource_id)
    return Status(204, None)


@router.get(
    "/recent",
    response=list[RecentOut],
    summary="Accounts whose password or TOTP code you retrieved lately, newest first",
)
def recent_list(request: HttpRequest, limit: int = favourites.RECENT_LIMIT) -> Any:
    """``limit`` is capped at 50."""
    return favourites.recent_list(user=_actor(request), limit=limit)


@router.get("/resources/{resource_id}", response=ResourceOut)
def resources_get(request: HttpRequest, resource_id: UUID) -> Any:
    return selectors.resource_get(user=_actor(request), resource_id=resource_id)


@router.patch("/resources/{resource_id}", response=ResourceOut, summary="Change a resource")
def resources_update(request: HttpRequest, resource_id: UUID, payload: ResourcePatch) -> Any:
    services.resource_update(
        actor=_actor(request),
        resource_id=resource_id,
        client_ip=_ip(request),
        **payload.model_dump(exclude_unset=True),
    )
    return selectors.resource_get(user=_actor(request), resource_id=resource_id)


@router.delete("/resources/{resource_id}", response={204: None})
def resources_delete(request: HttpRequest, resource_id: UUID) -> Status[None]:
    services.resource_delete(actor=_actor(request), resource_id=resource_id, client_ip=_ip(request))
    return Status(204, None)


@router.get(
    "/resources/{resource_id}/access",
    response=ResourceAccessOut,
    summary="Who has access to a resource, at which level, and through what (manage level)",
)
def resources_access(request: HttpRequest, resource_id: UUID) -> Any:
    return selectors.resource_access_list(user=_actor(request), resource_id=resource_id)


# --------------------------------------------------------------------------- accounts


@router.get("/resources/{resource_id}/accounts", response=list[AccountOut])
def accounts_list(request: HttpRequest, resource_id: UUID) -> Any:
    return list(selectors.accounts_list(user=_actor(request), resource_id=resource_id))


@router.post("/resources/{resource_id}/accounts", response={201: AccountDetailOut})
def accounts_create(request: HttpRequest, resource_id: UUID, payload: AccountIn) -> Status[Any]:
    account = services.account_create(
        actor=_actor(request),
        resource_id=resource_id,
        client_ip=_ip(request),
        **payload.model_dump(),
    )
    return Status(201, _account_detail(request, account.pk))


@router.get(
    "/accounts/{account_id}",
    response=AccountDetailOut,
    summary="An account with its notes (never its password)",
)
def accounts_get(request: HttpRequest, account_id: UUID) -> Any:
    return _account_detail(request, account_id)


@router.patch("/accounts/{account_id}", response=AccountDetailOut)
def accounts_update(request: HttpRequest, account_id: UUID, payload: AccountPatch) -> Any:
    services.account_update(
        actor=_actor(request),
        account_id=account_id,
        client_ip=_ip(request),
        **payload.model_dump(exclude_unset=True),
    )
    return _account_detail(request, account_id)


@router.delete("/accounts/{account_id}", response={204: None})
def accounts_delete(request: HttpRequest, account_id: UUID) -> Status[None]:
    services.account_delete(actor=_actor(request), account_id=account_id, client_ip=_ip(request))
    return Status(204, None)


@router.post(
    "/accounts/{account_id}/password",
    response=PasswordOut,
    summary="Retrieve the password (audited with your reason)",
)
def accounts_password(
    request: HttpRequest, account_id: UUID, payload: ReasonIn | None = None
) -> Any:
    password = services.password_retrieve(
        actor=_actor(request),
        account_id=account_id,
        reason=_reason(payload),
        client_ip=_ip(request),
    )
    return {"password": password}


@router.get("/accounts/{account_id}/history", response=list[HistoryOut])
def accounts_history(request: HttpRequest, account_id: UUID) -> Any:
    return services.password_history_list(actor=_actor(request), account_id=account_id)


@router.post(
    "/accounts/{account_id}/history/{history_id}/password",
    response=PasswordOut,
    summary="Retrieve an earlier password (audited with your reason)",
)
def accounts_history_password(
    request: HttpRequest, account_id: UUID, history_id: UUID, payload: ReasonIn | None = None
) -> Any:
    password = services.password_history_retrieve(
        actor=_actor(request),
        account_id=account_id,
        history_id=history_id,
        reason=_reason(payload),
        client_ip=_ip(request),
    )
    return {"password": password}


@router.post(
    "/accounts/{account_id}/totp",
    response=TotpOut,
    summary="The current TOTP code (audited with your reason)",
)
def accounts_totp(request: HttpRequest, account_id: UUID, payload: ReasonIn | None = None) -> Any:
    return services.account_totp_code(
        actor=_actor(request),
        account_id=account_id,
        reason=_reason(payload),
        client_ip=_ip(request),
    )


# --------------------------------------------------------------------------- attachments


class AttachmentOut(Schema):
    id: UUID
    account_id: UUID
    name: str
    size: int
    created_at: datetime


@router.get(
    "/accounts/{account_id}/attachments",
    response=list[AttachmentOut],
    summary="The account's attachments (names and sizes, never their content)",
)
def attachments_list(request: HttpRequest, account_id: UUID) -> Any:
    return list(attachments.attachments_list(actor=_actor(request), account_id=account_id))


@router.post(
    "/accounts/{account_id}/attachments",
    response={201: AttachmentOut},
    summary="Attach a file (multipart: file, optional name; up to the administrator's limit)",
)
def attachments_upload(
    request: HttpRequest,
    account_id: UUID,
    file: File[UploadedFile],
    name: Form[str | None] = None,
) -> Status[Any]:
    # One byte past the limit is enough to refuse an oversized file without reading it all.
    data = file.read(attachments.attachment_max_bytes() + 1)
    attachment = attachments.attachment_upload(
        actor=_actor(request),
        account_id=account_id,
        name=name if name else (file.name or ""),
        data=data,
        client_ip=_ip(request),
    )
    return Status(201, attachment)


@router.post(
    "/accounts/{account_id}/attachments/{attachment_id}/download",
    summary="Download an attachment (audited with your reason, like a password retrieval)",
    response={200: None},
    openapi_extra={
        "responses": {
            # An int key, like the one ``response=`` makes: a "200" string beside it would
            # be a second "200" in openapi.json (Swagger UI refuses the document).
            200: {
                "description": "The file's bytes",
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            }
        }
    },
)
def attachments_download(
    request: HttpRequest, account_id: UUID, attachment_id: UUID, payload: ReasonIn | None = None
) -> HttpResponse:
    attachment, data = attachments.attachment_download(
        actor=_actor(request),
        account_id=account_id,
        attachment_id=attachment_id,
        reason=_reason(payload),
        client_ip=_ip(request),
    )
    return attachments.download_response(attachment, data)


@router.delete("/accounts/{account_id}/attachments/{attachment_id}", response={204: None})
def attachments_delete(request: HttpRequest, account_id: UUID, attachment_id: UUID) -> Status[None]:
    attachments.attachment_delete(
        actor=_actor(request),
        account_id=account_id,
        attachment_id=attachment_id,
        client_ip=_ip(request),
    )
    return Status(204, None)


# --------------------------------------------------------------------------- resource groups


@router.get("/resource-groups", response=list[ResourceGroupOut])
def resource_groups_list(request: HttpRequest, search: str | None = None) -> Any:
    return list(selectors.resource_groups_visible(user=_actor(request), search=search or None))


@router.post("/resource-groups", response={201: ResourceGroupOut})
def resource_groups_create(request: HttpRequest, payload: ResourceGroupIn) -> Status[Any]:
    group = services.resource_group_create(
        actor=_actor(request), client_ip=_ip(request), **payload.model_dump()
    )
    return Status(
        201, selectors.resource_group_get(user=_actor(request), resource_group_id=group.pk)
    )


@router.get("/resource-groups/{group_id}", response=ResourceGroupOut)
def resource_groups_get(request: HttpRequest, group_id: UUID) -> Any:
    return selectors.resource_group_get(user=_actor(request), resource_group_id=group_id)


@router.patch("/resource-groups/{group_id}", response=ResourceGroupOut)
def resource_groups_update(
    request: HttpRequest, group_id: UUID, payload: ResourceGroupPatch
) -> Any:
    services.resource_group_update(
        actor=_actor(request),
        resource_group_id=group_id,
        client_ip=_ip(request),
        **payload.model_dump(exclude_unset=True),
    )
    return selectors.resource_group_get(user=_actor(request), resource_group_id=group_id)


@router.delete("/resource-groups/{group_id}", response={204: None})
def resource_groups_delete(request: HttpRequest, group_id: UUID) -> Status[None]:
    services.resource_group_delete(
        actor=_actor(request), resource_group_id=group_id, client_ip=_ip(request)
    )
    return Status(204, None)


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


@router.get(
    "/resource-groups/{group_id}/resources",
    response=ResourceListOut,
    summary="The resources in a resource group (a page of them)",
)
def resource_groups_resources(
    request: HttpRequest, group_id: UUID, page: Query[PageParams]
) -> dict[str, Any]:
    found = selectors.resources_page(
        user=_actor(request), resource_group_id=group_id, limit=page.limit, offset=page.offset
    )
    return _resource_list(found, limit=page.limit, offset=page.offset)


@router.post("/resource-groups/{group_id}/resources", response={204: None})
def resource_groups_add(
    request: HttpRequest, group_id: UUID, payload: GroupMemberIn
) -> Status[None]:
    services.resource_group_add_resource(
        actor=_actor(request),
        resource_group_id=group_id,
        resource_id=payload.resource_id,
        client_ip=_ip(request),
    )
    return Status(204, None)


@router.delete("/resource-groups/{group_id}/resources/{resource_id}", response={204: None})
def resource_groups_remove(request: HttpRequest, group_id: UUID, resource_id: UUID) -> Status[None]:
    services.resource_group_remove_resource(
        actor=_actor(request),
        resource_group_id=group_id,
        resource_id=resource_id,
        client_ip=_ip(request),
    )
    return Status(204, None)


# --------------------------------------------------------------------------- shares


@router.get(
    "/shares",
    response=list[ShareOut],
    summary="Shares on a resource or resource group, or on everything you manage",
)
def shares_list(
    request: HttpRequest, resource_id: UUID | None = None, resource_group_id: UUID | None = None
) -> Any:
    return list(
        selectors.shares_list(
            user=_actor(request), resource_id=resource_id, resource_group_id=resource_group_id
        )
    )


@router.post(
    "/shares",
    response={201: ShareOut},
    summary="Share (or change the level of a share) with a user or user group",
)
def shares_grant(request: HttpRequest, payload: ShareIn) -> Status[Any]:
    share = services.share_grant(
        actor=_actor(request), client_ip=_ip(request), **payload.model_dump()
    )
    return Status(201, selectors.share_get(user=_actor(request), share_id=share.pk))


@router.get("/shares/{share_id}", response=ShareOut)
def shares_get(request: HttpRequest, share_id: UUID) -> Any:
    return selectors.share_get(user=_actor(request), share_id=share_id)


@router.delete("/shares/{share_id}", response={204: None})
def shares_revoke(request: HttpRequest, share_id: UUID) -> Status[None]:
    services.share_revoke(actor=_actor(request), share_id=share_id, client_ip=_ip(request))
    return Status(204, None)


# --------------------------------------------------------------------------- import


@router.post(
    "/import",
    response=ImportReportOut,
    summary=(
        "Import a file (CSV, Bitwarden JSON, 1Password 1PUX/CSV, LastPass CSV, KeePass XML or "
        "KDBX); all or nothing; skip, update or duplicate entries already in the vault"
    ),
)
def vault_import(
    request: HttpRequest,
    file: File[UploadedFile],
    format: Form[str] = "auto",
    mode: Form[str] = "skip",
    password: Form[str | None] = None,
) -> Any:
    # Read one byte past the limit so an oversized upload is reported without reading it all.
    data = file.read(importers.MAX_IMPORT_BYTES + 1)
    report = services.import_csv(
        actor=_actor(request),
        data=data,
        fmt=format,
        mode=mode,
        password=password or None,
        client_ip=_ip(request),
    )
    if not report.ok:
        raise ValidationFailed(report.summary(), code=ErrorCode.IMPORT_REJECTED, **report.as_dict())
    return report
