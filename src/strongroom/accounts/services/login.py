"""Signing in (password, then the second factor when the user has one) and out.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from strongroom.accounts.models import LoginAttempt, User
from strongroom.accounts.services._common import _INVALID_CREDENTIALS, logger
from strongroom.accounts.services._credentials import (
    _ip_or_none,
    _login_failure_record,
    _second_factor_consume,
    _throttle_check,
    _username_key,
)
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import AuthenticationFailed, ErrorCode, Throttled


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
    password_ok = False
    if key and (user is None or not user.has_usable_password()):
        # No local password: ask the company directory (settings.PASSWORD_DIRECTORIES), which
        # may also create the user just in time. Throttling above and the second factor
        # below apply to directory users as to local ones.
        directory_user = _directory_authenticate(username.strip(), password)
        if directory_user is not None:
            user, password_ok = directory_user, True
    if user is None:
        # Hash anyway so an unknown username takes as long as a wrong password.
        User().set_password(password)
        _login_failure_record(username_key=key, user=None, ip=ip, reason="unknown_user")
        raise AuthenticationFailed(_INVALID_CREDENTIALS, code=ErrorCode.INVALID_CREDENTIALS)
    if not password_ok and not user.check_password(password):
        _login_failure_record(username_key=key, user=user, ip=ip, reason="bad_password")
        raise AuthenticationFailed(_INVALID_CREDENTIALS, code=ErrorCode.INVALID_CREDENTIALS)
    if not user.is_active:
        _login_failure_record(username_key=key, user=user, ip=ip, reason="inactive")
        raise AuthenticationFailed(_INVALID_CREDENTIALS, code=ErrorCode.INVALID_CREDENTIALS)
    second_factor = None
    if user.totp_enabled:
        if not otp_code or not otp_code.strip():
            _login_failure_record(
                username_key=key, user=user, ip=ip, reason="otp_required", count=False
            )
            raise AuthenticationFailed(
                "this account needs a one-time code from its authenticator app "
                "(or a recovery code)",
                code=ErrorCode.OTP_REQUIRED,
            )
        second_factor = _second_factor_consume(user, otp_code)
        if second_factor is None:
            _login_failure_record(username_key=key, user=user, ip=ip, reason="bad_otp")
            raise AuthenticationFailed(_INVALID_CREDENTIALS, code=ErrorCode.INVALID_CREDENTIALS)
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.AUTH_LOGIN,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=ip,
            details={"second_factor": second_factor} if second_factor else {},
        )
        LoginAttempt.objects.create(username=key, client_ip=ip, succeeded=True)
    logger.info("sign-in succeeded for user id %s", user.pk)
    return user


def _directory_authenticate(username: str, password: str) -> User | None:
    """The first directory that accepts the password (found by dotted path: the directory
    app sits above accounts, so accounts names it in settings instead of importing it)."""
    for path in getattr(settings, "PASSWORD_DIRECTORIES", ()):
        user = import_string(path)(username=username, password=password)
        if user is not None:
            return cast(User, user)
    return None


def user_logout(*, user: User, client_ip: str | None = None) -> None:
    """Record a sign-out (the caller ends the session)."""
    audit_record(
        actor=user,
        action=AuditAction.AUTH_LOGOUT,
        object_type="user",
        object_id=str(user.pk),
        object_name=user.username,
        client_ip=client_ip,
    )


def login_external_complete(
    *,
    user: User,
    method: str,
    otp_code: str | None,
    skip_second_factor: bool,
    client_ip: str | None,
) -> User:
    """Finish a sign-in whose first factor another system checked (single sign-on).

    Strongroom's own TOTP step still applies to a user who has it, unless the caller says
    the identity provider is trusted for MFA (``skip_second_factor``, the administrator's
    documented choice). Throttling, failure records and the audit record are the same as
    for the password sign-in.
    """
    key = _username_key(user.username)
    ip = _ip_or_none(client_ip)
    user = User.objects.get(pk=user.pk)
    if not user.is_active:
        _login_failure_record(username_key=key, user=user, ip=ip, reason="inactive")
        raise AuthenticationFailed(_INVALID_CREDENTIALS, code=ErrorCode.INVALID_CREDENTIALS)
    second_factor = None
    if user.totp_enabled and not skip_second_factor:
        try:
            _throttle_check(username_key=key, ip=ip)
        except Throttled:
            _login_failure_record(
                username_key=key, user=None, ip=ip, reason="throttled", count=False
            )
            raise
        if not otp_code or not otp_code.strip():
            raise AuthenticationFailed(
                "this account needs a one-time code from its authenticator app "
                "(or a recovery code)",
                code=ErrorCode.OTP_REQUIRED,
            )
        second_factor = _second_factor_consume(user, otp_code)
        if second_factor is None:
            _login_failure_record(username_key=key, user=user, ip=ip, reason="bad_otp")
            raise AuthenticationFailed(
                "the one-time code is not correct", code=ErrorCode.INVALID_CREDENTIALS
            )
    details: dict[str, str] = {"method": method}
    if second_factor:
        details["second_factor"] = second_factor
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.AUTH_LOGIN,
            object_type="user",
            object_id=str(user.pk),
            object_name=user.username,
            client_ip=ip,
            details=details,
        )
        LoginAttempt.objects.create(username=key, client_ip=ip, succeeded=True)
    logger.info("sign-in (%s) succeeded for user id %s", method, user.pk)
    return user
