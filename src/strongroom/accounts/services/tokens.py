"""API tokens: issue, revoke, authenticate, and their re-authentication proofs.

Every state change is audited (audit_record first, in the same transaction), so a change
that cannot be audited does not happen. Audit details never hold a password, a one-time
code, a recovery code, a TOTP secret or an API token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from strongroom.accounts.models import ApiToken, Scope, User
from strongroom.accounts.services._common import (
    API_TOKEN_DISPLAY_LENGTH,
    API_TOKEN_PREFIX,
    LAST_USED_RESOLUTION,
)
from strongroom.accounts.services.reauth import (
    Reauth,
    ReauthArg,
    reauth_max_age,
    reauth_require,
    reauth_verify,
)
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import ErrorCode, PermissionDenied, ValidationFailed
from strongroom.core.prepared import PreparedGet
from strongroom.core.validation import text_clean


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
    name = text_clean("name", name, max_length=200, required=True, strip=True)
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
                code=ErrorCode.SCOPE_EXCEEDED,
                field="scopes",
                token_scopes=list(via_token.scopes),
            )
        if via_token.expires_at is not None and (
            expires_at is None or expires_at > via_token.expires_at
        ):
            raise PermissionDenied(
                "a token cannot create a token that outlives it: give an expiry no later "
                f"than {via_token.expires_at.isoformat()}",
                code=ErrorCode.SCOPE_EXCEEDED,
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
            action=AuditAction.API_TOKEN_CREATE,
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
            action=AuditAction.API_TOKEN_REVOKE,
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


_TOKEN_BY_HASH = PreparedGet(ApiToken, "token_hash", select_related=("user",))


def api_token_resolve(*, raw_token: str) -> ApiToken | None:
    """The usable token (with its active user) a bearer token names, or None. Tokens are
    found by their hash, so no comparison leaks timing."""
    raw_token = raw_token.strip()
    if not raw_token.startswith(API_TOKEN_PREFIX) or len(raw_token) > 200:
        return None
    # One lookup of the unique hash (with the user), compiled once: every API request runs it.
    token = _TOKEN_BY_HASH.get(_token_hash(raw_token))
    if token is None:
        return None
    if token.revoked_at is not None or not token.user.is_active:
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
