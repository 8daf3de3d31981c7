"""People: users, user groups, login, TOTP, API tokens.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from strongroom.accounts.models import (
    ApiToken,
    LoginAttempt,
    RecoveryCode,
    Role,
    Scope,
    User,
    UserGroup,
)
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.audit.services import audit_record
from strongroom.core import secrets as sealed
from strongroom.core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationFailed,
)
from strongroom.sync.hooks import scope_changed

logger = logging.getLogger(__name__)

TOTP_ISSUER = "Strongroom"
RECOVERY_CODE_COUNT = 10
API_TOKEN_PREFIX = "sr_"
# "sr_" and six characters: enough to tell tokens apart, the same part the log redaction
# filter leaves visible.
API_TOKEN_DISPLAY_LENGTH = 9
LAST_USED_RESOLUTION = timedelta(minutes=1)

_INVALID_CREDENTIALS = "the username, password or one-time code is not correct"

Clock = Callable[[], datetime]


# --- re-authentication ("sudo mode") -----------------------------------------------------
#
# A session or an API token alone proves only that someone holds it. Actions that would let
# a thief keep an account after the theft is noticed (a second factor of their own, more API
# tokens, a new password, an administrator's changes to their own account) also need a
# fresh proof: the password and, when the user has one, the second factor, given at most
# REAUTH_MAX_AGE_SECONDS ago. The web keeps the proof's time in the (database) session, an
# API token on its row behind a secret the client sends back; the request layer
# (accounts/reauth.py) turns either into a Reauth that the services below check.


class ReauthRequired(PermissionDenied):
    code = "reauth_required"


@dataclass(frozen=True)
class Reauth:
    """When ``user_id`` last proved who they are (password and second factor)."""

    user_id: Any
    at: datetime


class _Trusted:
    """The operator's command line and fixtures that build state: nobody remote is asking."""

    def __repr__(self) -> str:
        return "REAUTH_TRUSTED"


REAUTH_TRUSTED = _Trusted()
ReauthArg = Reauth | _Trusted | None


def reauth_max_age() -> timedelta:
    return timedelta(seconds=settings.REAUTH_MAX_AGE_SECONDS)


def reauth_is_fresh(*, user: User, reauth: ReauthArg, clock: Clock | None = None) -> bool:
    if isinstance(reauth, _Trusted):
        return True
    if reauth is None or str(reauth.user_id) != str(user.pk):
        return False
    age = (clock or timezone.now)() - reauth.at
    return timedelta(0) <= age <= reauth_max_age()


def reauth_require(
    *, user: User, reauth: ReauthArg, action: str, clock: Clock | None = None
) -> None:
    if not reauth_is_fresh(user=user, reauth=reauth, clock=clock):
        raise ReauthRequired(
            f"confirm it's you first: {action} needs your password"
            + (" and a one-time code" if user.totp_enabled else "")
            + f" given in the last {settings.REAUTH_MAX_AGE_SECONDS // 60} minutes "
            "(POST /api/v1/auth/reauth, then send X-Strongroom-Reauth)",
            action=action,
            max_age_seconds=settings.REAUTH_MAX_AGE_SECONDS,
        )


def reauth_verify(
    *, user: User, password: str, otp: str | None, client_ip: str | None = None
) -> Reauth:
    """Check the password and (if the user has 2FA) a TOTP or recovery code of a signed-in
    user. Wrong answers count towards the login throttle, like a wrong sign-in, so a stolen
    session cannot guess the password here either."""
    key = _username_key(user.username)
    ip = _ip_or_none(client_ip)
    _throttle_check(username_key=key, ip=ip)
    _totp_state_refresh(user)
    if not user.check_password(password):
        _login_failure_record(
            username_key=key,
            user=user,
            ip=ip,
            reason="bad_password",
            action="auth.reauth",
            signed_in=True,
        )
        raise AuthenticationFailed(
            "the password is not correct", code="bad_password", field="password"
        )
    second_factor = None
    if user.totp_enabled:
        second_factor = _second_factor_consume(user, otp or "") if otp and otp.strip() else None
        if second_factor is None:
            _login_failure_record(
                username_key=key,
                user=user,
                ip=ip,
                reason="bad_otp",
                action="auth.reauth",
                signed_in=True,
            )
            raise AuthenticationFailed(
                "the one-time code is not correct, or it was already used",
                code="bad_otp",
                field="otp",
            )
    with transaction.atomic():
        audit_record(
            actor=user,
            action="auth.reauth",
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=ip,
            details={"second_factor": second_factor} if second_factor else {},
        )
        LoginAttempt.objects.create(username=key, client_ip=ip, succeeded=True)
    return Reauth(user_id=user.pk, at=timezone.now())


def _reauth_for_self(*, actor: User, user: User, reauth: ReauthArg, action: str) -> None:
    """An administrator acting on their own account proves it is them, like any user
    changing their own credentials; on other accounts the role is enough."""
    if actor.pk == user.pk:
        reauth_require(user=actor, reauth=reauth, action=action)


# --- helpers -----------------------------------------------------------------------------


def _text(value: str, *, field: str, max_length: int, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise ValidationFailed(f"{field} must be at most {max_length} characters", field=field)
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    return value


def _email(value: str) -> str:
    value = value.strip()
    if value:
        try:
            validate_email(value)
        except DjangoValidationError as exc:
            raise ValidationFailed("email is not a valid address", field="email") from exc
    return value


def _password_validate(password: str, *, user: User | None, field: str = "password") -> None:
    """Django's configured password validators; the messages name rules, never the value."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        problems = [str(message) for message in exc.messages]
        raise ValidationFailed(
            "the password is too weak: " + " ".join(problems), field=field, problems=problems
        ) from exc


def _active_admins_locked() -> list[User]:
    return list(User.objects.select_for_update().filter(role=Role.ADMIN, is_active=True))


def _refuse_last_admin_removal(user: User, what: str) -> None:
    """An installation must keep one active administrator, or nobody could manage it."""
    if user.role == Role.ADMIN and user.is_active:
        others = [admin for admin in _active_admins_locked() if admin.pk != user.pk]
        if not others:
            raise Conflict(f"cannot {what} the last active administrator", field="role")


# --- users -------------------------------------------------------------------------------


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
    full_name = _text(full_name, field="full_name", max_length=300, required=False)
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"a user named {username!r} already exists", field="username")
    with transaction.atomic():
        user = User(username=username, email=email, full_name=full_name, role=role)
        if actor is not None:
            _password_validate(password, user=user)
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
        new["full_name"] = _text(full_name, field="full_name", max_length=300, required=False)
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
            action="user.update",
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
    *, actor: User, user: User, active: bool, reauth: ReauthArg, client_ip: str | None
) -> User:
    require_perm(actor, Perm.USERS_MANAGE)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active == active:
            return user
        if not active:
            if user.pk == actor.pk:
                raise Conflict("you cannot deactivate your own account")
            _refuse_last_admin_removal(user, "deactivate")
        _reauth_for_self(
            actor=actor, user=user, reauth=reauth, action="activating your own account"
        )
        audit_record(
            actor=actor,
            action="user.activate" if active else "user.deactivate",
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
    *, actor: User, user: User, reauth: ReauthArg = None, client_ip: str | None = None
) -> User:
    """Deactivated users cannot sign in; their sessions and API tokens stop working."""
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
                action="user.delete",
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
            action="user.password_reset",
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
            action="user.password_change",
            signed_in=True,
        )
        raise AuthenticationFailed(
            "the current password is not correct", code="bad_password", field="current_password"
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
                action="user.password_change",
                signed_in=True,
            )
            raise AuthenticationFailed(
                "the one-time code is not correct, or it was already used",
                code="bad_otp",
                field="otp",
            )
    with transaction.atomic():
        audit_record(
            actor=user,
            action="user.password_change",
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
            action="user.totp_reset",
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
            details={"was_enabled": user.totp_enabled},
        )
        _totp_clear(user)
    return user


# --- user groups -------------------------------------------------------------------------


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
            action="user_group.create",
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
            action="user_group.update",
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
            action="user_group.delete",
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
        group.delete()


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
            action="user_group.add_member",
            object_type="user_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"user_id": str(user.pk), "username": user.username},
        )
        group.members.add(user)
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
            action="user_group.remove_member",
            object_type="user_group",
            object_id=str(group.pk),
            object_name=group.name,
            client_ip=client_ip,
            details={"user_id": str(user.pk), "username": user.username},
        )
        group.members.remove(user)
        scope_changed(cause="user_group.remove_member", user_ids=[user.pk])


# --- login and throttling ----------------------------------------------------------------


def _username_key(username: str) -> str:
    return username.strip().lower()[:150]


def _ip_or_none(client_ip: str | None) -> str | None:
    """LoginAttempt.client_ip is an IP column; anything else (empty, junk) is stored as NULL."""
    if not client_ip:
        return None
    try:
        return str(ipaddress.ip_address(client_ip))
    except ValueError:
        return None


def _retry_after(failure_times: list[datetime], now: datetime) -> int | None:
    """Seconds until fewer than LOGIN_THROTTLE_FAILURES failures remain in the window, or
    None when the limit is not reached. ``failure_times`` is newest first."""
    limit = settings.LOGIN_THROTTLE_FAILURES
    if len(failure_times) < limit:
        return None
    window = timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    expires = failure_times[limit - 1] + window
    return max(1, math.ceil((expires - now).total_seconds()))


def _throttle_check(*, username_key: str, ip: str | None) -> None:
    """Refuse when either the username or the client address has too many recent failures.

    The counts live in the database, so every web node enforces the same limit. A successful
    sign-in clears the username's count; the address's count is never cleared early, so an
    attacker cannot reset it by signing in to an account of their own.
    """
    now = timezone.now()
    limit = settings.LOGIN_THROTTLE_FAILURES
    window_start = now - timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    since = window_start
    last_success = (
        LoginAttempt.objects.filter(username=username_key, succeeded=True, at__gte=window_start)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if last_success is not None:
        since = last_success
    by_user = list(
        LoginAttempt.objects.filter(username=username_key, succeeded=False, at__gt=since)
        .order_by("-at")
        .values_list("at", flat=True)[:limit]
    )
    waits = [_retry_after(by_user, now)]
    if ip is not None:
        by_ip = list(
            LoginAttempt.objects.filter(client_ip=ip, succeeded=False, at__gte=window_start)
            .order_by("-at")
            .values_list("at", flat=True)[:limit]
        )
        waits.append(_retry_after(by_ip, now))
    retry_after = max((w for w in waits if w is not None), default=None)
    if retry_after is not None:
        raise Throttled(
            f"too many failed sign-in attempts; try again in {retry_after} seconds",
            retry_after=retry_after,
        )


class _Unauthenticated:
    """The actor of a failed sign-in: nobody proved who they are (actor name stays empty)."""

    pk = None
    username = ""


def _login_failure_record(
    *,
    username_key: str,
    user: User | None,
    ip: str | None,
    reason: str,
    action: str = "auth.login_failed",
    count: bool = True,
    signed_in: bool = False,
) -> None:
    """Audit a failed password or code check and, if ``count``, feed it to the throttle.

    ``signed_in`` marks checks made by an already signed-in user (changing their password,
    turning 2FA off): they are the actor. For sign-in itself nobody has proved who they are.
    """
    with transaction.atomic():
        audit_record(
            actor=user if signed_in else _Unauthenticated(),
            action=action,
            outcome="failure",
            object_type="user",
            object_id=str(user.pk) if user is not None else "",
            object_name=username_key,
            client_ip=ip,
            details={"reason": reason},
        )
        if count:
            LoginAttempt.objects.create(username=username_key, client_ip=ip, succeeded=False)
    logger.info("%s: %s (user id %s)", action, reason, user.pk if user is not None else "unknown")


def login_authenticate(
    *, username: str, password: str, otp_code: str | None = None, client_ip: str | None
) -> User:
    """Check a sign-in and return the user; the caller starts the session.

    Raises Throttled (with ``retry_after``) while the username or address is throttled, even
    for the right password; AuthenticationFailed with code ``otp_required`` when the password
    is right and a one-time code is needed; otherwise AuthenticationFailed with one message
    for every failure, so an unknown username looks like a wrong password.
    """
    key = _username_key(username)
    ip = _ip_or_none(client_ip)
    try:
        _throttle_check(username_key=key, ip=ip)
    except Throttled:
        _login_failure_record(username_key=key, user=None, ip=ip, reason="throttled", count=False)
        raise

    user = User.objects.filter(username__iexact=username.strip()).first() if key else None
    if user is None:
        # Hash anyway so an unknown username takes as long as a wrong password.
        User().set_password(password)
        _login_failure_record(username_key=key, user=None, ip=ip, reason="unknown_user")
        raise AuthenticationFailed(_INVALID_CREDENTIALS, code="invalid_credentials")
    if not user.check_password(password):
        _login_failure_record(username_key=key, user=user, ip=ip, reason="bad_password")
        raise AuthenticationFailed(_INVALID_CREDENTIALS, code="invalid_credentials")
    if not user.is_active:
        _login_failure_record(username_key=key, user=user, ip=ip, reason="inactive")
        raise AuthenticationFailed(_INVALID_CREDENTIALS, code="invalid_credentials")
    second_factor = None
    if user.totp_enabled:
        if not otp_code or not otp_code.strip():
            _login_failure_record(
                username_key=key, user=user, ip=ip, reason="otp_required", count=False
            )
            raise AuthenticationFailed(
                "this account needs a one-time code from its authenticator app "
                "(or a recovery code)",
                code="otp_required",
            )
        second_factor = _second_factor_consume(user, otp_code)
        if second_factor is None:
            _login_failure_record(username_key=key, user=user, ip=ip, reason="bad_otp")
            raise AuthenticationFailed(_INVALID_CREDENTIALS, code="invalid_credentials")
    with transaction.atomic():
        audit_record(
            actor=user,
            action="auth.login",
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=ip,
            details={"second_factor": second_factor} if second_factor else {},
        )
        LoginAttempt.objects.create(username=key, client_ip=ip, succeeded=True)
    logger.info("sign-in succeeded for user id %s", user.pk)
    return user


def user_logout(*, user: User, client_ip: str | None = None) -> None:
    """Record a sign-out (the caller ends the session)."""
    audit_record(
        actor=user,
        action="auth.logout",
        object_type="user",
        object_id=str(user.pk),
        object_name=user.username,
        client_ip=client_ip,
    )


# --- TOTP and recovery codes -------------------------------------------------------------


def _totp_step_matching(secret: str, code: str) -> int | None:
    """The time step (previous, current or next) whose code equals ``code``."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // totp.interval
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _totp_consume(user: User, code: str) -> bool:
    """Accept a TOTP code once: its time step must be newer than the last one used.

    The conditional UPDATE makes the check atomic across web nodes, so one code observed by
    an attacker cannot be replayed even at the same moment.
    """
    secret = sealed.unseal(user, "totp_secret")
    if secret is None:
        return False
    step = _totp_step_matching(secret, code)
    if step is None or step <= user.totp_last_step:
        return False
    updated = User.objects.filter(pk=user.pk, totp_last_step__lt=step).update(totp_last_step=step)
    if updated:
        user.totp_last_step = step
    return bool(updated)


def _recovery_code_normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _recovery_code_hash(code: str) -> str:
    # The codes carry 80 random bits, so a plain SHA-256 cannot be reversed by guessing;
    # a slow hash would only make each sign-in with a recovery code slower.
    return hashlib.sha256(_recovery_code_normalise(code).encode()).hexdigest()


def _recovery_code_consume(user: User, code: str) -> bool:
    if len(_recovery_code_normalise(code)) != 16:
        return False
    used = RecoveryCode.objects.filter(
        user=user, code_hash=_recovery_code_hash(code), used_at__isnull=True
    ).update(used_at=timezone.now())
    return bool(used)


def _second_factor_consume(user: User, code: str) -> str | None:
    """Accept a TOTP code or an unused recovery code; returns which one, or None."""
    if _totp_consume(user, code):
        return "totp"
    if _recovery_code_consume(user, code):
        return "recovery_code"
    return None


def _recovery_codes_replace(user: User) -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_recovery_code_hash(code)) for code in codes
    )
    return codes


def _totp_state_refresh(user: User) -> None:
    """Callers may hold an older copy of the user; decisions use the stored state."""
    user.refresh_from_db(fields=["totp_secret", "totp_enabled", "totp_last_step"])


def _totp_clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled = False
    user.totp_last_step = 0
    user.save(update_fields=["totp_secret", "totp_enabled", "totp_last_step"])
    RecoveryCode.objects.filter(user=user).delete()


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    uri: str


def user_totp_enrol(
    *, user: User, reauth: ReauthArg = None, client_ip: str | None = None
) -> TotpEnrolment:
    """Start enrolment: a new secret, stored sealed, not in force until confirmed."""
    reauth_require(user=user, reauth=reauth, action="setting up two-factor sign-in")
    _totp_state_refresh(user)
    if user.totp_enabled:
        raise Conflict("two-factor sign-in is already on; turn it off first to re-enrol")
    secret = pyotp.random_base32()
    with transaction.atomic():
        audit_record(
            actor=user,
            action="user.totp_enrol",
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
        )
        sealed.seal_into(user, "totp_secret", secret)
        user.totp_last_step = 0
        user.save(update_fields=["totp_secret", "totp_last_step"])
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)
    return TotpEnrolment(secret=secret, uri=uri)


def user_totp_confirm(
    *, user: User, code: str, reauth: ReauthArg = None, client_ip: str | None = None
) -> list[str]:
    """Turn two-factor sign-in on with a first valid code; returns the recovery codes
    (shown once: only their hashes are stored)."""
    reauth_require(user=user, reauth=reauth, action="setting up two-factor sign-in")
    _totp_state_refresh(user)
    if user.totp_enabled:
        raise Conflict("two-factor sign-in is already on")
    if user.totp_secret is None:
        raise Conflict("start enrolment first (POST /me/totp/enrol)")
    if not _totp_consume(user, code):
        raise ValidationFailed("the one-time code is not correct", field="code")
    with transaction.atomic():
        audit_record(
            actor=user,
            action="user.totp_enable",
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
        )
        user.totp_enabled = True
        user.save(update_fields=["totp_enabled"])
        return _recovery_codes_replace(user)


def _second_factor_require(user: User, code: str, client_ip: str | None, action: str) -> str:
    which = _second_factor_consume(user, code) if user.totp_enabled else None
    if which is None:
        _login_failure_record(
            username_key=_username_key(user.username),
            user=user,
            ip=_ip_or_none(client_ip),
            reason="bad_otp",
            action=action,
            signed_in=True,
        )
        raise ValidationFailed("the one-time code is not correct", field="code")
    return which


def user_totp_disable(
    *, user: User, password: str, code: str, client_ip: str | None = None
) -> User:
    """Turn two-factor sign-in off; needs the password and a current or recovery code."""
    _totp_state_refresh(user)
    if not user.totp_enabled:
        raise Conflict("two-factor sign-in is not on")
    ip = _ip_or_none(client_ip)
    _throttle_check(username_key=_username_key(user.username), ip=ip)
    if not user.check_password(password):
        _login_failure_record(
            username_key=_username_key(user.username),
            user=user,
            ip=ip,
            reason="bad_password",
            action="user.totp_disable",
            signed_in=True,
        )
        raise AuthenticationFailed(
            "the password is not correct", code="bad_password", field="password"
        )
    which = _second_factor_require(user, code, client_ip, "user.totp_disable")
    with transaction.atomic():
        audit_record(
            actor=user,
            action="user.totp_disable",
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
            details={"second_factor": which},
        )
        _totp_clear(user)
    return user


def user_recovery_codes_regenerate(
    *, user: User, reauth: ReauthArg = None, client_ip: str | None = None
) -> list[str]:
    """Replace every recovery code (old ones stop working). The fresh re-authentication
    holds the second factor, so no second code is asked (a TOTP code cannot be used twice:
    the user would have to wait for the next one)."""
    reauth_require(user=user, reauth=reauth, action="making new recovery codes")
    _totp_state_refresh(user)
    if not user.totp_enabled:
        raise Conflict("two-factor sign-in is not on")
    with transaction.atomic():
        audit_record(
            actor=user,
            action="user.recovery_codes_regenerate",
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
        )
        return _recovery_codes_replace(user)


# --- API tokens --------------------------------------------------------------------------


def _token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    # The only time the token exists in clear: show it once, then it is gone.
    raw: str


ALL_SCOPES: tuple[str, ...] = tuple(Scope.values)


def scopes_normalise(scopes: Any) -> list[str]:
    """A non-empty set of known scopes, in Scope's order."""
    chosen = {str(scope) for scope in scopes}
    unknown = sorted(chosen - set(ALL_SCOPES))
    if unknown:
        raise ValidationFailed(
            f"unknown scope {unknown[0]!r}", field="scopes", allowed=list(ALL_SCOPES)
        )
    if not chosen:
        raise ValidationFailed(
            "choose at least one scope", field="scopes", allowed=list(ALL_SCOPES)
        )
    return [scope for scope in ALL_SCOPES if scope in chosen]


def api_token_create(
    *,
    user: User,
    name: str,
    scopes: Any = ALL_SCOPES,
    expires_at: datetime | None = None,
    reauth: ReauthArg = None,
    via_token: ApiToken | None = None,
    client_ip: str | None = None,
) -> IssuedToken:
    """Issue a token (needs a fresh re-authentication: more tokens would let a thief keep
    access after the stolen credential is revoked). Made through a token (``via_token``),
    it can have no scope and no lifetime beyond that token's: a token never mints a
    broader one."""
    reauth_require(user=user, reauth=reauth, action="creating an API token")
    name = _text(name, field="name", max_length=200)
    scopes = scopes_normalise(scopes)
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise ValidationFailed("expires_at needs a time zone", field="expires_at")
        if expires_at <= timezone.now():
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
    if via_token is not None:
        broader = [scope for scope in scopes if scope not in via_token.scopes]
        if broader:
            raise PermissionDenied(
                "a token cannot create a token with scopes it does not have itself: "
                + ", ".join(broader),
                code="scope_exceeded",
                field="scopes",
                token_scopes=list(via_token.scopes),
            )
        if via_token.expires_at is not None and (
            expires_at is None or expires_at > via_token.expires_at
        ):
            raise PermissionDenied(
                "a token cannot create a token that outlives it: give an expiry no later "
                f"than {via_token.expires_at.isoformat()}",
                code="scope_exceeded",
                field="expires_at",
            )
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken(
            user=user,
            name=name,
            prefix=raw[:API_TOKEN_DISPLAY_LENGTH],
            token_hash=_token_hash(raw),
            expires_at=expires_at,
            scopes=scopes,
        )
        audit_record(
            actor=user,
            action="api_token.create",
            object_type="api_token",
            object_id=str(token.pk),
            object_name=name,
            client_ip=client_ip,
            details={
                "prefix": token.prefix,
                "scopes": scopes,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "via_token": via_token.prefix if via_token is not None else None,
            },
        )
        token.save(force_insert=True)
    return IssuedToken(token=token, raw=raw)


def api_token_revoke(*, user: User, token: ApiToken, client_ip: str | None = None) -> ApiToken:
    """Revoke one of the user's own tokens (revoking twice changes nothing)."""
    if token.user_id != user.pk:
        raise PermissionDenied("that token belongs to someone else")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        audit_record(
            actor=user,
            action="api_token.revoke",
            object_type="api_token",
            object_id=str(token.pk),
            object_name=token.name,
            client_ip=client_ip,
            details={"prefix": token.prefix},
        )
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, raw_token: str) -> User | None:
    """The active user a bearer token belongs to, or None (unknown, revoked, expired token or
    inactive user)."""
    token = api_token_resolve(raw_token=raw_token)
    return token.user if token is not None else None


def api_token_resolve(*, raw_token: str) -> ApiToken | None:
    """The usable token (with its active user) a bearer token names, or None. Tokens are
    found by their hash, so no comparison leaks timing."""
    raw_token = raw_token.strip()
    if not raw_token.startswith(API_TOKEN_PREFIX) or len(raw_token) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user").filter(token_hash=_token_hash(raw_token)).first()
    )
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    stale = now - LAST_USED_RESOLUTION
    if token.last_used_at is None or token.last_used_at < stale:
        # At most one write a minute per token, and only if no other node just did it.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
        ).update(last_used_at=now)
    return token


@dataclass(frozen=True)
class TokenReauth:
    # Sent back by the client in X-Strongroom-Reauth; only its hash is stored.
    secret: str = dataclasses.field(repr=False)
    expires_at: datetime


def api_token_reauth(
    *, token: ApiToken, password: str, otp: str | None, client_ip: str | None = None
) -> TokenReauth:
    """Re-authenticate through an API token: on success the token's row remembers the moment
    and the hash of a new secret (replacing any earlier one). The proof works only with
    this token and that secret, for REAUTH_MAX_AGE_SECONDS."""
    proof = reauth_verify(user=token.user, password=password, otp=otp, client_ip=client_ip)
    secret = secrets.token_urlsafe(32)
    ApiToken.objects.filter(pk=token.pk).update(reauth_hash=_token_hash(secret), reauth_at=proof.at)
    return TokenReauth(secret=secret, expires_at=proof.at + reauth_max_age())


def api_token_reauth_proof(*, token: ApiToken, secret: str) -> Reauth | None:
    """The proof a request carries: the token's re-authentication, if ``secret`` is its."""
    if not token.reauth_hash or token.reauth_at is None or not secret or len(secret) > 200:
        return None
    if not hmac.compare_digest(token.reauth_hash, _token_hash(secret.strip())):
        return None
    return Reauth(user_id=token.user_id, at=token.reauth_at)
