"""Request and response shapes of the vault API. Responses never carry a password, a TOTP
seed or another secret, except the dedicated retrieval endpoints' ``password`` / ``code``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Schema
from pydantic import Field

from strongroom.vault.models import AccessLevel
from strongroom.vault.selectors import SEARCH_COUNT_MAX


def _level_name(level: Any) -> str | None:
    return None if level is None else AccessLevel(int(level)).label


# --------------------------------------------------------------------------- resources


class ResourceIn(Schema):
    name: str
    resource_type: str = ""
    host: str = ""
    url: str = ""
    description: str = ""
    department: str = ""
    location: str = ""
    custom_fields: dict[str, str] = Field(default_factory=dict)


class ResourcePatch(Schema):
    name: str | None = None
    resource_type: str | None = None
    host: str | None = None
    url: str | None = None
    description: str | None = None
    department: str | None = None
    location: str | None = None
    custom_fields: dict[str, str] | None = None


class ResourceOut(Schema):
    id: UUID
    name: str
    resource_type: str
    host: str
    url: str
    description: str
    department: str
    location: str
    custom_fields: dict[str, str]
    owner_id: UUID
    owner_username: str
    access_level: int
    access_level_name: str
    account_count: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_owner_username(obj: Any) -> str:
        return str(obj.owner.username)

    @staticmethod
    def resolve_access_level_name(obj: Any) -> str | None:
        return _level_name(obj.access_level)


class ResourceListOut(Schema):
    items: list[ResourceOut]
    total: int = Field(
        description=f"How many resources the list holds. With `search`, counted up to "
        f"{SEARCH_COUNT_MAX:,}: when `total_capped` is true the search finds more, and `total` "
        f"is {SEARCH_COUNT_MAX:,} (a lower bound); page on while `has_more` is true."
    )
    total_capped: bool = Field(
        description=f"The search finds more than {SEARCH_COUNT_MAX:,} resources: `total` is "
        "a lower bound, not the count."
    )
    has_more: bool = Field(description="More resources follow this page (at a higher offset).")
    limit: int
    offset: int


# --------------------------------------------------------------------------- accounts


class AccountIn(Schema):
    username: str = ""
    password: str = ""
    notes: str = ""
    totp_seed: str | None = None


class AccountPatch(Schema):
    username: str | None = None
    password: str | None = None
    notes: str | None = None
    totp_seed: str | None = Field(
        default=None, description='A new seed, or "" to remove TOTP from the account.'
    )


class AccountOut(Schema):
    id: UUID
    resource_id: UUID
    username: str
    has_password: bool
    has_notes: bool
    has_totp: bool
    password_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_has_password(obj: Any) -> bool:
        return obj.password is not None

    @staticmethod
    def resolve_has_notes(obj: Any) -> bool:
        return obj.notes is not None

    @staticmethod
    def resolve_has_totp(obj: Any) -> bool:
        return obj.totp_seed is not None


class AccountDetailOut(AccountOut):
    """One account with its notes (sealed at rest, readable at view level) and the
    caller's access level."""

    resource_name: str
    notes: str
    access_level: int
    access_level_name: str

    @staticmethod
    def resolve_resource_name(obj: Any) -> str:
        return str(obj.resource.name)

    @staticmethod
    def resolve_notes(obj: Any) -> str:
        return str(obj.notes_text)

    @staticmethod
    def resolve_access_level_name(obj: Any) -> str | None:
        return _level_name(obj.access_level)


class ReasonIn(Schema):
    reason: str = ""


class PasswordOut(Schema):
    password: str


class HistoryOut(Schema):
    id: UUID
    created_at: datetime
    changed_by_id: UUID | None
    changed_by_username: str | None

    @staticmethod
    def resolve_changed_by_username(obj: Any) -> str | None:
        return obj.changed_by.username if obj.changed_by is not None else None


class TotpOut(Schema):
    code: str
    period: int
    remaining_seconds: int


# --------------------------------------------------------------------------- groups


class ResourceGroupIn(Schema):
    name: str
    description: str = ""


class ResourceGroupPatch(Schema):
    name: str | None = None
    description: str | None = None


class ResourceGroupOut(Schema):
    id: UUID
    name: str
    description: str
    owner_id: UUID
    owner_username: str
    access_level: int
    access_level_name: str
    resource_count: int
    created_at: datetime

    @staticmethod
    def resolve_owner_username(obj: Any) -> str:
        return str(obj.owner.username)

    @staticmethod
    def resolve_access_level_name(obj: Any) -> str | None:
        return _level_name(obj.access_level)


class GroupMemberIn(Schema):
    resource_id: UUID


# --------------------------------------------------------------------------- shares


class ShareIn(Schema):
    resource_id: UUID | None = None
    resource_group_id: UUID | None = None
    user_id: UUID | None = None
    user_group_id: UUID | None = None
    level: int | str = Field(description="view, modify or manage (or 1, 2, 3)")


class ShareOut(Schema):
    id: UUID
    resource_id: UUID | None
    resource_group_id: UUID | None
    target_name: str
    user_id: UUID | None
    username: str | None
    user_group_id: UUID | None
    user_group_name: str | None
    level: int
    level_name: str
    created_at: datetime

    @staticmethod
    def resolve_target_name(obj: Any) -> str:
        target = obj.resource if obj.resource_id else obj.resource_group
        return str(target.name)

    @staticmethod
    def resolve_username(obj: Any) -> str | None:
        return obj.user.username if obj.user_id else None

    @staticmethod
    def resolve_user_group_name(obj: Any) -> str | None:
        return obj.user_group.name if obj.user_group_id else None

    @staticmethod
    def resolve_level_name(obj: Any) -> str | None:
        return _level_name(obj.level)


class GrantOut(Schema):
    via: str
    level: int
    level_name: str
    principal_type: str
    principal_id: UUID
    principal_name: str
    share_id: UUID | None
    resource_group_id: UUID | None
    resource_group_name: str | None

    @staticmethod
    def resolve_level_name(obj: Any) -> str | None:
        return _level_name(obj.level)


class EffectiveAccessOut(Schema):
    user_id: UUID
    username: str
    level: int
    level_name: str
    grants: list[GrantOut]

    @staticmethod
    def resolve_level_name(obj: Any) -> str | None:
        return _level_name(obj.level)


class ResourceAccessOut(Schema):
    resource_id: UUID
    resource_name: str
    grants: list[GrantOut]
    users: list[EffectiveAccessOut]

    @staticmethod
    def resolve_resource_id(obj: Any) -> UUID:
        return obj.resource.pk  # type: ignore[no-any-return]

    @staticmethod
    def resolve_resource_name(obj: Any) -> str:
        return str(obj.resource.name)


# --------------------------------------------------------------------------- import


class ImportProblemOut(Schema):
    row: int | None
    column: str | None
    problem: str
    line: int | None
    item: str | None = None


class ImportNoteOut(Schema):
    row: int | None
    item: str | None
    name: str
    reason: str


class ImportReportOut(Schema):
    format: str
    ok: bool
    rows: int
    resources_created: int
    accounts_created: int
    resource_groups_created: int
    mode: str
    accounts_updated: int
    skipped_count: int
    updated_count: int
    problems: list[ImportProblemOut]
    skipped: list[ImportNoteOut]
    updated: list[ImportNoteOut]
