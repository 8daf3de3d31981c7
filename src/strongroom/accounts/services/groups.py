"""User groups and their members.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

from django.db import transaction

from strongroom.accounts.models import User, UserGroup
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import Conflict, NotFound, ValidationFailed
from strongroom.core.events import memberships_changed, scope_changed


def user_group_create(
    *, actor: User | None, name: str, description: str = "", client_ip: str | None = None
) -> UserGroup:
    if actor is not None:
        require_perm(actor, Perm.GROUPS_MANAGE)
    name = name.strip()
    if not name or len(name) > 200 or "\x00" in name:
        raise ValidationFailed("group name must be 1-200 characters, without NUL", field="name")
    if "\x00" in description:
        raise ValidationFailed("description must not contain NUL", field="description")
    if UserGroup.objects.filter(name__iexact=name).exists():
        raise Conflict(f"a user group named {name!r} already exists", field="name")
    with transaction.atomic():
        group = UserGroup(name=name, description=description)
        audit_record(
            actor=actor,
            action=AuditAction.USER_GROUP_CREATE,
            object_type="user_group",
            object_id=str(group.pk),
            object_name=name,
            client_ip=client_ip,
        )
        group.save(force_insert=True)
    return group


def user_group_update(
    *,
    actor: User,
    group: UserGroup,
    name: str | None = None,
    description: str | None = None,
    client_ip: str | None = None,
) -> UserGroup:
    require_perm(actor, Perm.GROUPS_MANAGE)
    new: dict[str, str] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200 or "\x00" in name:
            raise ValidationFailed("group name must be 1-200 characters, without NUL", field="name")
        if UserGroup.objects.filter(name__iexact=name).exclude(pk=group.pk).exists():
            raise Conflict(f"a user group named {name!r} already exists", field="name")
        new["name"] = name
    if description is not None:
        if "\x00" in description:
            raise ValidationFailed("description must not contain NUL", field="description")
        new["description"] = description
    with transaction.atomic():
        group = UserGroup.objects.select_for_update().get(pk=group.pk)
        changes = {
            field: {"old": getattr(group, field), "new": value}
            for field, value in new.items()
            if getattr(group, field) != value
        }
        if not changes:
            return group
        audit_record(
            actor=actor,
            action=AuditAction.USER_GROUP_UPDATE,
            object_type="user_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"changes": changes},
        )
        for field, change in changes.items():
            setattr(group, field, change["new"])
        group.save(update_fields=list(changes))
    return group


def user_group_delete(*, actor: User, group: UserGroup, client_ip: str | None = None) -> None:
    """Delete a group. Shares granted to the group go with it, so its members lose that
    access (the audit record says how many shares were removed)."""
    require_perm(actor, Perm.GROUPS_MANAGE)
    with transaction.atomic():
        group = UserGroup.objects.select_for_update().get(pk=group.pk)
        audit_record(
            actor=actor,
            action=AuditAction.USER_GROUP_DELETE,
            object_type="user_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={
                "members": group.members.count(),
                "shares_removed": group.shares.count(),  # type: ignore[attr-defined]
            },
        )
        scope_changed(cause="user_group.delete", user_group_ids=[group.pk])
        members = list(group.members.values_list("pk", flat=True))
        group.delete()
        memberships_changed(user_ids=members)


def user_group_add_member(
    *, actor: User | None, group: UserGroup, user: User, client_ip: str | None = None
) -> None:
    """Add a member; adding someone who already is one changes nothing and is not audited."""
    if actor is not None:
        require_perm(actor, Perm.GROUPS_MANAGE)
    with transaction.atomic():
        if group.members.filter(pk=user.pk).exists():
            return
        audit_record(
            actor=actor,
            action=AuditAction.USER_GROUP_ADD_MEMBER,
            object_type="user_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"user_id": str(user.pk), "username": user.username},
        )
        group.members.add(user)
        memberships_changed(user_ids=[user.pk])
        scope_changed(cause="user_group.add_member", user_ids=[user.pk])


def user_group_remove_member(
    *, actor: User, group: UserGroup, user: User, client_ip: str | None = None
) -> None:
    require_perm(actor, Perm.GROUPS_MANAGE)
    with transaction.atomic():
        if not group.members.filter(pk=user.pk).exists():
            raise NotFound("that user is not a member of this group", field="user_id")
        audit_record(
            actor=actor,
            action=AuditAction.USER_GROUP_REMOVE_MEMBER,
            object_type="user_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"user_id": str(user.pk), "username": user.username},
        )
        group.members.remove(user)
        memberships_changed(user_ids=[user.pk])
        scope_changed(cause="user_group.remove_member", user_ids=[user.pk])
