"""Shared pieces of the accounts services: constants and input checks (text, e-mail,
passwords, the last-administrator guard).

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from strongroom.accounts.models import Role, User
from strongroom.core.errors import Conflict, ValidationFailed

# One logger for the package, under the name it had as a single module.
logger = logging.getLogger("strongroom.accounts.services")


TOTP_ISSUER = "Strongroom"


RECOVERY_CODE_COUNT = 10


API_TOKEN_PREFIX = "sr_"


# "sr_" and six characters: enough to tell tokens apart, the same part the log redaction
# filter leaves visible.
API_TOKEN_DISPLAY_LENGTH = 9


LAST_USED_RESOLUTION = timedelta(minutes=1)


_INVALID_CREDENTIALS = "the username, password or one-time code is not correct"


Clock = Callable[[], datetime]


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
