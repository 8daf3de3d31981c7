"""Changes to the vault, and reads of its secrets.

Every function takes keyword arguments only, ``actor`` first; ``client_ip`` is recorded in
the audit trail when given. Each one authorises through ``vault.selectors`` (404 for what the
actor cannot see, 403 for too low a level), validates input (``vault.validation``), and then,
inside one transaction, writes its audit record *first* and the change after it: if the audit
record cannot be written the change is refused (AuditUnavailable, 503). Secret reads
(password, earlier passwords, TOTP codes) are audited the same way *before* anything is
decrypted.

Update functions treat ``None`` as "leave unchanged".
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from strongroom.accounts.models import User, UserGroup
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import AuditUnavailable, Conflict, ErrorCode, NotFound, ValidationFailed
from strongroom.core.events import scope_changed
from strongroom.core.progress import ProgressFactory, Ticker, no_progress
from strongroom.core.secrets import SealedValueDamaged, seal_into, unseal
from strongroom.core.settings_store import setting_get
from strongroom.notifications.services import notification_post
from strongroom.vault import selectors, visibility
from strongroom.vault import validation as v
from strongroom.vault.importers import (
    FORMATS,
    MODES,
    ImportEntry,
    ImportNote,
    ImportReport,
    import_parse,
)
from strongroom.vault.importers.base import MAX_NOTES
from strongroom.vault.models import (
    AccessLevel,
    Account,
    PasswordHistory,
    Resource,
    ResourceGroup,
    Share,
)

logger = logging.getLogger(__name__)

_RESOURCE_TEXT_FIELDS: dict[str, tuple[int, bool]] = {
    # field: (max length, required)
    "name": (v.MAX_RESOURCE_NAME, True),
    "resource_type": (v.MAX_RESOURCE_TYPE, False),
    "host": (v.MAX_HOST, False),
    "url": (v.MAX_URL, False),
    "description": (v.MAX_DESCRIPTION, False),
    "department": (v.MAX_DEPARTMENT, False),
    "location": (v.MAX_LOCATION, False),
}


def _resource_changes_clean(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name == "custom_fields":
            cleaned[name] = v.custom_fields_clean(value)
        else:
            max_length, required = _RESOURCE_TEXT_FIELDS[name]
            cleaned[name] = v.text_clean(name, value, max_length=max_length, required=required)
    return cleaned


def _account_label(account: Account) -> str:
    return f"{account.resource.name} / {account.username}"


def _reason_required() -> bool:
    return bool(setting_get("retrieval_reason_required"))


def _retrieval_reason(reason: Any) -> str:
    """The cleaned reason for a secret read. The setting that makes a reason mandatory is
    read only when none was given: a given reason satisfies it whatever its value."""
    cleaned = v.reason_clean(reason, required=False)
    if not cleaned.strip():
        cleaned = v.reason_clean(reason, required=_reason_required())
    return cleaned


# --------------------------------------------------------------------------- resources


def resource_create(
    *,
    actor: User,
    name: str,
    resource_type: str = "",
    host: str = "",
    url: str = "",
    description: str = "",
    department: str = "",
    location: str = "",
    custom_fields: dict[str, str] | None = None,
    client_ip: str | None = None,
) -> Resource:
    """Create a resource owned by ``actor`` (needs the resources.create permission)."""
    require_perm(actor, Perm.RESOURCES_CREATE)
    fields = _resource_changes_clean(
        {
            "name": name,
            "resource_type": resource_type,
            "host": host,
            "url": url,
            "description": description,
            "department": department,
            "location": location,
            "custom_fields": custom_fields or {},
        }
    )
    with transaction.atomic():
        resource = Resource(owner=actor, **fields)
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_CREATE,
            object_type="resource",
            object_id=str(resource.pk),
            object_name=resource.name,
            client_ip=client_ip,
        )
        resource.save(force_insert=True)
        visibility.refresh(resource_ids=[resource.pk])
        scope_changed(cause="resource.create", user_ids=[actor.pk])
    logger.info("resource %s created by user %s", resource.pk, actor.pk)
    return resource


def resource_update(
    *,
    actor: User,
    resource_id: Any,
    name: str | None = None,
    resource_type: str | None = None,
    host: str | None = None,
    url: str | None = None,
    description: str | None = None,
    department: str | None = None,
    location: str | None = None,
    custom_fields: dict[str, str] | None = None,
    client_ip: str | None = None,
) -> Resource:
    """Change a resource's details (manage level). ``custom_fields`` replaces the whole set."""
    resource = selectors.resource_get(
        user=actor, resource_id=resource_id, min_level=AccessLevel.MANAGE
    )
    changes = _resource_changes_clean(
        {
            "name": name,
            "resource_type": resource_type,
            "host": host,
            "url": url,
            "description": description,
            "department": department,
            "location": location,
            "custom_fields": custom_fields,
        }
    )
    with transaction.atomic():
        locked = Resource.objects.select_for_update().get(pk=resource.pk)
        changed = sorted(k for k, value in changes.items() if getattr(locked, k) != value)
        if not changed:
            return locked
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_UPDATE,
            object_type="resource",
            object_id=str(locked.pk),
            object_name=changes.get("name", locked.name),
            client_ip=client_ip,
            details={"fields": changed},
        )
        for key in changed:
            setattr(locked, key, changes[key])
        locked.save(update_fields=[*changed, "updated_at"])
        if {"resource_type", "department"} & set(changed):
            visibility.refresh(resource_ids=[locked.pk])  # its rows' menu fields
        scope_changed(cause="resource.update", resource_ids=[locked.pk])
    logger.info("resource %s updated by user %s: %s", locked.pk, actor.pk, ",".join(changed))
    return locked


def resource_delete(*, actor: User, resource_id: Any, client_ip: str | None = None) -> None:
    """Delete a resource with its accounts, password history and shares (manage level)."""
    resource = selectors.resource_get(
        user=actor, resource_id=resource_id, min_level=AccessLevel.MANAGE
    )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_DELETE,
            object_type="resource",
            object_id=str(resource.pk),
            object_name=resource.name,
            client_ip=client_ip,
            details={"accounts": resource.account_count},  # type: ignore[attr-defined]
        )
        scope_changed(cause="resource.delete", resource_ids=[resource.pk])
        Resource.objects.filter(pk=resource.pk).delete()
    logger.info("resource %s deleted by user %s", resource.pk, actor.pk)


# --------------------------------------------------------------------------- accounts


def account_create(
    *,
    actor: User,
    resource_id: Any,
    username: str,
    password: str,
    notes: str = "",
    totp_seed: str | None = None,
    client_ip: str | None = None,
) -> Account:
    """Add an account to a resource (modify level). Password, notes and TOTP seed are sealed.
    An empty username is allowed (a Wi-Fi key, a PIN)."""
    resource = selectors.resource_get(
        user=actor, resource_id=resource_id, min_level=AccessLevel.MODIFY
    )
    username = v.text_clean("username", username, max_length=v.MAX_USERNAME)
    password = v.text_clean("password", password, max_length=v.MAX_PASSWORD)
    notes = v.text_clean("notes", notes, max_length=v.MAX_NOTES)
    seed = v.totp_seed_clean(totp_seed)
    with transaction.atomic():
        account = Account(resource=resource, username=username)
        seal_into(account, "password", password or None)
        seal_into(account, "notes", notes or None)
        seal_into(account, "totp_seed", seed)
        account.password_changed_at = timezone.now() if password else None
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_CREATE,
            object_type="account",
            object_id=str(account.pk),
            object_name=_account_label(account),
            client_ip=client_ip,
            details={"resource_id": str(resource.pk), "totp": seed is not None},
        )
        account.save(force_insert=True)
        scope_changed(cause="account.create", resource_ids=[resource.pk])
    logger.info("account %s created on resource %s by user %s", account.pk, resource.pk, actor.pk)
    return account


def account_update(
    *,
    actor: User,
    account_id: Any,
    username: str | None = None,
    password: str | None = None,
    notes: str | None = None,
    totp_seed: str | None = None,
    client_ip: str | None = None,
) -> Account:
    """Change an account (modify level). A new password pushes the old one into the password
    history (sealed again for its new row). ``totp_seed=""`` removes the seed."""
    account = selectors.account_get(user=actor, account_id=account_id, min_level=AccessLevel.MODIFY)
    if username is not None:
        v.text_clean("username", username, max_length=v.MAX_USERNAME)
    if password is not None:
        v.text_clean("password", password, max_length=v.MAX_PASSWORD)
    if notes is not None:
        v.text_clean("notes", notes, max_length=v.MAX_NOTES)
    seed = v.totp_seed_clean(totp_seed) if totp_seed is not None else None

    with transaction.atomic():
        locked = Account.objects.select_for_update().select_related("resource").get(pk=account.pk)
        changed: list[str] = []
        history: PasswordHistory | None = None
        if username is not None and username != locked.username:
            locked.username = username
            changed.append("username")
        if password is not None:
            old = unseal(locked, "password")
            if (old or "") != password:
                if old:
                    history = PasswordHistory(account=locked, changed_by=actor)
                    seal_into(history, "password", old)
                seal_into(locked, "password", password or None)
                locked.password_changed_at = timezone.now()
                changed.append("password")
        if notes is not None and (unseal(locked, "notes") or "") != notes:
            seal_into(locked, "notes", notes or None)
            changed.append("notes")
        if totp_seed is not None and (unseal(locked, "totp_seed") or None) != seed:
            seal_into(locked, "totp_seed", seed)
            changed.append("totp_seed")
        if not changed:
            return locked
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_UPDATE,
            object_type="account",
            object_id=str(locked.pk),
            object_name=_account_label(locked),
            client_ip=client_ip,
            details={"resource_id": str(locked.resource_id), "fields": changed},
        )
        if history is not None:
            history.save(force_insert=True)
        locked.save(update_fields=[*_columns(changed), "updated_at"])
        scope_changed(cause="account.update", resource_ids=[locked.resource_id])
    logger.info("account %s updated by user %s: %s", locked.pk, actor.pk, ",".join(changed))
    return locked


def _columns(changed: list[str]) -> list[str]:
    columns = list(changed)
    if "password" in changed:
        columns.append("password_changed_at")
    return columns


def account_delete(*, actor: User, account_id: Any, client_ip: str | None = None) -> None:
    """Delete an account and its password history (manage level)."""
    account = selectors.account_get(user=actor, account_id=account_id, min_level=AccessLevel.MANAGE)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_DELETE,
            object_type="account",
            object_id=str(account.pk),
            object_name=_account_label(account),
            client_ip=client_ip,
            details={"resource_id": str(account.resource_id)},
        )
        scope_changed(cause="account.delete", resource_ids=[account.resource_id])
        Account.objects.filter(pk=account.pk).delete()
    logger.info("account %s deleted by user %s", account.pk, actor.pk)


# --------------------------------------------------------------------------- secret reads


def _secret_read(
    *,
    actor: User,
    action: str,
    account: Account,
    row: Account | PasswordHistory,
    field: str,
    reason: str,
    client_ip: str | None,
    details: dict[str, Any] | None = None,
) -> str | None:
    """Decrypt, then audit: the secret is returned only once its audit record is committed
    (no audit record, no secret). Decrypting first keeps the record's write (and the chain
    head lock) as short as it can be; the secret never leaves this function before that."""
    audit_details = {"resource_id": str(account.resource_id), **(details or {})}
    try:
        secret = unseal(row, field)
        audit_record(
            actor=actor,
            action=action,
            object_type="account",
            object_id=str(account.pk),
            object_name=_account_label(account),
            reason=reason,
            client_ip=client_ip,
            details=audit_details,
        )
        return secret
    except SealedValueDamaged:
        logger.error("sealed %s of account %s failed authentication on read", field, account.pk)
        try:
            audit_record(
                actor=actor,
                action=action,
                object_type="account",
                object_id=str(account.pk),
                object_name=_account_label(account),
                reason=reason,
                client_ip=client_ip,
                details={**audit_details, "problem": "sealed_value_damaged"},
                outcome="failure",
            )
        except AuditUnavailable:
            logger.error("could not audit the failed read of account %s", account.pk)
        raise


def password_retrieve(
    *, actor: User, account_id: Any, reason: str = "", client_ip: str | None = None
) -> str:
    """The account's current password (view level). Audited (``password.retrieve``, with
    the reason and client address) before it is returned; refused if that fails. A reason
    is required when the administrator setting ``retrieval_reason_required`` is on."""
    account = selectors.account_get(user=actor, account_id=account_id, min_level=AccessLevel.VIEW)
    reason = _retrieval_reason(reason)
    password = _secret_read(
        actor=actor,
        action=AuditAction.PASSWORD_RETRIEVE,
        account=account,
        row=account,
        field="password",
        reason=reason,
        client_ip=client_ip,
    )
    return password or ""


def password_history_list(*, actor: User, account_id: Any) -> list[PasswordHistory]:
    """Metadata (when, by whom) of the account's earlier passwords, newest first."""
    return list(selectors.password_history_list(user=actor, account_id=account_id))


def password_history_retrieve(
    *,
    actor: User,
    account_id: Any,
    history_id: Any,
    reason: str = "",
    client_ip: str | None = None,
) -> str:
    """An earlier password of the account (view level), audited like a retrieval."""
    entry = selectors.password_history_get(
        user=actor, account_id=account_id, history_id=history_id, min_level=AccessLevel.VIEW
    )
    reason = _retrieval_reason(reason)
    password = _secret_read(
        actor=actor,
        action=AuditAction.PASSWORD_HISTORY_RETRIEVE,
        account=entry.account,
        row=entry,
        field="password",
        reason=reason,
        client_ip=client_ip,
        details={"history_id": str(entry.pk)},
    )
    return password or ""


@dataclass(frozen=True)
class TotpCode:
    code: str
    period: int
    remaining_seconds: int


def account_totp_code(
    *, actor: User, account_id: Any, reason: str = "", client_ip: str | None = None
) -> TotpCode:
    """The account's current TOTP code (view level), audited like a password retrieval."""
    account = selectors.account_get(user=actor, account_id=account_id, min_level=AccessLevel.VIEW)
    if account.totp_seed is None:
        raise ValidationFailed(
            "this account has no TOTP seed", code=ErrorCode.NO_TOTP, field="totp_seed"
        )
    reason = _retrieval_reason(reason)
    seed = _secret_read(
        actor=actor,
        action=AuditAction.TOTP_GENERATE,
        account=account,
        row=account,
        field="totp_seed",
        reason=reason,
        client_ip=client_ip,
    )
    totp = v.totp_from_seed(seed or "")
    now = time.time()
    return TotpCode(
        code=totp.at(now),
        period=int(totp.interval),
        remaining_seconds=int(totp.interval - (int(now) % totp.interval)),
    )


# --------------------------------------------------------------------------- resource groups


def resource_group_create(
    *, actor: User, name: str, description: str = "", client_ip: str | None = None
) -> ResourceGroup:
    """Create a resource group owned by ``actor`` (resource_groups.create permission)."""
    require_perm(actor, Perm.RESOURCE_GROUPS_CREATE)
    name = v.text_clean("name", name, max_length=v.MAX_GROUP_NAME, required=True)
    description = v.text_clean("description", description, max_length=v.MAX_GROUP_DESCRIPTION)
    with transaction.atomic():
        group = ResourceGroup(owner=actor, name=name, description=description)
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_GROUP_CREATE,
            object_type="resource_group",
            object_id=str(group.pk),
            object_name=name,
            client_ip=client_ip,
        )
        group.save(force_insert=True)
    logger.info("resource group %s created by user %s", group.pk, actor.pk)
    return group


def resource_group_update(
    *,
    actor: User,
    resource_group_id: Any,
    name: str | None = None,
    description: str | None = None,
    client_ip: str | None = None,
) -> ResourceGroup:
    group = selectors.resource_group_get(
        user=actor, resource_group_id=resource_group_id, min_level=AccessLevel.MANAGE
    )
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = v.text_clean("name", name, max_length=v.MAX_GROUP_NAME, required=True)
    if description is not None:
        changes["description"] = v.text_clean(
            "description", description, max_length=v.MAX_GROUP_DESCRIPTION
        )
    with transaction.atomic():
        locked = ResourceGroup.objects.select_for_update().get(pk=group.pk)
        changed = sorted(k for k, value in changes.items() if getattr(locked, k) != value)
        if not changed:
            return locked
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_GROUP_UPDATE,
            object_type="resource_group",
            object_id=str(locked.pk),
            object_name=changes.get("name", locked.name),
            client_ip=client_ip,
            details={"fields": changed},
        )
        for key in changed:
            setattr(locked, key, changes[key])
        locked.save(update_fields=changed)
        scope_changed(cause="resource_group.update", resource_group_ids=[locked.pk])
    return locked


def resource_group_delete(
    *, actor: User, resource_group_id: Any, client_ip: str | None = None
) -> None:
    """Delete a resource group and the shares on it; its resources stay (manage level)."""
    group = selectors.resource_group_get(
        user=actor, resource_group_id=resource_group_id, min_level=AccessLevel.MANAGE
    )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_GROUP_DELETE,
            object_type="resource_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"resources": group.resource_count},  # type: ignore[attr-defined]
        )
        scope_changed(cause="resource_group.delete", resource_group_ids=[group.pk])
        held = visibility.resources_of_groups([group.pk])
        ResourceGroup.objects.filter(pk=group.pk).delete()
        visibility.refresh(resource_ids=held)
    logger.info("resource group %s deleted by user %s", group.pk, actor.pk)


def _group_and_resource(
    actor: User, resource_group_id: Any, resource_id: Any
) -> tuple[ResourceGroup, Resource]:
    group = selectors.resource_group_get(
        user=actor, resource_group_id=resource_group_id, min_level=AccessLevel.MANAGE
    )
    resource = selectors.resource_get(
        user=actor, resource_id=resource_id, min_level=AccessLevel.MANAGE
    )
    return group, resource


def resource_group_add_resource(
    *, actor: User, resource_group_id: Any, resource_id: Any, client_ip: str | None = None
) -> None:
    """Put a resource into a group. Needs manage level on both: everyone with access to the
    group gains access to the resource. Adding a member again changes nothing."""
    group, resource = _group_and_resource(actor, resource_group_id, resource_id)
    through = ResourceGroup.resources.through
    with transaction.atomic():
        if through.objects.filter(resourcegroup_id=group.pk, resource_id=resource.pk).exists():
            return
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_GROUP_ADD_RESOURCE,
            object_type="resource_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"resource_id": str(resource.pk), "resource_name": resource.name},
        )
        group.resources.add(resource)
        visibility.refresh(resource_ids=[resource.pk])
        scope_changed(
            cause="resource_group.add_resource",
            resource_ids=[resource.pk],
            resource_group_ids=[group.pk],
        )


def resource_group_remove_resource(
    *, actor: User, resource_group_id: Any, resource_id: Any, client_ip: str | None = None
) -> None:
    """Take a resource out of a group (manage level on both). Not a member: nothing changes."""
    group, resource = _group_and_resource(actor, resource_group_id, resource_id)
    through = ResourceGroup.resources.through
    with transaction.atomic():
        if not through.objects.filter(resourcegroup_id=group.pk, resource_id=resource.pk).exists():
            return
        audit_record(
            actor=actor,
            action=AuditAction.RESOURCE_GROUP_REMOVE_RESOURCE,
            object_type="resource_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"resource_id": str(resource.pk), "resource_name": resource.name},
        )
        scope_changed(
            cause="resource_group.remove_resource",
            resource_ids=[resource.pk],
            resource_group_ids=[group.pk],
        )
        group.resources.remove(resource)
        visibility.refresh(resource_ids=[resource.pk])


# --------------------------------------------------------------------------- sharing


def _level_clean(level: Any) -> AccessLevel:
    if isinstance(level, str) and not level.isdigit():
        by_name = {choice.label: choice for choice in AccessLevel}
        if level.lower() in by_name:
            return by_name[level.lower()]
    try:
        return AccessLevel(int(level))
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            "level must be view (1), modify (2) or manage (3)", field="level"
        ) from exc


def share_grant(
    *,
    actor: User,
    resource_id: Any = None,
    resource_group_id: Any = None,
    user_id: Any = None,
    user_group_id: Any = None,
    level: int | str,
    client_ip: str | None = None,
) -> Share:
    """Share a resource or resource group with a user or user group (manage level on the
    target). Granting again to the same grantee changes the level of the existing share."""
    if (resource_id is None) == (resource_group_id is None):
        raise ValidationFailed(
            "give exactly one of resource_id and resource_group_id", field="resource_id"
        )
    if (user_id is None) == (user_group_id is None):
        raise ValidationFailed("give exactly one of user_id and user_group_id", field="user_id")
    new_level = _level_clean(level)

    target: Resource | ResourceGroup
    if resource_id is not None:
        target = selectors.resource_get(
            user=actor, resource_id=resource_id, min_level=AccessLevel.MANAGE
        )
        target_filter: dict[str, Any] = {"resource_id": target.pk}
        target_type = "resource"
    else:
        target = selectors.resource_group_get(
            user=actor, resource_group_id=resource_group_id, min_level=AccessLevel.MANAGE
        )
        target_filter = {"resource_group_id": target.pk}
        target_type = "resource_group"

    grantee: User | UserGroup | None
    if user_id is not None:
        grantee = User.objects.filter(pk=_grantee_uuid(user_id, "user_id")).first()
        if grantee is None:
            raise NotFound("user not found", field="user_id")
        if grantee.pk == target.owner_id:
            raise ValidationFailed(
                f"that user owns this {target_type.replace('_', ' ')} and already has manage "
                "access",
                field="user_id",
            )
        grantee_filter: dict[str, Any] = {"user_id": grantee.pk}
        grantee_details = {"user_id": str(grantee.pk), "username": grantee.username}
    else:
        grantee = UserGroup.objects.filter(pk=_grantee_uuid(user_group_id, "user_group_id")).first()
        if grantee is None:
            raise NotFound("user group not found", field="user_group_id")
        grantee_filter = {"user_group_id": grantee.pk}
        grantee_details = {"user_group_id": str(grantee.pk), "user_group_name": grantee.name}

    with transaction.atomic():
        share = Share.objects.select_for_update().filter(**target_filter, **grantee_filter).first()
        if share is not None and share.level == new_level:
            return share
        audit_record(
            actor=actor,
            action=AuditAction.SHARE_GRANT,
            object_type=target_type,
            object_id=str(target.pk),
            object_name=target.name,
            client_ip=client_ip,
            details={
                **grantee_details,
                "level": new_level.label,
                "previous_level": AccessLevel(share.level).label if share else None,
            },
        )
        if share is not None:
            share.level = new_level
            share.save(update_fields=["level"])
        else:
            share = Share(**target_filter, **grantee_filter, level=new_level, created_by=actor)
            try:
                with transaction.atomic():
                    share.save(force_insert=True)
            except IntegrityError as exc:
                raise Conflict(
                    "this share was changed by someone else at the same moment; try again"
                ) from exc
        visibility.refresh(
            resource_ids=[share.resource_id], resource_group_ids=[share.resource_group_id]
        )
        scope_changed(
            cause="share.grant", user_ids=[share.user_id], user_group_ids=[share.user_group_id]
        )
        _share_notify(actor=actor, share=share, target=target, target_type=target_type)
    logger.info("share %s on %s %s set to level %s", share.pk, target_type, target.pk, new_level)
    return share


def _share_notify(*, actor: User, share: Share, target: Any, target_type: str) -> None:
    """Tell the people a share reaches (by email too if they chose "shared with me"), in the
    share's transaction. Names only: never a password."""
    if share.user_id is not None:
        people = User.objects.filter(pk=share.user_id, is_active=True)
    else:
        people = User.objects.filter(user_groups=share.user_group_id, is_active=True)
    what = "resource" if target_type == "resource" else "resource group"
    link = (
        f"/resources/{target.pk}/"
        if target_type == "resource"
        else f"/resource-groups/{target.pk}/"
    )
    level = AccessLevel(share.level).label.lower()
    for person in people.exclude(pk=actor.pk).exclude(pk=target.owner_id):
        notification_post(
            user=person,
            level="info",
            kind="shared_with_me",
            title=f"{actor.username} shared the {what} {target.name} with you"[:200],
            body=f"You can {level} it in Strongroom.",
            link=link,
        )


def _grantee_uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        what = field.removesuffix("_id").replace("_", " ")
        raise NotFound(f"{what} not found", field=field) from exc


def share_revoke(*, actor: User, share_id: Any, client_ip: str | None = None) -> None:
    """Remove a share (manage level on its target)."""
    share = selectors.share_get(user=actor, share_id=share_id, min_level=AccessLevel.MANAGE)
    target: Any = share.resource if share.resource is not None else share.resource_group
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SHARE_REVOKE,
            object_type="resource" if share.resource_id else "resource_group",
            object_id=str(target.pk),
            object_name=target.name,
            client_ip=client_ip,
            details={
                "share_id": str(share.pk),
                "user_id": str(share.user_id) if share.user_id else None,
                "user_group_id": str(share.user_group_id) if share.user_group_id else None,
                "level": AccessLevel(share.level).label,
            },
        )
        scope_changed(
            cause="share.revoke", user_ids=[share.user_id], user_group_ids=[share.user_group_id]
        )
        Share.objects.filter(pk=share.pk).delete()
        visibility.refresh(
            resource_ids=[share.resource_id], resource_group_ids=[share.resource_group_id]
        )
    logger.info("share %s revoked by user %s", share.pk, actor.pk)


# --------------------------------------------------------------------------- import


def import_csv(
    *,
    actor: User,
    data: bytes,
    fmt: str = "auto",
    mode: str = "skip",
    password: str | None = None,
    client_ip: str | None = None,
    progress: ProgressFactory = no_progress,
) -> ImportReport:
    """Import a file (formats in ``vault.importers``; ``auto`` detects it) into resources
    owned by ``actor``. ``password`` opens a KeePass database.

    The whole file is validated first. If anything is wrong the report lists every problem
    with its row and nothing is imported; otherwise everything is written in one
    transaction. Items the format holds that Strongroom does not keep (a card) are skipped
    and listed. ``mode`` says what happens to an entry whose resource (name and URL) and
    username the importer already owns, or that an earlier entry of the file has:
    ``skip`` it (the default), ``update`` the existing account's password, notes and TOTP
    (the old password goes to its history), or ``duplicate`` (create it again). One
    ``vault.import`` audit record holds the counts (never values); each updated account
    gets its own ``account.update`` record.
    """
    require_perm(actor, Perm.IMPORT)
    if mode not in MODES:
        raise ValidationFailed(
            f"unknown import mode {mode[:40]!r}; use one of: " + ", ".join(MODES),
            field="mode",
            problem="choice",
        )
    parsed = import_parse(data=data, fmt=fmt, password=password, progress=progress)
    fmt_label = parsed.fmt if parsed.fmt in FORMATS else "unknown"
    report = ImportReport(format=fmt_label, mode=mode, rows=parsed.rows, problems=parsed.problems)
    if parsed.problems:
        audit_record(
            actor=actor,
            action=AuditAction.VAULT_IMPORT,
            object_type="import",
            client_ip=client_ip,
            outcome="failure",
            details={
                "format": fmt_label,
                "mode": mode,
                "bytes": len(data),
                "rows": parsed.rows,
                "problems": len(parsed.problems),
            },
        )
        logger.info("import by user %s refused: %d problem(s)", actor.pk, len(parsed.problems))
        return report

    notes_skipped: list[ImportNote] = list(parsed.skipped)
    notes_updated: list[ImportNote] = []
    with transaction.atomic():
        plan = _import_plan(actor=actor, entries=parsed.entries, mode=mode)
        notes_skipped += plan.skipped
        through = ResourceGroup.resources.through
        group_names = sorted({g for entry, _ in plan.placed for g in entry.groups})
        existing_groups = {
            g.name: g for g in ResourceGroup.objects.filter(owner=actor, name__in=group_names)
        }
        new_groups = [
            ResourceGroup(owner=actor, name=name)
            for name in group_names
            if name not in existing_groups
        ]
        groups = {**existing_groups, **{g.name: g for g in new_groups}}

        ticker = progress("writing", len(plan.placed))
        accounts: list[Account] = []
        memberships: set[tuple[Any, Any]] = set()
        for entry, resource in plan.placed:
            for name in entry.groups:
                memberships.add((groups[name].pk, resource.pk))
            if entry in plan.updates:
                continue
            account = Account(resource=resource, username=entry.username)
            seal_into(account, "password", entry.password or None)
            seal_into(account, "notes", entry.notes or None)
            seal_into(account, "totp_seed", entry.totp_seed)
            account.password_changed_at = timezone.now() if entry.password else None
            accounts.append(account)
            ticker.update()
        updated_accounts = _import_updates(
            actor=actor,
            plan=plan,
            client_ip=client_ip,
            notes_updated=notes_updated,
            notes_skipped=notes_skipped,
            ticker=ticker,
        )
        ticker.close()

        report.resources_created = len(plan.new_resources)
        report.accounts_created = len(accounts)
        report.accounts_updated = updated_accounts
        report.resource_groups_created = len(new_groups)
        report.skipped_count = len(notes_skipped)
        report.updated_count = len(notes_updated)
        report.skipped = notes_skipped[:MAX_NOTES]
        report.updated = notes_updated[:MAX_NOTES]
        audit_record(
            actor=actor,
            action=AuditAction.VAULT_IMPORT,
            object_type="import",
            client_ip=client_ip,
            details={
                "format": fmt_label,
                "mode": mode,
                "bytes": len(data),
                "rows": parsed.rows,
                "resources": report.resources_created,
                "accounts": report.accounts_created,
                "accounts_updated": report.accounts_updated,
                "skipped": report.skipped_count,
                "resource_groups_created": report.resource_groups_created,
            },
        )
        ResourceGroup.objects.bulk_create(new_groups, batch_size=500)
        Resource.objects.bulk_create(plan.new_resources, batch_size=500)
        Account.objects.bulk_create(accounts, batch_size=500)
        already = set(
            through.objects.filter(
                resource_id__in=[r for _, r in memberships if r in plan.existing_ids],
            ).values_list("resourcegroup_id", "resource_id")
        )
        through.objects.bulk_create(
            [
                through(resourcegroup_id=g, resource_id=r)
                for g, r in sorted(memberships)
                if (g, r) not in already
            ],
            batch_size=500,
        )
        visibility.refresh(
            resource_ids=[
                *(r.pk for r in plan.new_resources),
                *(r for _, r in memberships),
            ]
        )
        scope_changed(
            cause="vault.import",
            user_ids=[actor.pk],
            resource_ids=sorted(plan.touched_existing),
            resource_group_ids=[g.pk for g in existing_groups.values()],
        )
    report.ok = True
    logger.info(
        "import by user %s: %d resources, %d accounts, %d updated, %d skipped",
        actor.pk,
        report.resources_created,
        report.accounts_created,
        report.accounts_updated,
        report.skipped_count,
    )
    return report


@dataclass
class _ImportPlan:
    """Where each entry of a file goes: ``placed`` pairs an entry with its resource (new or
    existing); ``updates`` maps an entry to the existing accounts it updates."""

    placed: list[tuple[ImportEntry, Resource]]
    new_resources: list[Resource]
    updates: dict[ImportEntry, list[Any]]
    skipped: list[ImportNote]
    existing_ids: set[Any]
    touched_existing: set[Any]


def _entry_note(entry: ImportEntry, reason: str) -> ImportNote:
    label = f"{entry.name} / {entry.username}" if entry.username else entry.name
    return ImportNote(entry.row, entry.item, label[:120], reason)


def _import_plan(*, actor: User, entries: list[ImportEntry], mode: str) -> _ImportPlan:
    """Match entries against the importer's own resources (name and URL) and their
    accounts (username), and against earlier entries of the file."""
    plan = _ImportPlan([], [], {}, [], set(), set())
    existing: dict[tuple[str, str], Resource] = {}
    owned_accounts: dict[tuple[Any, str], list[Any]] = {}
    if mode != "duplicate":
        # The oldest resource of a name and URL takes new accounts; accounts are matched on
        # every resource of that name and URL (earlier imports may have duplicated them).
        same_key: dict[tuple[str, str], list[Any]] = {}
        for resource in Resource.objects.filter(owner=actor).order_by("created_at", "pk"):
            key = (resource.name, resource.url)
            existing.setdefault(key, resource)
            same_key.setdefault(key, []).append(resource.pk)
        plan.existing_ids = {r for ids in same_key.values() for r in ids}
        by_resource: dict[Any, tuple[str, str]] = {
            pk: key for key, ids in same_key.items() for pk in ids
        }
        for pk, resource_id, username in Account.objects.filter(resource__owner=actor).values_list(
            "pk", "resource_id", "username"
        ):
            owned_accounts.setdefault((by_resource[resource_id], username), []).append(pk)
    created: dict[tuple[str, str], Resource] = {}
    first_row: dict[tuple[str, str, str], ImportEntry] = {}
    for entry in entries:
        key = (entry.name, entry.url)
        if mode != "duplicate":
            earlier = first_row.setdefault((*key, entry.username), entry)
            if earlier is not entry:
                where = f"row {earlier.row}" if earlier.item is None else earlier.item
                plan.skipped.append(
                    _entry_note(entry, f"same resource and username as {where} of this file")
                )
                continue
            matches = owned_accounts.get((key, entry.username))
            if matches:
                if mode == "skip":
                    plan.skipped.append(
                        _entry_note(entry, "already in the vault (same resource and username)")
                    )
                    continue
                plan.updates[entry] = matches
                plan.placed.append((entry, existing[key]))
                continue
            if key in existing:
                plan.placed.append((entry, existing[key]))
                plan.touched_existing.add(existing[key].pk)
                continue
        made = created.get(key)
        if made is None:
            resource = created[key] = Resource(
                owner=actor,
                name=entry.name,
                url=entry.url,
                custom_fields=dict(entry.custom_fields),
                **entry.resource,
            )
            plan.new_resources.append(resource)
        else:
            resource = made
            for cf_name, cf_value in entry.custom_fields.items():
                resource.custom_fields.setdefault(cf_name, cf_value)
        plan.placed.append((entry, resource))
    return plan


def _import_updates(
    *,
    actor: User,
    plan: _ImportPlan,
    client_ip: str | None,
    notes_updated: list[ImportNote],
    notes_skipped: list[ImportNote],
    ticker: Ticker,
) -> int:
    """Apply ``update`` mode: each matched account takes the entry's password, notes and
    TOTP seed; the old password goes to its history, as when a person edits it."""
    updated = 0
    histories: list[PasswordHistory] = []
    for entry, account_ids in plan.updates.items():
        changed_any: set[str] = set()
        for account in (
            Account.objects.select_for_update()
            .select_related("resource")
            .filter(pk__in=account_ids)
        ):
            changed: list[str] = []
            old = unseal(account, "password")
            if (old or "") != entry.password:
                if old:
                    history = PasswordHistory(account=account, changed_by=actor)
                    seal_into(history, "password", old)
                    histories.append(history)
                seal_into(account, "password", entry.password or None)
                account.password_changed_at = timezone.now()
                changed.append("password")
            if (unseal(account, "notes") or "") != entry.notes:
                seal_into(account, "notes", entry.notes or None)
                changed.append("notes")
            if (unseal(account, "totp_seed") or None) != entry.totp_seed:
                seal_into(account, "totp_seed", entry.totp_seed)
                changed.append("totp_seed")
            if not changed:
                continue
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_UPDATE,
                object_type="account",
                object_id=str(account.pk),
                object_name=_account_label(account),
                client_ip=client_ip,
                details={
                    "resource_id": str(account.resource_id),
                    "fields": changed,
                    "via": "import",
                },
            )
            account.save(update_fields=[*_columns(changed), "updated_at"])
            plan.touched_existing.add(account.resource_id)
            changed_any.update(changed)
            updated += 1
        ticker.update()
        if changed_any:
            order = [f for f in ("password", "notes", "totp_seed") if f in changed_any]
            notes_updated.append(_entry_note(entry, "updated: " + ", ".join(order)))
        else:
            notes_skipped.append(_entry_note(entry, "already up to date in the vault"))
    PasswordHistory.objects.bulk_create(histories, batch_size=500)
    return updated
