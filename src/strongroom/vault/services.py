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
from strongroom.audit.services import audit_record
from strongroom.core.errors import AuditUnavailable, Conflict, NotFound, ValidationFailed
from strongroom.core.secrets import SealedValueDamaged, seal_into, unseal
from strongroom.core.settings_store import setting_get
from strongroom.sync.hooks import scope_changed
from strongroom.vault import selectors
from strongroom.vault import validation as v
from strongroom.vault.importers import FORMATS, ImportReport, import_parse
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
            action="resource.create",
            object_type="resource",
            object_id=str(resource.pk),
            object_name=resource.name,
            client_ip=client_ip,
        )
        resource.save(force_insert=True)
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
            action="resource.update",
            object_type="resource",
            object_id=str(locked.pk),
            object_name=changes.get("name", locked.name),
            client_ip=client_ip,
            details={"fields": changed},
        )
        for key in changed:
            setattr(locked, key, changes[key])
        locked.save(update_fields=[*changed, "updated_at"])
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
            action="resource.delete",
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
            action="account.create",
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
            action="account.update",
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
            action="account.delete",
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
    """Audit, then decrypt, in one transaction: no audit record, no secret."""
    audit_details = {"resource_id": str(account.resource_id), **(details or {})}
    try:
        with transaction.atomic():
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
            return unseal(row, field)
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
    the reason and client address) before it is decrypted; refused if that fails. A reason
    is required when the administrator setting ``retrieval_reason_required`` is on."""
    account = selectors.account_get(user=actor, account_id=account_id, min_level=AccessLevel.VIEW)
    reason = v.reason_clean(reason, required=_reason_required())
    password = _secret_read(
        actor=actor,
        action="password.retrieve",
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
    reason = v.reason_clean(reason, required=_reason_required())
    password = _secret_read(
        actor=actor,
        action="password_history.retrieve",
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
        raise ValidationFailed("this account has no TOTP seed", code="no_totp", field="totp_seed")
    reason = v.reason_clean(reason, required=_reason_required())
    seed = _secret_read(
        actor=actor,
        action="totp.generate",
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
            action="resource_group.create",
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
            action="resource_group.update",
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
            action="resource_group.delete",
            object_type="resource_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"resources": group.resource_count},  # type: ignore[attr-defined]
        )
        scope_changed(cause="resource_group.delete", resource_group_ids=[group.pk])
        ResourceGroup.objects.filter(pk=group.pk).delete()
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
            action="resource_group.add_resource",
            object_type="resource_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"resource_id": str(resource.pk), "resource_name": resource.name},
        )
        group.resources.add(resource)
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
            action="resource_group.remove_resource",
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
            action="share.grant",
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
        scope_changed(
            cause="share.grant", user_ids=[share.user_id], user_group_ids=[share.user_group_id]
        )
    logger.info("share %s on %s %s set to level %s", share.pk, target_type, target.pk, new_level)
    return share


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
            action="share.revoke",
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
    logger.info("share %s revoked by user %s", share.pk, actor.pk)


# --------------------------------------------------------------------------- import


def import_csv(*, actor: User, data: bytes, fmt: str, client_ip: str | None = None) -> ImportReport:
    """Import a CSV file (formats in ``vault.importers``) into resources owned by ``actor``.

    The whole file is validated first. If anything is wrong the report lists every problem
    with its row and nothing is imported; otherwise everything is created in one
    transaction. One ``vault.import`` audit record holds the counts (never values).
    """
    require_perm(actor, Perm.IMPORT)
    fmt_label = fmt if fmt in FORMATS else "unknown"
    parsed = import_parse(data=data, fmt=fmt)
    report = ImportReport(format=fmt, rows=parsed.rows, problems=parsed.problems)
    if parsed.problems:
        audit_record(
            actor=actor,
            action="vault.import",
            object_type="import",
            client_ip=client_ip,
            outcome="failure",
            details={
                "format": fmt_label,
                "bytes": len(data),
                "rows": parsed.rows,
                "problems": len(parsed.problems),
            },
        )
        logger.info("import by user %s refused: %d problems", actor.pk, len(parsed.problems))
        return report

    through = ResourceGroup.resources.through
    with transaction.atomic():
        # Resources: one per (name, url), in file order.
        resources: dict[tuple[str, str], Resource] = {}
        for entry in parsed.entries:
            key = (entry.name, entry.url)
            resource = resources.get(key)
            if resource is None:
                resources[key] = Resource(
                    owner=actor,
                    name=entry.name,
                    url=entry.url,
                    custom_fields=dict(entry.custom_fields),
                    **entry.resource,
                )
            else:
                for cf_name, cf_value in entry.custom_fields.items():
                    resource.custom_fields.setdefault(cf_name, cf_value)

        group_names = sorted({g for entry in parsed.entries for g in entry.groups})
        existing_groups = {
            g.name: g for g in ResourceGroup.objects.filter(owner=actor, name__in=group_names)
        }
        new_groups = [
            ResourceGroup(owner=actor, name=name)
            for name in group_names
            if name not in existing_groups
        ]
        groups = {**existing_groups, **{g.name: g for g in new_groups}}

        accounts: list[Account] = []
        memberships: set[tuple[Any, Any]] = set()
        for entry in parsed.entries:
            resource = resources[(entry.name, entry.url)]
            account = Account(resource=resource, username=entry.username)
            seal_into(account, "password", entry.password or None)
            seal_into(account, "notes", entry.notes or None)
            seal_into(account, "totp_seed", entry.totp_seed)
            account.password_changed_at = timezone.now() if entry.password else None
            accounts.append(account)
            for name in entry.groups:
                memberships.add((groups[name].pk, resource.pk))

        report.resources_created = len(resources)
        report.accounts_created = len(accounts)
        report.resource_groups_created = len(new_groups)
        audit_record(
            actor=actor,
            action="vault.import",
            object_type="import",
            client_ip=client_ip,
            details={
                "format": fmt,
                "bytes": len(data),
                "rows": parsed.rows,
                "resources": report.resources_created,
                "accounts": report.accounts_created,
                "resource_groups_created": report.resource_groups_created,
            },
        )
        ResourceGroup.objects.bulk_create(new_groups, batch_size=500)
        Resource.objects.bulk_create(list(resources.values()), batch_size=500)
        Account.objects.bulk_create(accounts, batch_size=500)
        through.objects.bulk_create(
            [through(resourcegroup_id=g, resource_id=r) for g, r in sorted(memberships)],
            batch_size=500,
        )
        scope_changed(
            cause="vault.import",
            user_ids=[actor.pk],
            resource_group_ids=[g.pk for g in existing_groups.values()],
        )
    report.ok = True
    logger.info(
        "import by user %s: %d resources, %d accounts",
        actor.pk,
        report.resources_created,
        report.accounts_created,
    )
    return report
