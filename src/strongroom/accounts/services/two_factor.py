"""Two-factor enrolment, confirmation, disabling and recovery codes.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp
from django.db import transaction

from strongroom.accounts.models import User
from strongroom.accounts.services._common import TOTP_ISSUER
from strongroom.accounts.services._credentials import (
    _ip_or_none,
    _login_failure_record,
    _recovery_codes_replace,
    _second_factor_consume,
    _throttle_check,
    _totp_clear,
    _totp_consume,
    _totp_state_refresh,
    _username_key,
)
from strongroom.accounts.services.reauth import ReauthArg, reauth_require
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core import secrets as sealed
from strongroom.core.errors import AuthenticationFailed, Conflict, ErrorCode, ValidationFailed


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
            action=AuditAction.USER_TOTP_ENROL,
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
            action=AuditAction.USER_TOTP_ENABLE,
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
            action=AuditAction.USER_TOTP_DISABLE,
            signed_in=True,
        )
        raise AuthenticationFailed(
            "the password is not correct", code=ErrorCode.BAD_PASSWORD, field="password"
        )
    which = _second_factor_require(user, code, client_ip, "user.totp_disable")
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.USER_TOTP_DISABLE,
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
            action=AuditAction.USER_RECOVERY_CODES_REGENERATE,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=client_ip,
        )
        return _recovery_codes_replace(user)
