"""Reading people: the user directory, user groups, a user's own API tokens.

Anyone with Perm.USERS_LIST sees the directory (who exists, so they can share with them);
only Perm.USERS_MANAGE sees the administrative fields. Unknown or malformed IDs are
NotFound, the same answer whether or not the row exists for someone else.
"""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, Q, QuerySet

from strongroom.accounts.models import ApiToken, User, UserGroup
from strongroom.accounts.permissions import MATRIX, Perm, has_perm, require_perm
from strongroom.core.errors import NotFound


def _uuid(value: str | uuid.UUID, what: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"{what} not found") from exc


def user_sees_admin_fields(*, actor: User) -> bool:
    return has_perm(actor, Perm.USERS_MANAGE)


def user_permissions(*, user: User) -> list[str]:
    if not user.is_active:
        return []
    return sorted(perm.value for perm in MATRIX.get(user.role, frozenset()))


def user_list(
    *, actor: User, search: str | None = None, include_inactive: bool = True
) -> QuerySet[User]:
    require_perm(actor, Perm.USERS_LIST)
    qs = User.objects.order_by("username", "id")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if search:
        qs = qs.filter(
            Q(username__icontains=search)
            | Q(full_name__icontains=search)
            | Q(email__icontains=search)
        )
    return qs


def user_get(*, actor: User, user_id: str | uuid.UUID) -> User:
    """A user from the directory (Perm.USERS_LIST)."""
    require_perm(actor, Perm.USERS_LIST)
    user = User.objects.filter(pk=_uuid(user_id, "user")).first()
    if user is None:
        raise NotFound("user not found", object_type="user")
    return user


def user_get_for_manage(*, actor: User, user_id: str | uuid.UUID) -> User:
    """A user an administrator is about to change (permission checked before the lookup,
    so other roles learn nothing about which IDs exist)."""
    require_perm(actor, Perm.USERS_MANAGE)
    return user_get(actor=actor, user_id=user_id)


def user_group_list(*, actor: User) -> QuerySet[UserGroup]:
    require_perm(actor, Perm.USERS_LIST)
    return UserGroup.objects.order_by("name", "id").prefetch_related(
        Prefetch("members", queryset=User.objects.order_by("username", "id"))
    )


def user_group_get(*, actor: User, group_id: str | uuid.UUID) -> UserGroup:
    require_perm(actor, Perm.USERS_LIST)
    group = user_group_list(actor=actor).filter(pk=_uuid(group_id, "user group")).first()
    if group is None:
        raise NotFound("user group not found", object_type="user_group")
    return group


def user_group_get_for_manage(*, actor: User, group_id: str | uuid.UUID) -> UserGroup:
    require_perm(actor, Perm.GROUPS_MANAGE)
    return user_group_get(actor=actor, group_id=group_id)


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "id")


def api_token_get(*, user: User, token_id: str | uuid.UUID) -> ApiToken:
    """One of the user's own tokens; another user's token is NotFound, like a missing one."""
    token = ApiToken.objects.filter(user=user, pk=_uuid(token_id, "token")).first()
    if token is None:
        raise NotFound("token not found", object_type="api_token")
    return token


def user_active_by_name(*, username: str) -> User | None:
    """The active user called ``username``, ignoring case as sign-in does (names are unique
    that way); None when there is none. For trusted callers that name a user (the
    command line acts as the user it names), not a permission check."""
    return User.objects.filter(username__iexact=username, is_active=True).first()
