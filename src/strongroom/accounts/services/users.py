"""Users: create, update, (de)activate, delete, password reset and change, TOTP reset.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from strongroom.accounts.models import Role, User
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.accounts.services._common import (
    _email,
    _password_validate,
    _refuse_last_admin_removal,
)
from strongroom.accounts.services._credentials import (
    _ip_or_none,
    _login_failure_record,
    _second_factor_consume,
    _throttle_check,
    _totp_clear,
    _totp_state_refresh,
    _username_key,
)
from strongroom.accounts.services.reauth import (
    ReauthArg,
    _reauth_for_self,
    reauth_is_fresh,
    reauth_require,
)
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import AuthenticationFailed, Conflict, ErrorCode, ValidationFailed
from strongroom.core.events import scope_changed
from strongroom.core.validation import text_clean


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
    """Create a user. ``actor=None`` means the system (CLI createadmin, demo seeding).

    The password validators apply when an administrator creates the user; system callers
    (the operator at the command line) are trusted to choose their own rules.
    """
    if actor is not None:
        require_perm(actor, Perm.USERS_MANAGE)
    username = username.strip()
    if not username or len(username) > 150 or "\x00" in username:
        raise ValidationFailed("username must be 1-150 characters, without NUL", field="username")
    if role not in Role.values:
        raise ValidationFailed(f"unknown role {role!r}", field="role", allowed=list(Role.values))
    email = _email(email)
    full_name = text_clean("full_name", full_name, max_length=300, strip=True)
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"a user named {username!r} already exists", field="username")
    with transaction.atomic():
        user = User(username=username, email=email, full_name=full_name, role=role)
        if actor is not None:
            _password_validate(password, user=user)
        user.set_password(password)
        audit_record(
            actor=actor,
            action=AuditAction.USER_CREATE,
            object_type="user",
            object_id=str(user.pk),
            object_name=username,
            client_ip=client_ip,
            details={"role": role},
        )
        user.save(force_insert=True)
    return user


def user_update(
    *,
    actor: User,
    user: User,
    email: str | None = None,
    full_name: str | None = None,
    role: str | None = None,
    reauth: ReauthArg = None,
    client_ip: str | None = None,
) -> User:
    """Change a user's email, full name or role (administrators only; on their own account
    only with a fresh re-authentication)."""
    require_perm(actor, Perm.USERS_MANAGE)
    new: dict[str, Any] = {}
    if email is not None:
        new["email"] = _email(email)
    if full_name is not None:
        new["full_name"] = text_clean("full_name", full_name, max_length=300, strip=True)
    if role is not None:
        if role not in Role.values:
            raise ValidationFailed(
                f"unknown role {role!r}", field="role", allowed=list(Role.values)
            )
        new["role"] = role
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        changes = {
            field: {"old": getattr(user, field), "new": value}
            for field, value in new.items()
            if getattr(user, field) != value
        }
        if not changes:
            return user
        _reauth_for_self(actor=actor, user=user, reauth=reauth, action="changing your own account")
        if "role" in changes and user.role == Role.ADMIN:
            _refuse_last_admin_removal(user, "change the role of")
        audit_record(
            actor=actor,
            action=AuditAction.USER_UPDATE,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
            details={"changes": changes},
        )
        for field, change in changes.items():
            setattr(user, field, change["new"])
        user.save(update_fields=list(changes))
        scope_changed(cause="user.update", user_ids=[user.pk])
    return user


def _user_set_active(
    *, actor: User | None, user: User, active: bool, reauth: ReauthArg, client_ip: str | None
) -> User:
    if actor is not None:
        require_perm(actor, Perm.USERS_MANAGE)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active == active:
            return user
        if not active:
            if actor is not None and user.pk == actor.pk:
                raise Conflict("you cannot deactivate your own account")
            _refuse_last_admin_removal(user, "deactivate")
        if actor is not None:
            _reauth_for_self(
                actor=actor, user=user, reauth=reauth, action="activating your own account"
            )
        audit_record(
            actor=actor,
            action=AuditAction.USER_ACTIVATE if active else AuditAction.USER_DEACTIVATE,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
        )
        user.is_active = active
        user.save(update_fields=["is_active"])
        scope_changed(cause="user.activate" if active else "user.deactivate", user_ids=[user.pk])
    return user


def user_deactivate(
    *, actor: User | None, user: User, reauth: ReauthArg = None, client_ip: str | None = None
) -> User:
    """Deactivated users cannot sign in; their sessions and API tokens stop working.

    ``actor=None`` is the system: the scheduled directory sync deactivating a leaver, or
    single sign-on deactivating someone the identity provider no longer lets in (never the
    last active administrator).
    """
    return _user_set_active(
        actor=actor, user=user, active=False, reauth=reauth, client_ip=client_ip
    )


def user_activate(
    *, actor: User, user: User, reauth: ReauthArg = None, client_ip: str | None = None
) -> User:
    return _user_set_active(actor=actor, user=user, active=True, reauth=reauth, client_ip=client_ip)


def user_delete(*, actor: User, user: User, client_ip: str | None = None) -> None:
    """Delete a user who owns nothing in the vault; otherwise deactivate them instead."""
    require_perm(actor, Perm.USERS_MANAGE)
    if user.pk == actor.pk:
        raise Conflict("you cannot delete your own account")
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().get(pk=user.pk)
            _refuse_last_admin_removal(user, "delete")
            audit_record(
                actor=actor,
                action=AuditAction.USER_DELETE,
                object_type="user",
                object_id=str(user.pk),
                object_name=user.username,
                client_ip=client_ip,
                details={"role": user.role},
            )
            user.delete()
    except ProtectedError as exc:
        raise Conflict(
            "this user owns resources or resource groups; transfer them or deactivate the "
            "user instead",
            field="user",
        ) from exc


@dataclass(frozen=True)
class PasswordReset:
    user: User
    # Set only when the administrator did not choose the password: shown to them once.
    generated_password: str | None


def user_password_reset(
    *,
    actor: User,
    user: User,
    new_password: str | None = None,
    reauth: ReauthArg = None,
    client_ip: str | None = None,
) -> PasswordReset:
    """An administrator sets a temporary password; the user must change it at next sign-in.

    Changing the password hash ends the user's other sessions (Django checks the session's
    password hash on every request). Without ``new_password`` a random one is generated.
    On their own account an administrator needs a fresh re-authentication.
    """
    require_perm(actor, Perm.USERS_MANAGE)
    _reauth_for_self(actor=actor, user=user, reauth=reauth, action="resetting your own password")
    generated = None
    if new_password is None:
        generated = new_password = secrets.token_urlsafe(15)
    else:
        _password_validate(new_password, user=user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        audit_record(
            actor=actor,
            action=AuditAction.USER_PASSWORD_RESET,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
            details={"generated": generated is not None},
        )
        user.set_password(new_password)
        user.must_change_password = True
        user.save(update_fields=["password", "must_change_password"])
    return PasswordReset(user=user, generated_password=generated)


def user_password_change(
    *,
    user: User,
    current_password: str,
    new_password: str,
    otp: str | None = None,
    reauth: ReauthArg = None,
    client_ip: str | None = None,
) -> User:
    """A user changes their own password. The request carries its own re-authentication:
    the current password and, when the user has 2FA, a one-time or recovery code (``otp``),
    unless a fresh re-authentication is already at hand. Wrong guesses count towards the
    login throttle (a stolen session must not become a password oracle).
    """
    key, ip = _username_key(user.username), _ip_or_none(client_ip)
    _throttle_check(username_key=key, ip=ip)
    _totp_state_refresh(user)
    if not user.check_password(current_password):
        _login_failure_record(
            username_key=key,
            user=user,
            ip=ip,
            reason="bad_password",
            action=AuditAction.USER_PASSWORD_CHANGE,
            signed_in=True,
        )
        raise AuthenticationFailed(
            "the current password is not correct",
            code=ErrorCode.BAD_PASSWORD,
            field="current_password",
        )
    if current_password == new_password:
        raise ValidationFailed(
            "the new password must differ from the current one", field="new_password"
        )
    _password_validate(new_password, user=user, field="new_password")
    second_factor = None
    if user.totp_enabled and not reauth_is_fresh(user=user, reauth=reauth):
        if not otp or not otp.strip():
            reauth_require(user=user, reauth=None, action="changing your password")
        second_factor = _second_factor_consume(user, otp or "")
        if second_factor is None:
            _login_failure_record(
                username_key=key,
                user=user,
                ip=ip,
                reason="bad_otp",
                action=AuditAction.USER_PASSWORD_CHANGE,
                signed_in=True,
            )
            raise AuthenticationFailed(
                "the one-time code is not correct, or it was already used",
                code=ErrorCode.BAD_OTP,
                field="otp",
            )
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.USER_PASSWORD_CHANGE,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
            details={"second_factor": second_factor} if second_factor else {},
        )
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
    return user


def user_totp_reset(
    *, actor: User, user: User, reauth: ReauthArg = None, client_ip: str | None = None
) -> User:
    """An administrator turns off a user's second factor (lost phone and recovery codes);
    their own only with a fresh re-authentication."""
    require_perm(actor, Perm.USERS_MANAGE)
    _reauth_for_self(
        actor=actor, user=user, reauth=reauth, action="resetting your own two-factor sign-in"
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        audit_record(
            actor=actor,
            action=AuditAction.USER_TOTP_RESET,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
            details={"was_enabled": user.totp_enabled},
        )
        _totp_clear(user)
    return user
