"""Checking what a person presents: throttling of failed attempts, one-time codes (TOTP)
and recovery codes. Used by login, re-authentication, two-factor and user services.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from datetime import datetime, timedelta

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from strongroom.accounts.models import LoginAttempt, RecoveryCode, User
from strongroom.accounts.services._common import RECOVERY_CODE_COUNT, logger
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core import secrets as sealed
from strongroom.core.errors import Throttled


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
    action: str = AuditAction.AUTH_LOGIN_FAILED,
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
