"""Request and response shapes of the people API."""

from __future__ import annotations

import uuid
from datetime import datetime

from ninja import Field, Schema

from strongroom.accounts.models import Role, Scope


class LoginIn(Schema):
    username: str = Field(max_length=300)
    password: str = Field(max_length=4096)
    otp: str | None = Field(default=None, max_length=64)


class PasswordChangeIn(Schema):
    current_password: str = Field(max_length=4096)
    new_password: str = Field(max_length=4096)
    otp: str | None = Field(
        default=None,
        max_length=64,
        description="With 2FA on: a one-time or recovery code (the current password and this "
        "code are the re-authentication), unless you confirmed it's you in the last minutes.",
    )


class MeOut(Schema):
    id: uuid.UUID
    username: str
    email: str
    full_name: str
    role: Role
    totp_enabled: bool
    must_change_password: bool
    permissions: list[str]


class TotpEnrolOut(Schema):
    secret: str
    otpauth_uri: str


class CodeIn(Schema):
    code: str = Field(max_length=64)


class TotpDisableIn(Schema):
    password: str = Field(max_length=4096)
    code: str = Field(max_length=64)


class RecoveryCodesOut(Schema):
    recovery_codes: list[str]


class ReauthIn(Schema):
    password: str = Field(max_length=4096)
    otp: str | None = Field(
        default=None,
        max_length=64,
        description="A code from the authenticator app or a recovery code (when 2FA is on).",
    )


class ReauthOut(Schema):
    reauth: str | None = Field(
        description="With an API token: send this back as X-Strongroom-Reauth on the "
        "actions that need it, with the same token. With the web session: null (the "
        "session remembers)."
    )
    expires_at: datetime


class TokenCreateIn(Schema):
    name: str = Field(max_length=200)
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=4,
        description="read, retrieve (passwords, exports), write, admin. Through a token: "
        "only scopes that token has.",
    )
    expires_at: datetime | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    scopes: list[Scope]


class TokenIssuedOut(TokenOut):
    token: str = Field(description="The token itself. Shown only now; store it safely.")


class UserDirectoryOut(Schema):
    """What every signed-in user may see about another user."""

    id: uuid.UUID
    username: str
    full_name: str
    is_active: bool


class UserOut(UserDirectoryOut):
    """The administrator's view of a user."""

    email: str
    role: Role
    totp_enabled: bool
    must_change_password: bool
    last_login: datetime | None
    date_joined: datetime
    user_groups: list[uuid.UUID]


class UserCreateIn(Schema):
    username: str = Field(max_length=150)
    password: str = Field(max_length=4096)
    role: Role = Role.PASSWORD_USER
    email: str = Field(default="", max_length=254)
    full_name: str = Field(default="", max_length=300)


class UserUpdateIn(Schema):
    email: str | None = Field(default=None, max_length=254)
    full_name: str | None = Field(default=None, max_length=300)
    role: Role | None = None


class PasswordResetIn(Schema):
    password: str | None = Field(
        default=None,
        max_length=4096,
        description="The temporary password; omit it to have one generated.",
    )


class PasswordResetOut(Schema):
    user: UserOut
    generated_password: str | None = Field(
        description="Only when the server generated the password: shown this once."
    )


class UserGroupOut(Schema):
    id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    members: list[UserDirectoryOut]


class UserGroupCreateIn(Schema):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=20000)


class UserGroupUpdateIn(Schema):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=20000)


class MemberIn(Schema):
    user_id: str = Field(max_length=64)
