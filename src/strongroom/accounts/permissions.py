"""The role permission matrix (documented in docs/permissions.md).

Roles grant *system* permissions. Access to vault objects is separate: a user reaches a
resource only as its owner (manage) or through a share (view / modify / manage) given to
them or to one of their user groups, directly or via a resource group. No role, not even
Administrator, can read a password it was not given access to.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from strongroom.accounts.models import Role
from strongroom.core.errors import PermissionDenied


class Perm(StrEnum):
    USERS_MANAGE = "users.manage"
    GROUPS_MANAGE = "groups.manage"
    SETTINGS_MANAGE = "settings.manage"
    AUDIT_READ = "audit.read"
    RESOURCES_CREATE = "resources.create"
    RESOURCE_GROUPS_CREATE = "resource_groups.create"
    IMPORT = "vault.import"
    USERS_LIST = "users.list"


MATRIX: dict[str, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.PASSWORD_ADMIN: frozenset(
        {Perm.RESOURCES_CREATE, Perm.RESOURCE_GROUPS_CREATE, Perm.IMPORT, Perm.USERS_LIST}
    ),
    # Password users may see the directory of users and groups so they can choose whom to
    # share with (sharing itself needs manage level on the object).
    Role.PASSWORD_USER: frozenset({Perm.USERS_LIST}),
    Role.AUDITOR: frozenset({Perm.AUDIT_READ, Perm.USERS_LIST}),
}


def has_perm(user: Any, perm: Perm) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return perm in MATRIX.get(user.role, frozenset())


def require_perm(user: Any, perm: Perm) -> None:
    if not has_perm(user, perm):
        raise PermissionDenied(
            f"your role does not allow this ({perm.value})", permission=perm.value
        )
