"""Directory sign-in and sync: the settings, the password check, just-in-time users, sync.

``directory_authenticate`` is what the password sign-in (accounts.services.login) calls for a
user name that has no local password: it finds the user with the service account, binds as
them with the password given, checks the allowed group (nested groups included) and returns the
linked Strongroom user, creating it first when just-in-time creation is allowed.

``directory_sync`` walks every linked user: one who left the directory, no longer matches the
user filter (disabled) or is no longer in the allowed group is deactivated through
accounts.user_deactivate, which also deletes their synced copies.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from strongroom.accounts.models import Role, User, UserGroup
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.accounts.services.groups import user_group_add_member
from strongroom.accounts.services.users import user_create, user_deactivate
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import Conflict, NotFound, ValidationFailed
from strongroom.core.secrets import seal_into, unseal
from strongroom.directory import ldap
from strongroom.directory.models import (
    DirectoryAccount,
    DirectoryConfig,
    GroupMapping,
    Nesting,
    Security,
)

logger = logging.getLogger(__name__)

_ROLE_RANK = [Role.AUDITOR, Role.PASSWORD_USER, Role.PASSWORD_ADMIN, Role.ADMIN]

_TEXT_FIELDS = (
    "user_search_base",
    "user_filter",
    "username_attribute",
    "email_attribute",
    "name_attribute",
    "group_search_base",
    "group_filter",
    "allowed_group_dn",
    "bind_dn",
    "ca_bundle",
)


def directory_config() -> DirectoryConfig:
    """The one settings row (created empty, disabled, on first use)."""
    config = DirectoryConfig.objects.order_by("updated_at").first()
    if config is None:
        config = DirectoryConfig.objects.create()
    return config


def _filter_check(name: str, value: str) -> None:
    if value and not (value.startswith("(") and value.endswith(")")):
        raise ValidationFailed(f"{name} must be an LDAP filter in parentheses", field=name)
    if value.count("(") != value.count(")"):
        raise ValidationFailed(f"{name} has unbalanced parentheses", field=name)


_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,99}")


def _urls_clean(urls: str) -> str:
    if "\x00" in urls or len(urls) > 4000:
        raise ValidationFailed("server_urls is too long or holds NUL", field="server_urls")
    cleaned = [u.strip() for u in urls.replace(",", "\n").splitlines() if u.strip()]
    for url in cleaned:
        if not url.lower().startswith(("ldap://", "ldaps://")) or any(c.isspace() for c in url):
            raise ValidationFailed(
                f"server URL {url!r} must start with ldaps:// or ldap://", field="server_urls"
            )
    return "\n".join(cleaned)


def directory_config_update(
    *, actor: User, client_ip: str | None = None, bind_password: str | None = None, **changes: Any
) -> DirectoryConfig:
    """Change the directory settings (administrators). ``bind_password=None`` keeps it."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    config = directory_config()
    allowed = {
        *_TEXT_FIELDS,
        "enabled",
        "server_urls",
        "security",
        "nesting",
        "jit_create",
        "default_role",
        "timeout_seconds",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name in _TEXT_FIELDS:
        if name in changes and changes[name] is not None:
            value = str(changes[name]).strip()
            if "\x00" in value or len(value) > (100_000 if name == "ca_bundle" else 1000):
                raise ValidationFailed(f"{name} is too long or holds NUL", field=name)
            if name.endswith("_filter"):
                _filter_check(name, value)
            if name.endswith("_attribute") and not _ATTRIBUTE.fullmatch(value):
                raise ValidationFailed(f"{name} must be an attribute name", field=name)
            setattr(config, name, value)
    if changes.get("server_urls") is not None:
        config.server_urls = _urls_clean(str(changes["server_urls"]))
    if changes.get("security") is not None:
        if changes["security"] not in Security.values:
            raise ValidationFailed("unknown security", field="security", allowed=Security.values)
        config.security = changes["security"]
    if changes.get("nesting") is not None:
        if changes["nesting"] not in Nesting.values:
            raise ValidationFailed("unknown nesting", field="nesting", allowed=Nesting.values)
        config.nesting = changes["nesting"]
    if changes.get("default_role") is not None:
        if changes["default_role"] not in Role.values:
            raise ValidationFailed("unknown role", field="default_role", allowed=Role.values)
        config.default_role = changes["default_role"]
    if changes.get("timeout_seconds") is not None:
        timeout = int(changes["timeout_seconds"])
        if not 1 <= timeout <= 120:
            raise ValidationFailed("timeout_seconds must be 1-120", field="timeout_seconds")
        config.timeout_seconds = timeout
    for flag in ("enabled", "jit_create"):
        if changes.get(flag) is not None:
            setattr(config, flag, bool(changes[flag]))
    if bind_password is not None:
        seal_into(config, "bind_password", bind_password or None)
    if config.enabled:
        missing = [
            n
            for n in ("server_urls", "user_search_base", "username_attribute")
            if not getattr(config, n)
        ]
        if missing:
            raise ValidationFailed(
                f"to enable the directory, set {', '.join(missing)}", fields=missing
            )
        if config.security == Security.STARTTLS and any(
            u.lower().startswith("ldaps://") for u in config.server_urls.split()
        ):
            raise ValidationFailed(
                "StartTLS needs ldap:// URLs (ldaps:// is already TLS)", field="security"
            )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SETTINGS_UPDATE,
            object_type="directory",
            object_id=str(config.pk),
            object_name="directory",
            client_ip=client_ip,
            details={
                "changed": sorted(k for k, v in changes.items() if v is not None),
                "bind_password_changed": bind_password is not None,
            },
        )
        config.save()
    return config


def group_mapping_create(
    *,
    actor: User,
    group_dn: str,
    user_group: UserGroup | None = None,
    role: str = "",
    client_ip: str | None = None,
) -> GroupMapping:
    require_perm(actor, Perm.SETTINGS_MANAGE)
    group_dn = group_dn.strip()
    if not group_dn or len(group_dn) > 1000 or "=" not in group_dn or "\x00" in group_dn:
        raise ValidationFailed("group_dn must be a distinguished name", field="group_dn")
    if role and role not in Role.values:
        raise ValidationFailed("unknown role", field="role", allowed=Role.values)
    if user_group is None and not role:
        raise ValidationFailed("a mapping needs a user group, a role or both")
    with transaction.atomic():
        mapping = GroupMapping(group_dn=group_dn, user_group=user_group, role=role)
        audit_record(
            actor=actor,
            action=AuditAction.SETTINGS_UPDATE,
            object_type="directory_group_mapping",
            object_id=str(mapping.pk),
            object_name=group_dn,
            client_ip=client_ip,
            details={"role": role, "user_group": user_group.name if user_group else None},
        )
        mapping.save(force_insert=True)
    return mapping


def group_mapping_delete(
    *, actor: User, mapping: GroupMapping, client_ip: str | None = None
) -> None:
    require_perm(actor, Perm.SETTINGS_MANAGE)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SETTINGS_UPDATE,
            object_type="directory_group_mapping",
            object_id=str(mapping.pk),
            object_name=mapping.group_dn,
            client_ip=client_ip,
            details={"deleted": True},
        )
        mapping.delete()


def _server(config: DirectoryConfig) -> ldap.ServerSettings:
    if not config.server_urls:
        raise Conflict("the directory is not configured: set its server URLs first")
    return ldap.ServerSettings(
        urls=tuple(config.server_urls.split()),
        start_tls=config.security == Security.STARTTLS,
        ca_bundle=config.ca_bundle,
        bind_dn=config.bind_dn,
        bind_password=unseal(config, "bind_password") or "",
        timeout=config.timeout_seconds,
    )


def _find(conn: Any, config: DirectoryConfig, username: str | None) -> list[ldap.DirectoryEntry]:
    return ldap.users_find(
        conn,
        base=config.user_search_base,
        user_filter=config.user_filter or "(objectClass=*)",
        username_attribute=config.username_attribute,
        email_attribute=config.email_attribute,
        name_attribute=config.name_attribute,
        username=username,
    )


def _groups(conn: Any, config: DirectoryConfig, dn: str) -> set[str]:
    if not config.group_search_base:
        return set()
    return ldap.groups_of(
        conn,
        dn=dn,
        base=config.group_search_base,
        group_filter=config.group_filter or "(objectClass=*)",
        in_chain=config.nesting == Nesting.IN_CHAIN,
    )


def _allowed(config: DirectoryConfig, groups: set[str]) -> bool:
    return not config.allowed_group_dn or config.allowed_group_dn.lower() in groups


def _mapped(groups: set[str]) -> list[GroupMapping]:
    return [
        m for m in GroupMapping.objects.select_related("user_group") if m.group_dn.lower() in groups
    ]


def _mapped_role(config: DirectoryConfig, mappings: list[GroupMapping]) -> str:
    roles = [m.role for m in mappings if m.role]
    if not roles:
        return config.default_role
    return max(roles, key=lambda r: _ROLE_RANK.index(Role(r)))


def _link(entry: ldap.DirectoryEntry, config: DirectoryConfig, groups: set[str]) -> User | None:
    """The Strongroom user for a directory entry, created just in time when allowed."""
    account = DirectoryAccount.objects.select_related("user").filter(dn__iexact=entry.dn).first()
    mappings = _mapped(groups)
    user: User | None
    if account is not None:
        user = account.user
    else:
        user = User.objects.filter(username__iexact=entry.username).first()
        if user is not None:
            # An account of the same name that the directory did not create stays as it is
            # (a local break-glass admin, a single-sign-on user): never taken over by a
            # directory entry. directory_user_add links users deliberately.
            logger.info("directory sign-in refused: user id %s is not a directory user", user.pk)
            return None
        if user is None:
            if not config.jit_create:
                logger.info("directory sign-in refused: no local user and JIT creation is off")
                return None
            with transaction.atomic():
                user = user_create(
                    actor=None,
                    username=entry.username,
                    password=secrets.token_urlsafe(32),
                    role=_mapped_role(config, mappings),
                    email=entry.email if "@" in entry.email else "",
                    full_name=entry.full_name[:300],
                )
                user.set_unusable_password()
                user.save(update_fields=["password"])
        DirectoryAccount.objects.create(user=user, dn=entry.dn)
    for mapping in mappings:
        if (
            mapping.user_group is not None
            and not mapping.user_group.members.filter(pk=user.pk).exists()
        ):
            user_group_add_member(actor=None, group=mapping.user_group, user=user)
    DirectoryAccount.objects.filter(user=user).update(dn=entry.dn, last_seen_at=timezone.now())
    return user


def directory_user_add(*, actor: User, username: str, client_ip: str | None = None) -> User:
    """Create the Strongroom user for a directory user now (when just-in-time creation is off,
    directory users must be added this way before they can sign in)."""
    require_perm(actor, Perm.USERS_MANAGE)
    config = DirectoryConfig.objects.filter(enabled=True).first()
    if config is None:
        raise ValidationFailed("the directory is not enabled")
    conn = ldap.service_connection(_server(config))
    try:
        entries = _find(conn, config, username.strip())
        if len(entries) != 1:
            raise NotFound(
                f"no single directory user named {username.strip()!r} matches the user filter",
                field="username",
            )
        groups = _groups(conn, config, entries[0].dn)
    finally:
        conn.unbind()
    entry = entries[0]
    mappings = _mapped(groups)
    with transaction.atomic():
        user = user_create(
            actor=actor,
            username=entry.username,
            password=secrets.token_urlsafe(32),
            role=_mapped_role(config, mappings),
            email=entry.email if "@" in entry.email else "",
            full_name=entry.full_name[:300],
            client_ip=client_ip,
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        DirectoryAccount.objects.create(user=user, dn=entry.dn)
    for mapping in mappings:
        if mapping.user_group is not None:
            user_group_add_member(actor=None, group=mapping.user_group, user=user)
    return user


def directory_authenticate(*, username: str, password: str) -> User | None:
    """The user whose directory password this is, or None (any refusal looks the same).

    Raises DirectoryUnavailable when the directory cannot be asked (the sign-in then fails
    with that message rather than "wrong password").
    """
    config = DirectoryConfig.objects.filter(enabled=True).first()
    if config is None or not username or not password:
        return None
    server = _server(config)
    conn = ldap.service_connection(server)
    try:
        entries = _find(conn, config, username)
        if len(entries) != 1:
            return None
        entry = entries[0]
        if not ldap.user_bind_ok(server, dn=entry.dn, password=password):
            return None
        groups = _groups(conn, config, entry.dn)
    finally:
        conn.unbind()
    if not _allowed(config, groups):
        logger.info("directory sign-in refused: not in the allowed group")
        return None
    return _link(entry, config, groups)


@dataclass(frozen=True)
class SyncResult:
    checked: int
    deactivated: int
    kept: int

    def as_dict(self) -> dict[str, int]:
        return {"checked": self.checked, "deactivated": self.deactivated, "kept": self.kept}


def directory_sync(*, actor: User | None = None, client_ip: str | None = None) -> SyncResult:
    """Deactivate linked users who left the directory or the allowed group.

    ``actor=None`` is the scheduled run (the system); an administrator's "sync now" passes
    themselves and is checked for the permission.
    """
    if actor is not None:
        require_perm(actor, Perm.USERS_MANAGE)
    config = DirectoryConfig.objects.filter(enabled=True).first()
    if config is None:
        return SyncResult(checked=0, deactivated=0, kept=0)
    accounts = list(DirectoryAccount.objects.select_related("user").filter(user__is_active=True))
    leavers: list[User] = []
    conn = ldap.service_connection(_server(config))
    try:
        present = {e.dn.lower(): e for e in _find(conn, config, None)}
        for account in accounts:
            entry = present.get(account.dn.lower())
            if entry is None or not _allowed(config, _groups(conn, config, entry.dn)):
                leavers.append(account.user)
    finally:
        conn.unbind()
    for user in leavers:
        user_deactivate(actor=actor, user=user, client_ip=client_ip)
    result = SyncResult(
        checked=len(accounts), deactivated=len(leavers), kept=len(accounts) - len(leavers)
    )
    DirectoryConfig.objects.filter(pk=config.pk).update(
        last_sync_at=timezone.now(), last_sync_result=result.as_dict()
    )
    logger.info("directory sync: %d checked, %d deactivated", result.checked, result.deactivated)
    return result


def directory_test(*, actor: User, username: str | None = None) -> dict[str, Any]:
    """Bind with the service account and count users (and look one up): a settings check."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    return directory_probe(username=username)


def directory_probe(*, username: str | None = None) -> dict[str, Any]:
    """``directory_test`` without the permission check (the operator's command line)."""
    config = directory_config()
    conn = ldap.service_connection(_server(config))
    try:
        users = _find(conn, config, None)
        out: dict[str, Any] = {"users": len(users)}
        if username:
            found = _find(conn, config, username)
            out["user_found"] = len(found) == 1
            out["groups"] = sorted(_groups(conn, config, found[0].dn)) if len(found) == 1 else []
    finally:
        conn.unbind()
    return out
