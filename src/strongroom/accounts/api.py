"""People API: sign-in, the signed-in user (/me), users and user groups.

Endpoints are thin: they parse, call a selector or service, and shape the answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import SESSION_KEY, update_session_auth_hash
from django.contrib.auth import login as session_login
from django.contrib.auth import logout as session_logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from ninja import Router, Status

from strongroom.accounts import selectors, services
from strongroom.accounts.models import Role, User, UserGroup
from strongroom.accounts.reauth import (
    reauth_from_request,
    request_api_token,
    session_reauth_store,
)
from strongroom.accounts.schemas import (
    CodeIn,
    LoginIn,
    MemberIn,
    MeOut,
    PasswordChangeIn,
    PasswordResetIn,
    PasswordResetOut,
    ReauthIn,
    ReauthOut,
    RecoveryCodesOut,
    TokenCreateIn,
    TokenIssuedOut,
    TokenOut,
    TotpDisableIn,
    TotpEnrolOut,
    UserCreateIn,
    UserDirectoryOut,
    UserGroupCreateIn,
    UserGroupOut,
    UserGroupUpdateIn,
    UserOut,
    UserUpdateIn,
)
from strongroom.core.errors import AppError, ErrorCode, Throttled, ValidationFailed
from strongroom.core.request import client_ip

router = Router(tags=["people"])


class UnsupportedMediaType(AppError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    status = 415


def _me(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "totp_enabled": user.totp_enabled,
        "must_change_password": user.must_change_password,
        "permissions": selectors.user_permissions(user=user),
    }


def _directory_entry(user: User) -> UserDirectoryOut:
    return UserDirectoryOut(
        id=user.pk, username=user.username, full_name=user.full_name, is_active=user.is_active
    )


def _user_out(actor: User, user: User) -> UserOut | UserDirectoryOut:
    """The administrator's view for administrators, the directory entry for everyone else."""
    if not selectors.user_sees_admin_fields(actor=actor):
        return _directory_entry(user)
    return UserOut(
        id=user.pk,
        username=user.username,
        full_name=user.full_name,
        is_active=user.is_active,
        email=user.email,
        role=Role(user.role),
        totp_enabled=user.totp_enabled,
        must_change_password=user.must_change_password,
        last_login=user.last_login,
        date_joined=user.date_joined,
        user_groups=[group.pk for group in user.user_groups.all()],
    )


def _group_out(group: UserGroup) -> UserGroupOut:
    return UserGroupOut(
        id=group.pk,
        name=group.name,
        description=group.description,
        created_at=group.created_at,
        members=[_directory_entry(member) for member in group.members.all()],
    )


# --- sign-in -----------------------------------------------------------------------------


def _throttled_response(exc: Throttled) -> HttpResponse:
    """The usual error body, plus the Retry-After header that clients and proxies honour."""
    response = JsonResponse(exc.as_dict(), status=exc.status)
    response["Retry-After"] = str(exc.details.get("retry_after", 1))
    return response


# CSRF: this endpoint has no session yet to protect, so ninja's session CSRF check does not
# run (auth=None). Login CSRF (signing a victim in to the attacker's account) is stopped
# instead by requiring a JSON content type: a cross-site HTML form cannot send one, and a
# cross-site script cannot either without a CORS preflight, which this server never grants.
# See docs/permissions.md, "Authentication".
@router.post("/auth/login", auth=None, response=MeOut, tags=["auth"])
def auth_login(request: HttpRequest, payload: LoginIn) -> Any:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("sign-in requests must be sent as application/json")
    try:
        user = services.login_authenticate(
            username=payload.username,
            password=payload.password,
            otp_code=payload.otp,
            client_ip=client_ip(request),
        )
    except Throttled as exc:
        return _throttled_response(exc)
    session_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    # Hand the browser the (rotated) CSRF cookie: later unsafe session requests must echo
    # it in X-CSRFToken.
    get_token(request)
    return _me(user)


@router.post("/auth/logout", response={204: None}, tags=["auth"])
def auth_logout(request: HttpRequest) -> Any:
    """End the web session. With an API token there is no session: nothing happens (revoke
    the token under /me/tokens instead)."""
    user: User = request.auth  # type: ignore[attr-defined]
    if request.session.get(SESSION_KEY) == str(user.pk):
        services.user_logout(user=user, client_ip=client_ip(request))
        session_logout(request)
    return Status(204, None)


@router.post("/auth/reauth", response=ReauthOut, tags=["auth"])
def auth_reauth(request: HttpRequest, payload: ReauthIn) -> Any:
    """Confirm it's you: the password and (with 2FA) a one-time or recovery code, for the
    account-takeover actions of the next few minutes (2FA, tokens, your password, an
    administrator's changes to their own account). Wrong answers count towards the sign-in
    throttle (429 with Retry-After)."""
    user: User = request.auth  # type: ignore[attr-defined]
    token = request_api_token(request)
    try:
        if token is not None:
            issued = services.api_token_reauth(
                token=token,
                password=payload.password,
                otp=payload.otp,
                client_ip=client_ip(request),
            )
            return {"reauth": issued.secret, "expires_at": issued.expires_at}
        proof = services.reauth_verify(
            user=user, password=payload.password, otp=payload.otp, client_ip=client_ip(request)
        )
    except Throttled as exc:
        return _throttled_response(exc)
    session_reauth_store(request, proof)
    return {"reauth": None, "expires_at": proof.at + services.reauth_max_age()}


# --- the signed-in user ------------------------------------------------------------------


@router.get("/me", response=MeOut, tags=["me"])
def me_get(request: HttpRequest) -> Any:
    return _me(request.auth)  # type: ignore[attr-defined]


@router.post("/me/password", response={204: None}, tags=["me"])
def me_password_change(request: HttpRequest, payload: PasswordChangeIn) -> Any:
    user: User = request.auth  # type: ignore[attr-defined]
    try:
        services.user_password_change(
            user=user,
            current_password=payload.current_password,
            new_password=payload.new_password,
            otp=payload.otp,
            reauth=reauth_from_request(request),
            client_ip=client_ip(request),
        )
    except Throttled as exc:
        return _throttled_response(exc)
    if request.session.get(SESSION_KEY) == str(user.pk):
        # Keep this session signed in; every other session of the user ends.
        update_session_auth_hash(request, user)
    return Status(204, None)


@router.post("/me/totp/enrol", response=TotpEnrolOut, tags=["me"])
def me_totp_enrol(request: HttpRequest) -> Any:
    enrolment = services.user_totp_enrol(
        user=request.auth,  # type: ignore[attr-defined]
        reauth=reauth_from_request(request),
        client_ip=client_ip(request),
    )
    return {"secret": enrolment.secret, "otpauth_uri": enrolment.uri}


@router.post("/me/totp/confirm", response=RecoveryCodesOut, tags=["me"])
def me_totp_confirm(request: HttpRequest, payload: CodeIn) -> Any:
    codes = services.user_totp_confirm(
        user=request.auth,  # type: ignore[attr-defined]
        code=payload.code,
        reauth=reauth_from_request(request),
        client_ip=client_ip(request),
    )
    return {"recovery_codes": codes}


@router.post("/me/totp/disable", response={204: None}, tags=["me"])
def me_totp_disable(request: HttpRequest, payload: TotpDisableIn) -> Any:
    try:
        services.user_totp_disable(
            user=request.auth,  # type: ignore[attr-defined]
            password=payload.password,
            code=payload.code,
            client_ip=client_ip(request),
        )
    except Throttled as exc:
        return _throttled_response(exc)
    return Status(204, None)


@router.post("/me/totp/recovery-codes", response=RecoveryCodesOut, tags=["me"])
def me_recovery_codes_regenerate(request: HttpRequest) -> Any:
    """New recovery codes (the old ones stop working). The re-authentication holds the
    second factor; any request body is ignored."""
    codes = services.user_recovery_codes_regenerate(
        user=request.auth,  # type: ignore[attr-defined]
        reauth=reauth_from_request(request),
        client_ip=client_ip(request),
    )
    return {"recovery_codes": codes}


@router.get("/me/tokens", response=list[TokenOut], tags=["me"])
def me_tokens_list(request: HttpRequest) -> Any:
    return list(selectors.api_token_list(user=request.auth))  # type: ignore[attr-defined]


@router.post("/me/tokens", response={201: TokenIssuedOut}, tags=["me"])
def me_token_create(request: HttpRequest, payload: TokenCreateIn) -> Any:
    expires_at = payload.expires_at
    if payload.expires_in_days is not None:
        if expires_at is not None:
            raise ValidationFailed(
                "give expires_at or expires_in_days, not both", field="expires_in_days"
            )
        expires_at = timezone.now() + timedelta(days=payload.expires_in_days)
    issued = services.api_token_create(
        user=request.auth,  # type: ignore[attr-defined]
        name=payload.name,
        scopes=payload.scopes,
        expires_at=expires_at,
        reauth=reauth_from_request(request),
        via_token=request_api_token(request),
        client_ip=client_ip(request),
    )
    out = TokenOut.model_validate(issued.token).model_dump()
    return Status(201, {**out, "token": issued.raw})


@router.delete("/me/tokens/{token_id}", response={204: None}, tags=["me"])
def me_token_revoke(request: HttpRequest, token_id: str) -> Any:
    user: User = request.auth  # type: ignore[attr-defined]
    token = selectors.api_token_get(user=user, token_id=token_id)
    services.api_token_revoke(user=user, token=token, client_ip=client_ip(request))
    return Status(204, None)


# --- users -------------------------------------------------------------------------------


@router.get("/users", response=list[UserOut | UserDirectoryOut], tags=["users"])
def users_list(request: HttpRequest, q: str | None = None, active_only: bool = False) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    users = selectors.user_list(actor=actor, search=q, include_inactive=not active_only)
    if selectors.user_sees_admin_fields(actor=actor):
        users = users.prefetch_related("user_groups")
    return [_user_out(actor, user) for user in users]


@router.post("/users", response={201: UserOut}, tags=["users"])
def users_create(request: HttpRequest, payload: UserCreateIn) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    user = services.user_create(
        actor=actor,
        username=payload.username,
        password=payload.password,
        role=payload.role,
        email=payload.email,
        full_name=payload.full_name,
        client_ip=client_ip(request),
    )
    return Status(201, _user_out(actor, user))


@router.get("/users/{user_id}", response=UserOut | UserDirectoryOut, tags=["users"])
def users_get(request: HttpRequest, user_id: str) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    return _user_out(actor, selectors.user_get(actor=actor, user_id=user_id))


@router.patch("/users/{user_id}", response=UserOut, tags=["users"])
def users_update(request: HttpRequest, user_id: str, payload: UserUpdateIn) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    user = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    user = services.user_update(
        actor=actor,
        user=user,
        email=payload.email,
        full_name=payload.full_name,
        role=payload.role,
        reauth=reauth_from_request(request),
        client_ip=client_ip(request),
    )
    return _user_out(actor, user)


@router.delete("/users/{user_id}", response={204: None}, tags=["users"])
def users_delete(request: HttpRequest, user_id: str) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    user = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    services.user_delete(actor=actor, user=user, client_ip=client_ip(request))
    return Status(204, None)


@router.post("/users/{user_id}/deactivate", response=UserOut, tags=["users"])
def users_deactivate(request: HttpRequest, user_id: str) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    user = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    user = services.user_deactivate(
        actor=actor, user=user, reauth=reauth_from_request(request), client_ip=client_ip(request)
    )
    return _user_out(actor, user)


@router.post("/users/{user_id}/activate", response=UserOut, tags=["users"])
def users_activate(request: HttpRequest, user_id: str) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    user = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    user = services.user_activate(
        actor=actor, user=user, reauth=reauth_from_request(request), client_ip=client_ip(request)
    )
    return _user_out(actor, user)


@router.post("/users/{user_id}/reset-password", response=PasswordResetOut, tags=["users"])
def users_password_reset(
    request: HttpRequest, user_id: str, payload: PasswordResetIn | None = None
) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    user = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    reset = services.user_password_reset(
        actor=actor,
        user=user,
        new_password=payload.password if payload is not None else None,
        reauth=reauth_from_request(request),
        client_ip=client_ip(request),
    )
    return {"user": _user_out(actor, reset.user), "generated_password": reset.generated_password}


@router.post("/users/{user_id}/reset-totp", response=UserOut, tags=["users"])
def users_totp_reset(request: HttpRequest, user_id: str) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    user = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    user = services.user_totp_reset(
        actor=actor, user=user, reauth=reauth_from_request(request), client_ip=client_ip(request)
    )
    return _user_out(actor, user)


# --- user groups -------------------------------------------------------------------------


@router.get("/user-groups", response=list[UserGroupOut], tags=["user groups"])
def user_groups_list(request: HttpRequest) -> Any:
    return [_group_out(g) for g in selectors.user_group_list(actor=request.auth)]  # type: ignore[attr-defined]


@router.post("/user-groups", response={201: UserGroupOut}, tags=["user groups"])
def user_groups_create(request: HttpRequest, payload: UserGroupCreateIn) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    group = services.user_group_create(
        actor=actor,
        name=payload.name,
        description=payload.description,
        client_ip=client_ip(request),
    )
    return Status(201, _group_out(selectors.user_group_get(actor=actor, group_id=group.pk)))


@router.get("/user-groups/{group_id}", response=UserGroupOut, tags=["user groups"])
def user_groups_get(request: HttpRequest, group_id: str) -> Any:
    return _group_out(selectors.user_group_get(actor=request.auth, group_id=group_id))  # type: ignore[attr-defined]


@router.patch("/user-groups/{group_id}", response=UserGroupOut, tags=["user groups"])
def user_groups_update(request: HttpRequest, group_id: str, payload: UserGroupUpdateIn) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    group = selectors.user_group_get_for_manage(actor=actor, group_id=group_id)
    services.user_group_update(
        actor=actor,
        group=group,
        name=payload.name,
        description=payload.description,
        client_ip=client_ip(request),
    )
    return _group_out(selectors.user_group_get(actor=actor, group_id=group.pk))


@router.delete("/user-groups/{group_id}", response={204: None}, tags=["user groups"])
def user_groups_delete(request: HttpRequest, group_id: str) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    group = selectors.user_group_get_for_manage(actor=actor, group_id=group_id)
    services.user_group_delete(actor=actor, group=group, client_ip=client_ip(request))
    return Status(204, None)


@router.get(
    "/user-groups/{group_id}/members", response=list[UserDirectoryOut], tags=["user groups"]
)
def user_group_members_list(request: HttpRequest, group_id: str) -> Any:
    group = selectors.user_group_get(actor=request.auth, group_id=group_id)  # type: ignore[attr-defined]
    return _group_out(group).members


@router.post("/user-groups/{group_id}/members", response=UserGroupOut, tags=["user groups"])
def user_group_members_add(request: HttpRequest, group_id: str, payload: MemberIn) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    group = selectors.user_group_get_for_manage(actor=actor, group_id=group_id)
    user = selectors.user_get(actor=actor, user_id=payload.user_id)
    services.user_group_add_member(
        actor=actor, group=group, user=user, client_ip=client_ip(request)
    )
    return _group_out(selectors.user_group_get(actor=actor, group_id=group.pk))


@router.delete(
    "/user-groups/{group_id}/members/{user_id}", response=UserGroupOut, tags=["user groups"]
)
def user_group_members_remove(request: HttpRequest, group_id: str, user_id: str) -> Any:
    actor: User = request.auth  # type: ignore[attr-defined]
    group = selectors.user_group_get_for_manage(actor=actor, group_id=group_id)
    user = selectors.user_get(actor=actor, user_id=user_id)
    services.user_group_remove_member(
        actor=actor, group=group, user=user, client_ip=client_ip(request)
    )
    return _group_out(selectors.user_group_get(actor=actor, group_id=group.pk))
