"""People: users, user groups, login, TOTP, API tokens.

Every state change is audited (audit_record first, in the same transaction).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from strongroom.accounts.models import Role, User, UserGroup
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.audit.services import audit_record
from strongroom.core.errors import Conflict, ValidationFailed


def user_create(
    *,
    actor: User | None,
    username: str,
    password: str,
    role: str = Role.PASSWORD_USER,
    email: str = "",
    full_name: str = "",
    client_ip: str | None = None,
) -> User:
    """Create a user. ``actor=None`` means the system (CLI createadmin, demo seeding)."""
    if actor is not None:
        require_perm(actor, Perm.USERS_MANAGE)
    username = username.strip()
    if not username or len(username) > 150 or "\x00" in username:
        raise ValidationFailed("username must be 1-150 characters, without NUL", field="username")
    if role not in Role.values:
        raise ValidationFailed(f"unknown role {role!r}", field="role", allowed=list(Role.values))
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"a user named {username!r} already exists", field="username")
    with transaction.atomic():
        user = User(username=username, email=email, full_name=full_name, role=role)
        user.set_password(password)
        audit_record(
            actor=actor,
            action="user.create",
            object_type="user",
            object_id=str(user.pk),
            object_name=username,
            client_ip=client_ip,
            details={"role": role},
        )
        user.save(force_insert=True)
    return user


def user_group_create(
    *, actor: User | None, name: str, description: str = "", client_ip: str | None = None
) -> UserGroup:
    if actor is not None:
        require_perm(actor, Perm.GROUPS_MANAGE)
    name = name.strip()
    if not name or len(name) > 200 or "\x00" in name:
        raise ValidationFailed("group name must be 1-200 characters, without NUL", field="name")
    if UserGroup.objects.filter(name__iexact=name).exists():
        raise Conflict(f"a user group named {name!r} already exists", field="name")
    with transaction.atomic():
        group = UserGroup(name=name, description=description)
        audit_record(
            actor=actor,
            action="user_group.create",
            object_type="user_group",
            object_id=str(group.pk),
            object_name=name,
            client_ip=client_ip,
        )
        group.save(force_insert=True)
    return group


def user_group_add_member(
    *, actor: User | None, group: UserGroup, user: User, client_ip: str | None = None
) -> None:
    if actor is not None:
        require_perm(actor, Perm.GROUPS_MANAGE)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="user_group.add_member",
            object_type="user_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"user_id": str(user.pk), "username": user.username},
        )
        group.members.add(user)


def api_token_authenticate(*, raw_token: str) -> Any:
    return None
