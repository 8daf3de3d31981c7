"""Re-authentication ("sudo mode"): fresh proofs of the password and second factor.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from strongroom.accounts.models import LoginAttempt, User
from strongroom.accounts.services._common import Clock
from strongroom.accounts.services._credentials import (
    _ip_or_none,
    _login_failure_record,
    _second_factor_consume,
    _throttle_check,
    _totp_state_refresh,
    _username_key,
)
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import AuthenticationFailed, ErrorCode, PermissionDenied


class ReauthRequired(PermissionDenied):
    code = ErrorCode.REAUTH_REQUIRED


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
            action=AuditAction.AUTH_REAUTH,
            signed_in=True,
        )
        raise AuthenticationFailed(
            "the password is not correct", code=ErrorCode.BAD_PASSWORD, field="password"
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
                action=AuditAction.AUTH_REAUTH,
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
            action=AuditAction.AUTH_REAUTH,
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
